package main

import (
	"os"
	"path/filepath"
	"testing"
)

// firstImageSide (eval --fake's image size) walks past a subfolder without images to
// the first image after it. (The unreadable-entry rule it shares with dataset.Load is
// dataset.SkipUnreadable, tested there: a folder cannot be made unreadable to root,
// which runs CI.)
func TestFirstImageSide(t *testing.T) {
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := writeFaces(filepath.Join(root, "z"), 1, 1); err != nil {
		t.Fatal(err)
	}
	if side, err := firstImageSide(root); err != nil || side != 16 {
		t.Errorf("firstImageSide: %d, %v; want 16", side, err)
	}
}
