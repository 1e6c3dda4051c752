package checkpoint

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// tempPrefix starts every temporary file name; the leading dot keeps temp
// files out of Latest/Prune and out of casual directory listings.
const tempPrefix = "."

// WriteFileAtomic creates or replaces path with what write produces, such
// that readers (and a resume after a crash) only ever see the old complete
// file or the new complete file. It writes a temporary file in the same
// directory (rename is only atomic within one file system), fsyncs it,
// renames it over path and fsyncs the directory so the rename itself is
// durable. On any error, or a panic in write, the temporary file is removed
// and path is left untouched.
func WriteFileAtomic(path string, write func(w io.Writer) error) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, tempPrefix+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmpName := tmp.Name()
	closed, renamed := false, false
	defer func() {
		// Also runs while a panic in write unwinds, which then continues.
		if !renamed {
			if !closed {
				tmp.Close()
			}
			os.Remove(tmpName)
		}
	}()

	bw := bufio.NewWriterSize(tmp, 1<<20)
	if err := write(bw); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	// CreateTemp uses 0600; checkpoints are ordinary data files.
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	closed = true
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmpName, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	renamed = true
	// The new file is in place; a failed directory sync only weakens
	// durability, but report it so the caller does not prune older
	// checkpoints on the strength of a rename that may not survive a crash.
	if d, derr := os.Open(dir); derr == nil {
		serr := d.Sync()
		cerr := d.Close()
		if serr = errors.Join(serr, cerr); serr != nil {
			return fmt.Errorf("write %s: sync directory: %w", path, serr)
		}
	} else {
		return fmt.Errorf("write %s: sync directory: %w", path, derr)
	}
	return nil
}

// Save writes tensors and meta to path as a safetensors file, atomically.
func Save(path string, tensors []Tensor, meta map[string]string) error {
	return WriteFileAtomic(path, func(w io.Writer) error {
		return Encode(w, tensors, meta)
	})
}
