package atomicfile

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.bin")
	put := func(s string) error {
		return Write(path, func(w io.Writer) error { _, err := io.WriteString(w, s); return err })
	}
	if err := put("one"); err != nil {
		t.Fatal(err)
	}
	if err := put("two"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "two" {
		t.Fatalf("content %q", b)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v", fi.Mode())
	}
	// A failing writer (past the buffer, so bytes reached the temp file) and a panicking
	// one leave the old file and no temporary file.
	err := Write(path, func(w io.Writer) error {
		w.Write(bytes.Repeat([]byte("x"), 3<<20))
		return errors.New("boom")
	})
	if err == nil || !strings.Contains(err.Error(), "boom") || !strings.Contains(err.Error(), path) {
		t.Fatalf("error %v", err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("panic swallowed")
			}
		}()
		Write(path, func(w io.Writer) error { w.Write([]byte("y")); panic("bang") })
	}()
	if b, _ := os.ReadFile(path); string(b) != "two" {
		t.Fatalf("content after failures %q", b)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("directory holds %v, want only f.bin", ents)
	}
	if err := Write(filepath.Join(dir, "missing", "x"), func(io.Writer) error { return nil }); err == nil {
		t.Error("write into a missing folder succeeded")
	}
}

// TestWriteContext checks that a context done mid-write stops the writer at its next
// write with the context's error, keeps the old file and leaves no temporary file, and
// that a done context writes nothing at all.
func TestWriteContext(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.bin")
	ctx, cancel := context.WithCancel(context.Background())
	if err := WriteContext(ctx, path, func(w io.Writer) error { _, err := io.WriteString(w, "old"); return err }); err != nil {
		t.Fatal(err)
	}
	writes := 0
	err := WriteContext(ctx, path, func(w io.Writer) error {
		for i := 0; i < 10; i++ {
			if _, err := w.Write([]byte("new")); err != nil {
				return err
			}
			writes++
			if i == 2 {
				cancel()
			}
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || writes != 3 {
		t.Fatalf("error %v after %d writes, want context.Canceled after 3", err, writes)
	}
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Fatalf("content after cancel %q", b)
	}
	called := false
	err = WriteContext(ctx, filepath.Join(dir, "g.bin"), func(io.Writer) error { called = true; return nil })
	if !errors.Is(err, context.Canceled) || called {
		t.Fatalf("done context: error %v, write called %v", err, called)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("directory holds %v, want only f.bin", ents)
	}
}

// TestTempNames checks that the names Write uses are the names IsTemp recognises, so
// RemoveStale finds a crashed writer's leftovers, and that nothing else matches.
func TestTempNames(t *testing.T) {
	dir := t.TempDir()
	var seen string
	Write(filepath.Join(dir, "ckpt-000000500.safetensors"), func(io.Writer) error {
		ents, _ := os.ReadDir(dir)
		seen = ents[0].Name()
		return errors.New("stop")
	})
	if target, ok := IsTemp(seen); !ok || target != "ckpt-000000500.safetensors" {
		t.Fatalf("IsTemp(%q) = %q, %v", seen, target, ok)
	}
	for _, name := range []string{"ckpt-000000500.safetensors", ".tmp-123", "x.tmp-123", ".x.tmp-", ".x.tmp-12a", ".config.json.tmp", ".lock"} {
		if _, ok := IsTemp(name); ok {
			t.Errorf("IsTemp(%q) = true", name)
		}
	}
}

func TestRemoveStale(t *testing.T) {
	dir := t.TempDir()
	names := []string{".ckpt-000000010.safetensors.tmp-4242", ".config.json.tmp-1", ".cache.avgds.tmp-77",
		"keep.txt", ".hidden", "notes.tmp-1", "ckpt-000000010.safetensors"}
	for _, n := range names {
		os.WriteFile(filepath.Join(dir, n), nil, 0o644)
	}
	os.Mkdir(filepath.Join(dir, ".sub.tmp-9"), 0o755) // a folder is never ours
	removed, err := RemoveStale(dir, func(target string) bool { return !strings.HasPrefix(target, "cache") })
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(removed)
	if want := []string{".ckpt-000000010.safetensors.tmp-4242", ".config.json.tmp-1"}; !slices.Equal(removed, want) {
		t.Fatalf("removed %v, want %v", removed, want)
	}
	ents, _ := os.ReadDir(dir)
	var left []string
	for _, e := range ents {
		left = append(left, e.Name())
	}
	if want := []string{".cache.avgds.tmp-77", ".hidden", ".sub.tmp-9", "ckpt-000000010.safetensors", "keep.txt", "notes.tmp-1"}; !slices.Equal(left, want) {
		t.Fatalf("left %v, want %v", left, want)
	}
	if r, err := RemoveStale(filepath.Join(dir, "missing"), nil); err != nil || r != nil {
		t.Fatalf("missing folder: %v %v", r, err)
	}
}
