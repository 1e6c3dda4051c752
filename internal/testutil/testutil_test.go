package testutil

import (
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestWithin(t *testing.T) {
	for _, c := range []struct {
		got, want, atol, rtol float64
		ok                    bool
	}{
		{1, 1, 0, 0, true},
		{1.001, 1, 0, 1e-3, true},
		{1.0011, 1, 0, 1e-3, false},
		// A small element is judged by atol, not by the largest element.
		{2e-6, 1e-6, 1e-7, 1e-3, false},
		{1.05e-6, 1e-6, 1e-7, 1e-3, true},
		{math.NaN(), math.NaN(), 1, 1, false},
		{math.Inf(1), math.Inf(1), 0, 0, true},
		{math.Inf(1), 1, 1e300, 1, false},
	} {
		if Within(c.got, c.want, c.atol, c.rtol) != c.ok {
			t.Errorf("Within(%v, %v, %v, %v) != %v", c.got, c.want, c.atol, c.rtol, c.ok)
		}
	}
}

func TestAllClose(t *testing.T) {
	ft := &testing.T{}
	// got is within 1e-3 of max|want| everywhere, but its small element is 2x off: a
	// tolerance relative to max|want| would pass it, the per-element one must not.
	if AllClose(ft, "x", []float32{1000, 0.002}, []float64{1000, 0.001}, 1e-6, 1e-4) {
		t.Error("AllClose passed a small element that is 2x off")
	}
	if !AllClose(t, "y", []float64{1, 2.0000001}, []float64{1, 2}, 0, 1e-6) {
		t.Error("AllClose failed close values")
	}
}

// TestSkipOrFail checks that SkipOrFail skips normally and fails under CI=true, by
// running a probe test in a child process.
func TestSkipOrFail(t *testing.T) {
	if os.Getenv("TESTUTIL_PROBE") != "" {
		SkipOrFail(t, "probe: tool missing")
		return
	}
	for _, ci := range []string{"", "true"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSkipOrFail$", "-test.v")
		cmd.Env = append(os.Environ(), "TESTUTIL_PROBE=1", "CI="+ci)
		out, err := cmd.CombinedOutput()
		skipped := strings.Contains(string(out), "--- SKIP")
		if ci == "" && (err != nil || !skipped) {
			t.Errorf("without CI: %v\n%s", err, out)
		}
		if ci == "true" && (err == nil || skipped || !strings.Contains(string(out), "CI=true: probe: tool missing")) {
			t.Errorf("under CI=true: %v\n%s", err, out)
		}
	}
}

// TestCIRunRequiresChromium checks that .ci/run fails, naming chromium, when the
// browser cannot be found or installed, instead of warning and letting the browser test
// skip. The script runs with an empty PATH, so it can neither find nor install it.
func TestCIRunRequiresChromium(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		SkipOrFail(t, "bash not found")
	}
	root := ModuleRoot(t)
	cmd := exec.Command(bash, filepath.Join(root, ".ci", "run"))
	cmd.Dir = root
	cmd.Env = []string{"PATH=" + t.TempDir(), "HOME=" + t.TempDir()}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err = cmd.Run()
	if err == nil || !strings.Contains(stderr.String(), "error: chromium") || !strings.Contains(stderr.String(), "not installed") {
		t.Fatalf(".ci/run without chromium: %v\n%s", err, stderr.String())
	}
}
