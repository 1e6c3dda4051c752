package nn

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// PatchSWD is a sliced Wasserstein loss between the local patches of a batch of images
// and those of a target batch, at PatchSWDLevels scales. Each image is split into
// Laplacian bands with box filters,
//
//	G_0 = x,  G_{l+1} = avgpool2(G_l),  band_l = G_l - up2(G_l+1)   (up2: nearest)
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
// Draw picks the directions and positions; SetTarget, Forward and Backward then use
// them. Images are CNHW with 3 channels, values as the networks see them.
type PatchSWD struct {
	H, W    int
	Patches int // patches per image and level
	Dirs    int // random directions per level

	// Drawn by Draw (tests set them directly): dirs[l] is [Dirs][dim] (unit rows);
	// pos[l] and tpos[l] are the batch's and the target's patch positions, each
	// [n*Patches] of image index, top row and left column.
	dirs       [][]float64
	pos, tpos  [][][3]int
	target     [][]float64 // [l][Dirs*M]: the target's sorted projections, per direction
	scale      []float64   // [l]: s_l
	proj       [][]float64 // [l][Dirs*M]: the batch's projections (sorted in place)
	perm       [][]int32   // [l][Dirs*M]: rank j of direction k -> patch index
	n          int
	bands      [][]float64 // [l][n*3*h_l*w_l]: the last Forward's bands (Backward reuses the buffers)
	low, glow  []float64   // pyramid scratch
	patch, acc []float64
}

// PatchSWDLevels is the number of pyramid levels PatchSWD compares (48 and 24 px bands
// for 48 px images): the scales at which the avatars' grain and blotches are.
const PatchSWDLevels = 2

// PatchSWDSide is the side of PatchSWD's patches.
const PatchSWDSide = 5

// NewPatchSWD returns a PatchSWD for h x w images (sides divisible by 2^PatchSWDLevels,
// the coarsest band at least PatchSWDSide pixels) with 64 patches per image and level
// and 32 directions: with a batch of 64, 4,096 patches a level, so that the
// sorted matching is a fair estimate, at a cost small beside the networks'.
func NewPatchSWD(h, w int) (*PatchSWD, error) {
	f := 1 << PatchSWDLevels
	if h%f != 0 || w%f != 0 || h/(f/2) < PatchSWDSide || w/(f/2) < PatchSWDSide {
		return nil, fmt.Errorf("nn: PatchSWD: %dx%d images: want sides divisible by %d and a coarsest band of at least %d px", h, w, f, PatchSWDSide)
	}
	return &PatchSWD{H: h, W: w, Patches: 64, Dirs: 32}, nil
}

func (s *PatchSWD) dim() int { return 3 * PatchSWDSide * PatchSWDSide }

// levelSize returns the side lengths of band l.
func (s *PatchSWD) levelSize(l int) (h, w int) { return s.H >> l, s.W >> l }

// Draw draws the directions and the patch positions of n batch images and nt target
// images from r, for the next SetTarget, Forward and Backward.
func (s *PatchSWD) Draw(r *rand.Rand, n, nt int) {
	d := s.dim()
	s.dirs = growSlices(s.dirs, PatchSWDLevels)
	s.pos = growPos(s.pos, PatchSWDLevels)
	s.tpos = growPos(s.tpos, PatchSWDLevels)
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

func growSlices(s [][]float64, n int) [][]float64 {
	for len(s) < n {
		s = append(s, nil)
	}
	return s[:n]
}

func growPos(s [][][3]int, n int) [][][3]int {
	for len(s) < n {
		s = append(s, nil)
	}
	return s[:n]
}

// pyramid writes the bands of the n images x (CNHW, 3 channels) into s.bands.
func (s *PatchSWD) pyramid(x []float32, n int) {
	hw := s.H * s.W
	if len(x) != 3*n*hw {
		panic(fmt.Sprintf("nn: PatchSWD: len(x) = %d, want 3*%d*%d", len(x), n, hw))
	}
	s.bands = growSlices(s.bands, PatchSWDLevels)
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

// project writes the projections of the patches at pos of band (NCHW, h x w) onto the
// directions dirs into out ([Dirs][len(pos)]).
func (s *PatchSWD) project(out, band, dirs []float64, pos [][3]int, h, w int) {
	d, m := s.dim(), len(pos)
	s.patch = Grow(s.patch, d)
	for i, p := range pos {
		s.gather(s.patch, band, p, h, w)
		for k := range s.Dirs {
			var v float64
			for j, t := range dirs[k*d : (k+1)*d] {
				v += t * s.patch[j]
			}
			out[k*m+i] = v
		}
	}
}

// gather copies the patch at p of band into dst (channel, row, column order).
func (s *PatchSWD) gather(dst, band []float64, p [3]int, h, w int) {
	const q = PatchSWDSide
	for c := range 3 {
		for dy := range q {
			row := band[((p[0]*3+c)*h+p[1]+dy)*w+p[2]:]
			copy(dst[(c*q+dy)*q:(c*q+dy+1)*q], row[:q])
		}
	}
}

// SetTarget sets the target to the n images x (CNHW), whose patches are those Draw
// placed for nt = n target images.
func (s *PatchSWD) SetTarget(x []float32, n int) {
	if len(s.tpos) != PatchSWDLevels || len(s.tpos[0]) != n*s.Patches {
		panic("nn: PatchSWD.SetTarget: no Draw for this many target images")
	}
	s.pyramid(x, n)
	s.target = growSlices(s.target, PatchSWDLevels)
	s.scale = Grow(s.scale, PatchSWDLevels)
	m := n * s.Patches
	for l := range PatchSWDLevels {
		h, w := s.levelSize(l)
		t := Grow(s.target[l], s.Dirs*m)
		s.project(t, s.bands[l], s.dirs[l], s.tpos[l], h, w)
		var v float64
		for k := range s.Dirs {
			row := t[k*m : (k+1)*m]
			var mean, sq float64
			for _, x := range row {
				mean += x
				sq += x * x
			}
			mean /= float64(m)
			v += sq/float64(m) - mean*mean
			slices.Sort(row)
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
	if s.target == nil || len(s.target[0]) != s.Dirs*m || len(s.pos[0]) != m {
		panic("nn: PatchSWD.Forward: no target or Draw for this many images")
	}
	s.n = n
	s.pyramid(x, n)
	s.proj = growSlices(s.proj, PatchSWDLevels)
	for len(s.perm) < PatchSWDLevels {
		s.perm = append(s.perm, nil)
	}
	var loss float64
	for l := range PatchSWDLevels {
		h, w := s.levelSize(l)
		p := Grow(s.proj[l], s.Dirs*m)
		s.project(p, s.bands[l], s.dirs[l], s.pos[l], h, w)
		perm := Grow(s.perm[l], s.Dirs*m)
		var sum float64
		for k := range s.Dirs {
			row, idx := p[k*m:(k+1)*m], perm[k*m:(k+1)*m]
			for i := range idx {
				idx[i] = int32(i)
			}
			slices.SortFunc(idx, func(a, b int32) int { return cmp.Compare(row[a], row[b]) })
			t := s.target[l][k*m : (k+1)*m]
			// The residual at rank j replaces the projection (Backward needs only it).
			res := s.acc[:0]
			for j, i := range idx {
				res = append(res, row[i]-t[j])
			}
			for j, r := range res {
				row[j] = r
				sum += r * r
			}
			s.acc = res
		}
		s.proj[l], s.perm[l] = p, perm
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
	// dG_l for every level, finest first, in the bands' buffers (Forward is done with
	// them) plus s.glow for the level below the last band.
	for l := range PatchSWDLevels {
		h, w := s.levelSize(l)
		g := s.bands[l]
		clear(g)
		coef := 2 / float64(s.Dirs*m) / s.scale[l] / PatchSWDLevels
		res, perm, dirs := s.proj[l], s.perm[l], s.dirs[l]
		// Per patch: the sum over directions of its residual times the direction.
		grads := Grow(s.patch, m*d) // [m][d]
		clear(grads)
		for k := range s.Dirs {
			dir := dirs[k*d : (k+1)*d]
			for j, i := range perm[k*m : (k+1)*m] {
				r := coef * res[k*m+j]
				gp := grads[int(i)*d : (int(i)+1)*d]
				for t, v := range dir {
					gp[t] += r * v
				}
			}
		}
		const q = PatchSWDSide
		for i, p := range s.pos[l] {
			gp := grads[i*d : (i+1)*d]
			for c := range 3 {
				for dy := range q {
					row := g[((p[0]*3+c)*h+p[1]+dy)*w+p[2]:]
					for dx := range q {
						row[dx] += gp[(c*q+dy)*q+dx]
					}
				}
			}
		}
		s.patch = grads
	}
	// band_l = G_l - up2(G_{l+1}) and G_{l+1} = avgpool2(G_l). First dG_{l+1} -=
	// up2^T(dband_l) for every level, coarsest first so that each band is read before it
	// is changed; then dG_l += avgpool2^T(dG_{l+1}), coarsest first, so that each
	// dG_{l+1} is complete when it is spread.
	hl, wl := s.levelSize(PatchSWDLevels - 1)
	s.glow = Grow(s.glow, 3*n*hl*wl/4)
	clear(s.glow)
	below := func(l int) []float64 { // dG_{l+1}
		if l+1 < PatchSWDLevels {
			return s.bands[l+1]
		}
		return s.glow
	}
	for l := PatchSWDLevels - 1; l >= 0; l-- {
		h, w := s.levelSize(l)
		cur, low := s.bands[l], below(l)
		for p := range 3 * n {
			for y := range h / 2 {
				for x := range w / 2 {
					i := (p*h+2*y)*w + 2*x
					low[(p*h/2+y)*(w/2)+x] -= cur[i] + cur[i+1] + cur[i+w] + cur[i+w+1]
				}
			}
		}
	}
	for l := PatchSWDLevels - 1; l >= 0; l-- {
		h, w := s.levelSize(l)
		cur, low := s.bands[l], below(l)
		for p := range 3 * n {
			for y := range h / 2 {
				for x := range w / 2 {
					i := (p*h+2*y)*w + 2*x
					v := 0.25 * low[(p*h/2+y)*(w/2)+x]
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
