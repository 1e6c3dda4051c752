package avatar_test

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"avatargan/avatar"
	"avatargan/dcgan"
	"avatargan/internal/gemm"
)

// SetPrecision takes the CLI's three values, refuses others, and PixelID follows
// everything that may change a pixel: the precision and the face check.
func TestSetPrecisionAndPixelID(t *testing.T) {
	m, err := avatar.Untrained(avatar.Spec{Size: 16, ZDim: 8, GF: 4, Dist: dcgan.Normal}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if p := m.Precision(); p != "f32" {
		t.Errorf("a new model computes in %s, want f32", p)
	}
	ids := map[string]bool{}
	for _, c := range []struct{ set, want string }{{"f32", "f32"}, {"bf16", "bf16"}} {
		if err := m.SetPrecision(c.set); err != nil {
			t.Fatal(err)
		}
		if got := m.Precision(); got != c.want {
			t.Errorf("SetPrecision(%q): precision %s, want %s", c.set, got, c.want)
		}
		id := m.PixelID()
		if !strings.HasPrefix(id, m.ID()+"-") || !strings.Contains(id, gemm.Kernel()) {
			t.Errorf("PixelID %q lacks the weights' ID %s or the kernel %s", id, m.ID(), gemm.Kernel())
		}
		ids[id] = true
	}
	want := "f32"
	if gemm.FastBF16() {
		want = "bf16"
	}
	if err := m.SetPrecision("auto"); err != nil || m.Precision() != want {
		t.Errorf("SetPrecision(auto): %s, %v; want %s on this CPU", m.Precision(), err, want)
	}
	m.SetFaceCheck(avatar.DefaultFaceCheck)
	ids[m.PixelID()] = true
	if len(ids) != 3 {
		t.Errorf("PixelIDs %v: want three distinct (f32, bf16, with the face check)", slices.Collect(maps.Keys(ids)))
	}
	before := m.Precision()
	if err := m.SetPrecision("half"); err == nil || !strings.Contains(err.Error(), "want auto, f32 or bf16") {
		t.Errorf("SetPrecision(half): %v", err)
	}
	if m.Precision() != before {
		t.Errorf("a refused precision changed it to %s", m.Precision())
	}
}
