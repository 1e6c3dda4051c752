package nn

import "avatargan/internal/gemm"

// Tap-sum convolutions. A stride-1 convolution with few outputs and many inputs (the
// refinement head's 3x3 convolution from 32 channels to RGB at the full size) is a poor
// im2col GEMM: the column matrix holds InC*K*K values per pixel (288 at 32 channels, a
// 170 MB matrix for a batch of 64 at 48 px) that are written, packed and read again by
// a product with only OutC = 3 rows, so memory traffic, not arithmetic, sets its time.
//
// The tap-sum path multiplies first and shifts after. With T = K*K taps and Wp the
// weights as a (T*OutC) x InC matrix (row t*OutC+co holds W[co][:][t]):
//
//   - forward: Z = Wp * x, one GEMM over the input pixels (T*OutC values per pixel),
//     then y[co] at (oy, ox) is the bias plus Z's row (t, co) at (oy+ky-P, ox+kx-P),
//     summed over the taps that fall inside the image (row additions);
//   - backward: G's row (t, co) is dy[co] shifted the other way, (iy-ky+P, ix-kx+P),
//     zero where that leaves the output; then dx = Wp^T * G and dWp = G * x^T, two
//     GEMMs with T*OutC on the reduction or row side.
//
// Z and G take T*OutC values per pixel (27 for RGB at 3x3) and the layer keeps a copy
// of x (InC per pixel) instead of its im2col, so the path is used where that is well
// below the im2col's InC*T (useTapSum). The sums run in another order than im2col's,
// so the two paths agree to rounding, not bit for bit.

// tapSumMode forces the tap-sum path on (1) or off (-1) wherever it applies (stride
// 1); tests use it to run the naive checks on both paths.
var tapSumMode = 0

// useTapSum reports whether the layer takes the tap-sum path: stride 1, and T*OutC +
// InC values per pixel at most a quarter of the im2col's InC*T.
func (c *Conv2d) useTapSum() bool {
	if c.Stride != 1 || tapSumMode < 0 {
		return false
	}
	t := c.K * c.K
	return tapSumMode > 0 || 4*(t*c.OutC+c.InC) <= c.InC*t
}

// tapWeights fills c.wp with the weights as the (T*OutC) x InC matrix Wp.
func (c *Conv2d) tapWeights() {
	t := c.K * c.K
	c.wp = Grow(c.wp, t*c.OutC*c.InC)
	w := c.Weight.Data
	for co := 0; co < c.OutC; co++ {
		for ci := 0; ci < c.InC; ci++ {
			for k := 0; k < t; k++ {
				c.wp[(k*c.OutC+co)*c.InC+ci] = w[(co*c.InC+ci)*t+k]
			}
		}
	}
}

// forwardTapSum is forward on the tap-sum path; bias nil means none.
func (c *Conv2d) forwardTapSum(x []float32, bias []float32) []float32 {
	g := c.g
	t, npIn, npOut := c.K*c.K, g.N*g.H*g.W, g.N*g.Ho*g.Wo
	c.tapWeights()
	c.col = Grow(c.col, len(x))
	copy(c.col, x) // Backward's dW needs x; the caller may reuse its buffer
	c.z = Grow(c.z, t*c.OutC*npIn)
	gemm.Gemm(c.Precision, false, false, t*c.OutC, npIn, c.InC, 1, c.wp, c.InC, x, npIn, 0, c.z, npIn)
	c.y = Grow(c.y, c.OutC*npOut)
	// One task per output row (co, n, oy): set it to the bias, add each tap's shifted
	// row of Z where the tap lands inside the input.
	gemm.ParallelFor(c.OutC*g.N*g.Ho, 8, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			oy, cn := r%g.Ho, r/g.Ho
			co, n := cn/g.N, cn%g.N
			row := c.y[r*g.Wo : (r+1)*g.Wo]
			b := float32(0)
			if bias != nil {
				b = bias[co]
			}
			for i := range row {
				row[i] = b
			}
			for ky := 0; ky < c.K; ky++ {
				iy := oy + ky - c.Pad
				if iy < 0 || iy >= g.H {
					continue
				}
				for kx := 0; kx < c.K; kx++ {
					// Output columns whose input column ox+kx-P is inside [0, W).
					lo, hi := max(0, c.Pad-kx), min(g.Wo, g.W+c.Pad-kx)
					if lo >= hi {
						continue
					}
					zr := c.z[((ky*c.K+kx)*c.OutC+co)*npIn+(n*g.H+iy)*g.W:]
					addTo(row[lo:hi], zr[lo+kx-c.Pad:hi+kx-c.Pad])
				}
			}
		}
	})
	return c.y
}

// backwardTapSum is Backward on the tap-sum path.
func (c *Conv2d) backwardTapSum(dy []float32) []float32 {
	g := c.g
	t, npIn, npOut := c.K*c.K, g.N*g.H*g.W, g.N*g.Ho*g.Wo
	if c.NoParamGrad && c.NoInputGrad {
		return nil
	}
	// G (in c.z: Z's last use was the forward): row (tap, co) at input pixel (n, iy,
	// ix) is dy[co] at (iy-ky+P, ix-kx+P), or zero outside the output.
	gemm.ParallelFor(t*c.OutC*g.N*g.H, 8, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			iy, rest := r%g.H, r/g.H
			n, rest := rest%g.N, rest/g.N
			co, k := rest%c.OutC, rest/c.OutC
			ky, kx := k/c.K, k%c.K
			row := c.z[r*g.W : (r+1)*g.W]
			oy := iy - ky + c.Pad
			if oy < 0 || oy >= g.Ho {
				clear(row)
				continue
			}
			// Input columns whose output column ix-kx+P is inside [0, Wo).
			lo, hi := max(0, kx-c.Pad), min(g.W, g.Wo+kx-c.Pad)
			if lo >= hi {
				clear(row)
				continue
			}
			clear(row[:lo])
			copy(row[lo:hi], dy[(co*g.N+n)*g.Ho*g.Wo+oy*g.Wo+lo-kx+c.Pad:])
			clear(row[hi:])
		}
	})
	if !c.NoParamGrad {
		c.dwp = Grow(c.dwp, t*c.OutC*c.InC)
		gemm.Gemm(c.Precision, false, true, t*c.OutC, c.InC, npIn, 1, c.z, npIn, c.col, npIn, 0, c.dwp, c.InC)
		w := c.Weight.Grad
		for co := 0; co < c.OutC; co++ {
			for ci := 0; ci < c.InC; ci++ {
				for k := 0; k < t; k++ {
					w[(co*c.InC+ci)*t+k] += c.dwp[(k*c.OutC+co)*c.InC+ci]
				}
			}
		}
		if !c.linear {
			channelSums(c.Bias.Grad, dy, npOut)
		}
	}
	if c.NoInputGrad {
		return nil
	}
	c.dx = Grow(c.dx, c.InC*npIn)
	gemm.Gemm(c.Precision, true, false, c.InC, npIn, t*c.OutC, 1, c.wp, c.InC, c.z, npIn, 0, c.dx, npIn)
	return c.dx
}
