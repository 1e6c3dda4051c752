package dataset

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// An unreadable entry below the root is skipped (a folder with its contents) and the
// walk goes on; only an error on the root itself ends it. (Exercised through the
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
	if got := SkipUnreadable(root, root, nil, denied); !errors.Is(got, denied) {
		t.Errorf("the root's error: %v, want it returned", got)
	}
	if got := SkipUnreadable(root, sub, fs.FileInfoToDirEntry(fi), denied); got != fs.SkipDir {
		t.Errorf("a subfolder's error: %v, want fs.SkipDir", got)
	}
	if got := SkipUnreadable(root, filepath.Join(root, "x.png"), nil, denied); got != nil {
		t.Errorf("a file's error: %v, want nil (skipped)", got)
	}
}
