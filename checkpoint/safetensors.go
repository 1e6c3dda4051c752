// Package checkpoint reads and writes model checkpoints in the safetensors
// format (https://github.com/huggingface/safetensors), so that weights trained
// here load directly in PyTorch (safetensors.torch.load_file) and vice versa,
// and manages the rotating ckpt-<step>.safetensors files of a run directory.
//
// The decoder is strict: it applies the same validation as the reference Rust
// implementation (header size limit, UTF-8 JSON header, offsets contiguous,
// non-overlapping and covering the byte buffer exactly, byte size matching
// shape and dtype) and never panics, whatever the input, because checkpoint
// files may be truncated by a crash or come from elsewhere.
package checkpoint

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"unicode/utf8"

	"avatargan/internal/regularfile"
)

// MaxHeaderSize is the largest JSON header accepted, the same limit as the
// reference implementation (100 MB), so a corrupt length cannot make us
// allocate or scan gigabytes.
const MaxHeaderSize = 100_000_000

// MaxFileSize caps what Read loads into memory; a DCGAN checkpoint is tens
// of megabytes, so anything near this is certainly not ours.
const MaxFileSize int64 = 8 << 30

// metadataKey is the reserved header key for the free-form string map.
const metadataKey = "__metadata__"

// ErrFormat is wrapped by every error Decode reports about malformed
// content, so callers can tell a corrupt checkpoint from an I/O failure
// with errors.Is.
var ErrFormat = errors.New("invalid safetensors")

func formatErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrFormat, fmt.Sprintf(format, args...))
}

// dtypeSizes maps each safetensors dtype name to its element size in bytes.
// Names and sizes follow the reference implementation's Dtype enum.
var dtypeSizes = map[string]int{
	"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1,
	"I16": 2, "U16": 2, "F16": 2, "BF16": 2,
	"I32": 4, "U32": 4, "F32": 4,
	"I64": 8, "U64": 8, "F64": 8,
}

// DTypeSize returns the element size in bytes of a safetensors dtype, and
// false for dtypes this package does not know.
func DTypeSize(dtype string) (int, bool) {
	n, ok := dtypeSizes[dtype]
	return n, ok
}

// isFloat reports whether Decode fills Tensor.F32 for dtype, i.e. whether
// the dtype converts to float32 without surprises.
func isFloat(dtype string) bool {
	switch dtype {
	case "F32", "F16", "BF16", "F64":
		return true
	}
	return false
}

// Tensor is one named tensor of a safetensors file.
type Tensor struct {
	Name  string
	DType string // safetensors dtype name: "F32", "F16", "I64", ...
	Shape []int  // empty for a scalar
	// F32 holds the values converted to float32 for float dtypes (F32, F16,
	// BF16, F64) after Decode; nil otherwise. For Encode it is the preferred
	// source of values for float dtypes.
	F32 []float32
	// Raw holds the little-endian bytes as stored. After Decode it aliases
	// the decoded buffer. For Encode it is the source of values when F32 is
	// nil, and the only source for non-float dtypes.
	Raw []byte
}

// NumElements returns the product of the shape (1 for a scalar).
func (t *Tensor) NumElements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Int64s decodes an I64 tensor's Raw bytes; step counters and RNG state are
// stored this way so they survive exactly.
func (t *Tensor) Int64s() ([]int64, error) {
	if t.DType != "I64" {
		return nil, fmt.Errorf("tensor %q: dtype %s, want I64", t.Name, t.DType)
	}
	if len(t.Raw)%8 != 0 {
		return nil, fmt.Errorf("tensor %q: %d raw bytes is not a multiple of 8", t.Name, len(t.Raw))
	}
	out := make([]int64, len(t.Raw)/8)
	for i := range out {
		out[i] = int64(binary.LittleEndian.Uint64(t.Raw[8*i:]))
	}
	return out, nil
}

// I64Tensor builds an I64 tensor from values, for Encode.
func I64Tensor(name string, shape []int, values []int64) Tensor {
	raw := make([]byte, 8*len(values))
	for i, v := range values {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
	}
	return Tensor{Name: name, DType: "I64", Shape: shape, Raw: raw}
}

// File is the decoded content of a safetensors file.
type File struct {
	Tensors  []Tensor          // in the order their data appears in the file
	Metadata map[string]string // the __metadata__ map; nil when absent
}

// Get returns the tensor called name.
func (f *File) Get(name string) (*Tensor, bool) {
	for i := range f.Tensors {
		if f.Tensors[i].Name == name {
			return &f.Tensors[i], true
		}
	}
	return nil, false
}

// header entry as parsed, before validation against the buffer.
type entry struct {
	name       string
	dtype      string
	shape      []uint64
	begin, end uint64
	order      int // position in the header, to keep zero-size ties stable
}

// checkHeaderLen bounds a header length n read from a file of size bytes (at least
// the 8 that held n).
func checkHeaderLen(n uint64, size int64) error {
	if n > MaxHeaderSize {
		return formatErr("header length %d exceeds the %d byte limit", n, MaxHeaderSize)
	}
	if n > uint64(size-8) {
		return formatErr("header length %d runs past the end of the %d byte file", n, size)
	}
	return nil
}

// splitHeader splits a whole safetensors file into its JSON header and the byte
// buffer its tensors' offsets count from.
func splitHeader(data []byte) (header, buf []byte, err error) {
	if len(data) < 8 {
		return nil, nil, formatErr("file is %d bytes, shorter than the 8-byte header length", len(data))
	}
	n := binary.LittleEndian.Uint64(data[:8])
	if err := checkHeaderLen(n, int64(len(data))); err != nil {
		return nil, nil, err
	}
	return data[8 : 8+n], data[8+n:], nil
}

// DecodeMetadata returns the __metadata__ of the safetensors file held in data,
// parsing only its header, so that a caller can tell what a file is before
// Decode converts every float tensor to float32 (twice the size of a BF16 file).
func DecodeMetadata(data []byte) (map[string]string, error) {
	header, _, err := splitHeader(data)
	if err != nil {
		return nil, err
	}
	_, meta, err := parseHeader(header)
	return meta, err
}

// Decode parses and validates a complete safetensors file held in data.
// Tensor.Raw slices alias data. Any malformation yields an error wrapping
// ErrFormat; Decode never panics.
func Decode(data []byte) (*File, error) {
	header, buf, err := splitHeader(data)
	if err != nil {
		return nil, err
	}

	entries, meta, err := parseHeader(header)
	if err != nil {
		return nil, err
	}

	// Validate layout: sorted by offsets, each tensor must start where the
	// previous one ended and the last must end at the buffer's end.
	slices.SortStableFunc(entries, func(a, b entry) int {
		if a.begin != b.begin {
			if a.begin < b.begin {
				return -1
			}
			return 1
		}
		if a.end != b.end {
			if a.end < b.end {
				return -1
			}
			return 1
		}
		return a.order - b.order
	})
	f := &File{Tensors: make([]Tensor, 0, len(entries)), Metadata: meta}
	var pos uint64
	for _, e := range entries {
		if e.begin != pos {
			if e.begin < pos {
				return nil, formatErr("tensor %q: data_offsets [%d, %d] overlap the previous tensor, which ends at %d", e.name, e.begin, e.end, pos)
			}
			return nil, formatErr("tensor %q: data_offsets [%d, %d] leave a hole after offset %d", e.name, e.begin, e.end, pos)
		}
		if e.end < e.begin {
			return nil, formatErr("tensor %q: data_offsets [%d, %d] end before they begin", e.name, e.begin, e.end)
		}
		if e.end > uint64(len(buf)) {
			return nil, formatErr("tensor %q: data_offsets [%d, %d] run past the %d byte data buffer", e.name, e.begin, e.end, len(buf))
		}
		size := uint64(dtypeSizes[e.dtype])
		numel := uint64(1)
		shape := make([]int, len(e.shape))
		for i, d := range e.shape {
			if d > math.MaxInt {
				return nil, formatErr("tensor %q: dimension %d is too large", e.name, d)
			}
			shape[i] = int(d)
			hi, lo := bits.Mul64(numel, d)
			if hi != 0 {
				return nil, formatErr("tensor %q: shape %v overflows", e.name, e.shape)
			}
			numel = lo
		}
		hi, nbytes := bits.Mul64(numel, size)
		if hi != 0 || nbytes != e.end-e.begin {
			return nil, formatErr("tensor %q: %s shape %v needs %d*%d bytes but data_offsets [%d, %d] hold %d", e.name, e.dtype, e.shape, numel, size, e.begin, e.end, e.end-e.begin)
		}
		raw := buf[e.begin:e.end:e.end]
		t := Tensor{Name: e.name, DType: e.dtype, Shape: shape, Raw: raw}
		if isFloat(e.dtype) {
			t.F32 = toFloat32(e.dtype, raw)
		}
		f.Tensors = append(f.Tensors, t)
		pos = e.end
	}
	if pos != uint64(len(buf)) {
		return nil, formatErr("tensors cover %d bytes but the data buffer has %d", pos, len(buf))
	}
	return f, nil
}

// toFloat32 converts raw little-endian values of a float dtype.
func toFloat32(dtype string, raw []byte) []float32 {
	switch dtype {
	case "F32":
		out := make([]float32, len(raw)/4)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		return out
	case "F16":
		out := make([]float32, len(raw)/2)
		for i := range out {
			out[i] = HalfToFloat32(binary.LittleEndian.Uint16(raw[2*i:]))
		}
		return out
	case "BF16":
		out := make([]float32, len(raw)/2)
		for i := range out {
			out[i] = BF16ToFloat32(binary.LittleEndian.Uint16(raw[2*i:]))
		}
		return out
	case "F64":
		out := make([]float32, len(raw)/8)
		for i := range out {
			out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:])))
		}
		return out
	}
	return nil
}

// parseHeader parses the JSON header with the token API rather than
// json.Unmarshal because we must reject duplicate keys, null metadata values
// and non-integer numbers, all of which Unmarshal would silently accept.
func parseHeader(h []byte) ([]entry, map[string]string, error) {
	if !utf8.Valid(h) {
		return nil, nil, formatErr("header is not valid UTF-8")
	}
	if len(h) == 0 || h[0] != '{' {
		return nil, nil, formatErr("header does not start with '{'")
	}
	dec := json.NewDecoder(bytes.NewReader(h))
	dec.UseNumber()
	if _, err := token(dec); err != nil {
		return nil, nil, formatErr("header JSON: %v", err)
	}
	var (
		entries []entry
		meta    map[string]string
		seen    = map[string]bool{}
	)
	for dec.More() {
		tok, err := token(dec)
		if err != nil {
			return nil, nil, formatErr("header JSON: %v", err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, nil, formatErr("header JSON: unexpected %v", tok)
		}
		if seen[key] {
			return nil, nil, formatErr("header has duplicate key %q", key)
		}
		seen[key] = true
		if key == metadataKey {
			if meta, err = parseMetadata(dec); err != nil {
				return nil, nil, err
			}
			continue
		}
		e, err := parseEntry(dec, key)
		if err != nil {
			return nil, nil, err
		}
		e.order = len(entries)
		entries = append(entries, e)
	}
	if _, err := token(dec); err != nil { // closing '}'
		return nil, nil, formatErr("header JSON: %v", err)
	}
	// Only whitespace (the writer's alignment padding) may follow.
	if rest := h[dec.InputOffset():]; len(bytes.Trim(rest, " \t\r\n")) != 0 {
		return nil, nil, formatErr("header has trailing data after the JSON object")
	}
	return entries, meta, nil
}

// token wraps dec.Token so a truncated header reads as such rather than as
// a bare "EOF".
func token(dec *json.Decoder) (json.Token, error) {
	tok, err := dec.Token()
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		err = errors.New("header JSON ends unexpectedly")
	}
	return tok, err
}

func expectDelim(dec *json.Decoder, want json.Delim, what string) error {
	tok, err := token(dec)
	if err != nil {
		return formatErr("%s: %v", what, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return formatErr("%s: expected %q, got %v", what, want, tok)
	}
	return nil
}

func parseMetadata(dec *json.Decoder) (map[string]string, error) {
	tok, err := token(dec)
	if err != nil {
		return nil, formatErr("__metadata__: %v", err)
	}
	if tok == nil {
		return nil, nil // "null" is how the reference writer spells "absent"
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, formatErr("__metadata__ must be an object of strings, got %v", tok)
	}
	meta := map[string]string{}
	for dec.More() {
		tok, err := token(dec)
		if err != nil {
			return nil, formatErr("__metadata__: %v", err)
		}
		k, ok := tok.(string)
		if !ok {
			return nil, formatErr("__metadata__: unexpected %v", tok)
		}
		if _, dup := meta[k]; dup {
			return nil, formatErr("__metadata__ has duplicate key %q", k)
		}
		tok, err = token(dec)
		if err != nil {
			return nil, formatErr("__metadata__[%q]: %v", k, err)
		}
		v, ok := tok.(string)
		if !ok {
			return nil, formatErr("__metadata__[%q] must be a string, got %v", k, tok)
		}
		meta[k] = v
	}
	if err := expectDelim(dec, '}', "__metadata__"); err != nil {
		return nil, err
	}
	return meta, nil
}

func parseEntry(dec *json.Decoder, name string) (entry, error) {
	e := entry{name: name}
	what := fmt.Sprintf("tensor %q", name)
	if err := expectDelim(dec, '{', what); err != nil {
		return e, err
	}
	var haveDtype, haveShape, haveOffsets bool
	for dec.More() {
		tok, err := token(dec)
		if err != nil {
			return e, formatErr("%s: %v", what, err)
		}
		k, ok := tok.(string)
		if !ok {
			return e, formatErr("%s: unexpected %v", what, tok)
		}
		switch k {
		case "dtype":
			if haveDtype {
				return e, formatErr("%s: duplicate dtype", what)
			}
			haveDtype = true
			tok, err := token(dec)
			if err != nil {
				return e, formatErr("%s: dtype: %v", what, err)
			}
			s, ok := tok.(string)
			if !ok {
				return e, formatErr("%s: dtype must be a string, got %v", what, tok)
			}
			if _, known := dtypeSizes[s]; !known {
				return e, formatErr("%s: unknown dtype %q", what, s)
			}
			e.dtype = s
		case "shape":
			if haveShape {
				return e, formatErr("%s: duplicate shape", what)
			}
			haveShape = true
			if e.shape, err = parseUints(dec, what+": shape", -1); err != nil {
				return e, err
			}
		case "data_offsets":
			if haveOffsets {
				return e, formatErr("%s: duplicate data_offsets", what)
			}
			haveOffsets = true
			offs, err := parseUints(dec, what+": data_offsets", 2)
			if err != nil {
				return e, err
			}
			e.begin, e.end = offs[0], offs[1]
		default:
			return e, formatErr("%s: unknown field %q", what, k)
		}
	}
	if err := expectDelim(dec, '}', what); err != nil {
		return e, err
	}
	switch {
	case !haveDtype:
		return e, formatErr("%s: missing dtype", what)
	case !haveShape:
		return e, formatErr("%s: missing shape", what)
	case !haveOffsets:
		return e, formatErr("%s: missing data_offsets", what)
	}
	return e, nil
}

// parseUints reads a JSON array of non-negative integers; want < 0 means any
// length.
func parseUints(dec *json.Decoder, what string, want int) ([]uint64, error) {
	if err := expectDelim(dec, '[', what); err != nil {
		return nil, err
	}
	out := []uint64{}
	for dec.More() {
		tok, err := token(dec)
		if err != nil {
			return nil, formatErr("%s: %v", what, err)
		}
		num, ok := tok.(json.Number)
		if !ok {
			return nil, formatErr("%s: expected a number, got %v", what, tok)
		}
		if len(num) > 0 && num[0] == '-' {
			return nil, formatErr("%s: negative value %s", what, num)
		}
		v, err := strconv.ParseUint(string(num), 10, 64)
		if err != nil {
			return nil, formatErr("%s: %s is not a non-negative integer", what, num)
		}
		out = append(out, v)
		if want >= 0 && len(out) > want {
			return nil, formatErr("%s: expected %d values", what, want)
		}
	}
	if err := expectDelim(dec, ']', what); err != nil {
		return nil, err
	}
	if want >= 0 && len(out) != want {
		return nil, formatErr("%s: expected %d values, got %d", what, want, len(out))
	}
	return out, nil
}

// ReadMetadata returns the __metadata__ of the safetensors file at path, reading only
// its header: what a file is (a ~128 MB training checkpoint or a generator) can be asked
// without reading its tensors. Errors name the path.
func ReadMetadata(path string) (map[string]string, error) {
	fh, st, err := regularfile.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	var n8 [8]byte
	if _, err := io.ReadFull(fh, n8[:]); err != nil {
		return nil, fmt.Errorf("%s: %w", path, formatErr("file is %d bytes, shorter than the 8-byte header length", st.Size()))
	}
	n := binary.LittleEndian.Uint64(n8[:])
	if err := checkHeaderLen(n, st.Size()); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	header := make([]byte, n)
	if _, err := io.ReadFull(fh, header); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	_, meta, err := parseHeader(header)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return meta, nil
}

// Read loads and decodes the safetensors file at path. Errors name the path.
func Read(path string) (*File, error) {
	// Checkpoints are replaced by rename, never rewritten in place, so the size
	// regularfile.Read checks and sizes its buffer from is stable.
	data, err := regularfile.Read(path, MaxFileSize)
	if err != nil {
		return nil, err
	}
	f, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}
