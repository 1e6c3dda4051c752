package nn

import "avatargan/internal/gemm"

// geom describes one convolution: an image of C channels, N images of H x W (CNHW), and
// the Ho x Wo grid of kernel positions (K x K taps, stride S, padding P). A transposed
// convolution uses the same geometry with the roles swapped: its output is the image
// and its input is the grid.
type geom struct {
	C, N, H, W, Ho, Wo, K, S, P int
}

// validRange returns the [lo, hi) range of output positions o for which the input
// coordinate o*s + off lies inside [0, size), clamped to [0, n). Computing it once per
// tap lets the inner loops skip padding without a branch per element.
func validRange(off, s, size, n int) (lo, hi int) {
	if off < 0 {
		lo = (-off + s - 1) / s
	}
	if size-1-off < 0 {
		return 0, 0
	}
	hi = (size-1-off)/s + 1
	if hi > n {
		hi = n
	}
	if lo > hi {
		lo = hi
	}
	return lo, hi
}

// im2col writes col[(c,ky,kx)][(n,oy,ox)] = x[c][n][oy*S-P+ky][ox*S-P+kx] (zero in the
// padding). Rows are independent, so it runs in parallel over rows.
func im2col(col, x []float32, g geom) {
	kk := g.K * g.K
	rows := g.C * kk
	plane := g.Ho * g.Wo
	np := g.N * plane
	hw := g.H * g.W
	gemm.ParallelFor(rows, 1, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			c, ky, kx := r/kk, (r/g.K)%g.K, r%g.K
			oxlo, oxhi := validRange(kx-g.P, g.S, g.W, g.Wo)
			oylo, oyhi := validRange(ky-g.P, g.S, g.H, g.Ho)
			dst := col[r*np : (r+1)*np]
			for n := 0; n < g.N; n++ {
				src := x[(c*g.N+n)*hw : (c*g.N+n+1)*hw]
				d := dst[n*plane : (n+1)*plane]
				clear(d[:oylo*g.Wo])
				clear(d[oyhi*g.Wo:])
				for oy := oylo; oy < oyhi; oy++ {
					row := d[oy*g.Wo : (oy+1)*g.Wo]
					clear(row[:oxlo])
					clear(row[oxhi:])
					if oxhi <= oxlo {
						continue
					}
					base := (oy*g.S+ky-g.P)*g.W + kx - g.P
					if g.S == 1 {
						copy(row[oxlo:oxhi], src[base+oxlo:base+oxhi])
						continue
					}
					s := src[base+oxlo*g.S : base+(oxhi-1)*g.S+1]
					rr := row[oxlo:oxhi]
					for i := range rr {
						rr[i] = s[i*g.S]
					}
				}
			}
		}
	})
}

// col2im is the adjoint of im2col: img[c][n][iy][ix] = init[c] + sum of the col entries
// that im2col would have read from there (init nil means 0). Each (c, n) image plane
// is written by one worker only, so it runs in parallel over planes without races.
func col2im(img, col []float32, g geom, init []float32) {
	kk := g.K * g.K
	plane := g.Ho * g.Wo
	np := g.N * plane
	hw := g.H * g.W
	gemm.ParallelFor(g.C*g.N, 1, func(lo, hi int) {
		for u := lo; u < hi; u++ {
			c, n := u/g.N, u%g.N
			dst := img[u*hw : (u+1)*hw]
			if init == nil {
				clear(dst)
			} else {
				v := init[c]
				for i := range dst {
					dst[i] = v
				}
			}
			for ky := 0; ky < g.K; ky++ {
				oylo, oyhi := validRange(ky-g.P, g.S, g.H, g.Ho)
				for kx := 0; kx < g.K; kx++ {
					oxlo, oxhi := validRange(kx-g.P, g.S, g.W, g.Wo)
					if oxhi <= oxlo {
						continue
					}
					r := c*kk + ky*g.K + kx
					src := col[r*np+n*plane : r*np+(n+1)*plane]
					for oy := oylo; oy < oyhi; oy++ {
						base := (oy*g.S+ky-g.P)*g.W + kx - g.P
						s := src[oy*g.Wo+oxlo : oy*g.Wo+oxhi]
						d := dst[base+oxlo*g.S : base+(oxhi-1)*g.S+1]
						for i, v := range s {
							d[i*g.S] += v
						}
					}
				}
			}
		}
	})
}

// channelSums adds to out[c] the sum of x[c*m:(c+1)*m] (a bias gradient in CNHW),
// accumulating in float64 so long channels do not lose precision.
func channelSums(out, x []float32, m int) {
	gemm.ParallelFor(len(out), 1, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			var s float64
			for _, v := range x[c*m : (c+1)*m] {
				s += float64(v)
			}
			out[c] += float32(s)
		}
	})
}

// fillRows sets every row c of y (rows of m elements) to v[c]; the GEMM then adds into
// it with beta = 1, which folds the bias add into the GEMM's own write pass.
func fillRows(y, v []float32, m int) {
	gemm.ParallelFor(len(v), 1, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			b := v[c]
			r := y[c*m : (c+1)*m]
			for i := range r {
				r[i] = b
			}
		}
	})
}
