//go:build !unix

package lockfile

import (
	"errors"
	"os"
)

func tryLock(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, os.ErrExist) {
		return nil, ErrLocked
	}
	return f, err
}

func unlock(path string, f *os.File) error {
	return errors.Join(f.Close(), os.Remove(path))
}

func staleHint(path string) string {
	return "; if no such process is running, delete " + path
}

// crashSafe: a lock file outlives a crashed holder.
const crashSafe = false
