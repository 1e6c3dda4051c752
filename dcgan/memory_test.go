package dcgan

import (
	"strings"
	"testing"
)

// TestTrainBytes checks the training-memory estimate against the measured peak RSS of
// the reference run (~0.86 GB, README), that it grows with the refinement head's width,
// and that Validate refuses sizes that would need absurd memory, with one line, before
// anything is allocated.
func TestTrainBytes(t *testing.T) {
	if b := DefaultConfig().TrainBytes(); b < 0.3e9 || b > 1.5e9 {
		t.Errorf("reference config: estimate %.3g bytes, measured peak RSS ~0.86e9", b)
	}
	last := 0.0
	for _, refine := range []int{0, 1, 32, 64} {
		c := DefaultConfig()
		c.Refine = refine
		if b := c.TrainBytes(); !(b > last) {
			t.Errorf("refine %d: estimate %.4g bytes, not above the narrower head's %.4g", refine, b, last)
		} else {
			last = b
		}
	}
	for name, edit := range map[string]func(c *Config){
		"size 4096":   func(c *Config) { c.Size = 4096 },
		"gf 1e5":      func(c *Config) { c.GF = 100000 },
		"df 1e5":      func(c *Config) { c.DF = 100000 },
		"z 1e9":       func(c *Config) { c.ZDim = 1e9 },
		"gf 2^61":     func(c *Config) { c.GF = 1 << 61 },
		"batch 1e9":   func(c *Config) { c.Batch = 1e9 },
		"refine 2^16": func(c *Config) { c.Refine = MaxWidth },
	} {
		c := DefaultConfig()
		edit(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "would need about") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
