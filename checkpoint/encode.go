package checkpoint

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"unicode/utf8"
)

// Encode writes tensors and meta as a safetensors file to w.
//
// Float dtypes (F32, F16, BF16, F64) take their values from Tensor.F32 when
// it is non-nil, converting with round-to-nearest-even; otherwise, and for
// every other dtype, Tensor.Raw must hold exactly the stored bytes. A tensor
// with zero elements may leave both nil. Tensors are laid out by decreasing
// element size, then name, as the reference writer does, so every tensor is
// naturally aligned once the header is padded to 8 bytes.
func Encode(w io.Writer, tensors []Tensor, meta map[string]string) error {
	order, err := checkTensors(tensors)
	if err != nil {
		return err
	}
	header, err := encodeHeader(tensors, order, meta)
	if err != nil {
		return err
	}
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(header)))
	if _, err := w.Write(n[:]); err != nil {
		return err
	}
	if _, err := w.Write(header); err != nil {
		return err
	}
	var chunk []byte
	for _, i := range order {
		t := &tensors[i]
		if t.F32 == nil || !isFloat(t.DType) {
			if _, err := w.Write(t.Raw); err != nil {
				return err
			}
			continue
		}
		// Convert in bounded chunks so large tensors do not need a second
		// full-size copy in memory.
		const step = 1 << 14
		for lo := 0; lo < len(t.F32); lo += step {
			chunk = appendValues(chunk[:0], t.DType, t.F32[lo:min(lo+step, len(t.F32))])
			if _, err := w.Write(chunk); err != nil {
				return err
			}
		}
	}
	return nil
}

func appendValues(dst []byte, dtype string, vals []float32) []byte {
	for _, v := range vals {
		switch dtype {
		case "F32":
			dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(v))
		case "F16":
			dst = binary.LittleEndian.AppendUint16(dst, Float32ToHalf(v))
		case "BF16":
			dst = binary.LittleEndian.AppendUint16(dst, Float32ToBF16(v))
		case "F64":
			dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(float64(v)))
		}
	}
	return dst
}

// checkTensors validates the tensors before anything is written, so a bad
// tensor never produces a half-written stream, and returns the layout order.
func checkTensors(tensors []Tensor) ([]int, error) {
	seen := make(map[string]bool, len(tensors))
	for i := range tensors {
		t := &tensors[i]
		switch {
		case t.Name == "":
			return nil, errors.New("safetensors encode: tensor with empty name")
		case t.Name == metadataKey:
			return nil, fmt.Errorf("safetensors encode: tensor name %q is reserved", t.Name)
		case !utf8.ValidString(t.Name):
			return nil, fmt.Errorf("safetensors encode: tensor name %q is not valid UTF-8", t.Name)
		case seen[t.Name]:
			return nil, fmt.Errorf("safetensors encode: duplicate tensor name %q", t.Name)
		}
		seen[t.Name] = true
		size, ok := dtypeSizes[t.DType]
		if !ok {
			return nil, fmt.Errorf("safetensors encode: tensor %q: unknown dtype %q", t.Name, t.DType)
		}
		numel := 1
		for _, d := range t.Shape {
			if d < 0 {
				return nil, fmt.Errorf("safetensors encode: tensor %q: negative dimension in shape %v", t.Name, t.Shape)
			}
			if d != 0 && numel > math.MaxInt/d {
				return nil, fmt.Errorf("safetensors encode: tensor %q: shape %v overflows", t.Name, t.Shape)
			}
			numel *= d
		}
		if numel > math.MaxInt/size {
			return nil, fmt.Errorf("safetensors encode: tensor %q: shape %v overflows", t.Name, t.Shape)
		}
		switch {
		case t.F32 != nil && isFloat(t.DType):
			if len(t.F32) != numel {
				return nil, fmt.Errorf("safetensors encode: tensor %q: %d float32 values for shape %v (%d elements)", t.Name, len(t.F32), t.Shape, numel)
			}
		case t.F32 != nil && t.Raw == nil:
			return nil, fmt.Errorf("safetensors encode: tensor %q: dtype %s cannot be written from F32; set Raw", t.Name, t.DType)
		default:
			if len(t.Raw) != numel*size {
				return nil, fmt.Errorf("safetensors encode: tensor %q: %d raw bytes for %s shape %v (want %d)", t.Name, len(t.Raw), t.DType, t.Shape, numel*size)
			}
		}
	}
	order := make([]int, len(tensors))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		if c := cmp.Compare(dtypeSizes[tensors[b].DType], dtypeSizes[tensors[a].DType]); c != 0 {
			return c
		}
		return cmp.Compare(tensors[a].Name, tensors[b].Name)
	})
	return order, nil
}

// jsonString encodes s without Go's default HTML escaping, keeping headers
// byte-identical to what other writers produce for the same names.
func jsonString(buf *bytes.Buffer, s string) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // cannot fail for a string
	buf.Write(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
}

func encodeHeader(tensors []Tensor, order []int, meta map[string]string) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	first := true
	comma := func() {
		if !first {
			buf.WriteByte(',')
		}
		first = false
	}
	if len(meta) > 0 {
		keys := make([]string, 0, len(meta))
		for k, v := range meta {
			if !utf8.ValidString(k) || !utf8.ValidString(v) {
				return nil, fmt.Errorf("safetensors encode: metadata %q is not valid UTF-8", k)
			}
			keys = append(keys, k)
		}
		sort.Strings(keys) // deterministic output
		comma()
		jsonString(&buf, metadataKey)
		buf.WriteString(":{")
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			jsonString(&buf, k)
			buf.WriteByte(':')
			jsonString(&buf, meta[k])
		}
		buf.WriteByte('}')
	}
	var off uint64
	for _, i := range order {
		t := &tensors[i]
		numel := uint64(1)
		for _, d := range t.Shape {
			numel *= uint64(d)
		}
		end := off + numel*uint64(dtypeSizes[t.DType])
		comma()
		jsonString(&buf, t.Name)
		fmt.Fprintf(&buf, `:{"dtype":"%s","shape":[`, t.DType)
		for j, d := range t.Shape {
			if j > 0 {
				buf.WriteByte(',')
			}
			fmt.Fprint(&buf, d)
		}
		fmt.Fprintf(&buf, `],"data_offsets":[%d,%d]}`, off, end)
		off = end
	}
	buf.WriteByte('}')
	// Pad with spaces so the data buffer starts 8-byte aligned, which lets
	// readers map tensors in place.
	for buf.Len()%8 != 0 {
		buf.WriteByte(' ')
	}
	if buf.Len() > MaxHeaderSize {
		return nil, fmt.Errorf("safetensors encode: header of %d bytes exceeds the %d byte limit", buf.Len(), MaxHeaderSize)
	}
	return buf.Bytes(), nil
}
