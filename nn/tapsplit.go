package nn

import "avatargan/internal/gemm"

// Tap-split convolutions. With stride 2, kernel 5 and padding 2 on small images, many
// im2col entries are taps on the zero padding: 36% of the multiply-adds of a 6x6 -> 3x3
// layer, 19% at 12 -> 6, 10% at 24 -> 12. A dense im2col GEMM multiplies them all.
//
// The split layout removes them by ordering the col matrix so that every block of
// always-valid taps is a contiguous sub-matrix, then running one GEMM per block:
//
//   - rows (the reduction side of a convolution) are tap-major, (ky, kx, c), so the weights
//     are permuted once per forward from PyTorch's (c, ky, kx) into that order;
//   - columns are grouped into x-classes, runs of output columns ox whose valid kx taps
//     are the same range (left border, interior, right border), and inside a class
//     ordered (oy, n, ox).
//
// For a kernel row ky the valid oy form a range, and in class xc the valid kx form a
// range, so block (ky, xc) is rows [(ky*K+kxlo)*C, (ky*K+kxhi)*C) by columns
// [base + oylo*N*w, base + oyhi*N*w): exactly the taps inside the image. Entries outside
// every block are never read or written, so im2col needs no zero fill either.
//
// The price is a permutation of the GEMM-side activations (y, dy, or the transposed
// convolution's x and dx) between CNHW and the class order, and of the weights; both are
// small next to the GEMMs of the layers where the split is used (see useSplit).

// splitMinInner is the smallest GEMM reduction length (Conv2d: InC*K*K, ConvTranspose2d:
// InC) for which the split pays for its permutations; conv0 (75) and the generator's
// last layer (64) stay dense. Tests lower it to cover the split path on small shapes.
var splitMinInner = 128

// splitMinCols is the smallest number of GEMM columns (input positions of the whole
// batch) for which a ConvTranspose2d splits: below it (single-image inference: 9, 36,
// 144 positions) the split's many thin GEMMs re-read the weights once per block, and
// memory traffic, not arithmetic, sets the time, so one dense GEMM is faster.
var splitMinCols = 256

type xclass struct {
	oxlo, oxhi int // output columns of the class
	kxlo, kxhi int // taps valid for every one of them
	base       int // first col column of the class
}

// block is one GEMM of a split convolution: col rows [r0, r0+nr), columns [c0, c0+nc).
type block struct{ r0, nr, c0, nc int }

// splitPlan is the column order and block list of one geometry.
type splitPlan struct {
	g      geom
	xs     []xclass
	blocks []block
}

// plan returns the split plan of g, reusing p when the geometry is unchanged.
func (p *splitPlan) plan(g geom) *splitPlan {
	if p.g == g && p.xs != nil {
		return p
	}
	p.g, p.xs, p.blocks = g, p.xs[:0], p.blocks[:0]
	for ox := 0; ox < g.Wo; ox++ {
		lo, hi := tapRange(ox, g.S, g.P, g.K, g.W)
		if n := len(p.xs); n > 0 && p.xs[n-1].kxlo == lo && p.xs[n-1].kxhi == hi {
			p.xs[n-1].oxhi = ox + 1
			continue
		}
		p.xs = append(p.xs, xclass{oxlo: ox, oxhi: ox + 1, kxlo: lo, kxhi: hi})
	}
	base := 0
	for i := range p.xs {
		x := &p.xs[i]
		x.base = base
		w := x.oxhi - x.oxlo
		base += g.N * g.Ho * w
		if x.kxhi <= x.kxlo {
			continue
		}
		for ky := 0; ky < g.K; ky++ {
			oylo, oyhi := validRange(ky-g.P, g.S, g.H, g.Ho)
			if oyhi <= oylo {
				continue
			}
			p.blocks = append(p.blocks, block{
				r0: (ky*g.K + x.kxlo) * g.C, nr: (x.kxhi - x.kxlo) * g.C,
				c0: x.base + oylo*g.N*w, nc: (oyhi - oylo) * g.N * w})
		}
	}
	return p
}

// tapRange returns the taps k in [lo, hi) for which o*s - p + k lies in [0, size).
func tapRange(o, s, p, k, size int) (lo, hi int) {
	lo, hi = max(0, p-o*s), min(k, size+p-o*s)
	if hi < lo {
		hi = lo
	}
	return lo, hi
}

// toSplitCols writes src (rows of CNHW planes [n][Ho][Wo]) into dst in the plan's column
// order, one row per channel.
func (p *splitPlan) toSplitCols(dst, src []float32, rows int) {
	g := p.g
	np, plane := g.N*g.Ho*g.Wo, g.Ho*g.Wo
	gemm.ParallelFor(rows, 1, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			s, d := src[r*np:(r+1)*np], dst[r*np:(r+1)*np]
			for _, x := range p.xs {
				w := x.oxhi - x.oxlo
				for oy := 0; oy < g.Ho; oy++ {
					for n := 0; n < g.N; n++ {
						o := x.base + (oy*g.N+n)*w
						copy(d[o:o+w], s[n*plane+oy*g.Wo+x.oxlo:])
					}
				}
			}
		}
	})
}

// fromSplitCols is the inverse of toSplitCols, adding bias[r] to row r when bias is not
// nil (the bias add of a convolution's output rides on this pass).
func (p *splitPlan) fromSplitCols(dst, src []float32, rows int, bias []float32) {
	g := p.g
	np, plane := g.N*g.Ho*g.Wo, g.Ho*g.Wo
	gemm.ParallelFor(rows, 1, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			s, d := src[r*np:(r+1)*np], dst[r*np:(r+1)*np]
			var b float32
			if bias != nil {
				b = bias[r]
			}
			for _, x := range p.xs {
				w := x.oxhi - x.oxlo
				for oy := 0; oy < g.Ho; oy++ {
					for n := 0; n < g.N; n++ {
						o := x.base + (oy*g.N+n)*w
						dr := d[n*plane+oy*g.Wo+x.oxlo:][:w]
						for i, v := range s[o : o+w] {
							dr[i] = v + b
						}
					}
				}
			}
		}
	})
}

// wtCache holds a layer's tap-major weights. A training iteration runs each forward
// several times between optimiser steps (G three times, D four), and for a single
// image the permutation costs as much as the convolution itself, so it is rebuilt only
// when the weight's Version has moved.
type wtCache struct {
	wt  []float32
	ok  bool
	ver uint64
}

// get returns w in tap-major order ([rows][kk][c]); frozen trusts any earlier copy.
func (wc *wtCache) get(w *Param, rows, c, kk int, frozen bool) []float32 {
	if wc.ok && (frozen || wc.ver == w.Version) && len(wc.wt) == len(w.Data) {
		return wc.wt
	}
	wc.wt = grow(wc.wt, len(w.Data))
	tapMajor(wc.wt, w.Data, rows, c, kk)
	wc.ok, wc.ver = true, w.Version
	return wc.wt
}

// tapMajor writes the weights w, rows of [c][kk] (PyTorch), as rows of [kk][c].
func tapMajor(dst, w []float32, rows, c, kk int) {
	gemm.ParallelFor(rows, 1, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			s, d := w[r*c*kk:(r+1)*c*kk], dst[r*c*kk:(r+1)*c*kk]
			for ci := 0; ci < c; ci++ {
				for t, v := range s[ci*kk : (ci+1)*kk] {
					d[t*c+ci] = v
				}
			}
		}
	})
}

// addChannelMajor adds the tap-major gradient src ([kk][c] rows) into grad ([c][kk] rows).
func addChannelMajor(grad, src []float32, rows, c, kk int) {
	gemm.ParallelFor(rows, 1, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			s, d := src[r*c*kk:(r+1)*c*kk], grad[r*c*kk:(r+1)*c*kk]
			for ci := 0; ci < c; ci++ {
				dr := d[ci*kk : (ci+1)*kk]
				for t := range dr {
					dr[t] += s[t*c+ci]
				}
			}
		}
	})
}

// The split im2col and col2im work on one channel at a time, all N images of it, held in
// a phase-major scratch like im2col's (see there) but with the images innermost:
// scratch[iy][ph][n][j] = x[c][n][iy][j*S+ph]. One (tap, oy, class) of col is a run over
// (n, ox), and in this layout its pixels lie N rows of wp floats apart, so both sides of
// the copy walk memory nearly sequentially even when the class is one column wide.

// splitChannel fills the scratch of channel c of x (CNHW).
func splitChannel(buf, x []float32, c int, g geom, wp int) {
	hw := g.H * g.W
	for n := 0; n < g.N; n++ {
		img := x[(c*g.N+n)*hw : (c*g.N+n+1)*hw]
		for iy := 0; iy < g.H; iy++ {
			row := img[iy*g.W : (iy+1)*g.W]
			for ph := 0; ph < g.S; ph++ {
				d := buf[((iy*g.S+ph)*g.N+n)*wp:][:wp]
				for j, x := 0, ph; x < g.W; j, x = j+1, x+g.S {
					d[j] = row[x]
				}
			}
		}
	}
}

// mergeChannel writes channel c of img (CNHW) = v + the scratch.
func mergeChannel(img, buf []float32, c int, v float32, g geom, wp int) {
	hw := g.H * g.W
	for n := 0; n < g.N; n++ {
		out := img[(c*g.N+n)*hw : (c*g.N+n+1)*hw]
		for iy := 0; iy < g.H; iy++ {
			row := out[iy*g.W : (iy+1)*g.W]
			for ph := 0; ph < g.S; ph++ {
				d := buf[((iy*g.S+ph)*g.N+n)*wp:][:wp]
				for j, x := 0, ph; x < g.W; j, x = j+1, x+g.S {
					row[x] = v + d[j]
				}
			}
		}
	}
}

// im2colSplit writes the entries of the plan's blocks: col[(ky,kx,c)][column of
// (oy, n, ox)] = x[c][n][oy*S-P+ky][ox*S-P+kx]. It runs in parallel over channels.
func im2colSplit(col, x []float32, p *splitPlan) {
	g := p.g
	np := g.N * g.Ho * g.Wo
	wp, _, _ := phaseLayout(g.W, g.S, 0)
	gemm.ParallelFor(g.C, 1, func(lo, hi int) {
		sb := getScratch(g.H * g.S * g.N * wp)
		defer putScratch(sb)
		buf := *sb
		for c := lo; c < hi; c++ {
			splitChannel(buf, x, c, g, wp)
			for ky := 0; ky < g.K; ky++ {
				oylo, oyhi := validRange(ky-g.P, g.S, g.H, g.Ho)
				for _, xc := range p.xs {
					w := xc.oxhi - xc.oxlo
					for kx := xc.kxlo; kx < xc.kxhi; kx++ {
						_, ph, q := phaseLayout(g.W, g.S, kx-g.P)
						d := col[((ky*g.K+kx)*g.C+c)*np:][:np]
						for oy := oylo; oy < oyhi; oy++ {
							src := buf[((oy*g.S+ky-g.P)*g.S+ph)*g.N*wp+q+xc.oxlo:][:(g.N-1)*wp+w]
							dst := d[xc.base+oy*g.N*w:][:g.N*w]
							if w == 1 {
								for n := range dst {
									dst[n] = src[n*wp]
								}
								continue
							}
							for n := 0; n < g.N; n++ {
								copy(dst[n*w:(n+1)*w], src[n*wp:])
							}
						}
					}
				}
			}
		}
	})
}

// col2imSplit is the adjoint of im2colSplit: img[c][n][iy][ix] = init[c] + the block
// entries that im2colSplit would have read from there (init nil means 0).
func col2imSplit(img, col []float32, p *splitPlan, init []float32) {
	g := p.g
	np := g.N * g.Ho * g.Wo
	wp, _, _ := phaseLayout(g.W, g.S, 0)
	gemm.ParallelFor(g.C, 1, func(lo, hi int) {
		sb := getScratch(g.H * g.S * g.N * wp)
		defer putScratch(sb)
		buf := *sb
		for c := lo; c < hi; c++ {
			clear(buf)
			for ky := 0; ky < g.K; ky++ {
				oylo, oyhi := validRange(ky-g.P, g.S, g.H, g.Ho)
				for _, xc := range p.xs {
					w := xc.oxhi - xc.oxlo
					for kx := xc.kxlo; kx < xc.kxhi; kx++ {
						_, ph, q := phaseLayout(g.W, g.S, kx-g.P)
						s := col[((ky*g.K+kx)*g.C+c)*np:][:np]
						for oy := oylo; oy < oyhi; oy++ {
							dst := buf[((oy*g.S+ky-g.P)*g.S+ph)*g.N*wp+q+xc.oxlo:][:(g.N-1)*wp+w]
							src := s[xc.base+oy*g.N*w:][:g.N*w]
							if w == 1 {
								for n, v := range src {
									dst[n*wp] += v
								}
								continue
							}
							for n := 0; n < g.N; n++ {
								addTo(dst[n*wp:][:w], src[n*w:(n+1)*w])
							}
						}
					}
				}
			}
			var v float32
			if init != nil {
				v = init[c]
			}
			mergeChannel(img, buf, c, v, g, wp)
		}
	})
}

// addTo does a[i] += s[i], unrolled by four (Go does not vectorise; this halves the
// loop overhead of col2im's short runs).
func addTo(a, s []float32) {
	a = a[:len(s)]
	i := 0
	for ; i+4 <= len(s); i += 4 {
		a0, a1, a2, a3 := a[i]+s[i], a[i+1]+s[i+1], a[i+2]+s[i+2], a[i+3]+s[i+3]
		a[i], a[i+1], a[i+2], a[i+3] = a0, a1, a2, a3
	}
	for ; i < len(s); i++ {
		a[i] += s[i]
	}
}
