package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// An unreadable entry under --fake is skipped (a folder with its contents) and the
// walk goes on; only an error on the folder itself ends it. (Exercised through the
// callback: a folder cannot be made unreadable to root, which runs CI.)
func TestSkipUnreadable(t *testing.T) {
	root := t.TempDir()
	sub := filepath.Join(root, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(sub)
	if err != nil {
		t.Fatal(err)
	}
	denied := fs.ErrPermission
	if got := skipUnreadable(root, root, nil, denied); !errors.Is(got, denied) {
		t.Errorf("the root's error: %v, want it returned", got)
	}
	if got := skipUnreadable(root, sub, fs.FileInfoToDirEntry(fi), denied); got != fs.SkipDir {
		t.Errorf("a subfolder's error: %v, want fs.SkipDir", got)
	}
	if got := skipUnreadable(root, filepath.Join(root, "x.png"), nil, denied); got != nil {
		t.Errorf("a file's error: %v, want nil (skipped)", got)
	}

	// firstImageSide walks past the (empty) subfolder to the 16 px image after it.
	if err := writeFaces(filepath.Join(root, "z"), 1, 1); err != nil {
		t.Fatal(err)
	}
	if side, err := firstImageSide(root); err != nil || side != 16 {
		t.Errorf("firstImageSide: %d, %v; want 16", side, err)
	}
}
