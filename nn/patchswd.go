package nn

import (
	"fmt"
	"math"
	"math/rand/v2"

	"avatargan/internal/gemm"
)

// PatchSWD is a sliced Wasserstein loss between the local patches of a batch of images
// and those of a target batch, at PatchSWDLevels scales. Each image is split into
// Laplacian bands with box filters,
//
//	G_0 = x,  G_{l+1} = avgpool2(G_l),  band_l = G_l - up2(G_{l+1})   (up2: nearest)
//
// and from every band Patches patches of PatchSWDSide x PatchSWDSide pixels (all three
// channels, 3*side^2 values) are taken per image at drawn positions. With Dirs drawn
// unit directions theta_k the loss of a level is
//
//	SW_l = 1/(Dirs*M) * sum_k sum_j (sort(F theta_k)_j - sort(T theta_k)_j)^2 / s_l
//
// (F, T: the batch's and the target's M patches as rows; s_l the mean over k of the
// variance of T theta_k, which makes the levels' losses relative), and the loss is the
// mean over levels. Sorting pairs the projections by rank: the squared 1-D Wasserstein-2
// distance per direction, so the loss is zero exactly when every projected patch
// distribution matches.
//
// Why: the spectrum loss matches only the power at each frequency, which noise can
// supply; a patch distribution also has the phases, so grain that real faces do not
// have costs something even where it has the right power. It is close to what
// metrics.SWD measures (7x7 patches of a binomial Laplacian pyramid): scores of a
// generator trained with it should be read with that in mind.
//
// With LowPass the coarsest level is G_{L-1} itself instead of its band: its patches
// then hold the colours and the layout of the half-size image, which the bands (all
// differences) leave out, and the loss compares what metrics.SWD's coarsest level (the
// binomial pyramid's low-pass image) compares.
//
// Draw picks the directions and positions; SetTarget, Forward and Backward then use
// them. Images are CNHW with 3 channels, values as the networks see them. The bands and
// sums are float64; the projections are float32 GEMMs (patches times directions), whose
// rounding is far below the sampling noise of the loss.
type PatchSWD struct {
	H, W    int
	Patches int  // patches per image and level
	Dirs    int  // random directions per level
	LowPass bool // the coarsest level is the low-pass image G_{L-1}, not its band

	// Drawn by Draw (tests set them directly): dirs[l] is [Dirs][dim] (unit rows);
	// pos[l] and tpos[l] are the batch's and the target's patch positions, each
	// [n*Patches] of image index, top row and left column.
	dirs      [PatchSWDLevels][]float64
	pos, tpos [PatchSWDLevels][][3]int
	target    [PatchSWDLevels][]float32 // [Dirs*M]: the target's sorted projections, per direction
	scale     [PatchSWDLevels]float64   // s_l
	res       [PatchSWDLevels][]float32 // [Dirs*M]: the batch's residuals per patch, times Backward's factor
	n         int
	bands     [PatchSWDLevels][]float64 // [n*3*h_l*w_l]: the last Forward's bands (Backward reuses the buffers)
	low       []float64                 // the level below the last band (pyramid's scratch)
	dirs32    []float32                 // one level's directions as float32
	pmat      []float32                 // [M][dim] patches, then their gradients
	proj      []float32                 // [Dirs][M] projections
	keys, tmp []uint64                  // one direction's (projection, index) sort keys and radixSort's buffer
}

// PatchSWDLevels is the number of pyramid levels PatchSWD compares (48 and 24 px bands
// for 48 px images): the scales at which the avatars' grain and blotches are.
const PatchSWDLevels = 2

// PatchSWDSide is the side of PatchSWD's patches.
const PatchSWDSide = 5

// NewPatchSWD returns a PatchSWD for h x w images (sides divisible by 2^PatchSWDLevels,
// the coarsest band at least PatchSWDSide pixels) with 256 patches per image and level
// and 32 directions. With a batch of 64 that is 16,384 patches a level: measured on
// the embedded model against real batches, the loss between two real batches (its
// sampling floor) is then 0.0027 and the generator's 0.0042, where 64 patches an image
// give 0.0053 and 0.0067, a gap too small beside the noise to steer by. It costs
// ~67 ms a G step on two cores (BenchmarkPatchSWD, the AVX2-only EPYC, idle).
func NewPatchSWD(h, w int) (*PatchSWD, error) {
	f := 1 << PatchSWDLevels
	if h%f != 0 || w%f != 0 || h/(f/2) < PatchSWDSide || w/(f/2) < PatchSWDSide {
		return nil, fmt.Errorf("nn: PatchSWD: %dx%d images: want sides divisible by %d and a coarsest band of at least %d px", h, w, f, PatchSWDSide)
	}
	return &PatchSWD{H: h, W: w, Patches: 256, Dirs: 32}, nil
}

func (s *PatchSWD) dim() int { return 3 * PatchSWDSide * PatchSWDSide }

// levelSize returns the side lengths of band l.
func (s *PatchSWD) levelSize(l int) (h, w int) { return s.H >> l, s.W >> l }

// Draw draws the directions and the patch positions of n batch images and nt target
// images from r, for the next SetTarget, Forward and Backward.
func (s *PatchSWD) Draw(r *rand.Rand, n, nt int) {
	d := s.dim()
	for l := range PatchSWDLevels {
		s.dirs[l] = Grow(s.dirs[l], s.Dirs*d)
		for k := range s.Dirs {
			v := s.dirs[l][k*d : (k+1)*d]
			var norm float64
			for i := range v {
				v[i] = r.NormFloat64()
				norm += v[i] * v[i]
			}
			norm = math.Sqrt(norm)
			for i := range v {
				v[i] /= norm
			}
		}
		h, w := s.levelSize(l)
		draw := func(p [][3]int, n int) [][3]int {
			p = Grow(p, n*s.Patches)
			for i := range p {
				p[i] = [3]int{i / s.Patches, r.IntN(h - PatchSWDSide + 1), r.IntN(w - PatchSWDSide + 1)}
			}
			return p
		}
		s.pos[l] = draw(s.pos[l], n)
		s.tpos[l] = draw(s.tpos[l], nt)
	}
}

// pyramid writes the bands of the n images x (CNHW, 3 channels) into s.bands.
func (s *PatchSWD) pyramid(x []float32, n int) {
	hw := s.H * s.W
	if len(x) != 3*n*hw {
		panic(fmt.Sprintf("nn: PatchSWD: len(x) = %d, want 3*%d*%d", len(x), n, hw))
	}
	// G_0 in NCHW float64, as band 0's buffer; each level then pools it down.
	g := Grow(s.bands[0], 3*n*hw)
	for c := range 3 {
		for b := range n {
			src := x[(c*n+b)*hw : (c*n+b+1)*hw]
			dst := g[(b*3+c)*hw : (b*3+c+1)*hw]
			for i, v := range src {
				dst[i] = float64(v)
			}
		}
	}
	s.bands[0] = g
	for l := range PatchSWDLevels {
		if l == PatchSWDLevels-1 && s.LowPass {
			break // G_{L-1} is the level's image as it is
		}
		h, w := s.levelSize(l)
		cur := s.bands[l]
		var low []float64
		if l+1 < PatchSWDLevels {
			s.bands[l+1] = Grow(s.bands[l+1], 3*n*h*w/4)
			low = s.bands[l+1]
		} else {
			s.low = Grow(s.low, 3*n*h*w/4)
			low = s.low
		}
		pool(low, cur, 3*n, h, w)
		// band_l = G_l - up2(G_{l+1}), in place.
		for p := range 3 * n {
			for y := range h {
				for xx := range w {
					cur[(p*h+y)*w+xx] -= low[(p*h/2+y/2)*(w/2)+xx/2]
				}
			}
		}
	}
}

// pool writes the 2x2 means of the planes h x w planes of src into dst.
func pool(dst, src []float64, planes, h, w int) {
	h2, w2 := h/2, w/2
	for p := range planes {
		for y := range h2 {
			for x := range w2 {
				i := (p*h+2*y)*w + 2*x
				dst[(p*h2+y)*w2+x] = 0.25 * (src[i] + src[i+1] + src[i+w] + src[i+w+1])
			}
		}
	}
}

// directions returns level l's directions as float32 ([Dirs][dim], in s.dirs32), the
// operand of the projection GEMMs.
func (s *PatchSWD) directions(l int) []float32 {
	d := s.dim()
	s.dirs32 = Grow(s.dirs32, s.Dirs*d)
	for i, v := range s.dirs[l][:s.Dirs*d] {
		s.dirs32[i] = float32(v)
	}
	return s.dirs32
}

// project writes the projections of the patches at pos of band l onto level l's
// directions into s.proj ([Dirs][len(pos)]), keeping the patches in s.pmat.
func (s *PatchSWD) project(l int, pos [][3]int) []float32 {
	d, m := s.dim(), len(pos)
	h, w := s.levelSize(l)
	s.pmat = Grow(s.pmat, m*d)
	for i, p := range pos {
		s.gather(s.pmat[i*d:(i+1)*d], s.bands[l], p, h, w)
	}
	s.proj = Grow(s.proj, s.Dirs*m)
	gemm.Sgemm(false, true, s.Dirs, m, d, 1, s.directions(l), d, s.pmat, d, 0, s.proj, m)
	return s.proj
}

// gather copies the patch at p of band into dst (channel, row, column order).
func (s *PatchSWD) gather(dst []float32, band []float64, p [3]int, h, w int) {
	const q = PatchSWDSide
	for c := range 3 {
		for dy := range q {
			row := band[((p[0]*3+c)*h+p[1]+dy)*w+p[2]:]
			out := dst[(c*q+dy)*q : (c*q+dy+1)*q]
			for dx := range out {
				out[dx] = float32(row[dx])
			}
		}
	}
}

// sortKey maps a float32 to a uint32 whose unsigned order is the floats' order (negative
// values have all bits flipped, the others the sign bit): sorting (key << 32 | index)
// as integers sorts the projections and carries each one's patch index along.
func sortKey(v float32) uint64 {
	b := math.Float32bits(v)
	if b>>31 != 0 {
		b = ^b
	} else {
		b |= 1 << 31
	}
	return uint64(b)
}

// keyValue inverts sortKey.
func keyValue(k uint64) float32 {
	b := uint32(k)
	if b>>31 != 0 {
		b &^= 1 << 31
	} else {
		b = ^b
	}
	return math.Float32frombits(b)
}

// radixSort sorts keys by their upper 32 bits (sortKey's), stably, in four passes of
// eight bits through tmp (as long as keys): several times faster than a comparison
// sort for the few thousand projections of a direction, which are most of the loss's
// time otherwise.
func radixSort(keys, tmp []uint64) {
	src, dst := keys, tmp[:len(keys)]
	for shift := 32; shift < 64; shift += 8 {
		var count [257]int
		for _, k := range src {
			count[(k>>shift)&0xff+1]++
		}
		for i := 1; i < 257; i++ {
			count[i] += count[i-1]
		}
		for _, k := range src {
			b := (k >> shift) & 0xff
			dst[count[b]] = k
			count[b]++
		}
		src, dst = dst, src
	}
	// Four passes: the sorted keys are back in keys.
}

// SetTarget sets the target to the n images x (CNHW), whose patches are those Draw
// placed for nt = n target images.
func (s *PatchSWD) SetTarget(x []float32, n int) {
	if len(s.tpos[0]) != n*s.Patches {
		panic("nn: PatchSWD.SetTarget: no Draw for this many target images")
	}
	s.pyramid(x, n)
	m := n * s.Patches
	for l := range PatchSWDLevels {
		p := s.project(l, s.tpos[l])
		t := Grow(s.target[l], s.Dirs*m)
		copy(t, p)
		s.keys, s.tmp = Grow(s.keys, m), Grow(s.tmp, m)
		var v float64
		for k := range s.Dirs {
			row := t[k*m : (k+1)*m]
			var mean, sq float64
			for i, x := range row {
				mean += float64(x)
				sq += float64(x) * float64(x)
				s.keys[i] = sortKey(x) << 32
			}
			mean /= float64(m)
			v += sq/float64(m) - mean*mean
			radixSort(s.keys, s.tmp)
			for i, key := range s.keys {
				row[i] = keyValue(key >> 32)
			}
		}
		// A floor for a constant target (no real batch is), instead of a division by 0.
		s.target[l], s.scale[l] = t, max(v/float64(s.Dirs), 1e-12)
	}
}

// Forward returns the loss of the n images x (CNHW) against the target and keeps what
// Backward needs. The batch must have as many patches as the target (n equal to
// SetTarget's), so that ranks pair one to one.
func (s *PatchSWD) Forward(x []float32, n int) float64 {
	m := n * s.Patches
	if len(s.target[0]) != s.Dirs*m || len(s.pos[0]) != m {
		panic("nn: PatchSWD.Forward: no target or Draw for this many images")
	}
	s.n = n
	s.pyramid(x, n)
	s.keys, s.tmp = Grow(s.keys, m), Grow(s.tmp, m)
	var loss float64
	for l := range PatchSWDLevels {
		p := s.project(l, s.pos[l])
		res := Grow(s.res[l], s.Dirs*m)
		coef := 2 / float64(s.Dirs*m) / s.scale[l] / PatchSWDLevels
		var sum float64
		for k := range s.Dirs {
			row, t := p[k*m:(k+1)*m], s.target[l][k*m:(k+1)*m]
			for i, v := range row {
				s.keys[i] = sortKey(v)<<32 | uint64(i)
			}
			radixSort(s.keys, s.tmp)
			// The residual of rank j goes to the patch that holds that rank: res is
			// then dL/dprojection in patch order, ready for Backward's product.
			out := res[k*m : (k+1)*m]
			for j, key := range s.keys {
				i := uint32(key)
				r := float64(row[i]) - float64(t[j])
				sum += r * r
				out[i] = float32(coef * r)
			}
		}
		s.res[l] = res
		loss += sum / float64(s.Dirs*m) / s.scale[l]
	}
	return loss / PatchSWDLevels
}

// Backward adds scale * dL/dx of the last Forward to dx (CNHW, as x): each rank's
// residual goes back to the patch that held it, along its direction, into the band, and
// through the pyramid's adjoint (up2's adjoint sums 2x2 blocks, avgpool2's spreads a
// quarter to each).
func (s *PatchSWD) Backward(dx []float32, scale float64) {
	n, hw, d := s.n, s.H*s.W, s.dim()
	if len(dx) != 3*n*hw {
		panic(fmt.Sprintf("nn: PatchSWD.Backward: len(dx) = %d, want 3*%d*%d", len(dx), n, hw))
	}
	m := n * s.Patches
	// dband_l for every level, in the bands' buffers (Forward is done with them).
	for l := range PatchSWDLevels {
		h, w := s.levelSize(l)
		g := s.bands[l]
		clear(g)
		// Per patch: the sum over directions of its residual times the direction.
		grads := Grow(s.pmat, m*d) // [m][d]
		gemm.Sgemm(true, false, m, d, s.Dirs, 1, s.res[l], m, s.directions(l), d, 0, grads, d)
		s.pmat = grads
		const q = PatchSWDSide
		for i, p := range s.pos[l] {
			gp := grads[i*d : (i+1)*d]
			for c := range 3 {
				for dy := range q {
					row := g[((p[0]*3+c)*h+p[1]+dy)*w+p[2]:]
					for dx := range q {
						row[dx] += float64(gp[(c*q+dy)*q+dx])
					}
				}
			}
		}
	}
	// band_l = G_l - up2(G_{l+1}) and G_{l+1} = avgpool2(G_l), so
	// dG_l = dband_l - up2^T(dband_{l-1}) + avgpool2^T(dG_{l+1}). Coarsest first: at
	// level l, each 2x2 block of dband_l is summed (up2^T) out of the cell of dG_{l+1}
	// below it, which is then complete (0 below the last band) and spread back over the
	// block as a quarter each (avgpool2^T); dband_l itself is read before it changes.
	// With LowPass the coarsest level holds dG_{L-1}'s own part already: no band to undo.
	for l := PatchSWDLevels - 1; l >= 0; l-- {
		if l == PatchSWDLevels-1 && s.LowPass {
			continue
		}
		h, w := s.levelSize(l)
		cur := s.bands[l]
		var low []float64 // dG_{l+1}
		if l+1 < PatchSWDLevels {
			low = s.bands[l+1]
		}
		for p := range 3 * n {
			for y := range h / 2 {
				for x := range w / 2 {
					i := (p*h+2*y)*w + 2*x
					var below float64
					if low != nil {
						below = low[(p*h/2+y)*(w/2)+x]
					}
					v := 0.25 * (below - (cur[i] + cur[i+1] + cur[i+w] + cur[i+w+1]))
					cur[i] += v
					cur[i+1] += v
					cur[i+w] += v
					cur[i+w+1] += v
				}
			}
		}
	}
	g := s.bands[0]
	for c := range 3 {
		for b := range n {
			dst := dx[(c*n+b)*hw : (c*n+b+1)*hw]
			src := g[(b*3+c)*hw : (b*3+c+1)*hw]
			for i, v := range src {
				dst[i] += float32(scale * v)
			}
		}
	}
}
