package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"avatargan/internal/gemm"
)

// layerRun runs one layer's Forward and Backward (fresh layer, zero grads, the
// same seeded data each time) and returns y, dx, dW. With abs it uses |x|, |W|,
// |dy| and a zero bias: the layer is linear in each of them, so that run yields
// sum |w x| per y element, sum |w dy| per dx element and sum |dy x| per dW
// element, the magnitudes that scale each element's rounding error.
type layerRun func(p gemm.Precision, abs bool) (y, dx, dw []float32)

func absIf(abs bool, v []float32) []float32 {
	if !abs {
		return v
	}
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(math.Abs(float64(x)))
	}
	return out
}

func convRun(n, ci, co, h, w int) layerRun {
	return func(p gemm.Precision, abs bool) (y, dx, dw []float32) {
		r := rand.New(rand.NewPCG(5, 6))
		c := NewConv2d("c", ci, co, 5, 2, 2)
		c.Precision = p
		copy(c.Weight.Data, absIf(abs, randSlice(r, len(c.Weight.Data))))
		if b := randSlice(r, co); !abs {
			copy(c.Bias.Data, b)
		}
		x := absIf(abs, randSlice(r, ci*n*h*w))
		ho, wo := c.OutSize(h, w)
		gy := absIf(abs, randSlice(r, co*n*ho*wo))
		y = append([]float32(nil), c.Forward(x, n, h, w)...)
		dx = c.Backward(gy)
		return y, dx, c.Weight.Grad
	}
}

func convTRun(n, ci, co, h, w int) layerRun {
	return func(p gemm.Precision, abs bool) (y, dx, dw []float32) {
		r := rand.New(rand.NewPCG(7, 8))
		c := NewConvTranspose2d("d", ci, co, 5, 2, 2, 1)
		c.Precision = p
		copy(c.Weight.Data, absIf(abs, randSlice(r, len(c.Weight.Data))))
		if b := randSlice(r, co); !abs {
			copy(c.Bias.Data, b)
		}
		x := absIf(abs, randSlice(r, ci*n*h*w))
		ho, wo := c.OutSize(h, w)
		gy := absIf(abs, randSlice(r, co*n*ho*wo))
		y = append([]float32(nil), c.Forward(x, n, h, w)...)
		dx = c.Backward(gy)
		return y, dx, c.Weight.Grad
	}
}

func linearRun(n, in, out int) layerRun {
	return func(p gemm.Precision, abs bool) (y, dx, dw []float32) {
		r := rand.New(rand.NewPCG(9, 10))
		l := NewLinear("l", in, out)
		l.Precision = p
		copy(l.Weight.Data, absIf(abs, randSlice(r, len(l.Weight.Data))))
		if b := randSlice(r, out); !abs {
			copy(l.Bias.Data, b)
		}
		x := absIf(abs, randSlice(r, n*in))
		gy := absIf(abs, randSlice(r, n*out))
		y = append([]float32(nil), l.Forward(x, n)...)
		dx = l.Backward(gy)
		return y, dx, l.Weight.Grad
	}
}

// TestLayersBF16 compares each layer's forward, input gradient and weight
// gradient in BF16 with F32. A product of two bf16-rounded operands is off by
// at most 2^-7 + 2^-16 relative, and both runs accumulate in float32, so
// per element |bf16 - f32| <= (2^-7 + 2^-16 + 2(kmax+2) 2^-24) mag + 2^-23 |y|,
// with mag from the abs run (see layerRun), kmax the longest reduction and the
// last term the float32 rounding of the bias add. It also requires each of
// the three results to show bf16-sized differences somewhere (> 2^-11 of mag),
// so a layer whose product ignored Precision would fail.
func TestLayersBF16(t *testing.T) {
	cases := []struct {
		name string
		run  layerRun
		kmax int // the longest reduction of the three products
	}{
		{"conv", convRun(4, 3, 16, 12, 12), 4 * 6 * 6},
		{"conv-split", convRun(4, 16, 8, 12, 12), 4 * 6 * 6},
		{"convT", convTRun(4, 16, 8, 6, 6), 8 * 25},
		{"convT-first", convTRun(2, 8, 3, 6, 6), 2 * 6 * 6},
		{"linear", linearRun(16, 100, 72), 100},
	}
	oldInner, oldCols := splitMinInner, splitMinCols
	defer func() { splitMinInner, splitMinCols = oldInner, oldCols }()
	for _, split := range []bool{false, true} {
		if split {
			splitMinInner, splitMinCols = 1, 1
		} else {
			splitMinInner, splitMinCols = oldInner, oldCols
		}
		for _, tc := range cases {
			t.Run(fmt.Sprintf("%s/split=%v", tc.name, split), func(t *testing.T) {
				y32, dx32, dw32 := tc.run(gemm.F32, false)
				y32, dx32, dw32 = clone(y32), clone(dx32), clone(dw32)
				yb, dxb, dwb := tc.run(gemm.BF16, false)
				ym, dxm, dwm := tc.run(gemm.F32, true)
				for _, o := range []struct {
					name           string
					f32, bf16, mag []float32
				}{{"y", y32, yb, ym}, {"dx", dx32, dxb, dxm}, {"dW", dw32, dwb, dwm}} {
					if len(o.f32) != len(o.bf16) || len(o.f32) != len(o.mag) {
						t.Fatalf("%s: lengths %d %d %d", o.name, len(o.f32), len(o.bf16), len(o.mag))
					}
					var worst float64
					for i := range o.f32 {
						mag := float64(o.mag[i])
						d := math.Abs(float64(o.bf16[i]) - float64(o.f32[i]))
						tol := (0x1p-7+0x1p-16+2*float64(tc.kmax+2)*0x1p-24)*mag + 0x1p-23*math.Abs(float64(o.f32[i])) + 1e-30
						if !(d <= tol) {
							t.Fatalf("%s[%d]: bf16 %v, f32 %v, |diff| %g > tol %g (mag %g)", o.name, i, o.bf16[i], o.f32[i], d, tol, mag)
						}
						if mag > 0 {
							worst = max(worst, d/mag)
						}
					}
					if worst < 0x1p-11 {
						t.Errorf("%s: largest |bf16 - f32|/mag is %g: the product does not look bf16", o.name, worst)
					}
				}
			})
		}
	}
}

func clone(v []float32) []float32 { return append([]float32(nil), v...) }
