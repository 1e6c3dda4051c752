package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func randSlice(r *rand.Rand, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(r.NormFloat64())
	}
	return out
}

func f64(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

// naiveConv is a direct NCHW float64 convolution with its gradients of sum(y*gy),
// written as plain loops over every (n, co, ci, oy, ox, ky, kx).
func naiveConv(x, w, b, gy []float64, n, ci, co, h, wd, k, s, p int) (y, dx, dw, db []float64, ho, wo int) {
	ho, wo = (h+2*p-k)/s+1, (wd+2*p-k)/s+1
	y, dx, dw, db = make([]float64, n*co*ho*wo), make([]float64, len(x)), make([]float64, len(w)), make([]float64, co)
	for in := 0; in < n; in++ {
		for o := 0; o < co; o++ {
			for oy := 0; oy < ho; oy++ {
				for ox := 0; ox < wo; ox++ {
					yi := ((in*co+o)*ho+oy)*wo + ox
					acc := b[o]
					db[o] += gy[yi]
					for c := 0; c < ci; c++ {
						for ky := 0; ky < k; ky++ {
							for kx := 0; kx < k; kx++ {
								iy, ix := oy*s-p+ky, ox*s-p+kx
								if iy < 0 || iy >= h || ix < 0 || ix >= wd {
									continue
								}
								xi := ((in*ci+c)*h+iy)*wd + ix
								wi := ((o*ci+c)*k+ky)*k + kx
								acc += x[xi] * w[wi]
								dx[xi] += gy[yi] * w[wi]
								dw[wi] += gy[yi] * x[xi]
							}
						}
					}
					y[yi] = acc
				}
			}
		}
	}
	return
}

// naiveConvT is a direct NCHW float64 transposed convolution (scatter form) with its
// gradients of sum(y*gy).
func naiveConvT(x, w, b, gy []float64, n, ci, co, h, wd, k, s, p, op int) (y, dx, dw, db []float64, ho, wo int) {
	ho, wo = (h-1)*s-2*p+k+op, (wd-1)*s-2*p+k+op
	y, dx, dw, db = make([]float64, n*co*ho*wo), make([]float64, len(x)), make([]float64, len(w)), make([]float64, co)
	for in := 0; in < n; in++ {
		for o := 0; o < co; o++ {
			for i := 0; i < ho*wo; i++ {
				y[(in*co+o)*ho*wo+i] = b[o]
				db[o] += gy[(in*co+o)*ho*wo+i]
			}
		}
		for c := 0; c < ci; c++ {
			for iy := 0; iy < h; iy++ {
				for ix := 0; ix < wd; ix++ {
					xi := ((in*ci+c)*h+iy)*wd + ix
					for o := 0; o < co; o++ {
						for ky := 0; ky < k; ky++ {
							for kx := 0; kx < k; kx++ {
								oy, ox := iy*s-p+ky, ix*s-p+kx
								if oy < 0 || oy >= ho || ox < 0 || ox >= wo {
									continue
								}
								yi := ((in*co+o)*ho+oy)*wo + ox
								wi := ((c*co+o)*k+ky)*k + kx
								y[yi] += x[xi] * w[wi]
								dx[xi] += gy[yi] * w[wi]
								dw[wi] += gy[yi] * x[xi]
							}
						}
					}
				}
			}
		}
	}
	return
}

func TestConv2dNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct{ n, ci, co, h, w, k, s, p int }{
		{2, 3, 4, 7, 9, 3, 1, 1}, {1, 2, 3, 6, 6, 1, 1, 0}, {2, 2, 5, 9, 8, 4, 3, 2},
		{3, 4, 2, 5, 5, 5, 2, 2}, {2, 3, 3, 8, 8, 3, 2, 0}, {1, 1, 2, 4, 6, 2, 2, 1},
	} {
		t.Run(fmt.Sprint(tc), func(t *testing.T) {
			c := NewConv2d("c", tc.ci, tc.co, tc.k, tc.s, tc.p)
			checkConvNaive(t, r, c, tc.n, tc.h, tc.w, "full")
			checkPath(t, c, tc.s, tc.p)
		})
	}
}

// checkConvNaive draws an input, weights, bias and output gradient for c and checks
// Forward (ForwardLinear for mode "linear") and Backward against naiveConv. mode "full"
// checks y, dx, dW and db; "linear" y without the bias, and no bias gradient;
// "noinput" / "noparam" set NoInputGrad / NoParamGrad and check that Backward returns
// no dx / accumulates no dW and db. The caller's input buffer is cleared after the
// forward: the layer must not depend on it.
func checkConvNaive(t *testing.T, r *rand.Rand, c *Conv2d, n, h, w int, mode string) {
	t.Helper()
	ci, co := c.InC, c.OutC
	c.NoInputGrad, c.NoParamGrad = mode == "noinput", mode == "noparam"
	x := randSlice(r, n*ci*h*w)
	copy(c.Weight.Data, randSlice(r, len(c.Weight.Data)))
	copy(c.Bias.Data, randSlice(r, len(c.Bias.Data)))
	bias := f64(c.Bias.Data)
	if mode == "linear" {
		bias = make([]float64, co)
	}
	ho, wo := c.OutSize(h, w)
	gy0 := randSlice(r, n*co*ho*wo)
	y, dx, dw, db, _, _ := naiveConv(f64(x), f64(c.Weight.Data), bias, f64(gy0), n, ci, co, h, w, c.K, c.Stride, c.Pad)
	xc := make([]float32, len(x))
	NCHWToCNHW(xc, x, n, ci, h*w)
	gy := make([]float32, len(gy0))
	NCHWToCNHW(gy, gy0, n, co, ho*wo)
	var yc []float32
	if mode == "linear" {
		yc = c.ForwardLinear(xc, n, h, w)
	} else {
		yc = c.Forward(xc, n, h, w)
	}
	clear(xc)
	checkClose(t, "y", toNCHW(yc, n, co, ho*wo), y, tol)
	gx := c.Backward(gy)
	if mode == "noinput" {
		if gx != nil {
			t.Error("NoInputGrad: Backward returned dx")
		}
	} else {
		checkClose(t, "dx", toNCHW(gx, n, ci, h*w), dx, tol)
	}
	zero := make([]float64, len(dw))
	switch mode {
	case "noparam":
		checkClose(t, "dw", c.Weight.Grad, zero, 0)
		checkClose(t, "db", c.Bias.Grad, zero[:co], 0)
	case "linear":
		checkClose(t, "dw", c.Weight.Grad, dw, tol)
		checkClose(t, "db", c.Bias.Grad, zero[:co], 0)
	default:
		checkClose(t, "dw", c.Weight.Grad, dw, tol)
		checkClose(t, "db", c.Bias.Grad, db, tol)
	}
}

func TestConvTranspose2dNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct{ n, ci, co, h, w, k, s, p, op int }{
		{2, 3, 4, 3, 4, 3, 1, 1, 0}, {1, 2, 3, 4, 4, 4, 2, 1, 0}, {2, 2, 5, 3, 2, 5, 3, 2, 2},
		{3, 4, 2, 3, 3, 5, 2, 2, 1}, {2, 3, 3, 4, 5, 3, 2, 0, 1}, {1, 2, 2, 5, 5, 1, 1, 0, 0},
	} {
		t.Run(fmt.Sprint(tc), func(t *testing.T) {
			c := NewConvTranspose2d("d", tc.ci, tc.co, tc.k, tc.s, tc.p, tc.op)
			x := randSlice(r, tc.n*tc.ci*tc.h*tc.w)
			copy(c.Weight.Data, randSlice(r, len(c.Weight.Data)))
			copy(c.Bias.Data, randSlice(r, len(c.Bias.Data)))
			ho, wo := c.OutSize(tc.h, tc.w)
			gy0 := randSlice(r, tc.n*tc.co*ho*wo)
			y, dx, dw, db, _, _ := naiveConvT(f64(x), f64(c.Weight.Data), f64(c.Bias.Data), f64(gy0), tc.n, tc.ci, tc.co, tc.h, tc.w, tc.k, tc.s, tc.p, tc.op)
			xc := make([]float32, len(x))
			NCHWToCNHW(xc, x, tc.n, tc.ci, tc.h*tc.w)
			gy := make([]float32, len(gy0))
			NCHWToCNHW(gy, gy0, tc.n, tc.co, ho*wo)
			checkClose(t, "y", toNCHW(c.Forward(xc, tc.n, tc.h, tc.w), tc.n, tc.co, ho*wo), y, tol)
			checkPath(t, c, tc.s, tc.p)
			checkClose(t, "dx", toNCHW(c.Backward(gy), tc.n, tc.ci, tc.h*tc.w), dx, tol)
			checkClose(t, "dw", c.Weight.Grad, dw, tol)
			checkClose(t, "db", c.Bias.Grad, db, tol)
		})
	}
}

// checkPath fails when a forced path (forceSplit, forceTapSum) did not take a shape it
// applies to: the tap-split path every padded shape, the tap-sum path (Conv2d only)
// every stride-1 one, which it takes before the split.
func checkPath(t *testing.T, layer any, stride, pad int) {
	t.Helper()
	var split bool
	switch c := layer.(type) {
	case *Conv2d:
		if tapSumMode == 1 && stride == 1 {
			if !c.tapsum {
				t.Fatal("tap-sum path forced but not taken")
			}
			return
		}
		split = c.split
	case *ConvTranspose2d:
		split = c.split
	}
	if splitMinInner == 1 && pad > 0 && !split {
		t.Fatal("tap-split path forced but not taken")
	}
}

// fdCheck compares analytic gradients with float64 central differences of
// L = sum(y*gy) evaluated on the float32 code. Float32 forward rounding limits the
// accuracy to about 1e-3 of the gradient's scale, so the tolerance is loose: it catches
// wrong formulas, not rounding.
// h is the step: small where a ReLU kink could fall inside [v-h, v+h].
func fdCheck(t *testing.T, name string, h float64, v []float32, analytic []float32, loss func() float64) {
	t.Helper()
	var scale, maxErr float64
	want := make([]float64, len(v))
	for i := range v {
		old := v[i]
		hi, lo := old+float32(h), old-float32(h)
		v[i] = hi
		lp := loss()
		v[i] = lo
		lm := loss()
		v[i] = old
		want[i] = (lp - lm) / (float64(hi) - float64(lo))
		scale = math.Max(scale, math.Abs(want[i]))
		maxErr = math.Max(maxErr, math.Abs(want[i]-float64(analytic[i])))
	}
	if maxErr > 2e-2*scale {
		t.Errorf("%s: finite-difference max error %.3g, scale %.3g", name, maxErr, scale)
	}
}

func dot(y, gy []float32) float64 {
	var s float64
	for i := range y {
		s += float64(y[i]) * float64(gy[i])
	}
	return s
}

func TestFiniteDifferences(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	t.Run("Conv2d", func(t *testing.T) {
		c := NewConv2d("c", 2, 3, 3, 2, 1)
		x, w := randSlice(r, 2*2*5*5), c.Weight.Data
		copy(w, randSlice(r, len(w)))
		gy := randSlice(r, 3*2*3*3)
		loss := func() float64 { return dot(c.Forward(x, 2, 5, 5), gy) }
		loss()
		dx := append([]float32(nil), c.Backward(gy)...)
		dw := append([]float32(nil), c.Weight.Grad...)
		fdCheck(t, "dx", 1e-2, x, dx, loss)
		fdCheck(t, "dw", 1e-2, w, dw, loss)
	})
	t.Run("ConvTranspose2d", func(t *testing.T) {
		c := NewConvTranspose2d("d", 2, 3, 5, 2, 2, 1)
		x, w := randSlice(r, 2*2*3*3), c.Weight.Data
		copy(w, randSlice(r, len(w)))
		gy := randSlice(r, 3*2*6*6)
		loss := func() float64 { return dot(c.Forward(x, 2, 3, 3), gy) }
		loss()
		dx := append([]float32(nil), c.Backward(gy)...)
		dw := append([]float32(nil), c.Weight.Grad...)
		fdCheck(t, "dx", 1e-2, x, dx, loss)
		fdCheck(t, "dw", 1e-2, w, dw, loss)
	})
	for _, act := range []Act{ActNone, ActReLU, ActLeakyReLU} {
		for _, train := range []bool{true, false} {
			t.Run(fmt.Sprintf("BatchNorm2d/act%d/train=%v", act, train), func(t *testing.T) {
				b := NewBatchNorm2d("bn", 3, act)
				copy(b.Weight.Data, randSlice(r, 3))
				copy(b.Bias.Data, randSlice(r, 3))
				x, gy := randSlice(r, 3*4*4), randSlice(r, 3*4*4)
				loss := func() float64 {
					// Running stats must not drift between evaluations.
					b.RunningMean.Data[0], b.RunningVar.Data[0] = 0.1, 1.5
					return dot(b.Forward(x, 2, 8, train), gy)
				}
				loss()
				dx := append([]float32(nil), b.Backward(gy)...)
				dg := append([]float32(nil), b.Weight.Grad...)
				fdCheck(t, "dx", 1e-3, x, dx, loss)
				fdCheck(t, "dgamma", 1e-3, b.Weight.Data, dg, loss)
			})
		}
	}
	t.Run("Linear", func(t *testing.T) {
		l := NewLinear("fc", 4, 3)
		copy(l.Weight.Data, randSlice(r, 12))
		x, gy := randSlice(r, 8), randSlice(r, 6)
		loss := func() float64 { return dot(l.Forward(x, 2), gy) }
		loss()
		dx := append([]float32(nil), l.Backward(gy)...)
		fdCheck(t, "dx", 1e-2, x, dx, loss)
		fdCheck(t, "dw", 1e-2, l.Weight.Data, append([]float32(nil), l.Weight.Grad...), loss)
	})
}

func TestInitDeterministic(t *testing.T) {
	a, b := make([]float32, 1000), make([]float32, 1000)
	InitNormal(a, 0.02, true, rand.New(rand.NewPCG(7, 7)))
	InitNormal(b, 0.02, true, rand.New(rand.NewPCG(7, 7)))
	for i := range a {
		if a[i] != b[i] || math.Abs(float64(a[i])) > 0.04 {
			t.Fatalf("init %d: %v %v", i, a[i], b[i])
		}
	}
}

// forceSplit forces the tap-split path (tapsplit.go) on for every shape until the test
// ends.
func forceSplit(t *testing.T) {
	oldInner, oldCols := splitMinInner, splitMinCols
	splitMinInner, splitMinCols = 1, 1
	t.Cleanup(func() { splitMinInner, splitMinCols = oldInner, oldCols })
}

// TestTapSplitNaive reruns the naive convolution checks with the tap-split path
// (tapsplit.go) forced on for every shape it applies to (the padded ones; checkPath).
func TestTapSplitNaive(t *testing.T) {
	forceSplit(t)
	t.Run("conv", TestConv2dNaive)
	t.Run("convT", TestConvTranspose2dNaive)
}

// forceTapSum turns the tap-sum path (tapsum.go) on for every stride-1 convolution
// until the test ends.
func forceTapSum(t *testing.T) {
	old := tapSumMode
	tapSumMode = 1
	t.Cleanup(func() { tapSumMode = old })
}

// TestTapSumNaive reruns the naive convolution checks with the tap-sum path forced on
// (it takes the stride-1 shapes: 3x3 padding 1, 1x1 padding 0), and checks the shapes
// it serves by default against the naive convolution too: the refinement head's 3x3
// convolution to RGB, a 5x5 one with padding 1 (outputs smaller than the input) and
// one with padding 3 (larger), with and without the bias (ForwardLinear), and with
// NoInputGrad / NoParamGrad.
func TestTapSumNaive(t *testing.T) {
	t.Run("forced", func(t *testing.T) {
		forceTapSum(t)
		TestConv2dNaive(t)
	})
	r := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct{ n, ci, co, h, w, k, p int }{
		{2, 32, 3, 7, 6, 3, 1}, {1, 20, 2, 9, 8, 5, 1}, {2, 24, 3, 4, 5, 5, 3},
	} {
		for _, mode := range []string{"full", "linear", "noinput", "noparam"} {
			t.Run(fmt.Sprint(tc, mode), func(t *testing.T) {
				c := NewConv2d("c", tc.ci, tc.co, tc.k, 1, tc.p)
				if !c.useTapSum() {
					t.Fatal("shape does not take the tap-sum path by default")
				}
				checkConvNaive(t, r, c, tc.n, tc.h, tc.w, mode)
				if !c.tapsum {
					t.Fatal("the tap-sum path was not taken")
				}
			})
		}
	}
}

// TestConv2dFiniteDifferences checks Conv2d's dx, dW and db against finite differences
// on the dense, the tap-split and the tap-sum paths (the last for stride 1 only), for the discriminator's 5x5 stride-2 layers and
// the refinement head's 3x3 stride-1 padding-1 one (every output sees the padding on
// a 5x4 image, whose odd and even sides catch swapped axes).
func TestConv2dFiniteDifferences(t *testing.T) {
	for _, path := range []string{"dense", "split", "tapsum"} {
		for _, tc := range []struct{ n, ci, co, h, w, k, s, p int }{
			{2, 2, 3, 5, 4, 3, 1, 1}, {2, 2, 3, 6, 5, 5, 2, 2},
		} {
			if path == "tapsum" && tc.s != 1 {
				continue
			}
			split := path == "split"
			t.Run(fmt.Sprintf("%s/%v", path, tc), func(t *testing.T) {
				if split {
					forceSplit(t)
				}
				if path == "tapsum" {
					forceTapSum(t)
				}
				r := rand.New(rand.NewPCG(uint64(tc.k), uint64(tc.h)))
				c := NewConv2d("c", tc.ci, tc.co, tc.k, tc.s, tc.p)
				copy(c.Weight.Data, randSlice(r, len(c.Weight.Data)))
				copy(c.Bias.Data, randSlice(r, len(c.Bias.Data)))
				ho, wo := c.OutSize(tc.h, tc.w)
				x, gy := randSlice(r, tc.ci*tc.n*tc.h*tc.w), randSlice(r, tc.co*tc.n*ho*wo)
				loss := func() float64 {
					Touch(c.Params()) // fdCheck moves weights in place: rebuild the split path's copy
					return dot(c.Forward(x, tc.n, tc.h, tc.w), gy)
				}
				loss()
				if c.split != split || c.tapsum != (path == "tapsum") {
					t.Fatalf("took the split path: %v, the tap-sum path: %v; want %s", c.split, c.tapsum, path)
				}
				dx := append([]float32(nil), c.Backward(gy)...)
				dw := append([]float32(nil), c.Weight.Grad...)
				db := append([]float32(nil), c.Bias.Grad...)
				fdCheck(t, "dx", 1e-2, x, dx, loss)
				fdCheck(t, "dw", 1e-2, c.Weight.Data, dw, loss)
				fdCheck(t, "db", 1e-2, c.Bias.Data, db, loss)
			})
		}
	}
}
