//go:build unix

package facedetect

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"avatargan/internal/testutil"
)

// A FIFO is refused from a stat, not opened: opening one blocks until a writer
// comes, through Ctrl-C too.
func TestReadCascadeFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "cascade.xml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		testutil.SkipOrFail(t, "no FIFOs here: %v", err)
	}
	done := make(chan error, 1)
	go func() { _, err := ReadCascade(fifo); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("error %v, want not a regular file", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ReadCascade still blocked on a FIFO after 10 s")
	}
}
