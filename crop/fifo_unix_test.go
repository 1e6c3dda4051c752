//go:build unix

package crop

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"avatargan/internal/testutil"
)

// A FIFO with an image's name is skipped and reported, not opened: opening it
// would block a worker (and Ctrl-C, which waits for the workers) for good.
func TestRunSkipsFIFO(t *testing.T) {
	in := filepath.Join(t.TempDir(), "in")
	copyFile(t, scenes+"scene-000.jpg", filepath.Join(in, "a.jpg"))
	if err := syscall.Mkfifo(filepath.Join(in, "pipe.png"), 0o644); err != nil {
		testutil.SkipOrFail(t, "no FIFOs here: %v", err)
	}
	rep, err := Run(context.Background(), Options{In: in, Out: filepath.Join(t.TempDir(), "out"), MinFace: 24})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Files != 1 || rep.Images != 1 || len(rep.SkipList) != 1 || !strings.Contains(rep.SkipList[0], "pipe.png: not a regular file") {
		t.Errorf("files %d, images %d, skipped %q; want 1, 1 and the FIFO", rep.Files, rep.Images, rep.SkipList)
	}
	if _, err := os.Stat(rep.ReportPath); err != nil {
		t.Error(err)
	}
}
