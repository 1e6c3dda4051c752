package checkpoint

import (
	"io"

	"avatargan/internal/atomicfile"
)

// WriteFileAtomic is atomicfile.Write, kept so existing callers compile.
//
// Deprecated: use avatargan/internal/atomicfile.Write.
func WriteFileAtomic(path string, write func(w io.Writer) error) error {
	return atomicfile.Write(path, write)
}

// Save writes tensors and meta to path as a safetensors file, atomically.
func Save(path string, tensors []Tensor, meta map[string]string) error {
	return atomicfile.Write(path, func(w io.Writer) error {
		return Encode(w, tensors, meta)
	})
}
