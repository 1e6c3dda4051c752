// Package testtool finds the external programs some tests run (a python3 that imports
// torch or onnx); a missing one is testutil.SkipOrFail's skip, or failure under CI.
// Only _test.go files import it.
package testtool

import (
	"os"
	"os/exec"
	"testing"

	"avatargan/internal/testutil"
)

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
	testutil.SkipOrFail(t, "python3 with %s not available (.ci/run installs it): %v", mod, last)
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
