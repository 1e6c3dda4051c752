// Package testtool finds the external tools some tests run (python3 with torch or onnx,
// node) and applies the project's rule for missing ones: a skip with a message, except
// under CI=true, where CI has installed them and a missing tool is a failure.
package testtool

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// Missing skips t, or fails it under CI=true, because what is not available.
func Missing(t testing.TB, what string, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s: %v (CI installs it: see .ci/run)", what, err)
	}
	t.Skipf("%s not available: %v", what, err)
}

// Python returns a python3 that can import mod: $AVATARGAN_PYTHON, then Debian's
// /usr/bin/python3 (where python3-torch and python3-onnx install; a python3 earlier on
// PATH, e.g. pyenv's, may lack them), then python3 on PATH. It calls Missing when none can.
func Python(t testing.TB, mod string) string {
	t.Helper()
	var cands []string
	if p := os.Getenv("AVATARGAN_PYTHON"); p != "" {
		cands = append(cands, p)
	}
	cands = append(cands, "/usr/bin/python3", "python3")
	var last error
	for _, c := range cands {
		out, err := exec.Command(c, "-c", "import "+mod).CombinedOutput()
		if err == nil {
			return c
		}
		last = &pyErr{c, err, string(out)}
	}
	Missing(t, "python3 with "+mod, last)
	return ""
}

type pyErr struct {
	py  string
	err error
	out string
}

func (e *pyErr) Error() string { return e.py + ": " + e.err.Error() + ": " + lastLine(e.out) }

func lastLine(s string) string {
	for len(s) > 0 && s[len(s)-1] == '\n' {
		s = s[:len(s)-1]
	}
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '\n' {
			return s[i+1:]
		}
	}
	return s
}

// RepoRoot returns the repository's root directory (where go.mod is).
func RepoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("testtool: no caller information")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}
