package nn

import (
	"math"
	"math/rand/v2"
	"sync"

	"avatargan/internal/gemm"
)

// Param is one named tensor of a layer in PyTorch layout. Trainable parameters have a
// Grad of the same length; buffers (BatchNorm running statistics) have Buffer set and a
// nil Grad, so optimisers skip them.
type Param struct {
	Name   string
	Shape  []int
	Data   []float32
	Grad   []float32
	Buffer bool
	// Version changes whenever Data may have changed: Adam.Step, Init, Touch, and
	// handing out an alias with Tensors bump it. Layers key caches of derived weight
	// layouts on it, so code that writes Data directly after a Forward must call Touch.
	Version uint64
}

// Touch marks the params' data as changed (see Param.Version).
func Touch(ps []*Param) {
	for _, p := range ps {
		p.Version++
	}
}

func newParam(name string, shape ...int) *Param {
	n := 1
	for _, s := range shape {
		n *= s
	}
	return &Param{Name: name, Shape: shape, Data: make([]float32, n), Grad: make([]float32, n)}
}

func newBuffer(name string, shape ...int) *Param {
	p := newParam(name, shape...)
	p.Grad = nil
	p.Buffer = true
	return p
}

// NamedTensor is a view of one tensor for serialisation: float32 data, or, for an int64
// scalar counter (BatchNorm's num_batches_tracked, Adam's step), Count with Data nil.
// Data and Count alias the live model state: writing through them loads a checkpoint.
type NamedTensor struct {
	Name  string
	Shape []int
	Data  []float32
	Count *int64
}

// Tensors lists params (trainable and buffers) as NamedTensors with prefix prepended to
// each name. The aliases are typically written at once (a checkpoint load), so Tensors
// bumps each param's Version; writes through an alias kept across a Forward need Touch.
func Tensors(prefix string, ps []*Param) []NamedTensor {
	out := make([]NamedTensor, 0, len(ps))
	for _, p := range ps {
		p.Version++
		out = append(out, NamedTensor{Name: prefix + p.Name, Shape: p.Shape, Data: p.Data})
	}
	return out
}

// ZeroGrads clears the gradients of all trainable params.
func ZeroGrads(ps []*Param) {
	for _, p := range ps {
		clear(p.Grad)
	}
}

// Trainable returns the params that are not buffers, in order.
func Trainable(ps []*Param) []*Param {
	var out []*Param
	for _, p := range ps {
		if !p.Buffer {
			out = append(out, p)
		}
	}
	return out
}

// InitNormal fills p with N(0, std) draws from r. With truncate, draws beyond two
// standard deviations are redrawn, as TensorFlow's truncated_normal_initializer does.
func InitNormal(p []float32, std float64, truncate bool, r *rand.Rand) {
	for i := range p {
		v := r.NormFloat64()
		for truncate && math.Abs(v) > 2 {
			v = r.NormFloat64()
		}
		p[i] = float32(v * std)
	}
}

// Grow returns buf resliced to n elements (contents undefined), reallocating only when
// it is too small, so layers and networks reuse their buffers across steps and across
// smaller batches. (internal/gemm has its own, which also aligns packed panels to 64
// bytes.)
func Grow[T any](buf []T, n int) []T {
	if cap(buf) < n {
		return make([]T, n)
	}
	return buf[:n]
}

// scratchPool recycles the per-worker scratch of im2col and col2im, which would
// otherwise be a fresh allocation (and clear) per worker per call. It is separate from
// Scratch on purpose: Scratch is one arena per network, used by one layer call at a
// time on one goroutine, while these buffers are taken by several ParallelFor workers
// at once inside a single call, each needing its own, and their number follows the
// worker count rather than the network.
var scratchPool sync.Pool

// getScratch returns a scratch buffer of n elements (contents undefined); return it
// with putScratch.
func getScratch(n int) *[]float32 {
	if b, ok := scratchPool.Get().(*[]float32); ok {
		*b = Grow(*b, n)
		return b
	}
	b := make([]float32, n)
	return &b
}

func putScratch(b *[]float32) { scratchPool.Put(b) }

// NCHWToCNHW writes src ([n][c][hw]) into dst ([c][n][hw]).
func NCHWToCNHW(dst, src []float32, n, c, hw int) {
	gemm.ParallelFor(c, 1, func(lo, hi int) {
		for ci := lo; ci < hi; ci++ {
			for ni := 0; ni < n; ni++ {
				copy(dst[(ci*n+ni)*hw:(ci*n+ni+1)*hw], src[(ni*c+ci)*hw:(ni*c+ci+1)*hw])
			}
		}
	})
}

// CNHWToNCHW writes src ([c][n][hw]) into dst ([n][c][hw]).
func CNHWToNCHW(dst, src []float32, n, c, hw int) {
	gemm.ParallelFor(c, 1, func(lo, hi int) {
		for ci := lo; ci < hi; ci++ {
			for ni := 0; ni < n; ni++ {
				copy(dst[(ni*c+ci)*hw:(ni*c+ci+1)*hw], src[(ci*n+ni)*hw:(ci*n+ni+1)*hw])
			}
		}
	})
}
