package metrics

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"

	"avatargan/internal/gemm"
)

// Options configures SWD. The zero value is not useful; start from DefaultOptions.
type Options struct {
	Seed            uint64 // drives patch positions (with each image's content) and directions
	PatchesPerImage int    // patches sampled per image and level (original: 128)
	PatchSize       int    // odd patch side in pixels (original: 7)
	Directions      int    // random directions per repeat (original: 128)
	Repeats         int    // direction repeats (original: 4)
	MinRes          int    // smallest pyramid level used, in pixels (original: 16)
	// ProjectionBytes caps the memory for projected descriptors (both sets together);
	// directions are processed in blocks that fit. 0 means 512 MiB.
	ProjectionBytes int64
}

// DefaultOptions returns the original paper's settings with seed 1.
func DefaultOptions() Options {
	return Options{Seed: 1, PatchesPerImage: 128, PatchSize: 7, Directions: 128, Repeats: 4, MinRes: 16}
}

// Result is an SWD measurement.
type Result struct {
	Resolutions []int     `json:"resolutions"` // level sizes in pixels, finest first
	PerLevel    []float64 `json:"per_level"`   // SWD x1e3 per level, in Resolutions order
	Average     float64   `json:"average"`     // mean of PerLevel, the usual single-number summary
}

// String formats the result like the original's metric names (SWDx1e3_48 ... _avg).
func (r Result) String() string {
	var b strings.Builder
	for i, res := range r.Resolutions {
		fmt.Fprintf(&b, "SWDx1e3_%d=%.4f ", res, r.PerLevel[i])
	}
	fmt.Fprintf(&b, "SWDx1e3_avg=%.4f", r.Average)
	return b.String()
}

// Flat views n images of size x size x 3 bytes stored back to back as a slice of images,
// without copying, for callers that hold one flat buffer.
func Flat(data []uint8, n, size int) ([][]uint8, error) {
	per := size * size * 3
	if n < 0 || size <= 0 || len(data) != n*per {
		return nil, fmt.Errorf("metrics: flat buffer has %d bytes, want %d images x %d", len(data), n, per)
	}
	out := make([][]uint8, n)
	for i := range out {
		out[i] = data[i*per : (i+1)*per : (i+1)*per]
	}
	return out, nil
}

func (o Options) validate(size int) error {
	switch {
	case o.PatchesPerImage < 1 || o.Directions < 1 || o.Repeats < 1:
		return errors.New("metrics: PatchesPerImage, Directions and Repeats must be positive")
	case o.PatchSize < 1 || o.PatchSize%2 == 0 || o.PatchSize > 63:
		return errors.New("metrics: PatchSize must be odd, in 1..63")
	case o.MinRes < o.PatchSize:
		return errors.New("metrics: MinRes must be at least PatchSize")
	case size < o.MinRes:
		return fmt.Errorf("metrics: image size %d is below MinRes %d", size, o.MinRes)
	}
	return nil
}

// mix64 is the splitmix64 finaliser: a cheap bijective scrambler for hashes and seeds.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// contentHash hashes image bytes; it seeds the image's patch positions so that they follow
// the image, not its index, and it fixes a canonical image order.
func contentHash(b []byte) uint64 {
	h := mix64(uint64(len(b)) + 0x9e3779b97f4a7c15)
	for len(b) >= 8 {
		h = mix64(h ^ binary.LittleEndian.Uint64(b))
		b = b[8:]
	}
	var t [8]byte
	copy(t[:], b)
	return mix64(h ^ binary.LittleEndian.Uint64(t[:]) ^ uint64(len(b))<<56)
}

// canonical returns the images sorted by content (hash, then bytes), the order in which all
// floating-point reductions run, so results do not depend on the caller's order.
func canonical(imgs [][]uint8) ([][]uint8, []uint64) {
	type hi struct {
		h   uint64
		img []uint8
	}
	v := make([]hi, len(imgs))
	gemm.ParallelFor(len(imgs), 64, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			v[i].h, v[i].img = contentHash(imgs[i]), imgs[i]
		}
	})
	slices.SortFunc(v, func(a, b hi) int {
		if a.h != b.h {
			if a.h < b.h {
				return -1
			}
			return 1
		}
		return bytes.Compare(a.img, b.img)
	})
	out, hs := make([][]uint8, len(v)), make([]uint64, len(v))
	for i := range v {
		out[i], hs[i] = v[i].img, v[i].h
	}
	return out, hs
}

// patchCorners draws the top-left corners (as float offsets into the s x s x 3 level image)
// of one image's patches. Centres are uniform in [H, s-H) per axis, as np.random.randint in
// the original's get_descriptors_for_minibatch.
func patchCorners(dst []int32, hash, seed uint64, level, s, patch int) {
	r := rand.New(rand.NewPCG(hash, mix64(seed^uint64(level+1)*0x9e3779b97f4a7c15)))
	span := s - patch + 1 // number of valid corners = number of valid centres
	for i := range dst {
		y := r.IntN(span)
		x := r.IntN(span)
		dst[i] = int32((y*s + x) * 3)
	}
}

// directions returns count unit vectors of dimension dim, row-major: each an isotropic
// Gaussian normalised to length 1 (in float64, then stored as float32 like the original).
func directions(seed uint64, level, count, dim int) []float32 {
	r := rand.New(rand.NewPCG(mix64(seed+0x5157), mix64(uint64(level)+0xd1b54a32d192ed03)))
	out := make([]float32, count*dim)
	v := make([]float64, dim)
	for d := 0; d < count; d++ {
		var n2 float64
		for k := range v {
			v[k] = r.NormFloat64()
			n2 += v[k] * v[k]
		}
		inv := 1 / math.Sqrt(n2)
		for k := range v {
			out[d*dim+k] = float32(v[k] * inv)
		}
	}
	return out
}

// levelSet is one image set at one pyramid level: the level images, the patch corners and
// the per-channel normalisation, from which descriptors are gathered on demand. Holding the
// level images (s*s*3 floats per image) instead of the descriptors (patches*147 floats per
// image, 2.7x more at 48 px, 11x at 24 px) is what keeps n=8192 in memory.
type levelSet struct {
	s, patch, per int
	imgs          []float32 // n images of s*s*3
	corners       []int32   // n*per
	mean, inv     [3]float32
}

func (ls *levelSet) count() int { return len(ls.corners) }

// newLevelSet builds the level set of imgs; it returns nil once done is closed.
func newLevelSet(done <-chan struct{}, imgs [][]uint8, hashes []uint64, size, level, levels int, o Options) *levelSet {
	n := len(imgs)
	s := Resolutions(size, 1)[level]
	ls := &levelSet{s: s, patch: o.PatchSize, per: o.PatchesPerImage}
	ls.imgs = make([]float32, n*s*s*3)
	ls.corners = make([]int32, n*o.PatchesPerImage)
	part := make([][6]float64, n) // per-image sum and sum of squares per channel
	gemm.ParallelFor(n, 8, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if stopped(done) {
				return
			}
			li, _ := levelImage(imgs[i], size, level, levels)
			img := ls.imgs[i*s*s*3 : (i+1)*s*s*3]
			copy(img, li)
			cs := ls.corners[i*ls.per : (i+1)*ls.per]
			patchCorners(cs, hashes[i], o.Seed, level, s, ls.patch)
			// Statistics over descriptors (patch pixels with multiplicity), as finalize_descriptors.
			var acc [6]float64
			for _, c := range cs {
				for dy := 0; dy < ls.patch; dy++ {
					row := img[int(c)+dy*s*3 : int(c)+dy*s*3+ls.patch*3]
					for k := 0; k < len(row); k += 3 {
						for ch := 0; ch < 3; ch++ {
							v := float64(row[k+ch])
							acc[ch] += v
							acc[3+ch] += v * v
						}
					}
				}
			}
			part[i] = acc
		}
	})
	if stopped(done) {
		return nil
	}
	var tot [6]float64
	for _, p := range part { // sequential, in canonical order: deterministic
		for k := range tot {
			tot[k] += p[k]
		}
	}
	cnt := float64(n * ls.per * ls.patch * ls.patch)
	for ch := 0; ch < 3; ch++ {
		m := tot[ch] / cnt
		v := tot[3+ch]/cnt - m*m
		sd := math.Sqrt(math.Max(v, 0))
		ls.mean[ch] = float32(m)
		// A constant channel normalises to 0 rather than NaN (the original would divide by 0).
		if sd > 0 {
			ls.inv[ch] = float32(1 / sd)
		} else {
			ls.inv[ch] = 1
		}
	}
	return ls
}

// gather writes normalised descriptors lo..hi-1 into dst (rows of patch*patch*3).
func (ls *levelSet) gather(dst []float32, lo, hi int) {
	p, s := ls.patch, ls.s
	rl := p * 3
	dim := p * rl
	var m, iv [64 * 3]float32 // per component of one patch row (p <= 64)
	for k := 0; k < rl; k++ {
		m[k], iv[k] = ls.mean[k%3], ls.inv[k%3]
	}
	for g := lo; g < hi; g++ {
		img := ls.imgs[(g/ls.per)*s*s*3:]
		c := int(ls.corners[g])
		d := dst[(g-lo)*dim : (g-lo+1)*dim]
		for dy := 0; dy < p; dy++ {
			src := img[c+dy*s*3 : c+dy*s*3+rl]
			out := d[dy*rl : (dy+1)*rl]
			for k, v := range src {
				out[k] = (v - m[k]) * iv[k]
			}
		}
	}
}

// gatherRows is the number of descriptors gathered per GEMM call: big enough for the GEMM
// to parallelise well, small enough (~5 MB at 147-d) to stay cache-friendly.
var gatherRows = 8192 // a variable so that tests can force several chunks

// project fills proj (nd rows of ls.count() floats) with the projections of all of the
// set's descriptors on the nd directions in dirs.
func (ls *levelSet) project(done <-chan struct{}, proj, dirs []float32, nd int, buf []float32) {
	n := ls.count()
	dim := ls.patch * ls.patch * 3
	for start := 0; start < n && !stopped(done); start += gatherRows {
		rows := min(gatherRows, n-start)
		gemm.ParallelFor(rows, 256, func(lo, hi int) {
			ls.gather(buf[lo*dim:], start+lo, start+hi)
		})
		// proj[d][start+j] = dirs[d] . desc[j]: C (nd x rows, stride n) = W (nd x dim) * D^T.
		gemm.Sgemm(false, true, nd, rows, dim, 1, dirs, dim, buf, dim, 0, proj[start:], n)
	}
}

// SWD returns the sliced Wasserstein distance between two sets of size x size RGB images
// (HWC, 3 bytes per pixel). The sets may differ in size; each needs at least one image.
// The result depends only on the two multisets of images and o, not on their order or on
// the number of threads.
func SWD(real, fake [][]uint8, size int, o Options) (Result, error) {
	return SWDContext(context.Background(), real, fake, size, o)
}

// SWDContext is SWD that stops within a fraction of a second once ctx is done (n = 8192
// takes tens of seconds), returning ctx's error.
func SWDContext(ctx context.Context, real, fake [][]uint8, size int, o Options) (Result, error) {
	if err := o.validate(size); err != nil {
		return Result{}, err
	}
	if len(real) == 0 || len(fake) == 0 {
		return Result{}, errors.New("metrics: SWD needs at least one image in each set")
	}
	for _, set := range [][][]uint8{real, fake} {
		for i, im := range set {
			if len(im) != size*size*3 {
				return Result{}, fmt.Errorf("metrics: image %d has %d bytes, want %d", i, len(im), size*size*3)
			}
		}
	}
	done := ctx.Done()
	realC, realH := canonical(real)
	fakeC, fakeH := canonical(fake)
	res := Resolutions(size, o.MinRes)
	out := Result{Resolutions: res, PerLevel: make([]float64, len(res))}
	for lv := range res {
		// Explicit collections keep peak RSS near the live data (~1.1 GB for 2 x 8192 images
		// at 48 px) instead of up to twice that: the previous level's sets and the per-image
		// pyramid temporaries are garbage by then, and each GC costs milliseconds here as the
		// big buffers hold no pointers.
		runtime.GC()
		a := newLevelSet(done, realC, realH, size, lv, len(res), o)
		b := newLevelSet(done, fakeC, fakeH, size, lv, len(res), o)
		if a == nil || b == nil {
			return Result{}, ctx.Err()
		}
		runtime.GC()
		d := slicedWasserstein(done, a, b, o, lv)
		if stopped(done) {
			return Result{}, ctx.Err()
		}
		out.PerLevel[lv] = 1e3 * d
		out.Average += out.PerLevel[lv] / float64(len(res))
	}
	return out, nil
}

// stopped reports whether done is closed; a nil done never is.
func stopped(done <-chan struct{}) bool {
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// slicedWasserstein is the mean over o.Repeats*o.Directions random directions of the 1-D
// W1 distance between the two sets' projected descriptors (the original's mean over
// repeats of means over directions is the same number, as every repeat has as many).
// Once done is closed it returns early with a meaningless value.
func slicedWasserstein(done <-chan struct{}, a, b *levelSet, o Options, level int) float64 {
	dim := o.PatchSize * o.PatchSize * 3
	total := o.Directions * o.Repeats
	dirs := directions(o.Seed, level, total, dim)
	na, nb := a.count(), b.count()
	budget := o.ProjectionBytes
	if budget <= 0 {
		budget = 512 << 20
	}
	block := int(min(int64(total), max(1, budget/int64(4*(na+nb)))))
	projA := make([]float32, block*na)
	projB := make([]float32, block*nb)
	buf := make([]float32, gatherRows*dim)
	dist := make([]float64, total)
	for d0 := 0; d0 < total && !stopped(done); d0 += block {
		nd := min(block, total-d0)
		a.project(done, projA, dirs[d0*dim:], nd, buf)
		b.project(done, projB, dirs[d0*dim:], nd, buf)
		gemm.ParallelFor(nd, 1, func(lo, hi int) {
			s1 := make([]uint32, max(na, nb))
			s2 := make([]uint32, max(na, nb))
			for d := lo; d < hi && !stopped(done); d++ {
				ra, rb := projA[d*na:(d+1)*na], projB[d*nb:(d+1)*nb]
				sortFloat32(ra, s1, s2)
				sortFloat32(rb, s1, s2)
				dist[d0+d] = w1Sorted(ra, rb)
			}
		})
	}
	var sum float64
	for _, d := range dist {
		sum += d
	}
	return sum / float64(total)
}

// Floor is the real-vs-real SWD: images (at least 2) are put in canonical content order and
// split alternately into two disjoint halves of equal size (an odd one out is dropped), and
// SWD of one half against the other is returned. A generator cannot be expected to beat it
// at the same set size, so compare SWD(real, fake) against Floor with len(fake) = len/2.
func Floor(images [][]uint8, size int, o Options) (Result, error) {
	if len(images) < 2 {
		return Result{}, errors.New("metrics: Floor needs at least 2 images")
	}
	c, _ := canonical(images)
	h := len(c) / 2
	a, b := make([][]uint8, h), make([][]uint8, h)
	for i := 0; i < h; i++ {
		a[i], b[i] = c[2*i], c[2*i+1]
	}
	return SWD(a, b, size, o)
}
