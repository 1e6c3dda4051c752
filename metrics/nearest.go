package metrics

import (
	"context"
	"fmt"
	"math"

	"avatargan/internal/gemm"
)

// Match pairs a generated image with its nearest training image.
type Match struct {
	Fake, Real int     // indices into the fake and real sets as passed
	RMS        float64 // root-mean-square pixel difference over all channels, 0..255
}

// nearestBlock is the number of real images converted to float32 at a time, so that a
// 33k-image training set is scanned in ~110 MB pieces rather than all at once.
const nearestBlock = 4096

// nearestPairs bounds the fake-real pairs screened by one GEMM.
const nearestPairs = 1 << 21

// NearestReal finds, for each fake image, the closest real image in L2 (pixel) distance:
// the memorisation check that a generator is not reproducing training images. An RMS near
// 0 flags a copy. Distances are screened with a GEMM (|f|^2 + |r|^2 - 2 f.r in float32) and
// the winner's distance is recomputed exactly in integers.
func NearestReal(fake, real [][]uint8, size int) ([]Match, error) {
	return NearestRealContext(context.Background(), fake, real, size)
}

// NearestRealContext is NearestReal that stops between blocks of real images once ctx is
// done, returning ctx's error.
func NearestRealContext(ctx context.Context, fake, real [][]uint8, size int) ([]Match, error) {
	d := size * size * 3
	if len(fake) == 0 || len(real) == 0 {
		return nil, fmt.Errorf("metrics: NearestReal needs non-empty sets")
	}
	for _, set := range [][][]uint8{fake, real} {
		for i, im := range set {
			if len(im) != d {
				return nil, fmt.Errorf("metrics: image %d has %d bytes, want %d", i, len(im), d)
			}
		}
	}
	toF := func(imgs [][]uint8) ([]float32, []float32) {
		m, nrm := make([]float32, len(imgs)*d), make([]float32, len(imgs))
		gemm.ParallelFor(len(imgs), 16, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				var s float32
				for k, v := range imgs[i] {
					f := float32(v)
					m[i*d+k] = f
					s += f * f
				}
				nrm[i] = s
			}
		})
		return m, nrm
	}
	nf := len(fake)
	fm, fn := toF(fake)
	best := make([]float32, nf)
	arg := make([]int, nf)
	for i := range best {
		best[i] = float32(math.Inf(1))
	}
	// Blocks of at most ~2M fake-real pairs (a few GFLOP at 48 px) keep the time between
	// cancellation checks well under a second.
	block := max(64, min(nearestBlock, nearestPairs/nf))
	cross := make([]float32, nf*min(block, len(real)))
	for r0 := 0; r0 < len(real); r0 += block {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		nr := min(block, len(real)-r0)
		rm, rn := toF(real[r0 : r0+nr])
		gemm.Sgemm(false, true, nf, nr, d, 1, fm, d, rm, d, 0, cross, nr)
		gemm.ParallelFor(nf, 1, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				for j, c := range cross[i*nr : (i+1)*nr] {
					if v := fn[i] + rn[j] - 2*c; v < best[i] {
						best[i], arg[i] = v, r0+j
					}
				}
			}
		})
	}
	out := make([]Match, nf)
	for i := range out {
		var s int64
		for k, v := range fake[i] {
			e := int64(v) - int64(real[arg[i]][k])
			s += e * e
		}
		out[i] = Match{Fake: i, Real: arg[i], RMS: math.Sqrt(float64(s) / float64(d))}
	}
	return out, nil
}
