//go:build unix

package lockfile

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

func tryLock(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, ErrLocked
		}
		return nil, err
	}
	return f, nil
}

// unlock closes the file, which drops the flock. The file stays: removing it would let
// a process that opened it just before the removal lock a file nobody else can see.
func unlock(_ string, f *os.File) error { return f.Close() }

func staleHint(string) string { return "" }

// crashSafe: the kernel releases a flock when its holder dies.
const crashSafe = true
