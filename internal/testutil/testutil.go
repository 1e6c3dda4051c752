// Package testutil holds what the tests of several packages share: where the optional
// shared data lives (and the rule that CI must have it), and numeric comparison with
// per-element tolerances. Only _test.go files import it.
package testutil

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// CI reports whether the tests run under CI (CI=true), where a missing tool or data set
// that a test needs is a failure, not a skip.
func CI() bool { return os.Getenv("CI") == "true" }

// SkipOrFail skips the test with the reason, or under CI fails it: CI must never pass
// with a check skipped.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if CI() {
		t.Fatalf("CI=true: %s", msg)
	}
	t.Skip(msg)
}

// ModuleRoot returns the directory holding go.mod, found upwards from the working
// directory (a package's directory under go test).
func ModuleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// Shared returns the path of name inside ../shared (beside the repository), where our
// machines and CI keep data that is never copied into the repository. When it is
// missing the test is skipped, or failed under CI.
func Shared(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(ModuleRoot(t), "..", "shared", name)
	if _, err := os.Stat(p); err != nil {
		SkipOrFail(t, "%s not found (it lives in ../shared beside the repository)", p)
	}
	return p
}

// FacesDir returns the folder of anime faces: $AVATARGAN_FACES, else
// ../shared/data/faces. Without either the test is skipped, or failed under CI.
func FacesDir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("AVATARGAN_FACES"); d != "" {
		return d
	}
	return Shared(t, filepath.Join("data", "faces"))
}

// Within reports whether |got - want| <= atol + rtol*|want|, the per-element mixed
// tolerance of numpy.isclose: atol bounds the error of values near zero, rtol that of
// the rest. NaN is within nothing; equal infinities are within any tolerance.
func Within(got, want, atol, rtol float64) bool {
	if got == want {
		return true
	}
	return math.Abs(got-want) <= atol+rtol*math.Abs(want)
}

// AllClose fails t (without stopping it) for every element of got outside the mixed
// tolerance of the same element of want, reporting the first few and the count, and
// returns whether all were close. Lengths must match.
func AllClose[F float32 | float64](t testing.TB, name string, got []F, want []float64, atol, rtol float64) bool {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d values, want %d", name, len(got), len(want))
		return false
	}
	bad := 0
	for i := range got {
		if !Within(float64(got[i]), want[i], atol, rtol) {
			if bad < 5 {
				t.Errorf("%s[%d] = %.9g, want %.9g (|err| %.3g > %.3g + %.3g*|want|)", name, i, got[i], want[i],
					math.Abs(float64(got[i])-want[i]), atol, rtol)
			}
			bad++
		}
	}
	if bad > 5 {
		t.Errorf("%s: %d of %d values outside tolerance", name, bad, len(got))
	}
	return bad == 0
}

// GoldenTensor is one tensor of a golden-value JSON file (scripts/golden*.py write
// them): its shape and its float64 values, row-major.
type GoldenTensor struct {
	Shape []int     `json:"shape"`
	Data  []float64 `json:"data"`
}

// LoadGolden reads the "tensors" of the golden-value JSON file at path.
func LoadGolden(t testing.TB, path string) map[string]GoldenTensor {
	t.Helper()
	m, err := ReadGolden(path)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// ReadGolden is LoadGolden for callers that load once and report later (sync.Once).
func ReadGolden(path string) (map[string]GoldenTensor, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var g struct {
		Tensors map[string]GoldenTensor `json:"tensors"`
	}
	if err := json.Unmarshal(b, &g); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return g.Tensors, nil
}

// Float64s converts float32 values to float64, AllClose's reference type.
func Float64s(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}
