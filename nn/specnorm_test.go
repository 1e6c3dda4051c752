package nn

import (
	"math"
	"math/rand/v2"
	"testing"
)

// checkMixed fails unless every element satisfies |got-want| <= atol + rtol*|want|, so
// small elements cannot hide behind large ones.
func checkMixed(t *testing.T, name string, got []float32, want []float64, atol, rtol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: len %d, want %d", name, len(got), len(want))
	}
	for i, w := range want {
		if d := math.Abs(float64(got[i]) - w); !(d <= atol+rtol*math.Abs(w)) {
			t.Errorf("%s[%d] = %g, want %g (|diff| %.3g)", name, i, got[i], w, d)
			return
		}
	}
}

// checkPowerIteration compares u, v and sigma after the power iteration numbered next
// ("1", "2") with the golden values.
func checkPowerIteration(t *testing.T, sn *SpectralNorm, g map[string]goldenTensor, next string) {
	t.Helper()
	checkMixed(t, "u"+next, sn.U.Data, g["u"+next].Data, 1e-6, 1e-5)
	checkMixed(t, "v"+next, sn.V.Data, g["v"+next].Data, 1e-6, 1e-5)
	if w := g["sigma"+next].Data[0]; math.Abs(sn.Sigma-w) > 1e-6*w {
		t.Errorf("sigma%s = %v, want %v", next, sn.Sigma, w)
	}
}

// checkClearedAndEval checks that Backward cleared the normalised weight's grad, then
// switches sn to eval (no power iteration) and checks that u is unchanged.
func checkClearedAndEval(t *testing.T, sn *SpectralNorm, normGrad []float32) {
	t.Helper()
	for _, v := range normGrad {
		if v != 0 {
			t.Fatal("Backward must clear the normalised weight's grad")
		}
	}
	u := append([]float32(nil), sn.U.Data...)
	sn.Forward(false)
	for i := range u {
		if u[i] != sn.U.Data[i] {
			t.Fatal("eval forward changed u")
		}
	}
}

// TestSpectralNormConvGolden runs two training forwards and backwards and an eval
// forward of a spectral-normed Conv2d from PyTorch's initial state, and compares u, v,
// sigma, outputs, input grads and the accumulated grads of weight_orig and bias with
// torch.nn.utils.spectral_norm in float64 (scripts/golden_recipe.py).
func TestSpectralNormConvGolden(t *testing.T) {
	g := loadGolden(t, "spectral_norm_conv.json")
	xs, ws := g["x"].Shape, g["weight_orig"].Shape
	c := NewConv2d("conv0", ws[1], ws[0], 5, 2, 2)
	sn := NewSpectralNorm(c.Weight)
	if sn.Orig.Name != "conv0.weight_orig" || sn.U.Name != "conv0.weight_u" || sn.V.Name != "conv0.weight_v" {
		t.Fatalf("names %s %s %s", sn.Orig.Name, sn.U.Name, sn.V.Name)
	}
	if !sn.U.Buffer || !sn.V.Buffer || sn.Orig.Buffer {
		t.Fatal("u and v must be buffers, weight_orig trainable")
	}
	copy(sn.Orig.Data, f32(g["weight_orig"].Data))
	copy(c.Bias.Data, f32(g["bias"].Data))
	copy(sn.U.Data, f32(g["u0"].Data))
	copy(sn.V.Data, f32(g["v0"].Data))
	x := toCNHW(g["x"])
	for i, k := range []string{"0", "1"} {
		sn.Forward(true)
		checkPowerIteration(t, sn, g, string(rune('1'+i)))
		y := c.Forward(x, xs[0], xs[2], xs[3])
		ys := g["y"+k].Shape
		checkMixed(t, "y"+k, toNCHW(y, ys[0], ys[1], ys[2]*ys[3]), g["y"+k].Data, 1e-5, 1e-4)
		dx := c.Backward(toCNHW(g["gy"+k]))
		checkMixed(t, "dx"+k, toNCHW(dx, xs[0], xs[1], xs[2]*xs[3]), g["dx"+k].Data, 1e-5, 1e-4)
		sn.Backward()
	}
	checkMixed(t, "grad_weight_orig", sn.Orig.Grad, g["grad_weight_orig"].Data, 1e-5, 1e-4)
	checkMixed(t, "grad_bias", c.Bias.Grad, g["grad_bias"].Data, 1e-5, 1e-4)
	checkClearedAndEval(t, sn, c.Weight.Grad)
	y := c.Forward(x, xs[0], xs[2], xs[3])
	ys := g["y_eval"].Shape
	checkMixed(t, "y_eval", toNCHW(y, ys[0], ys[1], ys[2]*ys[3]), g["y_eval"].Data, 1e-5, 1e-4)
}

// TestSpectralNormLinearGolden is TestSpectralNormConvGolden for a Linear layer: u, v
// and sigma after each power iteration, outputs, input grads, the accumulated grads of
// weight_orig and bias, the cleared normalised grad, and the eval forward.
func TestSpectralNormLinearGolden(t *testing.T) {
	g := loadGolden(t, "spectral_norm_linear.json")
	xs, ws := g["x"].Shape, g["weight_orig"].Shape
	l := NewLinear("fc", ws[1], ws[0])
	sn := NewSpectralNorm(l.Weight)
	copy(sn.Orig.Data, f32(g["weight_orig"].Data))
	copy(l.Bias.Data, f32(g["bias"].Data))
	copy(sn.U.Data, f32(g["u0"].Data))
	copy(sn.V.Data, f32(g["v0"].Data))
	x := f32(g["x"].Data)
	for i, k := range []string{"0", "1"} {
		sn.Forward(true)
		checkPowerIteration(t, sn, g, string(rune('1'+i)))
		checkMixed(t, "y"+k, l.Forward(x, xs[0]), g["y"+k].Data, 1e-5, 1e-4)
		checkMixed(t, "dx"+k, l.Backward(f32(g["gy"+k].Data)), g["dx"+k].Data, 1e-5, 1e-4)
		sn.Backward()
	}
	checkMixed(t, "grad_weight_orig", sn.Orig.Grad, g["grad_weight_orig"].Data, 1e-5, 1e-4)
	checkMixed(t, "grad_bias", l.Bias.Grad, g["grad_bias"].Data, 1e-5, 1e-4)
	checkClearedAndEval(t, sn, l.Weight.Grad)
	checkMixed(t, "y_eval", l.Forward(x, xs[0]), g["y_eval"].Data, 1e-5, 1e-4)
}

// TestSpectralNormFiniteDifference checks Backward's formula (u, v fixed) against
// central differences of L(WOrig) = sum(G * WOrig/sigma(WOrig)), sigma = u^T WOrig v,
// in float64 arithmetic on float32-representable inputs.
func TestSpectralNormFiniteDifference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	w := &Param{Name: "w.weight", Shape: []int{3, 4}, Data: randSlice(r, 12), Grad: make([]float32, 12)}
	sn := NewSpectralNorm(w)
	sn.Init(r)
	sn.Forward(true) // settle u, v; they stay fixed below
	gw := randSlice(r, 12)
	loss := func(orig []float64) float64 {
		var sigma float64
		for i := 0; i < 3; i++ {
			for j := 0; j < 4; j++ {
				sigma += float64(sn.U.Data[i]) * orig[i*4+j] * float64(sn.V.Data[j])
			}
		}
		var l float64
		for k, o := range orig {
			l += float64(gw[k]) * o / sigma
		}
		return l
	}
	copy(w.Grad, gw)
	sn.Backward()
	orig := f64(sn.Orig.Data)
	for k := range orig {
		const h = 1e-6
		o := orig[k]
		orig[k] = o + h
		lp := loss(orig)
		orig[k] = o - h
		lm := loss(orig)
		orig[k] = o
		if fd := (lp - lm) / (2 * h); math.Abs(fd-float64(sn.Orig.Grad[k])) > 1e-5+1e-4*math.Abs(fd) {
			t.Errorf("grad[%d] = %v, finite difference %v", k, sn.Orig.Grad[k], fd)
		}
	}
}

// TestHingeGolden compares the hinge losses and their gradients with PyTorch.
func TestHingeGolden(t *testing.T) {
	g := loadGolden(t, "hinge.json")
	x := f32(g["logits"].Data)
	grad := make([]float32, len(x))
	check := func(name string, loss float64) {
		t.Helper()
		if w := g["loss_"+name].Data[0]; math.Abs(loss-w) > 1e-7 { // the logits are rounded to float32
			t.Errorf("loss_%s = %v, want %v", name, loss, w)
		}
		checkMixed(t, "grad_"+name, grad, g["grad_"+name].Data, 0, 1e-7)
	}
	check("real", HingeD(x, 1, grad))
	check("fake", HingeD(x, -1, grad))
	check("gen", HingeG(x, grad))
}
