package dcgan

import (
	"strings"
	"testing"
)

// The reference generator fits easily and its estimate counts its real weights, with
// and without a refinement head (which needs more memory per image); absurd shapes
// from a file's metadata or a flag are refused with one line before anything is
// allocated.
func TestCheckGenerator(t *testing.T) {
	var plain GeneratorMemory
	for _, refine := range []int{0, 32} {
		if err := CheckGenerator(48, 100, 64, refine); err != nil {
			t.Fatalf("reference generator, refine %d: %v", refine, err)
		}
		m, _ := EstimateGenerator(48, 100, 64, refine)
		var weights int64
		for _, p := range NewGeneratorRefine(48, 100, 64, refine).Params() {
			weights += int64(len(p.Data))
		}
		if est := m.Params / 8; est != weights {
			t.Errorf("refine %d: estimated %d weights, the generator has %d", refine, est, weights)
		}
		if m.Image < 1<<20 || m.Image > 8<<20 {
			t.Errorf("reference generator, refine %d, needs %d bytes per image", refine, m.Image)
		}
		if refine == 0 {
			plain = m
		} else if m.Image <= plain.Image {
			t.Errorf("refine %d: %d bytes per image, no more than without the head (%d)", refine, m.Image, plain.Image)
		}
	}
	for _, c := range []struct {
		size, z, gf, refine int
		want                string
	}{
		{16384, 100, 64, 0, "size 16384"},
		{48, 100, 1_000_000, 0, "gf 1000000"},
		{48, 100, 1 << 61, 0, "gf 2305843009213693952"},
		{48, 1 << 40, 64, 0, "zdim"},
		{4096, 10, 8, 0, "one generated image would need"},
		{48, 100, 8192, 0, "parameters would need"},
		{0, 100, 64, 0, "size 0"},
		{48, 0, 64, 0, "zdim 0"},
		{48, 100, -1, 0, "gf -1"},
		{48, 100, 64, -1, "refine -1"},
		{48, 100, 64, MaxWidth + 1, "refine 65537"},
		{48, 100, 64, 1 << 61, "refine 2305843009213693952"},
		{48, 100, 64, MaxWidth, "refine 65536: one generated image would need"},
		{48, 100, 512, MaxWidth, "refine 65536: the generator's parameters would need"},
	} {
		err := CheckGenerator(c.size, c.z, c.gf, c.refine)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("CheckGenerator(%d, %d, %d, %d) = %v, want one line mentioning %q", c.size, c.z, c.gf, c.refine, err, c.want)
		}
	}
}
