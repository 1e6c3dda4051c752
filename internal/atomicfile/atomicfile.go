// Package atomicfile writes files so that readers, and a program restarted after a
// crash, only ever see the old complete file or the new complete file: the content goes
// to a temporary file in the same folder, which is fsynced and renamed over the target.
//
// Temporary files are named "." + base + ".tmp-" + digits. A crash (kill -9, power loss)
// between create and rename leaves one behind; RemoveStale deletes such leftovers for a
// folder whose writers the caller knows are all gone (it holds the folder's lock).
package atomicfile

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// tempInfix separates the target's base name from os.CreateTemp's random digits.
const tempInfix = ".tmp-"

// Write creates or replaces path with what write produces. It writes a temporary file
// in the same directory (rename is only atomic within one file system), fsyncs it,
// renames it over path and fsyncs the directory so the rename itself is durable. On any
// error, or a panic in write, the temporary file is removed and path is left untouched.
// The file gets mode 0644.
func Write(path string, write func(w io.Writer) error) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+tempInfix+"*")
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
	// CreateTemp uses 0600; our files are ordinary data files.
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
	// The new file is in place; a failed directory sync only weakens durability, but
	// report it so a caller does not, say, prune older checkpoints on the strength of a
	// rename that may not survive a crash.
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("write %s: sync directory: %w", path, err)
	}
	serr := d.Sync()
	if err := errors.Join(serr, d.Close()); err != nil {
		return fmt.Errorf("write %s: sync directory: %w", path, err)
	}
	return nil
}

// WriteContext is Write whose writes fail with ctx's error once ctx is done, so that an
// encoder writing a large file stops at its next write (Ctrl-C) and leaves no file behind.
func WriteContext(ctx context.Context, path string, write func(w io.Writer) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return Write(path, func(w io.Writer) error { return write(ctxWriter{ctx, w}) })
}

// ctxWriter fails writes once ctx is done.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// IsTemp reports whether name (a base name) is a temporary file of Write, and for which
// target base name.
func IsTemp(name string) (target string, ok bool) {
	rest, found := strings.CutPrefix(name, ".")
	if !found {
		return "", false
	}
	i := strings.LastIndex(rest, tempInfix)
	if i <= 0 {
		return "", false
	}
	digits := rest[i+len(tempInfix):]
	if digits == "" {
		return "", false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return "", false
		}
	}
	return rest[:i], true
}

// RemoveStale deletes the temporary files of Write in dir whose target base name
// satisfies match (nil: any), and returns the names it removed. Only call it when no
// other process can be writing there (hold the folder's lock): a live writer's temporary
// file looks exactly like a stale one.
func RemoveStale(dir string, match func(target string) bool) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		target, ok := IsTemp(e.Name())
		if !ok || (match != nil && !match(target)) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, e.Name())
	}
	return removed, errors.Join(errs...)
}
