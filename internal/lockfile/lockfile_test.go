package lockfile

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestTryLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".lock")
	l, err := TryLock(path)
	if err != nil {
		t.Fatal(err)
	}
	// A second holder, even in the same process, is refused at once, naming the holder.
	_, err = TryLock(path)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "process "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("second lock: %v", err)
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := l.Unlock(); err != nil {
		t.Fatal("second Unlock:", err)
	}
	l2, err := TryLock(path)
	if err != nil {
		t.Fatal("after Unlock:", err)
	}
	l2.Unlock()
	if _, err := TryLock(filepath.Join(t.TempDir(), "missing", ".lock")); err == nil || errors.Is(err, ErrLocked) {
		t.Fatalf("lock in a missing folder: %v", err)
	}
}

func TestWait(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".lock")
	l, _ := TryLock(path)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	called := 0
	if _, err := Wait(ctx, path, func(error) { called++ }); err == nil || called != 1 {
		t.Fatalf("Wait on a held lock: %v, callback %d times", err, called)
	}
	go func() { time.Sleep(200 * time.Millisecond); l.Unlock() }()
	l2, err := Wait(context.Background(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	l2.Unlock()
}

// TestCrashReleases checks that a lock held by a process that is killed is free again:
// a child takes the lock and is killed with SIGKILL.
func TestCrashReleases(t *testing.T) {
	if p := os.Getenv("LOCKFILE_CHILD"); p != "" {
		if _, err := TryLock(p); err != nil {
			os.Exit(3)
		}
		os.Stdout.WriteString("locked\n")
		time.Sleep(time.Minute)
		return
	}
	if !crashSafe {
		t.Skip("lock files outlive a crashed holder on this system")
	}
	path := filepath.Join(t.TempDir(), ".lock")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashReleases$")
	cmd.Env = append(os.Environ(), "LOCKFILE_CHILD="+path)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 7)
	if _, err := out.Read(buf); err != nil || string(buf) != "locked\n" {
		cmd.Process.Kill()
		t.Fatalf("child: %q %v", buf, err)
	}
	if _, err := TryLock(path); !errors.Is(err, ErrLocked) {
		t.Fatalf("lock held by the child: %v", err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	l, err := TryLock(path)
	if err != nil {
		t.Fatalf("after the holder was killed: %v", err)
	}
	l.Unlock()
}
