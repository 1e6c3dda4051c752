package checkpoint

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"avatargan/internal/testutil"
)

func randTensors(r *rand.Rand) []Tensor {
	shapes := [][]int{{}, {0}, {3, 0, 2}, {1}, {7}, {3, 5}, {2, 3, 1, 5}, {1, 1, 1}, {13, 3}}
	var ts []Tensor
	for i, sh := range shapes {
		for _, dt := range []string{"F32", "F16", "BF16", "F64", "I64", "U8"} {
			n := 1
			for _, d := range sh {
				n *= d
			}
			t := Tensor{Name: fmt.Sprintf("%s.t%d", strings.ToLower(dt), i), DType: dt, Shape: sh}
			switch dt {
			case "I64":
				v := make([]int64, n)
				for j := range v {
					v[j] = int64(r.Uint64())
				}
				t = I64Tensor(t.Name, sh, v)
			case "U8":
				t.Raw = make([]byte, n)
				for j := range t.Raw {
					t.Raw[j] = byte(r.Uint32())
				}
			default:
				t.F32 = make([]float32, n)
				for j := range t.F32 {
					t.F32[j] = float32(r.NormFloat64() * math.Pow(10, float64(r.IntN(8)-4)))
				}
			}
			ts = append(ts, t)
		}
	}
	return ts
}

// expectedF32 is what a float tensor must read back as after encoding.
func expectedF32(dtype string, vals []float32) []float32 {
	out := make([]float32, len(vals))
	for i, v := range vals {
		switch dtype {
		case "F16":
			out[i] = HalfToFloat32(Float32ToHalf(v))
		case "BF16":
			out[i] = BF16ToFloat32(Float32ToBF16(v))
		default:
			out[i] = v
		}
	}
	return out
}

func encodeBytes(t testing.TB, ts []Tensor, meta map[string]string) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Encode(&b, ts, meta); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	ts := randTensors(r)
	meta := map[string]string{"format": "pt", "step": "1200", "json-ish": `{"a": [1, "<&>"]}`, "": "empty key", "ünï": "côdé\n"}
	data := encodeBytes(t, ts, meta)

	n := binary.LittleEndian.Uint64(data)
	if (8+n)%8 != 0 {
		t.Errorf("data buffer starts at %d, not 8-byte aligned", 8+n)
	}
	f, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if !mapsEqual(f.Metadata, meta) {
		t.Errorf("metadata %v, want %v", f.Metadata, meta)
	}
	if len(f.Tensors) != len(ts) {
		t.Fatalf("%d tensors, want %d", len(f.Tensors), len(ts))
	}
	for i := range ts {
		want := &ts[i]
		got, ok := f.Get(want.Name)
		if !ok {
			t.Fatalf("missing %q", want.Name)
		}
		if got.DType != want.DType || !slices.Equal(got.Shape, want.Shape) || len(got.Shape) != len(want.Shape) {
			t.Errorf("%s: got %s %v, want %s %v", want.Name, got.DType, got.Shape, want.DType, want.Shape)
		}
		if want.F32 != nil {
			if !slices.Equal(got.F32, expectedF32(want.DType, want.F32)) {
				t.Errorf("%s: values differ", want.Name)
			}
		} else if !bytes.Equal(got.Raw, want.Raw) {
			t.Errorf("%s: raw bytes differ", want.Name)
		}
		size, _ := DTypeSize(got.DType)
		if len(got.Raw) != got.NumElements()*size {
			t.Errorf("%s: %d raw bytes", want.Name, len(got.Raw))
		}
	}
	// Re-encoding the decoded file is byte-identical (deterministic layout).
	if again := encodeBytes(t, f.Tensors, f.Metadata); !bytes.Equal(again, data) {
		t.Error("re-encoding a decoded file changed its bytes")
	}
	i64, _ := f.Get("i64.t4")
	vals, err := i64.Int64s()
	if err != nil || len(vals) != 7 {
		t.Errorf("Int64s: %v %v", vals, err)
	}
	if _, err := (&Tensor{Name: "x", DType: "F32"}).Int64s(); err == nil {
		t.Error("Int64s on F32 should fail")
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestNoMetadataAndEmpty(t *testing.T) {
	data := encodeBytes(t, nil, nil)
	f, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Tensors) != 0 || f.Metadata != nil {
		t.Errorf("got %+v", f)
	}
	if !bytes.HasPrefix(data[8:], []byte("{}")) {
		t.Errorf("header %q", data[8:])
	}
}

// TestSpecExample decodes bytes built by hand from the format description.
func TestSpecExample(t *testing.T) {
	header := `{"__metadata__":{"format":"pt"},"b":{"dtype":"F16","shape":[2],"data_offsets":[8,12]},` +
		`"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"s":{"dtype":"I64","shape":[],"data_offsets":[12,20]}}   `
	var buf bytes.Buffer
	binary.Write(&buf, binary.LittleEndian, uint64(len(header)))
	buf.WriteString(header)
	binary.Write(&buf, binary.LittleEndian, []float32{1.5, -2})
	binary.Write(&buf, binary.LittleEndian, []uint16{0x3c00, 0xc000}) // 1, -2 in half
	binary.Write(&buf, binary.LittleEndian, int64(-7))
	f, err := Decode(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if names := []string{f.Tensors[0].Name, f.Tensors[1].Name, f.Tensors[2].Name}; !slices.Equal(names, []string{"a", "b", "s"}) {
		t.Errorf("file order %v", names)
	}
	a, _ := f.Get("a")
	b, _ := f.Get("b")
	s, _ := f.Get("s")
	if !slices.Equal(a.F32, []float32{1.5, -2}) || !slices.Equal(b.F32, []float32{1, -2}) {
		t.Errorf("a=%v b=%v", a.F32, b.F32)
	}
	if v, _ := s.Int64s(); len(v) != 1 || v[0] != -7 || len(s.Shape) != 0 || s.F32 != nil {
		t.Errorf("s = %v %v", v, s.Shape)
	}
	if f.Metadata["format"] != "pt" {
		t.Errorf("metadata %v", f.Metadata)
	}
	if _, ok := f.Get("nope"); ok {
		t.Error("Get of a missing name succeeded")
	}
}

func build(header string, buf int) []byte {
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	out = append(out, header...)
	return append(out, make([]byte, buf)...)
}

func TestMalformed(t *testing.T) {
	good := `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`
	if _, err := Decode(build(good, 8)); err != nil {
		t.Fatalf("control case: %v", err)
	}
	huge := binary.LittleEndian.AppendUint64(nil, 1<<62)
	cases := map[string][]byte{
		"empty":                 nil,
		"short":                 {1, 2, 3},
		"header past end":       binary.LittleEndian.AppendUint64(nil, 10),
		"header over limit":     append(huge, "{}"...),
		"header len overflow":   binary.LittleEndian.AppendUint64(nil, math.MaxUint64),
		"bad JSON":              build(`{"a":`, 0),
		"not object":            build(`[]`, 0),
		"leading space":         build(` {}`, 0),
		"trailing garbage":      build(`{} x`, 0),
		"two objects":           build(`{}{}`, 0),
		"invalid utf8":          build("{\"\xff\":{}}", 0),
		"overlap":               build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8),
		"hole":                  build(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}`, 12),
		"hole at start":         build(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8),
		"trailing bytes":        build(good, 12),
		"buffer too short":      build(good, 4),
		"end before begin":      build(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[0],"data_offsets":[4,2]}}`, 4),
		"offsets past buffer":   build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,80]}}`, 8),
		"wrong size for shape":  build(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, 8),
		"wrong size for dtype":  build(`{"a":{"dtype":"F64","shape":[2],"data_offsets":[0,8]}}`, 8),
		"unknown dtype":         build(`{"a":{"dtype":"F17","shape":[2],"data_offsets":[0,8]}}`, 8),
		"negative shape":        build(`{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, 8),
		"fractional shape":      build(`{"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}`, 8),
		"exponent shape":        build(`{"a":{"dtype":"F32","shape":[2e0],"data_offsets":[0,8]}}`, 8),
		"shape overflow":        build(`{"a":{"dtype":"F32","shape":[4294967296,4294967296,0,4294967296],"data_offsets":[0,8]}}`, 8),
		"shape overflow 2":      build(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}`, 0),
		"huge dim":              build(`{"a":{"dtype":"F32","shape":[18446744073709551616],"data_offsets":[0,8]}}`, 8),
		"string shape":          build(`{"a":{"dtype":"F32","shape":"2","data_offsets":[0,8]}}`, 8),
		"three offsets":         build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,8]}}`, 8),
		"one offset":            build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[8]}}`, 8),
		"missing dtype":         build(`{"a":{"shape":[2],"data_offsets":[0,8]}}`, 8),
		"missing shape":         build(`{"a":{"dtype":"F32","data_offsets":[0,8]}}`, 8),
		"missing offsets":       build(`{"a":{"dtype":"F32","shape":[2]}}`, 8),
		"unknown field":         build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}}`, 8),
		"duplicate field":       build(`{"a":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 8),
		"duplicate tensor":      build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[0],"data_offsets":[8,8]}}`, 8),
		"tensor not object":     build(`{"a":[1]}`, 0),
		"metadata number":       build(`{"__metadata__":{"k":1}}`, 0),
		"metadata null value":   build(`{"__metadata__":{"k":null}}`, 0),
		"metadata array":        build(`{"__metadata__":["k"]}`, 0),
		"metadata nested":       build(`{"__metadata__":{"k":{"a":"b"}}}`, 0),
		"metadata duplicate":    build(`{"__metadata__":{"k":"a","k":"b"}}`, 0),
		"metadata twice":        build(`{"__metadata__":{},"__metadata__":{}}`, 0),
		"dtype not string":      build(`{"a":{"dtype":4,"shape":[1],"data_offsets":[0,4]}}`, 4),
		"unterminated":          build(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}`, 4),
		"deep nesting rejected": build(`{"a":{"dtype":"F32","shape":[[[[[[1]]]]]],"data_offsets":[0,4]}}`, 4),
	}
	for name, data := range cases {
		f, err := Decode(data)
		if err == nil {
			t.Errorf("%s: decoded without error: %+v", name, f)
			continue
		}
		if !errors.Is(err, ErrFormat) {
			t.Errorf("%s: error %v does not wrap ErrFormat", name, err)
		}
	}
	// Padding with JSON whitespace and a null __metadata__ are accepted.
	for _, h := range []string{good + "  \n\t ", `{"__metadata__":null,"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`} {
		if _, err := Decode(build(h, 8)); err != nil {
			t.Errorf("%q: %v", h, err)
		}
	}
}

func TestEncodeRejects(t *testing.T) {
	cases := map[string][]Tensor{
		"empty name":       {{Name: "", DType: "F32", Shape: []int{1}, F32: []float32{1}}},
		"reserved name":    {{Name: "__metadata__", DType: "F32", Shape: []int{1}, F32: []float32{1}}},
		"duplicate":        {{Name: "a", DType: "F32", Shape: []int{}, F32: []float32{1}}, {Name: "a", DType: "F32", Shape: []int{}, F32: []float32{1}}},
		"unknown dtype":    {{Name: "a", DType: "F12", Shape: []int{1}, Raw: []byte{1}}},
		"negative dim":     {{Name: "a", DType: "F32", Shape: []int{-1}}},
		"value count":      {{Name: "a", DType: "F16", Shape: []int{2, 2}, F32: []float32{1, 2, 3}}},
		"raw size":         {{Name: "a", DType: "I64", Shape: []int{2}, Raw: make([]byte, 15)}},
		"missing data":     {{Name: "a", DType: "F32", Shape: []int{2}}},
		"F32 for int":      {{Name: "a", DType: "I64", Shape: []int{1}, F32: []float32{1}}},
		"bad utf8 name":    {{Name: "a\xff", DType: "F32", Shape: []int{}, F32: []float32{1}}},
		"overflowing dims": {{Name: "a", DType: "F32", Shape: []int{math.MaxInt / 2, 4}}},
	}
	for name, ts := range cases {
		var b bytes.Buffer
		if err := Encode(&b, ts, nil); err == nil {
			t.Errorf("%s: no error", name)
		} else if b.Len() != 0 {
			t.Errorf("%s: wrote %d bytes before failing", name, b.Len())
		}
	}
	if err := Encode(io.Discard, nil, map[string]string{"k": "\xff"}); err == nil {
		t.Error("invalid UTF-8 metadata accepted")
	}
}

type failWriter struct{ after int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.after <= 0 {
		return 0, errors.New("disk full")
	}
	w.after--
	return len(p), nil
}

func TestEncodeWriterError(t *testing.T) {
	ts := randTensors(rand.New(rand.NewPCG(5, 6)))
	for i := 0; i < 5; i++ {
		if err := Encode(&failWriter{after: i}, ts, nil); err == nil {
			t.Errorf("failure after %d writes not reported", i)
		}
	}
}

func TestSaveReadAndAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, Name(5))
	ts := []Tensor{{Name: "w", DType: "F32", Shape: []int{2}, F32: []float32{1, 2}}}
	if err := Save(path, ts, map[string]string{"step": "5"}); err != nil {
		t.Fatal(err)
	}
	old, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v", st.Mode())
	}
	f, err := Read(path)
	if err != nil || f.Metadata["step"] != "5" {
		t.Fatalf("Read: %v %v", f, err)
	}

	// An encode error (bad tensor) leaves the old file intact and no temp file (the
	// atomic write itself is tested in internal/atomicfile).
	if err := Save(path, []Tensor{{Name: "", DType: "F32"}}, nil); err == nil {
		t.Error("Save of a bad tensor succeeded")
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, old) {
		t.Error("old file changed")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("directory holds %d entries, want 1: %v", len(ents), ents)
	}

	// Read errors name the path.
	bad := filepath.Join(dir, "bad.safetensors")
	os.WriteFile(bad, []byte("short"), 0o644)
	if _, err := Read(bad); err == nil || !strings.Contains(err.Error(), bad) || !errors.Is(err, ErrFormat) {
		t.Errorf("Read bad: %v", err)
	}
	if _, err := Read(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Read missing: %v", err)
	}
	if _, err := Read(dir); err == nil {
		t.Error("Read of a directory succeeded")
	}
	// Writing into a missing directory fails cleanly.
	if err := Save(filepath.Join(dir, "nope", "x"), ts, nil); err == nil {
		t.Error("Save into a missing directory succeeded")
	}
}

func TestRotation(t *testing.T) {
	if Name(1200) != "ckpt-000001200.safetensors" || Name(1234567890) != "ckpt-1234567890.safetensors" {
		t.Errorf("Name: %s %s", Name(1200), Name(1234567890))
	}
	for name, want := range map[string]int{"ckpt-000000000.safetensors": 0, "ckpt-1234567890.safetensors": 1234567890} {
		if got, ok := ParseName(name); !ok || got != want {
			t.Errorf("ParseName(%q) = %d %v", name, got, ok)
		}
	}
	for _, name := range []string{"ckpt-00000001.safetensors", "ckpt-0000000001.safetensors", "ckpt-00000000x.safetensors",
		".ckpt-000000001.safetensors.tmp-123", "ckpt-000000001.safetensors.tmp", "ckpt-+00000001.safetensors",
		"ckpt--00000001.safetensors", "ckpt-99999999999999999999.safetensors", "xckpt-000000001.safetensors"} {
		if s, ok := ParseName(name); ok {
			t.Errorf("ParseName(%q) accepted as %d", name, s)
		}
	}

	dir := t.TempDir()
	if _, err := Latest(dir); !errors.Is(err, ErrNoCheckpoint) {
		t.Errorf("empty dir: %v", err)
	}
	if _, err := Latest(filepath.Join(dir, "missing")); !errors.Is(err, ErrNoCheckpoint) {
		t.Errorf("missing dir: %v", err)
	}
	for _, s := range []int{100, 9, 1000000000, 55} {
		os.WriteFile(filepath.Join(dir, Name(s)), nil, 0o644)
	}
	for _, junk := range []string{".ckpt-999999999.safetensors.tmp-1", "notes.txt", "ckpt-99.safetensors"} {
		os.WriteFile(filepath.Join(dir, junk), nil, 0o644)
	}
	os.Mkdir(filepath.Join(dir, Name(2000000000)), 0o755)

	if p, err := Latest(dir); err != nil || p != filepath.Join(dir, Name(1000000000)) {
		t.Errorf("Latest = %q, %v", p, err)
	}
	if err := Prune(dir, 0); err == nil {
		t.Error("Prune keep=0 accepted")
	}
	if err := Prune(dir, 2); err != nil {
		t.Fatal(err)
	}
	cks, _ := List(dir)
	if len(cks) != 2 || cks[0].Step != 100 || cks[1].Step != 1000000000 {
		t.Errorf("after prune: %+v", cks)
	}
	if err := Prune(dir, 5); err != nil {
		t.Error(err)
	}
	for _, junk := range []string{".ckpt-999999999.safetensors.tmp-1", "notes.txt", "ckpt-99.safetensors", Name(2000000000)} {
		if _, err := os.Stat(filepath.Join(dir, junk)); err != nil {
			t.Errorf("prune touched %s", junk)
		}
	}
}

// TestPruneHolding checks that milestones (positive multiples of every) survive the
// rotation beside the keep newest, and that every = 0 prunes as Prune does.
func TestPruneHolding(t *testing.T) {
	steps := func(dir string) []int {
		cks, err := List(dir)
		if err != nil {
			t.Fatal(err)
		}
		var out []int
		for _, c := range cks {
			out = append(out, c.Step)
		}
		return out
	}
	fill := func() string {
		dir := t.TempDir()
		for _, s := range []int{0, 125, 250, 375, 500, 522, 625, 750, 875, 1000, 1044} {
			if err := os.WriteFile(filepath.Join(dir, Name(s)), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	dir := fill()
	if err := PruneHolding(dir, 2, 250); err != nil {
		t.Fatal(err)
	}
	// 250, 500, 750, 1000 are milestones; 1000 and 1044 the newest two; step 0 is no milestone.
	if got, want := steps(dir), []int{250, 500, 750, 1000, 1044}; !slices.Equal(got, want) {
		t.Errorf("PruneHolding(2, 250) left %v, want %v", got, want)
	}
	dir = fill()
	if err := PruneHolding(dir, 3, 0); err != nil {
		t.Fatal(err)
	}
	if got, want := steps(dir), []int{875, 1000, 1044}; !slices.Equal(got, want) {
		t.Errorf("PruneHolding(3, 0) left %v, want %v", got, want)
	}
	if err := PruneHolding(dir, 1, -1); err == nil {
		t.Error("every = -1 accepted")
	}
	if err := PruneHolding(dir, 0, 250); err == nil {
		t.Error("keep = 0 accepted")
	}
}

// TestPythonChecker re-verifies our output with an independent stdlib-only
// Python reader, when python3 is installed.
func TestPythonChecker(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		testutil.SkipOrFail(t, "python3 not available")
	}
	r := rand.New(rand.NewPCG(7, 8))
	var ts []Tensor
	for _, tt := range randTensors(r) {
		if tt.DType != "BF16" { // Python's struct has no bfloat16
			ts = append(ts, tt)
		}
	}
	meta := map[string]string{"format": "pt", "note": "ü <&>"}
	path := filepath.Join(t.TempDir(), Name(1))
	if err := Save(path, ts, meta); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, "testdata/check_safetensors.py", path).CombinedOutput()
	if err != nil {
		t.Fatalf("python checker: %v\n%s", err, out)
	}
	var res struct {
		Metadata map[string]string
		Tensors  map[string]struct {
			DType  string
			Shape  []int
			Values []json.Number
		}
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	if !mapsEqual(res.Metadata, meta) {
		t.Errorf("metadata %v", res.Metadata)
	}
	if len(res.Tensors) != len(ts) {
		t.Fatalf("python saw %d tensors, want %d", len(res.Tensors), len(ts))
	}
	for _, tt := range ts {
		got, ok := res.Tensors[tt.Name]
		if !ok || got.DType != tt.DType || !slices.Equal(got.Shape, tt.Shape) {
			t.Errorf("%s: python saw %+v", tt.Name, got)
			continue
		}
		var want []string
		switch {
		case tt.F32 != nil:
			for _, v := range expectedF32(tt.DType, tt.F32) {
				want = append(want, fmt.Sprint(math.Float32bits(v)))
			}
		case tt.DType == "I64":
			vals, _ := tt.Int64s()
			for _, v := range vals {
				want = append(want, fmt.Sprint(v))
			}
		default:
			continue
		}
		var gotS []string
		for _, v := range got.Values {
			gotS = append(gotS, string(v))
		}
		if !slices.Equal(gotS, want) {
			t.Errorf("%s: python read %v, want %v", tt.Name, gotS, want)
		}
	}

	// Python's own float -> half packing agrees with Float32ToHalf on the
	// finite rounding cases.
	var in strings.Builder
	var fs []float32
	for _, f := range halfRoundingCases() {
		if !math.IsInf(float64(f), 0) && !math.IsNaN(float64(f)) {
			fs = append(fs, f)
			fmt.Fprintln(&in, math.Float32bits(f))
		}
	}
	cmd := exec.Command(py, "testdata/check_safetensors.py", "half")
	cmd.Stdin = strings.NewReader(in.String())
	hout, err := cmd.Output()
	if err != nil {
		t.Fatalf("python half: %v", err)
	}
	lines := strings.Fields(string(hout))
	if len(lines) != len(fs) {
		t.Fatalf("python gave %d halves for %d inputs", len(lines), len(fs))
	}
	for i, f := range fs {
		if want := lines[i]; fmt.Sprint(Float32ToHalf(f)) != want {
			t.Fatalf("Float32ToHalf(%g) = %d, python says %s", f, Float32ToHalf(f), want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	r := rand.New(rand.NewPCG(9, 10))
	all := randTensors(r)
	f.Add(encodeBytes(f, all[:6], map[string]string{"a": "b"}))
	f.Add(encodeBytes(f, all[10:14], nil))
	f.Add(encodeBytes(f, nil, nil))
	f.Add(build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 8))
	f.Add(build(`{"__metadata__":null,"s":{"dtype":"I64","shape":[],"data_offsets":[0,8]}}`, 8))
	f.Fuzz(func(t *testing.T, data []byte) {
		// ReadMetadata reads the same header without the tensors: it must not fail
		// where Decode succeeds, and must give the same metadata.
		path := filepath.Join(t.TempDir(), "f")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		meta, merr := ReadMetadata(path)
		file, err := Decode(data)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v does not wrap ErrFormat", err)
			}
			return
		}
		if merr != nil || !maps.Equal(meta, file.Metadata) {
			t.Fatalf("ReadMetadata: %v, %v; Decode's metadata %v", meta, merr, file.Metadata)
		}
		// Whatever decodes must survive re-encoding and decode the same.
		var b bytes.Buffer
		if err := Encode(&b, file.Tensors, file.Metadata); err != nil {
			if file.Tensors != nil && slices.ContainsFunc(file.Tensors, func(t Tensor) bool { return t.Name == "" }) {
				return // empty names are legal to read but we refuse to write them
			}
			t.Fatalf("re-encode: %v", err)
		}
		again, err := Decode(b.Bytes())
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if len(again.Tensors) != len(file.Tensors) {
			t.Fatalf("tensor count changed")
		}
		for _, t1 := range file.Tensors {
			t2, ok := again.Get(t1.Name)
			if !ok || t1.DType != t2.DType || !slices.Equal(t1.Shape, t2.Shape) {
				t.Fatalf("tensor %q changed", t1.Name)
			}
		}
	})
}

// TestReadMetadata checks that the header-only read gives Read's metadata, and that
// a file too short or with a header past its end or over the limit is refused with
// its path, as Read refuses it.
func TestReadMetadata(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "g.safetensors")
	ts := []Tensor{{Name: "w", DType: "F32", Shape: []int{3}, F32: []float32{1, 2, 3}}}
	meta := map[string]string{MetaFormat: FormatGenerator, MetaSpec: `{"gf":96}`}
	if err := Save(path, ts, meta); err != nil {
		t.Fatal(err)
	}
	got, err := ReadMetadata(path)
	if err != nil || !maps.Equal(got, meta) {
		t.Fatalf("ReadMetadata: %v, %v; want %v", got, err, meta)
	}
	for name, data := range map[string][]byte{
		"short":             {1, 2, 3},
		"header past end":   binary.LittleEndian.AppendUint64(nil, 10),
		"header over limit": append(binary.LittleEndian.AppendUint64(nil, 1<<62), "{}"...),
		"bad JSON":          build(`{"a":`, 0),
	} {
		bad := filepath.Join(dir, "bad")
		if err := os.WriteFile(bad, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadMetadata(bad); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("%s: error %v, want one naming %s", name, err, bad)
		}
		if _, err := Read(bad); err == nil {
			t.Errorf("%s: Read accepts what ReadMetadata refuses", name)
		}
	}
	if _, err := ReadMetadata(dir); err == nil {
		t.Error("ReadMetadata of a directory succeeded")
	}
}
