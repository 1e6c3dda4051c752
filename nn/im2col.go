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

// Strided taps are the slow part of im2col and col2im: with stride S, tap kx reads
// (or writes) every S-th pixel of a row. Both therefore work on one (c, n) image plane at
// a time, held "phase-major" in a small scratch: row iy of the plane becomes S rows
// [iy][ph][j] = x[iy][j*S+ph]. In that layout every tap's run of pixels is contiguous,
// so im2col is a copy per output row and col2im a contiguous add. The plane fits in L1,
// so the extra split/merge pass costs little next to the K*K taps.

// phaseLayout returns the scratch row width and the phase and shift of a tap offset:
// pixel o*S+off of a row is element o+q of phase row ph.
func phaseLayout(w, s, off int) (wp, ph, q int) {
	wp = (w + s - 1) / s
	ph = ((off % s) + s) % s
	return wp, ph, (off - ph) / s
}

func phaseSplit(dst, src []float32, h, w, s, wp int) {
	for iy := 0; iy < h; iy++ {
		row := src[iy*w : (iy+1)*w]
		for ph := 0; ph < s; ph++ {
			d := dst[(iy*s+ph)*wp : (iy*s+ph+1)*wp]
			for j, x := 0, ph; x < w; j, x = j+1, x+s {
				d[j] = row[x]
			}
		}
	}
}

// phaseMerge writes dst[iy][j*S+ph] = v + src[iy][ph][j].
func phaseMerge(dst, src []float32, v float32, h, w, s, wp int) {
	for iy := 0; iy < h; iy++ {
		row := dst[iy*w : (iy+1)*w]
		for ph := 0; ph < s; ph++ {
			d := src[(iy*s+ph)*wp : (iy*s+ph+1)*wp]
			for j, x := 0, ph; x < w; j, x = j+1, x+s {
				row[x] = v + d[j]
			}
		}
	}
}

// im2col writes col[(c,ky,kx)][(n,oy,ox)] = x[c][n][oy*S-P+ky][ox*S-P+kx] (zero in the
// padding). It runs in parallel over (c, n) planes: each plane's entries of col are
// disjoint from every other plane's.
func im2col(col, x []float32, g geom) {
	kk := g.K * g.K
	plane := g.Ho * g.Wo
	np := g.N * plane
	hw := g.H * g.W
	wp, _, _ := phaseLayout(g.W, g.S, 0)
	gemm.ParallelFor(g.C*g.N, 1, func(lo, hi int) {
		sb := getScratch(g.H * g.S * wp)
		defer putScratch(sb)
		buf := *sb
		for u := lo; u < hi; u++ {
			c, n := u/g.N, u%g.N
			phaseSplit(buf, x[u*hw:(u+1)*hw], g.H, g.W, g.S, wp)
			for ky := 0; ky < g.K; ky++ {
				oylo, oyhi := validRange(ky-g.P, g.S, g.H, g.Ho)
				for kx := 0; kx < g.K; kx++ {
					oxlo, oxhi := validRange(kx-g.P, g.S, g.W, g.Wo)
					_, ph, q := phaseLayout(g.W, g.S, kx-g.P)
					r := c*kk + ky*g.K + kx
					d := col[r*np+n*plane : r*np+(n+1)*plane]
					clear(d[:oylo*g.Wo])
					clear(d[oyhi*g.Wo:])
					for oy := oylo; oy < oyhi; oy++ {
						row := d[oy*g.Wo : (oy+1)*g.Wo]
						clear(row[:oxlo])
						clear(row[oxhi:])
						if oxhi > oxlo {
							base := ((oy*g.S+ky-g.P)*g.S+ph)*wp + q
							copy(row[oxlo:oxhi], buf[base+oxlo:base+oxhi])
						}
					}
				}
			}
		}
	})
}

// col2im is the adjoint of im2col: img[c][n][iy][ix] = init[c] + sum of the col entries
// that im2col would have read from there (init nil means 0). Each (c, n) image plane
// is written by one worker only, so it runs in parallel over planes without races.
//
// A pixel's taps are summed in col2imSplit's order (ky, then the x-classes in ox order,
// then kx), not simply (ky, kx): float addition is not associative, and a layer that
// splits for a batch but not for one image must round alike in both, so that an image's
// result does not depend on the batch it is in (the server batches requests).
func col2im(img, col []float32, g geom, init []float32) {
	kk := g.K * g.K
	plane := g.Ho * g.Wo
	np := g.N * plane
	hw := g.H * g.W
	wp, _, _ := phaseLayout(g.W, g.S, 0)
	xs := xclasses(nil, g)
	gemm.ParallelFor(g.C*g.N, 1, func(lo, hi int) {
		sb := getScratch(g.H * g.S * wp)
		defer putScratch(sb)
		buf := *sb
		for u := lo; u < hi; u++ {
			c, n := u/g.N, u%g.N
			clear(buf)
			for ky := 0; ky < g.K; ky++ {
				oylo, oyhi := validRange(ky-g.P, g.S, g.H, g.Ho)
				for _, xc := range xs {
					oxlo, oxhi := xc.oxlo, xc.oxhi
					for kx := xc.kxlo; kx < xc.kxhi; kx++ {
						_, ph, q := phaseLayout(g.W, g.S, kx-g.P)
						r := c*kk + ky*g.K + kx
						src := col[r*np+n*plane : r*np+(n+1)*plane]
						for oy := oylo; oy < oyhi; oy++ {
							base := ((oy*g.S+ky-g.P)*g.S+ph)*wp + q
							s := src[oy*g.Wo+oxlo : oy*g.Wo+oxhi]
							a := buf[base+oxlo : base+oxhi]
							a = a[:len(s)]
							for i, v := range s {
								a[i] += v
							}
						}
					}
				}
			}
			var v float32
			if init != nil {
				v = init[c]
			}
			phaseMerge(img[u*hw:(u+1)*hw], buf, v, g.H, g.W, g.S, wp)
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
