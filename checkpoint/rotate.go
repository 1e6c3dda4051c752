package checkpoint

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// ErrNoCheckpoint is returned by Latest when the run directory holds no
// checkpoint (or does not exist), which callers treat as "start fresh".
var ErrNoCheckpoint = errors.New("no checkpoint")

const (
	namePrefix = "ckpt-"
	nameSuffix = ".safetensors"
)

// Name returns the file name of the checkpoint for step, e.g.
// "ckpt-000001200.safetensors". Zero padding makes lexical order match step
// order in directory listings; steps beyond 9 digits simply get longer.
// step must not be negative.
func Name(step int) string {
	return fmt.Sprintf("%s%09d%s", namePrefix, step, nameSuffix)
}

// ParseName returns the step encoded in a checkpoint file name. Only names
// exactly as Name produces them count, so temp files, other zero paddings
// and unrelated files are never mistaken for checkpoints.
func ParseName(name string) (step int, ok bool) {
	digits, found := strings.CutPrefix(name, namePrefix)
	if !found {
		return 0, false
	}
	digits, found = strings.CutSuffix(digits, nameSuffix)
	if !found || len(digits) < 9 {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(digits)
	if err != nil || Name(n) != name {
		return 0, false
	}
	return n, true
}

// Checkpoint is one checkpoint file of a run directory.
type Checkpoint struct {
	Step int
	Path string
}

// List returns the checkpoints in dir, oldest (lowest step) first.
func List(dir string) ([]Checkpoint, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []Checkpoint
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		if step, ok := ParseName(e.Name()); ok {
			out = append(out, Checkpoint{Step: step, Path: filepath.Join(dir, e.Name())})
		}
	}
	slices.SortFunc(out, func(a, b Checkpoint) int { return a.Step - b.Step })
	return out, nil
}

// Latest returns the path of the checkpoint with the highest step in dir.
// When there is none, or dir does not exist, the error wraps
// ErrNoCheckpoint.
func Latest(dir string) (string, error) {
	cks, err := List(dir)
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("%w in %s: %w", ErrNoCheckpoint, dir, err)
	}
	if err != nil {
		return "", err
	}
	if len(cks) == 0 {
		return "", fmt.Errorf("%w in %s", ErrNoCheckpoint, dir)
	}
	return cks[len(cks)-1].Path, nil
}

// Prune deletes all but the keep newest checkpoints in dir. keep must be at
// least 1: deleting every checkpoint is never what a training loop means.
func Prune(dir string, keep int) error { return PruneHolding(dir, keep, 0) }

// PruneHolding is Prune that also spares every checkpoint whose step is a positive
// multiple of every (0: none): milestones a run holds beside its rotation, so that
// checkpoints chosen by a small in-training score can be rescored at a larger n later.
func PruneHolding(dir string, keep, every int) error {
	if keep < 1 {
		return fmt.Errorf("prune %s: keep = %d, must be at least 1", dir, keep)
	}
	if every < 0 {
		return fmt.Errorf("prune %s: every = %d, must not be negative", dir, every)
	}
	cks, err := List(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, c := range cks[:max(0, len(cks)-keep)] {
		if every > 0 && c.Step > 0 && c.Step%every == 0 {
			continue
		}
		if err := os.Remove(c.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
