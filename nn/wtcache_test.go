package nn

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// The cached tap-major weights must follow every weight change that bumps Version
// (Adam.Step, Touch, Tensors): a layer that stepped must compute what a fresh layer
// holding the same weights computes.
func TestWeightCacheFollowsVersion(t *testing.T) {
	oldInner, oldCols := splitMinInner, splitMinCols
	splitMinInner, splitMinCols = 1, 1
	defer func() { splitMinInner, splitMinCols = oldInner, oldCols }()
	r := rand.New(rand.NewPCG(7, 7))
	n, h := 2, 6
	c := NewConv2d("c", 3, 4, 5, 2, 2)
	d := NewConvTranspose2d("d", 4, 3, 5, 2, 2, 1)
	c.Init(0.5, r)
	d.Init(0.5, r)
	x := randSlice(r, 3*n*h*h)
	xd := randSlice(r, 4*n*3*3)
	c.Forward(x, n, h, h)
	d.Forward(xd, n, 3, 3)
	ps := append(c.Params(), d.Params()...)
	check := func(what string) {
		t.Helper()
		c2 := NewConv2d("c", 3, 4, 5, 2, 2)
		d2 := NewConvTranspose2d("d", 4, 3, 5, 2, 2, 1)
		for i, p := range append(c2.Params(), d2.Params()...) {
			copy(p.Data, ps[i].Data)
		}
		if !slices.Equal(c.Forward(x, n, h, h), c2.Forward(x, n, h, h)) ||
			!slices.Equal(d.Forward(xd, n, 3, 3), d2.Forward(xd, n, 3, 3)) {
			t.Errorf("%s: stale tap-major weights", what)
		}
	}
	for _, p := range ps {
		copy(p.Grad, randSlice(r, len(p.Grad)))
	}
	NewAdam(ps, 0.1, 0.5, 0.999, 1e-8).Step()
	check("Adam.Step")
	c.Weight.Data[0] += 1
	d.Weight.Data[0] += 1
	Touch(ps)
	check("Touch")
	for _, nt := range Tensors("", ps) {
		nt.Data[1] -= 1
	}
	check("Tensors")
}
