package train

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"avatargan/internal/atomicfile"
	"avatargan/internal/lockfile"
)

// LockFile is the lock file of a run directory; see LockDir.
const LockFile = ".lock"

// DirLock is a held lock on a run directory: while it is held no other process (and no
// other Run of this one) can train in the directory.
type DirLock struct {
	dir string
	l   *lockfile.Lock
}

// LockDir creates dir if needed and locks it for one training run, or fails at once,
// naming the process that holds it, when another run uses it. The lock is released by
// Unlock (or Run.Close), and by the system when the process dies however it dies.
func LockDir(dir string) (*DirLock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	l, err := lockfile.TryLock(filepath.Join(dir, LockFile))
	if errors.Is(err, lockfile.ErrLocked) {
		return nil, fmt.Errorf("run directory %s is in use by another training run: %w; wait for it to finish or pick another --out", dir, err)
	}
	if err != nil {
		return nil, err
	}
	return &DirLock{dir: dir, l: l}, nil
}

// Unlock releases the lock; it is safe to call on nil and more than once.
func (d *DirLock) Unlock() error {
	if d == nil {
		return nil
	}
	return d.l.Unlock()
}

// removeStale deletes the temporary files that atomic writes in the run directory and
// its samples folder leave when the process is killed mid-write (checkpoints,
// config.json, metrics.jsonl, sample grids, plots). The caller holds the directory's
// lock, so no live writer owns them.
func removeStale(dir string, log io.Writer) error {
	var all []string
	for _, d := range []string{dir, filepath.Join(dir, SamplesDir)} {
		removed, err := atomicfile.RemoveStale(d, nil)
		if err != nil {
			return err
		}
		all = append(all, removed...)
	}
	if len(all) > 0 {
		fmt.Fprintf(log, "removed %d temporary file(s) left by an interrupted write: %s\n", len(all), strings.Join(all, ", "))
	}
	return nil
}

// NewRunDir creates a new, empty run directory under parent named after t
// (YYYYMMDD-HHMMSS) and returns its path. When that name is taken (two runs started in
// the same second), it adds -2, -3, ...: the directory is created with Mkdir, which
// fails when it exists, so two processes never get the same one.
func NewRunDir(parent string, t time.Time) (string, error) {
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", err
	}
	base := filepath.Join(parent, t.Format("20060102-150405"))
	for i := 1; i <= 1000; i++ {
		dir := base
		if i > 1 {
			dir = fmt.Sprintf("%s-%d", base, i)
		}
		err := os.Mkdir(dir, 0o755)
		if err == nil {
			return dir, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return "", err
		}
	}
	return "", fmt.Errorf("no free run directory name under %s for %s", parent, base)
}
