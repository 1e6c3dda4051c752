package avatar_test

import (
	"context"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"avatargan/avatar"
	"avatargan/checkpoint"
	"avatargan/dataset"
	"avatargan/dcgan"
	"avatargan/internal/testutil"
	"avatargan/train"
)

// fixture is a tiny run with EMA: 16 px, z 8, gf 4, trained 4 steps.
type fixture struct {
	dir, ckpt string
	run       *train.Run
}

var (
	fixOnce sync.Once
	fix     fixture
	fixErr  error
	fixRoot string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if fixRoot != "" {
		os.RemoveAll(fixRoot)
	}
	os.Exit(code)
}

func getFixture(t *testing.T) fixture {
	t.Helper()
	fixOnce.Do(func() {
		fixRoot, fixErr = os.MkdirTemp("", "avatar-test-")
		if fixErr != nil {
			return
		}
		data := filepath.Join(fixRoot, "faces")
		if fixErr = os.MkdirAll(data, 0o755); fixErr != nil {
			return
		}
		r := rand.New(rand.NewPCG(1, 2))
		for i := 0; i < 8; i++ {
			img := image.NewRGBA(image.Rect(0, 0, 16, 16))
			for p := 0; p < len(img.Pix); p += 4 {
				img.Pix[p], img.Pix[p+1], img.Pix[p+2], img.Pix[p+3] = uint8(r.IntN(256)), uint8(r.IntN(256)), uint8(r.IntN(256)), 255
			}
			img.Set(0, 0, color.White)
			f, err := os.Create(filepath.Join(data, "f"+string(rune('a'+i))+".png"))
			if err != nil {
				fixErr = err
				return
			}
			png.Encode(f, img)
			f.Close()
		}
		set, _, err := dataset.Load(dataset.Options{Dir: data, Size: 16, NoCache: true})
		if err != nil {
			fixErr = err
			return
		}
		cfg := train.DefaultConfig()
		cfg.Model = dcgan.Config{Size: 16, ZDim: 8, GF: 4, DF: 4, Batch: 4,
			LRG: 2e-3, LRD: 2e-3, Beta1: 0.5, Beta2: 0.999, Beta1D: 0.5, Beta2D: 0.999, GSteps: 2, Dist: dcgan.Uniform, Seed: 5}
		cfg.EMA = 0.5
		run := filepath.Join(fixRoot, "run")
		rn, err := train.Open(cfg, set, train.Options{Dir: run, MaxSteps: 4})
		if err != nil {
			fixErr = err
			return
		}
		if fixErr = rn.Train(context.Background()); fixErr != nil {
			return
		}
		ckpt, err := checkpoint.Latest(run)
		fix, fixErr = fixture{dir: run, ckpt: ckpt, run: rn}, err
	})
	if fixErr != nil {
		t.Fatal(fixErr)
	}
	return fix
}

func seeds(lo, n int) []uint64 {
	s := make([]uint64, n)
	for i := range s {
		s[i] = uint64(lo + i)
	}
	return s
}

func tensor(t *testing.T, m *avatar.Model, seeds ...uint64) []float32 {
	t.Helper()
	x, err := m.Tensor(m.Seeds(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func maxDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

func load(t *testing.T, path string) *avatar.Model {
	t.Helper()
	m, err := avatar.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestLoadSourcesAgree(t *testing.T) {
	f := getFixture(t)
	s := seeds(0, 10)
	fromDir := load(t, f.dir)
	fromCkpt := load(t, f.ckpt)
	want := tensor(t, fromDir, s...)
	if d := maxDiff(want, tensor(t, fromCkpt, s...)); d != 0 {
		t.Fatalf("run dir vs checkpoint: max diff %g", d)
	}
	if fromDir.ID() != fromCkpt.ID() || fromDir.ID() == "" {
		t.Fatalf("ids %q %q", fromDir.ID(), fromCkpt.ID())
	}
	if fromDir.Spec() != (avatar.Spec{Size: 16, ZDim: 8, GF: 4, Dist: dcgan.Uniform}) || fromDir.Size() != 16 || fromDir.ZDim() != 8 {
		t.Fatalf("spec %+v", fromDir.Spec())
	}
	// The training run's own samples come from the same weights.
	g := f.run.SamplerGenerator()
	z := fromDir.Seeds(s...)
	if d := maxDiff(want, g.Forward(z, len(s), false)); d != 0 {
		t.Fatalf("Load vs the run's sampler: max diff %g", d)
	}

	tmp := t.TempDir()
	for _, c := range []struct {
		dtype string
		tol   float64
	}{{"F32", 0}, {"F16", 0.02}} {
		p := filepath.Join(tmp, "g-"+c.dtype+".safetensors")
		if err := fromCkpt.Save(p, c.dtype); err != nil {
			t.Fatal(err)
		}
		m := load(t, p)
		if m.Spec() != fromCkpt.Spec() {
			t.Fatalf("%s: spec %+v", c.dtype, m.Spec())
		}
		if d := maxDiff(want, tensor(t, m, s...)); d > c.tol || (c.tol > 0 && d == 0) {
			t.Fatalf("%s generator file: max diff %g, want <= %g", c.dtype, d, c.tol)
		}
		// Decode of the bytes is Load.
		b, _ := os.ReadFile(p)
		dm, err := avatar.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if d := maxDiff(tensor(t, m, s...), tensor(t, dm, s...)); d != 0 {
			t.Fatalf("Decode vs Load: %g", d)
		}
	}
}

func TestEMAIsDefaultLiveOnRequest(t *testing.T) {
	f := getFixture(t)
	s := seeds(100, 6)
	ema := tensor(t, load(t, f.ckpt), s...)
	liveM, err := avatar.LoadWith(f.ckpt, true)
	if err != nil {
		t.Fatal(err)
	}
	live := tensor(t, liveM, s...)
	if maxDiff(ema, live) < 1e-4 {
		t.Fatal("EMA and live generators give the same images")
	}
	if liveM.ID() == load(t, f.ckpt).ID() {
		t.Fatal("live and EMA models share an id")
	}
	// The live model is the trainer's generator.
	z := liveM.Seeds(s...)
	if d := maxDiff(live, f.run.Trainer.G.Forward(z, len(s), false)); d != 0 {
		t.Fatalf("live model vs trainer's G: %g", d)
	}
}

func TestGenerateDeterministicAndChunkFree(t *testing.T) {
	f := getFixture(t)
	m := load(t, f.ckpt)
	const n = 130 // more than one chunk of 128
	all, err := m.Generate(m.Seeds(seeds(0, n)...))
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != n || all[0].Bounds().Dx() != 16 || all[0].Bounds().Dy() != 16 {
		t.Fatalf("%d images of %v", len(all), all[0].Bounds())
	}
	for _, i := range []int{0, 1, 64, 127, 128, 129} {
		one, err := m.Generate(m.Seeds(uint64(i)))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(one[0].Pix, all[i].Pix) {
			t.Fatalf("seed %d: alone and in a batch of %d differ", i, n)
		}
	}
	again, err := m.Generate(m.Seeds(seeds(0, n)...))
	if err != nil || len(again) != n {
		t.Fatalf("second call: %d images, %v", len(again), err)
	}
	for i := range again {
		if !slices.Equal(again[i].Pix, all[i].Pix) {
			t.Fatalf("second call differs at %d", i)
		}
	}
	if slices.Equal(all[0].Pix, all[1].Pix) {
		t.Fatal("seeds 0 and 1 give the same avatar")
	}
	// A fresh load gives the same images.
	m2 := load(t, f.dir)
	other, err := m2.Generate(m2.Seeds(5))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(other[0].Pix, all[5].Pix) {
		t.Fatal("a second Load differs")
	}
	if _, err := m.Tensor(nil); err == nil {
		t.Fatal("empty latents accepted")
	}
	if _, err := m.Generate(make([]float32, 7)); err == nil {
		t.Fatal("7 latent values for zdim 8 accepted")
	}
}

func TestExportNames(t *testing.T) {
	f := getFixture(t)
	m := load(t, f.ckpt)
	// gf 4, z 8, 16 px: fc maps 8 -> 8*4*1*1.
	type ent struct {
		name  string
		shape []int
	}
	bn := func(i, c int) []ent {
		p := "bn" + string(rune('0'+i)) + "."
		return []ent{{p + "weight", []int{c}}, {p + "bias", []int{c}}, {p + "running_mean", []int{c}},
			{p + "running_var", []int{c}}, {p + "num_batches_tracked", []int{}}}
	}
	deconv := func(i, in, out int) []ent {
		p := "deconv" + string(rune('0'+i)) + "."
		return []ent{{p + "weight", []int{in, out, 5, 5}}, {p + "bias", []int{out}}}
	}
	want := []ent{{"fc.weight", []int{32, 8}}, {"fc.bias", []int{32}}}
	want = append(want, bn(0, 32)...)
	want = append(want, deconv(1, 32, 16)...)
	want = append(want, bn(1, 16)...)
	want = append(want, deconv(2, 16, 8)...)
	want = append(want, bn(2, 8)...)
	want = append(want, deconv(3, 8, 4)...)
	want = append(want, bn(3, 4)...)
	want = append(want, deconv(4, 4, 3)...)
	for _, dtype := range []string{"F32", "F16"} {
		p := filepath.Join(t.TempDir(), "g.safetensors")
		if err := m.Save(p, dtype); err != nil {
			t.Fatal(err)
		}
		file, err := checkpoint.Read(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(file.Tensors) != len(want) {
			var names []string
			for _, x := range file.Tensors {
				names = append(names, x.Name)
			}
			t.Fatalf("%s: %d tensors %v, want %d", dtype, len(file.Tensors), names, len(want))
		}
		for _, w := range want {
			x, ok := file.Get(w.name)
			if !ok {
				t.Fatalf("%s: no tensor %s", dtype, w.name)
			}
			if !slices.Equal(x.Shape, w.shape) {
				t.Fatalf("%s: %s has shape %v, want %v", dtype, w.name, x.Shape, w.shape)
			}
			wantType := dtype
			if strings.HasSuffix(w.name, "num_batches_tracked") {
				wantType = "I64"
			}
			if x.DType != wantType {
				t.Fatalf("%s: %s is %s, want %s", dtype, w.name, x.DType, wantType)
			}
		}
		if file.Metadata[avatar.MetaFormat] != avatar.FormatGenerator || !strings.Contains(file.Metadata[avatar.MetaSpec], `"gf":4`) {
			t.Fatalf("%s: metadata %v", dtype, file.Metadata)
		}
	}
	if err := m.Save(filepath.Join(t.TempDir(), "g.safetensors"), "I8"); err == nil {
		t.Fatal("dtype I8 accepted")
	}
}

func TestLoadErrors(t *testing.T) {
	f := getFixture(t)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good, _ := os.ReadFile(f.ckpt)
	save := func(name string, ts []checkpoint.Tensor, meta map[string]string) string {
		p := filepath.Join(dir, name)
		if err := checkpoint.Save(p, ts, meta); err != nil {
			t.Fatal(err)
		}
		return p
	}
	one := []checkpoint.Tensor{{Name: "w", DType: "F32", Shape: []int{1}, F32: []float32{1}}}
	// Room for the weights of the spec below (~18,000), none of them named as its are.
	pad := []checkpoint.Tensor{{Name: "w", DType: "F32", Shape: []int{20000}, F32: make([]float32, 20000)}}
	emptyDir := filepath.Join(dir, "empty")
	os.Mkdir(emptyDir, 0o755)
	cases := []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(dir, "nope.safetensors"), "no such file"},
		{"dir without checkpoints", emptyDir, "no checkpoint"},
		{"empty file", write("empty.safetensors", nil), "empty.safetensors"},
		{"garbage", write("garbage.safetensors", []byte("this is not a safetensors file at all")), "garbage.safetensors"},
		{"truncated", write("trunc.safetensors", good[:len(good)/2]), "trunc.safetensors"},
		{"foreign", save("foreign.safetensors", one, map[string]string{"a": "b"}), "not an avatargan generator"},
		{"bad spec", save("spec.safetensors", one, map[string]string{avatar.MetaFormat: avatar.FormatGenerator, avatar.MetaSpec: "{"}), "spec"},
		{"invalid spec", save("spec2.safetensors", one, map[string]string{avatar.MetaFormat: avatar.FormatGenerator, avatar.MetaSpec: `{"size":20,"zdim":8,"gf":4}`}), "multiple of 16"},
		{"missing tensors", save("gen.safetensors", pad, map[string]string{avatar.MetaFormat: avatar.FormatGenerator, avatar.MetaSpec: `{"size":16,"zdim":8,"gf":4}`}), "missing tensor"},
		{"too small for its spec", save("small.safetensors", one, map[string]string{avatar.MetaFormat: avatar.FormatGenerator, avatar.MetaSpec: `{"size":16,"zdim":8,"gf":4}`}), "cannot hold the weights"},
		{"bad config", save("cfg.safetensors", one, map[string]string{avatar.MetaFormat: avatar.FormatTrain, avatar.MetaConfig: "nope"}), "config"},
	}
	for _, c := range cases {
		_, err := avatar.Load(c.path)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", c.name, err, c.want)
		}
	}
	// A generator file whose spec does not match its tensors.
	m := load(t, f.ckpt)
	p := filepath.Join(dir, "g.safetensors")
	if err := m.Save(p, "F32"); err != nil {
		t.Fatal(err)
	}
	file, _ := checkpoint.Read(p)
	meta := map[string]string{avatar.MetaFormat: avatar.FormatGenerator, avatar.MetaSpec: `{"size":16,"zdim":9,"gf":4}`}
	bad := save("mismatch.safetensors", file.Tensors, meta)
	if _, err := avatar.Load(bad); err == nil || !strings.Contains(err.Error(), "shape") {
		t.Errorf("mismatched spec: %v", err)
	}
	// A file with a tensor its spec's model lacks (a refinement head the spec does not
	// declare, as a build that predates the head would read it): refused, not half used.
	extra := append(file.Tensors[:len(file.Tensors):len(file.Tensors)],
		checkpoint.Tensor{Name: "refine_conv.bias", DType: "F32", Shape: []int{3}, F32: []float32{1, 2, 3}})
	meta = map[string]string{avatar.MetaFormat: avatar.FormatGenerator, avatar.MetaSpec: file.Metadata[avatar.MetaSpec]}
	if _, err := avatar.Load(save("extra.safetensors", extra, meta)); err == nil || !strings.Contains(err.Error(), `"refine_conv.bias" is not part of this model`) {
		t.Errorf("extra tensor: %v", err)
	}
	if _, err := avatar.Decode(nil); err == nil {
		t.Error("Decode(nil) succeeded")
	}
}

// foreignFile is a safetensors file that is not an avatargan model: one BF16 tensor of
// n values (zeros), as a language model's file holds gigabytes of.
func foreignFile(n int) []byte {
	h := []byte(`{"__metadata__":{"format":"pt"},"w":{"dtype":"BF16","shape":[` + strconv.Itoa(n) +
		`],"data_offsets":[0,` + strconv.Itoa(2*n) + `]}}`)
	for len(h)%8 != 0 {
		h = append(h, ' ')
	}
	b := make([]byte, 8+len(h)+2*n)
	binary.LittleEndian.PutUint64(b, uint64(len(h)))
	copy(b[8:], h)
	return b
}

// allocated returns the bytes f allocates (the test process is otherwise idle).
func allocated(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// A foreign safetensors file is refused from its header: Decode does not first convert
// its tensors to float32 (64 MB here), and Load does not read its data (32 MB).
func TestLoadRefusesForeignEarly(t *testing.T) {
	const n = 16 << 20
	data := foreignFile(n)
	var err error
	if got := allocated(func() { _, err = avatar.Decode(data) }); got > 8<<20 {
		t.Errorf("Decode of a foreign file allocated %d MB before refusing it", got>>20)
	}
	if err == nil || !strings.Contains(err.Error(), "not an avatargan generator") {
		t.Errorf("Decode: error %v, want not an avatargan generator", err)
	}
	p := filepath.Join(t.TempDir(), "llm.safetensors")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := allocated(func() { _, err = avatar.Load(p) }); got > 8<<20 {
		t.Errorf("Load of a foreign file allocated %d MB before refusing it", got>>20)
	}
	if err == nil || !strings.Contains(err.Error(), "not an avatargan generator") || !strings.Contains(err.Error(), p) {
		t.Errorf("Load: error %v, want the path and not an avatargan generator", err)
	}
}

func TestUntrained(t *testing.T) {
	spec := avatar.Spec{Size: 16, ZDim: 8, GF: 4, Dist: dcgan.Normal}
	a, err := avatar.Untrained(spec, 1)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := avatar.Untrained(spec, 1)
	if d := maxDiff(tensor(t, a, 1, 2), tensor(t, b, 1, 2)); d != 0 || a.ID() != b.ID() {
		t.Fatalf("untrained models of one seed differ: %g", d)
	}
	if _, err := avatar.Untrained(avatar.Spec{Size: 10, ZDim: 8, GF: 4}, 1); err == nil {
		t.Fatal("size 10 accepted")
	}
}

// A small file cannot make the loader allocate without bound: shapes in its metadata are
// checked against dcgan's memory limits before any tensor is made, and only regular files
// are read (/dev/zero would grow forever, a FIFO would block forever, even through
// Ctrl-C). Each error is one line.
func TestLoadRefusesHostileFiles(t *testing.T) {
	dir := t.TempDir()
	one := []checkpoint.Tensor{{Name: "w", DType: "F32", Shape: []int{1}, F32: []float32{1}}}
	save := func(name string, meta map[string]string) string {
		p := filepath.Join(dir, name)
		if err := checkpoint.Save(p, one, meta); err != nil {
			t.Fatal(err)
		}
		return p
	}
	gen := func(spec string) map[string]string {
		return map[string]string{avatar.MetaFormat: avatar.FormatGenerator, avatar.MetaSpec: spec}
	}
	cases := []struct{ name, path, want string }{
		{"size 16384", save("big.safetensors", gen(`{"size":16384,"zdim":100,"gf":64}`)), "size 16384"},
		{"gf 1e6", save("wide.safetensors", gen(`{"size":48,"zdim":100,"gf":1000000}`)), "gf 1000000"},
		{"gf 2^61", save("wider.safetensors", gen(`{"size":48,"zdim":100,"gf":2305843009213693952}`)), "gf 2305843009213693952"},
		{"zdim 1e9", save("z.safetensors", gen(`{"size":48,"zdim":1000000000,"gf":64}`)), "zdim 1000000000"},
		{"dist 7", save("dist.safetensors", gen(`{"size":16,"zdim":8,"gf":4,"dist":7}`)), "dist 7"},
		{"train config gf 1e6", save("cfg.safetensors", map[string]string{avatar.MetaFormat: avatar.FormatTrain,
			avatar.MetaConfig: `{"Size":48,"ZDim":100,"GF":1000000,"DF":64,"Batch":64}`}), "gf 1000000"},
		{"device", "/dev/zero", "not a regular file"},
	}
	if fi, err := os.Stat(cases[0].path); err != nil || fi.Size() > 200 {
		t.Fatalf("hostile file is %v bytes (%v), want a small one", fi.Size(), err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := mkfifo(fifo); err == nil {
		cases = append(cases, struct{ name, path, want string }{"fifo", fifo, "not a regular file"})
	} else if testutil.CI() && !errors.Is(err, errNoFIFOs) {
		t.Errorf("CI=true: no FIFO case: %v", err)
	} else {
		t.Logf("no FIFO case: %v", err)
	}
	for _, c := range cases {
		done := make(chan error, 1)
		go func() { _, err := avatar.Load(c.path); done <- err }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("%s: error %v, want one line mentioning %q", c.name, err, c.want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: Load still running after 10 s", c.name)
		}
	}
}

// Generation stops between passes once the context is done.
func TestGenerateContext(t *testing.T) {
	m, err := avatar.Untrained(avatar.Spec{Size: 16, ZDim: 8, GF: 4}, 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.GenerateContext(ctx, m.Seeds(1, 2, 3)); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled GenerateContext: %v", err)
	}
	if _, err := m.GenerateContext(context.Background(), m.Seeds(1, 2, 3)); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "g.safetensors")
	if err := m.SaveContext(ctx, p, "F32"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled SaveContext: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(p)); len(ents) != 0 {
		t.Fatalf("cancelled SaveContext left %v", ents)
	}
	// Too many images for one call is an error, not an out-of-memory crash.
	if _, err := m.Tensor(make([]float32, 8*(avatar.MaxImageBytes/(4*3*16*16)+1))); err == nil {
		t.Fatal("oversized Tensor call accepted")
	}
}

// The size bound Decode puts on a file (2 bytes per weight of the network its metadata
// claims, from dcgan.EstimateGenerator) never refuses a real one: F16 generator files of
// several shapes, with and without a refinement head, load, and hold at least that many
// bytes.
func TestLoadSizeBoundFitsRealFiles(t *testing.T) {
	for _, spec := range []avatar.Spec{
		{Size: 16, ZDim: 8, GF: 4, Dist: dcgan.Normal},
		{Size: 48, ZDim: 100, GF: 64, Dist: dcgan.Uniform},
		{Size: 48, ZDim: 100, GF: 96, Refine: 32, Dist: dcgan.Uniform},
		{Size: 32, ZDim: 3, GF: 1, Refine: 1, Dist: dcgan.Normal},
	} {
		m, err := avatar.Untrained(spec, 1)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "g.safetensors")
		if err := m.Save(p, "F16"); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		est, _ := dcgan.EstimateGenerator(spec.Size, spec.ZDim, spec.GF, spec.Refine)
		if need := est.Params / 8 * 2; fi.Size() < need {
			t.Errorf("%+v: F16 file of %d bytes, the bound wants %d", spec, fi.Size(), need)
		}
		if _, err := avatar.Load(p); err != nil {
			t.Errorf("%+v: %v", spec, err)
		}
	}
}
