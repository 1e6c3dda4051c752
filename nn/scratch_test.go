package nn

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// Layers sharing one Scratch must compute exactly what layers with private scratch
// compute, whatever another layer left in it: nothing may survive from one call to the
// next in the scratch (the test poisons it with NaNs between calls).
func TestSharedScratch(t *testing.T) {
	for _, split := range []bool{false, true} {
		oldInner, oldCols := splitMinInner, splitMinCols
		if split {
			splitMinInner, splitMinCols = 1, 1
		}
		testSharedScratch(t, split)
		splitMinInner, splitMinCols = oldInner, oldCols
	}
}

func testSharedScratch(t *testing.T, split bool) {
	r := rand.New(rand.NewPCG(11, 12))
	n, h := 3, 6
	type net struct {
		c *Conv2d
		d *ConvTranspose2d
	}
	mk := func() net {
		rr := rand.New(rand.NewPCG(5, 5))
		c := NewConv2d("c", 3, 4, 5, 2, 2)
		d := NewConvTranspose2d("d", 4, 3, 5, 2, 2, 1)
		c.Init(0.5, rr)
		d.Init(0.5, rr)
		return net{c, d}
	}
	private, shared := mk(), mk()
	s := new(Scratch)
	shared.c.Scratch, shared.d.Scratch = s, s
	poison := func() {
		s.buf = s.buf[:cap(s.buf)]
		for i := range s.buf {
			s.buf[i] = float32(math.NaN())
		}
	}
	x := randSlice(r, 3*n*h*h)
	dy := randSlice(r, 3*n*h*h)
	run := func(m net, between func()) (out [][]float32) {
		keep := func(v []float32) { out = append(out, slices.Clone(v)) }
		for step := 0; step < 2; step++ {
			y := m.c.Forward(x, n, h, h)
			between()
			keep(m.d.Forward(y, n, h/2, h/2))
			between()
			dx := m.d.Backward(dy)
			keep(dx)
			between()
			keep(m.c.Backward(dx))
			between()
			for _, p := range append(m.c.Params(), m.d.Params()...) {
				keep(p.Grad)
			}
		}
		return out
	}
	want := run(private, func() {})
	got := run(shared, poison)
	for i := range want {
		if !slices.Equal(want[i], got[i]) {
			t.Fatalf("split %v: output %d differs with a shared, poisoned scratch", split, i)
		}
	}
	if need := max(shared.c.ScratchLen(n, h, h), shared.d.ScratchLen(n, h/2, h/2)); s.Len() != need {
		t.Errorf("split %v: scratch holds %d floats, ScratchLen says %d", split, s.Len(), need)
	}
}
