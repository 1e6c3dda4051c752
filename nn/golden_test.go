package nn

import (
	"fmt"
	"math"
	"testing"

	"avatargan/internal/testutil"
)

type goldenTensor = testutil.GoldenTensor

func loadGolden(t testing.TB, file string) map[string]goldenTensor {
	t.Helper()
	return testutil.LoadGolden(t, "testdata/"+file)
}

func f32(d []float64) []float32 {
	out := make([]float32, len(d))
	for i, v := range d {
		out[i] = float32(v)
	}
	return out
}

// checkClose fails for every element outside |got-want| <= atol + tol*|want| (see
// testutil.Within): each element is held to its own relative tolerance, with an atol
// for elements near zero that is far below the values the tests use (O(0.01..10)), so
// a small element cannot be wrong by hiding under the largest one.
func checkClose(t *testing.T, name string, got []float32, want []float64, tol float64) {
	t.Helper()
	testutil.AllClose(t, name, got, want, goldenAtol, tol)
}

// goldenAtol is the absolute part of checkClose's tolerance.
const goldenAtol = 1e-6

// toCNHW converts a golden NCHW tensor to CNHW.
func toCNHW(g goldenTensor) []float32 {
	n, c, hw := g.Shape[0], g.Shape[1], g.Shape[2]*g.Shape[3]
	out := make([]float32, len(g.Data))
	NCHWToCNHW(out, f32(g.Data), n, c, hw)
	return out
}

func toNCHW(x []float32, n, c, hw int) []float32 {
	out := make([]float32, len(x))
	CNHWToNCHW(out, x, n, c, hw)
	return out
}

const tol = 1e-4

func TestLinearGolden(t *testing.T) {
	g := loadGolden(t, "linear.json")
	l := NewLinear("fc", 5, 4)
	copy(l.Weight.Data, f32(g["weight"].Data))
	copy(l.Bias.Data, f32(g["bias"].Data))
	y := l.Forward(f32(g["x"].Data), 3)
	checkClose(t, "y", y, g["y"].Data, tol)
	dx := l.Backward(f32(g["gy"].Data))
	checkClose(t, "grad_x", dx, g["grad_x"].Data, tol)
	checkClose(t, "grad_weight", l.Weight.Grad, g["grad_weight"].Data, tol)
	checkClose(t, "grad_bias", l.Bias.Grad, g["grad_bias"].Data, tol)
}

// TestConv2dGolden checks Conv2d against PyTorch: the discriminator's 5x5 stride-2
// convolutions on even and odd sides (scripts/golden.py), and the refinement head's
// 3x3 stride-1 padding-1 one (scripts/golden_conv3.py), which is also run on the
// tap-sum path (tapsum.go) that the head's full width takes.
func TestConv2dGolden(t *testing.T) {
	for _, tc := range []struct {
		file    string
		k, s, p int
		tapsum  bool
	}{{"conv2d_even.json", 5, 2, 2, false}, {"conv2d_odd.json", 5, 2, 2, false},
		{"conv2d_k3s1.json", 3, 1, 1, false}, {"conv2d_k3s1.json", 3, 1, 1, true}} {
		t.Run(fmt.Sprintf("%s/tapsum=%v", tc.file, tc.tapsum), func(t *testing.T) {
			if tc.tapsum {
				forceTapSum(t)
			}
			g := loadGolden(t, tc.file)
			xs, ys := g["x"].Shape, g["y"].Shape
			c := NewConv2d("conv", xs[1], ys[1], tc.k, tc.s, tc.p)
			if ws := g["weight"].Shape; ws[2] != tc.k || ws[3] != tc.k {
				t.Fatalf("weight shape %v, want a %dx%d kernel", ws, tc.k, tc.k)
			}
			copy(c.Weight.Data, f32(g["weight"].Data))
			copy(c.Bias.Data, f32(g["bias"].Data))
			y := c.Forward(toCNHW(g["x"]), xs[0], xs[2], xs[3])
			if c.tapsum != tc.tapsum {
				t.Fatalf("took the tap-sum path: %v, want %v", c.tapsum, tc.tapsum)
			}
			checkClose(t, "y", toNCHW(y, ys[0], ys[1], ys[2]*ys[3]), g["y"].Data, tol)
			dx := c.Backward(toCNHW(g["gy"]))
			checkClose(t, "grad_x", toNCHW(dx, xs[0], xs[1], xs[2]*xs[3]), g["grad_x"].Data, tol)
			checkClose(t, "grad_weight", c.Weight.Grad, g["grad_weight"].Data, tol)
			checkClose(t, "grad_bias", c.Bias.Grad, g["grad_bias"].Data, tol)
		})
	}
}

func TestConvTranspose2dGolden(t *testing.T) {
	for _, f := range []string{"conv_transpose2d_3.json", "conv_transpose2d_4.json"} {
		t.Run(f, func(t *testing.T) {
			g := loadGolden(t, f)
			xs, ys := g["x"].Shape, g["y"].Shape
			c := NewConvTranspose2d("deconv", xs[1], ys[1], 5, 2, 2, 1)
			copy(c.Weight.Data, f32(g["weight"].Data))
			copy(c.Bias.Data, f32(g["bias"].Data))
			y := c.Forward(toCNHW(g["x"]), xs[0], xs[2], xs[3])
			checkClose(t, "y", toNCHW(y, ys[0], ys[1], ys[2]*ys[3]), g["y"].Data, tol)
			dx := c.Backward(toCNHW(g["gy"]))
			checkClose(t, "grad_x", toNCHW(dx, xs[0], xs[1], xs[2]*xs[3]), g["grad_x"].Data, tol)
			checkClose(t, "grad_weight", c.Weight.Grad, g["grad_weight"].Data, tol)
			checkClose(t, "grad_bias", c.Bias.Grad, g["grad_bias"].Data, tol)
		})
	}
}

func TestBatchNorm2dGolden(t *testing.T) {
	g := loadGolden(t, "batchnorm2d.json")
	xs := g["x"].Shape
	n, c, hw := xs[0], xs[1], xs[2]*xs[3]
	load := func() *BatchNorm2d {
		b := NewBatchNorm2d("bn", c, ActNone)
		copy(b.Weight.Data, f32(g["gamma"].Data))
		copy(b.Bias.Data, f32(g["beta"].Data))
		copy(b.RunningMean.Data, f32(g["running_mean"].Data))
		copy(b.RunningVar.Data, f32(g["running_var"].Data))
		return b
	}
	b := load()
	y := b.Forward(toCNHW(g["x"]), n, hw, true)
	checkClose(t, "y", toNCHW(y, n, c, hw), g["y"].Data, tol)
	dx := b.Backward(toCNHW(g["gy"]))
	checkClose(t, "grad_x", toNCHW(dx, n, c, hw), g["grad_x"].Data, tol)
	checkClose(t, "grad_gamma", b.Weight.Grad, g["grad_gamma"].Data, tol)
	checkClose(t, "grad_beta", b.Bias.Grad, g["grad_beta"].Data, tol)
	checkClose(t, "running_mean_after", b.RunningMean.Data, g["running_mean_after"].Data, tol)
	checkClose(t, "running_var_after", b.RunningVar.Data, g["running_var_after"].Data, tol)
	if b.NumBatchesTracked != 1 {
		t.Errorf("num_batches_tracked %d, want 1", b.NumBatchesTracked)
	}
	e := load()
	ye := e.Forward(toCNHW(g["x"]), n, hw, false)
	checkClose(t, "y_eval", toNCHW(ye, n, c, hw), g["y_eval"].Data, tol)
	if e.NumBatchesTracked != 0 {
		t.Errorf("eval forward counted a batch")
	}
}

func TestActivationsGolden(t *testing.T) {
	g := loadGolden(t, "activations.json")
	x, gy := f32(g["x"].Data), f32(g["gy"].Data)
	r := &ReLU{}
	checkClose(t, "relu_y", r.Forward(x), g["relu_y"].Data, tol)
	checkClose(t, "relu_grad_x", r.Backward(gy), g["relu_grad_x"].Data, tol)
	l := &LeakyReLU{Slope: 0.2}
	checkClose(t, "leaky_relu_y", l.Forward(x), g["leaky_relu_y"].Data, tol)
	checkClose(t, "leaky_relu_grad_x", l.Backward(gy), g["leaky_relu_grad_x"].Data, tol)
	th := &Tanh{}
	checkClose(t, "tanh_y", th.Forward(x), g["tanh_y"].Data, tol)
	checkClose(t, "tanh_grad_x", th.Backward(gy), g["tanh_grad_x"].Data, tol)
}

func TestBCEWithLogitsGolden(t *testing.T) {
	g := loadGolden(t, "bce_with_logits.json")
	x := f32(g["logits"].Data)
	for _, tg := range []struct {
		t    float32
		name string
	}{{0, "target0"}, {1, "target1"}} {
		grad := make([]float32, len(x))
		loss := BCEWithLogits(x, tg.t, grad)
		checkClose(t, "loss_"+tg.name, []float32{float32(loss)}, g["loss_"+tg.name].Data, tol)
		checkClose(t, "grad_"+tg.name, grad, g["grad_"+tg.name].Data, tol)
	}
	// Stability: huge logits must not give Inf or NaN.
	if l := BCEWithLogits([]float32{1e4, -1e4}, 1, nil); math.IsNaN(l) || math.IsInf(l, 0) {
		t.Errorf("BCE of large logits = %v", l)
	}
}

func TestAdamGolden(t *testing.T) {
	g := loadGolden(t, "adam.json")
	p := newParam("p", 10)
	copy(p.Data, f32(g["param"].Data))
	a := NewAdam([]*Param{p}, 2e-4, 0.5, 0.999, 1e-8)
	p0 := g["param"].Data
	for _, k := range []string{"1", "2", "3"} {
		copy(p.Grad, f32(g["grad_step"+k].Data))
		a.Step()
		checkClose(t, "param_after_step"+k, p.Data, g["param_after_step"+k].Data, 1e-6)
		// The displacement from the start (a few lr) is what Adam computes: check it
		// relative to its own scale, which float32 params resolve to about 1e-4.
		got, want := make([]float32, len(p0)), make([]float64, len(p0))
		for i := range p0 {
			got[i] = float32(float64(p.Data[i]) - p0[i])
			want[i] = g["param_after_step"+k].Data[i] - p0[i]
		}
		checkClose(t, "delta_after_step"+k, got, want, 2e-3)
	}
	if a.T != 3 || len(a.State()) != 3 {
		t.Errorf("T=%d, state %d tensors", a.T, len(a.State()))
	}
}
