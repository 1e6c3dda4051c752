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

// im2colSplit writes the entries of the plan's blocks: col[(ky,kx,c)][column of
// (oy, n, ox)] = x[c][n][oy*S-P+ky][ox*S-P+kx]. It runs in parallel over channels. In
// the split column order one (tap, oy, class) is a contiguous run over (n, ox), so each
// worker phase-splits all N planes of its channel first (im2col's scratch layout, see
// there) and then writes col sequentially.
func im2colSplit(col, x []float32, p *splitPlan) {
	g := p.g
	np := g.N * g.Ho * g.Wo
	hw := g.H * g.W
	wp, _, _ := phaseLayout(g.W, g.S, 0)
	pl := g.H * g.S * wp // one plane in the scratch
	gemm.ParallelFor(g.C, 1, func(lo, hi int) {
		sb := getScratch(g.N * pl)
		defer putScratch(sb)
		buf := *sb
		for c := lo; c < hi; c++ {
			for n := 0; n < g.N; n++ {
				u := c*g.N + n
				phaseSplit(buf[n*pl:(n+1)*pl], x[u*hw:(u+1)*hw], g.H, g.W, g.S, wp)
			}
			for ky := 0; ky < g.K; ky++ {
				oylo, oyhi := validRange(ky-g.P, g.S, g.H, g.Ho)
				for _, xc := range p.xs {
					w := xc.oxhi - xc.oxlo
					for kx := xc.kxlo; kx < xc.kxhi; kx++ {
						_, ph, q := phaseLayout(g.W, g.S, kx-g.P)
						d := col[((ky*g.K+kx)*g.C+c)*np:][:np]
						for oy := oylo; oy < oyhi; oy++ {
							src := ((oy*g.S+ky-g.P)*g.S+ph)*wp + q + xc.oxlo
							dst := d[xc.base+oy*g.N*w:][:g.N*w]
							if w == 1 {
								for n := range dst {
									dst[n] = buf[n*pl+src]
								}
								continue
							}
							for n := 0; n < g.N; n++ {
								copy(dst[n*w:(n+1)*w], buf[n*pl+src:])
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
	hw := g.H * g.W
	wp, _, _ := phaseLayout(g.W, g.S, 0)
	pl := g.H * g.S * wp
	gemm.ParallelFor(g.C, 1, func(lo, hi int) {
		sb := getScratch(g.N * pl)
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
							dst := ((oy*g.S+ky-g.P)*g.S+ph)*wp + q + xc.oxlo
							src := s[xc.base+oy*g.N*w:][:g.N*w]
							if w == 1 {
								for n, v := range src {
									buf[n*pl+dst] += v
								}
								continue
							}
							for n := 0; n < g.N; n++ {
								a := buf[n*pl+dst:][:w]
								for i, v := range src[n*w : (n+1)*w] {
									a[i] += v
								}
							}
						}
					}
				}
			}
			var v float32
			if init != nil {
				v = init[c]
			}
			for n := 0; n < g.N; n++ {
				u := c*g.N + n
				phaseMerge(img[u*hw:(u+1)*hw], buf[n*pl:(n+1)*pl], v, g.H, g.W, g.S, wp)
			}
		}
	})
}
