package dcgan

import (
	"strings"
	"testing"
)

// The reference generator fits easily and its estimate counts its real weights; absurd
// shapes from a file's metadata or a flag are refused with one line before anything is
// allocated.
func TestCheckGenerator(t *testing.T) {
	if err := CheckGenerator(48, 100, 64); err != nil {
		t.Fatalf("reference generator: %v", err)
	}
	m, _ := EstimateGenerator(48, 100, 64)
	var weights int64
	for _, p := range NewGenerator(48, 100, 64).Params() {
		weights += int64(len(p.Data))
	}
	if est := m.Params / 8; est != weights {
		t.Errorf("estimated %d weights, the generator has %d", est, weights)
	}
	if m.Image < 1<<20 || m.Image > 8<<20 {
		t.Errorf("reference generator needs %d bytes per image", m.Image)
	}
	for _, c := range []struct {
		size, z, gf int
		want        string
	}{
		{16384, 100, 64, "size 16384"},
		{48, 100, 1_000_000, "gf 1000000"},
		{48, 100, 1 << 61, "gf 2305843009213693952"},
		{48, 1 << 40, 64, "zdim"},
		{4096, 10, 8, "one generated image would need"},
		{48, 100, 8192, "parameters would need"},
		{0, 100, 64, "size 0"},
		{48, 0, 64, "zdim 0"},
		{48, 100, -1, "gf -1"},
	} {
		err := CheckGenerator(c.size, c.z, c.gf)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("CheckGenerator(%d, %d, %d) = %v, want one line mentioning %q", c.size, c.z, c.gf, err, c.want)
		}
	}
}
