// Package regularfile opens and reads files that must be regular files of bounded
// size: model files, checkpoints and cascades named by a user or a request.
//
// Opening a FIFO blocks until a writer comes (even through Ctrl-C), and reading a
// device such as /dev/zero never ends, so the path is checked with a stat before it
// is opened and again, on the open file, after (in case it was replaced in between).
package regularfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// ErrNotRegular is wrapped by the error for a path that is not a regular file.
var ErrNotRegular = errors.New("not a regular file")

// Open opens path for reading if it is a regular file, and returns its FileInfo as
// seen on the open file. Errors name the path.
func Open(path string) (*os.File, fs.FileInfo, error) {
	if st, err := os.Stat(path); err != nil {
		return nil, nil, err // already names the path
	} else if !st.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s: %w", path, ErrNotRegular)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err // already names the path
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = fmt.Errorf("%s: %w", path, ErrNotRegular)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, st, nil
}

// Read returns the contents of the regular file at path, refusing a file of more
// than limit bytes before reading it. The buffer is sized from the file's stat; a
// file that changes size while being read is refused rather than truncated or read
// past the limit. Errors name the path.
func Read(path string, limit int64) ([]byte, error) {
	f, st, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st.Size() > limit {
		return nil, fmt.Errorf("%s: %d bytes, over the %d byte limit", path, st.Size(), limit)
	}
	data := make([]byte, st.Size())
	if _, err := io.ReadFull(f, data); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: changed while being read", path)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	// One more byte means the file grew after the stat.
	var one [1]byte
	if n, _ := f.Read(one[:]); n != 0 {
		return nil, fmt.Errorf("%s: changed while being read", path)
	}
	return data, nil
}
