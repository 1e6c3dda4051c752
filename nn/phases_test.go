package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// phaseSums returns, for kernel pair of w, the tap sums of the s*s stride phases.
func phaseSums(w []float32, pair, k, s int) []float64 {
	sums := make([]float64, s*s)
	for ky := 0; ky < k; ky++ {
		for kx := 0; kx < k; kx++ {
			sums[(ky%s)*s+kx%s] += float64(w[pair*k*k+ky*k+kx])
		}
	}
	return sums
}

// interior reports whether output index o of a transposed convolution (kernel k, stride
// s, padding p) over h inputs receives every tap that falls on its phase from inside
// the input, i.e. no tap of it reads the zero border.
func interior(o, h, k, s, p int) bool {
	for kk := 0; kk < k; kk++ {
		if d := o + p - kk; d%s == 0 && (d < 0 || d/s >= h) {
			return false
		}
	}
	return true
}

// TestBalancePhasesConstantInput checks the property BalancePhases exists for, on the
// naive float64 transposed convolution: an input that is constant per channel gives an
// output that is constant per channel over the interior after balancing, and a
// checkerboard before (random weights).
func TestBalancePhasesConstantInput(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, tc := range []struct{ ci, co, h, k, s, p, op int }{
		{3, 4, 6, 5, 2, 2, 1}, // the generator's layers
		{2, 3, 5, 4, 2, 1, 0},
		{2, 2, 5, 5, 3, 2, 2},
	} {
		t.Run(fmt.Sprint(tc), func(t *testing.T) {
			c := NewConvTranspose2d("d", tc.ci, tc.co, tc.k, tc.s, tc.p, tc.op)
			copy(c.Weight.Data, randSlice(r, len(c.Weight.Data)))
			copy(c.Bias.Data, randSlice(r, len(c.Bias.Data)))
			x := make([]float64, tc.ci*tc.h*tc.h)
			for ch := 0; ch < tc.ci; ch++ {
				v := r.NormFloat64()
				for i := 0; i < tc.h*tc.h; i++ {
					x[ch*tc.h*tc.h+i] = v
				}
			}
			// spread returns the largest max-min over the interior of an output channel.
			spread := func() float64 {
				ho, wo := c.OutSize(tc.h, tc.h)
				y, _, _, _, _, _ := naiveConvT(x, f64(c.Weight.Data), f64(c.Bias.Data), make([]float64, tc.co*ho*wo), 1, tc.ci, tc.co, tc.h, tc.h, tc.k, tc.s, tc.p, tc.op)
				worst := 0.0
				for o := 0; o < tc.co; o++ {
					lo, hi := math.Inf(1), math.Inf(-1)
					for oy := 0; oy < ho; oy++ {
						for ox := 0; ox < wo; ox++ {
							if interior(oy, tc.h, tc.k, tc.s, tc.p) && interior(ox, tc.h, tc.k, tc.s, tc.p) {
								v := y[(o*ho+oy)*wo+ox]
								lo, hi = min(lo, v), max(hi, v)
							}
						}
					}
					if math.IsInf(lo, 0) {
						t.Fatal("no interior output pixel: enlarge h")
					}
					worst = max(worst, hi-lo)
				}
				return worst
			}
			if s := spread(); s < 0.1 {
				t.Fatalf("random weights give an interior spread of only %g: the check would pass anyway", s)
			}
			c.BalancePhases()
			if s := spread(); s > 1e-5 {
				t.Errorf("after balancing, a constant input gives an interior spread of %g, want ~0", s)
			}
		})
	}
}

// TestBalancePhasesProjection checks that BalancePhases is the orthogonal projection
// onto balanced kernels: the result is balanced, projecting again changes nothing, and
// the change w - P(w) is orthogonal to every balanced kernel's offset from P(w) (so
// no balanced kernel is closer to w). Stride 1 has one phase and is left alone.
func TestBalancePhasesProjection(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	const pairs, k, s = 6, 5, 2
	w := randSlice(r, pairs*k*k)
	p := append([]float32(nil), w...)
	BalancePhases(p, pairs, k, s)
	for pair := 0; pair < pairs; pair++ {
		sums := phaseSums(p, pair, k, s)
		for _, v := range sums[1:] {
			if math.Abs(v-sums[0]) > 1e-5 {
				t.Fatalf("pair %d: phase sums %v after balancing", pair, sums)
			}
		}
	}
	pp := append([]float32(nil), p...)
	BalancePhases(pp, pairs, k, s)
	for i := range p {
		if math.Abs(float64(pp[i]-p[i])) > 1e-6 {
			t.Fatalf("not idempotent: tap %d %v -> %v", i, p[i], pp[i])
		}
	}
	b := randSlice(r, pairs*k*k)
	BalancePhases(b, pairs, k, s) // another balanced kernel
	var dotv, nd, nb float64
	for i := range w {
		d, e := float64(w[i]-p[i]), float64(b[i]-p[i])
		dotv, nd, nb = dotv+d*e, nd+d*d, nb+e*e
	}
	if c := dotv / math.Sqrt(nd*nb); math.Abs(c) > 1e-5 {
		t.Errorf("the change is not orthogonal to the balanced kernels: cosine %g", c)
	}
	one := append([]float32(nil), w...)
	BalancePhases(one, pairs, k, 1)
	for i := range w {
		if one[i] != w[i] {
			t.Fatal("stride 1 changed the weights")
		}
	}
}
