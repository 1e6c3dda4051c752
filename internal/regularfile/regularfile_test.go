package regularfile

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	ok := filepath.Join(dir, "ok")
	want := []byte("hello, avatars")
	if err := os.WriteFile(ok, want, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := Read(ok, int64(len(want)))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("Read at the limit: %q, %v; want %q", got, err, want)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := Read(empty, 0); err != nil || len(got) != 0 {
		t.Fatalf("empty file: %q, %v", got, err)
	}
	for _, c := range []struct {
		name, path string
		limit      int64
		want       string
	}{
		{"over the limit", ok, int64(len(want)) - 1, "over the 13 byte limit"},
		{"directory", dir, 1 << 20, "not a regular file"},
		{"device", os.DevNull, 1 << 20, "not a regular file"},
		{"missing", filepath.Join(dir, "nope"), 1 << 20, "no such file"},
	} {
		_, err := Read(c.path, c.limit)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.path) {
			t.Errorf("%s: error %v, want one naming %s and saying %q", c.name, err, c.path, c.want)
		}
	}
	if _, err := Read(dir, 1<<20); !errors.Is(err, ErrNotRegular) {
		t.Errorf("directory: %v does not wrap ErrNotRegular", err)
	}
}

func TestOpen(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte("12345"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, st, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if st.Size() != 5 || !st.Mode().IsRegular() {
		t.Errorf("FileInfo size %d mode %v", st.Size(), st.Mode())
	}
	if _, _, err := Open(os.DevNull); !errors.Is(err, ErrNotRegular) {
		t.Errorf("Open(%s): %v, want ErrNotRegular", os.DevNull, err)
	}
}
