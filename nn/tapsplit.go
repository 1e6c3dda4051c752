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
//     ordered (oy, ox, n), images innermost.
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
	p.g, p.xs, p.blocks = g, xclasses(p.xs[:0], g), p.blocks[:0]
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

// xclasses appends to xs the x-classes of g: runs of output columns ox with the same
// valid kx taps, in ox order. They depend on the row geometry only, not on N, so the
// dense col2im can walk them too and sum each pixel's taps in the split order.
func xclasses(xs []xclass, g geom) []xclass {
	for ox := 0; ox < g.Wo; ox++ {
		lo, hi := tapRange(ox, g.S, g.P, g.K, g.W)
		if n := len(xs); n > 0 && xs[n-1].kxlo == lo && xs[n-1].kxhi == hi {
			xs[n-1].oxhi = ox + 1
			continue
		}
		xs = append(xs, xclass{oxlo: ox, oxhi: ox + 1, kxlo: lo, kxhi: hi})
	}
	return xs
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
// order, one row per channel: a transpose that gathers the N images of each position.
func (p *splitPlan) toSplitCols(dst, src []float32, rows int) {
	g := p.g
	np, plane := g.N*g.Ho*g.Wo, g.Ho*g.Wo
	gemm.ParallelFor(rows, 1, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			s, d := src[r*np:(r+1)*np], dst[r*np:(r+1)*np]
			for _, x := range p.xs {
				o := x.base
				for oy := 0; oy < g.Ho; oy++ {
					for ox := x.oxlo; ox < x.oxhi; ox++ {
						gather(d[o:o+g.N], s[oy*g.Wo+ox:], plane)
						o += g.N
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
				o := x.base
				for oy := 0; oy < g.Ho; oy++ {
					for ox := x.oxlo; ox < x.oxhi; ox++ {
						scatter(d[oy*g.Wo+ox:], s[o:o+g.N], plane, b)
						o += g.N
					}
				}
			}
		}
	})
}

// gather sets d[n] = s[n*stride].
func gather(d, s []float32, stride int) {
	if len(d) == 0 {
		return
	}
	_ = s[(len(d)-1)*stride]
	n, i := 0, 0
	for ; n+4 <= len(d); n, i = n+4, i+4*stride {
		d[n], d[n+1], d[n+2], d[n+3] = s[i], s[i+stride], s[i+2*stride], s[i+3*stride]
	}
	for ; n < len(d); n, i = n+1, i+stride {
		d[n] = s[i]
	}
}

// scatter sets d[n*stride] = s[n] + b.
func scatter(d, s []float32, stride int, b float32) {
	if len(s) == 0 {
		return
	}
	_ = d[(len(s)-1)*stride]
	n, i := 0, 0
	for ; n+4 <= len(s); n, i = n+4, i+4*stride {
		d[i], d[i+stride], d[i+2*stride], d[i+3*stride] = s[n]+b, s[n+1]+b, s[n+2]+b, s[n+3]+b
	}
	for ; n < len(s); n, i = n+1, i+stride {
		d[i] = s[n] + b
	}
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
	wc.wt = Grow(wc.wt, len(w.Data))
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
// scratch[iy][ph][j][n] = x[c][n][iy][j*S+ph]. One (tap, oy, class) of col is a run over
// (ox, n), and in this layout it is one contiguous run of the scratch too, so im2col is
// a single copy and col2im a single add per run, even when the class is one column wide.

// splitChannel fills the scratch of channel c of x (CNHW).
func splitChannel(buf, x []float32, c int, g geom, wp int) {
	hw := g.H * g.W
	xc := x[c*g.N*hw : (c+1)*g.N*hw]
	for iy := 0; iy < g.H; iy++ {
		for ph := 0; ph < g.S; ph++ {
			d := buf[(iy*g.S+ph)*wp*g.N:][:wp*g.N]
			for j, x := 0, ph; x < g.W; j, x = j+1, x+g.S {
				gather(d[j*g.N:(j+1)*g.N], xc[iy*g.W+x:], hw)
			}
		}
	}
}

// mergeChannel writes channel c of img (CNHW) = v + the scratch.
func mergeChannel(img, buf []float32, c int, v float32, g geom, wp int) {
	hw := g.H * g.W
	out := img[c*g.N*hw : (c+1)*g.N*hw]
	for iy := 0; iy < g.H; iy++ {
		for ph := 0; ph < g.S; ph++ {
			d := buf[(iy*g.S+ph)*wp*g.N:][:wp*g.N]
			for j, x := 0, ph; x < g.W; j, x = j+1, x+g.S {
				scatter(out[iy*g.W+x:], d[j*g.N:(j+1)*g.N], hw, v)
			}
		}
	}
}

// im2colSplit writes the entries of the plan's blocks: col[(ky,kx,c)][column of
// (oy, ox, n)] = x[c][n][oy*S-P+ky][ox*S-P+kx]. It runs in parallel over channels.
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
					run := (xc.oxhi - xc.oxlo) * g.N
					for kx := xc.kxlo; kx < xc.kxhi; kx++ {
						_, ph, q := phaseLayout(g.W, g.S, kx-g.P)
						d := col[((ky*g.K+kx)*g.C+c)*np:][:np]
						for oy := oylo; oy < oyhi; oy++ {
							copy(d[xc.base+oy*run:][:run],
								buf[((oy*g.S+ky-g.P)*g.S+ph)*wp*g.N+(q+xc.oxlo)*g.N:])
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
					run := (xc.oxhi - xc.oxlo) * g.N
					for kx := xc.kxlo; kx < xc.kxhi; kx++ {
						_, ph, q := phaseLayout(g.W, g.S, kx-g.P)
						s := col[((ky*g.K+kx)*g.C+c)*np:][:np]
						for oy := oylo; oy < oyhi; oy++ {
							addTo(buf[((oy*g.S+ky-g.P)*g.S+ph)*wp*g.N+(q+xc.oxlo)*g.N:],
								s[xc.base+oy*run:][:run])
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

// addTo does a[i] += s[i]: in AVX where there is, else unrolled by eight (Go does not
// vectorise; unrolling cuts the loop overhead).
func addTo(a, s []float32) {
	a = a[:len(s)]
	if useAVX {
		if len(s) > 0 {
			addToAVX(&a[0], &s[0], len(s))
		}
		return
	}
	addToGo(a, s)
}

func addToGo(a, s []float32) {
	a = a[:len(s)]
	i := 0
	for ; i+8 <= len(s); i += 8 {
		a, s := a[i:i+8:i+8], s[i:i+8:i+8]
		a0, a1, a2, a3 := a[0]+s[0], a[1]+s[1], a[2]+s[2], a[3]+s[3]
		a4, a5, a6, a7 := a[4]+s[4], a[5]+s[5], a[6]+s[6], a[7]+s[7]
		a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7] = a0, a1, a2, a3, a4, a5, a6, a7
	}
	for ; i < len(s); i++ {
		a[i] += s[i]
	}
}
