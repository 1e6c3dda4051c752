package nn

import (
	"os/exec"
	"path/filepath"
	"testing"

	"avatargan/internal/testutil"
)

// TestGoldenScript checks that scripts/golden.py, the generator of testdata/*.json (and
// of dcgan's), reproduces every stored PyTorch float64 output from the stored inputs,
// so the values the numeric tests trust can be regenerated and audited. It needs
// Python with PyTorch (Debian's python3-torch).
func TestGoldenScript(t *testing.T) {
	if testing.Short() {
		t.Skip("runs PyTorch; skipped with -short")
	}
	py := ""
	for _, c := range []string{"/usr/bin/python3", "python3"} {
		if p, err := exec.LookPath(c); err == nil && exec.Command(p, "-c", "import torch").Run() == nil {
			py = p
			break
		}
	}
	if py == "" {
		testutil.SkipOrFail(t, "no python3 with PyTorch (Debian: apt-get install python3-torch)")
	}
	root := testutil.ModuleRoot(t)
	out, err := exec.Command(py, filepath.Join(root, "scripts", "golden.py")).CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/golden.py: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
