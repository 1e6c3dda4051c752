//go:build unix

package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// asMain makes the test binary act as the avatargan command when the environment says
// so: the interrupt test runs it as a child process without building a binary.
const asMain = "AVATARGAN_TEST_AS_MAIN"

func init() {
	if os.Getenv(asMain) == "1" {
		// Tell the test that the slow start of a big test binary is over: runMain
		// installs its signal handler a few microseconds later.
		fmt.Fprintln(os.Stderr, "started")
		os.Exit(runMain(os.Args[1:], stdio{out: os.Stdout, err: os.Stderr}))
	}
}

// startedWriter collects a child's stderr and closes started at its first write.
type startedWriter struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	started chan struct{}
}

func (w *startedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.buf.Len() == 0 {
		close(w.started)
	}
	return w.buf.Write(p)
}

func (w *startedWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// Ctrl-C stops every long command promptly, with exit status 130 and no temporary file
// left, whatever it was doing: generating, converting GIF frames, computing SWD, timing
// GEMMs. Each job would run for far longer than the limit. The work between two checks
// of the context is well under a second on an idle machine (about 0.1 s measured); the
// limit allows for a machine shared with training runs, where it was seen to take 5 s.
func TestInterruptBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("runs commands for several seconds")
	}
	tmp := t.TempDir()
	// 2,000 real images make eval -n 1000 run for tens of seconds: 40 encoded once (PNG
	// encoding is slow on a busy machine), each written 50 times.
	faces, many := filepath.Join(tmp, "faces"), filepath.Join(tmp, "many")
	if err := writeFaces(faces, 40, 5); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(faces)
	for i, e := range ents {
		b, err := os.ReadFile(filepath.Join(faces, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for k := range 50 {
			putFile(t, filepath.Join(many, fmt.Sprintf("%02d", k), fmt.Sprintf("%02d.png", i)), b)
		}
	}
	for _, c := range []struct {
		name string
		args []string
		wait time.Duration // before the signal
	}{
		{"generate", []string{"generate", "-n", "100000", "--out", filepath.Join(tmp, "gen")}, 1500 * time.Millisecond},
		{"interpolate", []string{"interpolate", "--steps", "256", "--upscale", "14", "--out", filepath.Join(tmp, "walk", "w.gif")}, 1500 * time.Millisecond},
		{"eval", []string{"eval", "--data", many, "-n", "1000", "--cache", filepath.Join(tmp, "cache")}, 2500 * time.Millisecond},
		{"bench", []string{"bench", "--what", "gemm", "--reps", "1000"}, 1500 * time.Millisecond},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], c.args...)
			cmd.Env = append(os.Environ(), asMain+"=1")
			stderr := &startedWriter{started: make(chan struct{})}
			cmd.Stderr = stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			select {
			case <-stderr.started:
			case <-time.After(time.Minute):
				cmd.Process.Kill()
				t.Fatal("the child did not start within a minute")
			}
			select {
			case err := <-exited:
				t.Fatalf("finished before the signal (%v); make the job longer\n%s", err, stderr.String())
			case <-time.After(c.wait):
			}
			cmd.Process.Signal(syscall.SIGINT)
			start := time.Now()
			var err error
			select {
			case err = <-exited:
			case <-time.After(30 * time.Second):
				cmd.Process.Signal(syscall.SIGQUIT) // a goroutine dump on stderr
				time.Sleep(time.Second)
				cmd.Process.Kill()
				t.Fatalf("still running 30 s after SIGINT\n%s", stderr.String())
			}
			took := time.Since(start)
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
				t.Errorf("exit %v, want status %d\n%s", err, exitInterrupted, stderr.String())
			}
			t.Logf("exited %v after SIGINT", took)
			if took > 8*time.Second {
				t.Errorf("exited %v after SIGINT, want a second or so", took)
			}
			if !strings.Contains(stderr.String(), "interrupted") {
				t.Errorf("stderr %q does not say interrupted", stderr.String())
			}
			filepath.WalkDir(tmp, func(p string, d os.DirEntry, err error) error {
				if strings.Contains(filepath.Base(p), ".tmp") {
					t.Errorf("temporary file left: %s", p)
				}
				return nil
			})
		})
	}
}

func putFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
