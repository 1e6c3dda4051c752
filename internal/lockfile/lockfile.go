// Package lockfile gives a process exclusive use of a resource (a run directory, a
// dataset cache entry) through a lock file beside it. On Unix the lock is flock(2) on
// the file: the kernel drops it when the process exits, however it exits, so a crash
// never leaves a stale lock. Elsewhere the file's existence is the lock (created with
// O_EXCL, removed by Unlock), and a crashed process's lock must be deleted by hand; the
// error says so.
package lockfile

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// ErrLocked is wrapped by the error of TryLock when another holder has the lock.
var ErrLocked = errors.New("locked by another process")

// Lock is a held lock; Unlock releases it.
type Lock struct {
	path string
	f    *os.File
}

// Path is the lock file's path.
func (l *Lock) Path() string { return l.path }

// TryLock takes the lock at path (creating the file) or fails at once with an error
// wrapping ErrLocked that names the holder's process id when known. Two TryLocks in one
// process conflict too.
func TryLock(path string) (*Lock, error) {
	f, err := tryLock(path)
	if errors.Is(err, ErrLocked) {
		holder := ""
		if b, rerr := os.ReadFile(path); rerr == nil {
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil && pid > 0 {
				holder = fmt.Sprintf(" (process %d)", pid)
			}
		}
		return nil, fmt.Errorf("%s: %w%s%s", path, ErrLocked, holder, staleHint(path))
	}
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	// Record who holds it, for the message another process gets. Best effort.
	if f.Truncate(0) == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{path: path, f: f}, nil
}

// Wait takes the lock at path, waiting while another process holds it, until ctx is
// done. wait, when non-nil, is called once if the lock is busy, before waiting.
func Wait(ctx context.Context, path string, wait func(err error)) (*Lock, error) {
	for first := true; ; first = false {
		l, err := TryLock(path)
		if !errors.Is(err, ErrLocked) {
			return l, err
		}
		if first && wait != nil {
			wait(err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for %s: %w", path, context.Cause(ctx))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Unlock releases the lock. It is safe to call on a nil Lock and more than once.
func (l *Lock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := unlock(l.path, l.f)
	l.f = nil
	return err
}
