package nn

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestForwardLinear checks Conv2d's and Linear's bias-free forwards against Forward
// minus the bias, and that a Backward after them accumulates dW as usual but no bias
// gradient. Both conv paths are covered: im2col (small inner size) and tap-split.
func TestForwardLinear(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, inC := range []int{3, 32} {
		c := NewConv2d("c", inC, 5, 5, 2, 2)
		c.Init(0.2, r)
		for i := range c.Bias.Data {
			c.Bias.Data[i] = float32(r.NormFloat64())
		}
		x := randSlice(r, inC*2*9*9)
		y := slices.Clone(c.Forward(x, 2, 9, 9))
		if c.split != (inC == 32) {
			t.Fatalf("inC %d: took the tap-split path: %v", inC, c.split)
		}
		dy := randSlice(r, len(y))
		c.Backward(dy)
		dw := slices.Clone(c.Weight.Grad)
		ZeroGrads(c.Params())
		yl := c.ForwardLinear(x, 2, 9, 9)
		plane := len(y) / c.OutC
		for i := range y {
			if want := y[i] - c.Bias.Data[i/plane]; math.Abs(float64(yl[i]-want)) > 1e-5 {
				t.Fatalf("inC %d: ForwardLinear[%d] = %g, want %g", inC, i, yl[i], want)
			}
		}
		c.Backward(dy)
		if !slices.Equal(dw, c.Weight.Grad) {
			t.Errorf("inC %d: dW after ForwardLinear differs from Forward's", inC)
		}
		if slices.ContainsFunc(c.Bias.Grad, func(v float32) bool { return v != 0 }) {
			t.Errorf("inC %d: ForwardLinear's Backward accumulated a bias gradient", inC)
		}
		c.Forward(x, 2, 9, 9)
		c.Backward(dy)
		if !slices.ContainsFunc(c.Bias.Grad, func(v float32) bool { return v != 0 }) {
			t.Errorf("inC %d: Forward's Backward lost the bias gradient after a ForwardLinear", inC)
		}
	}
	l := NewLinear("l", 6, 3)
	l.Init(0.3, r)
	copy(l.Bias.Data, []float32{1, -2, 0.5})
	x := randSlice(r, 4*6)
	dy := randSlice(r, 4*3)
	y := slices.Clone(l.Forward(x, 4))
	l.Backward(dy)
	dw := slices.Clone(l.Weight.Grad)
	ZeroGrads(l.Params())
	yl := l.ForwardLinear(x, 4)
	for i := range y {
		if want := y[i] - l.Bias.Data[i%3]; math.Abs(float64(yl[i]-want)) > 1e-6 {
			t.Fatalf("Linear.ForwardLinear[%d] = %g, want %g", i, yl[i], want)
		}
	}
	l.Backward(dy)
	if !slices.Equal(dw, l.Weight.Grad) {
		t.Error("Linear: dW after ForwardLinear differs from Forward's")
	}
	if slices.ContainsFunc(l.Bias.Grad, func(v float32) bool { return v != 0 }) {
		t.Error("Linear: ForwardLinear's Backward accumulated a bias gradient")
	}
}

// TestLeakyReLULinearized checks the Jacobian product against the naive rule and that it
// leaves Backward on the last Forward.
func TestLeakyReLULinearized(t *testing.T) {
	a := LeakyReLU{Slope: 0.2}
	x := []float32{-2, -0.5, 0, 0.5, 3}
	a.Forward(x)
	v := []float32{1, 2, 3, 4, 5}
	got := slices.Clone(a.Linearized(v))
	want := []float32{0.2, 0.4, 0.6, 4, 5} // slope where x <= 0, as Backward
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 1e-7 {
			t.Fatalf("Linearized = %v, want %v", got, want)
		}
	}
	back := a.Backward(v)
	for i := range want {
		if math.Abs(float64(back[i]-want[i])) > 1e-7 {
			t.Fatalf("Backward after Linearized = %v, want %v", back, want)
		}
	}
}
