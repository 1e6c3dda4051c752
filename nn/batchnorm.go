package nn

import (
	"fmt"
	"math"

	"avatargan/internal/gemm"
)

// BatchNorm2d is PyTorch's BatchNorm2d (affine, tracking running stats) on CNHW
// activations, where each channel's N*H*W values are contiguous, optionally followed by
// a fused ReLU or LeakyReLU (Act) in the same pass.
//
// Training mode normalises with the biased batch variance and updates
// running = (1-Momentum)*running + Momentum*batch with the unbiased variance, and counts
// NumBatchesTracked; eval mode normalises with the running statistics.
type BatchNorm2d struct {
	C             int
	Eps, Momentum float64
	Act           Act
	Slope         float32 // for ActLeakyReLU
	Weight, Bias  *Param  // gamma, beta
	// RunningMean and RunningVar are buffers (Param.Buffer set).
	RunningMean, RunningVar *Param
	// NumBatchesTracked counts training-mode forwards, as PyTorch's buffer does.
	NumBatchesTracked int64
	// NoParamGrad skips accumulating dgamma and dbeta in Backward.
	NoParamGrad bool

	m            int // values per channel in the last forward
	train        bool
	x, y, dx     []float32
	mean, invstd []float32
}

// NewBatchNorm2d returns a BatchNorm2d of c channels (eps 1e-5, momentum 0.1, gamma 1,
// beta 0, running mean 0, running var 1) with params name+".weight", ".bias",
// ".running_mean", ".running_var".
func NewBatchNorm2d(name string, c int, act Act) *BatchNorm2d {
	b := &BatchNorm2d{C: c, Eps: 1e-5, Momentum: 0.1, Act: act, Slope: 0.2,
		Weight: newParam(name+".weight", c), Bias: newParam(name+".bias", c),
		RunningMean: newBuffer(name+".running_mean", c), RunningVar: newBuffer(name+".running_var", c),
		mean: make([]float32, c), invstd: make([]float32, c)}
	b.Reset()
	return b
}

// Reset sets gamma 1, beta 0, running mean 0, running var 1 and the count to 0.
func (b *BatchNorm2d) Reset() {
	for i := 0; i < b.C; i++ {
		b.Weight.Data[i], b.Bias.Data[i] = 1, 0
		b.RunningMean.Data[i], b.RunningVar.Data[i] = 0, 1
	}
	b.NumBatchesTracked = 0
}

// Params returns weight, bias, running_mean, running_var (PyTorch's state_dict order,
// less num_batches_tracked, which is an int64 counter: see Tensors).
func (b *BatchNorm2d) Params() []*Param {
	return []*Param{b.Weight, b.Bias, b.RunningMean, b.RunningVar}
}

// CountTensor returns num_batches_tracked as a NamedTensor named name.
func (b *BatchNorm2d) CountTensor(name string) NamedTensor {
	return NamedTensor{Name: name, Shape: []int{}, Count: &b.NumBatchesTracked}
}

// Forward normalises x (CNHW, C channels of n*hw values) and applies Act; y is owned by
// the layer and x is kept (not copied) for Backward.
func (b *BatchNorm2d) Forward(x []float32, n, hw int, train bool) []float32 {
	m := n * hw
	if len(x) != b.C*m {
		panic(fmt.Sprintf("nn: BatchNorm2d.Forward: len(x)=%d, want %d x %d", len(x), b.C, m))
	}
	b.m, b.train, b.x = m, train, x
	b.y = Grow(b.y, len(x))
	gemm.ParallelFor(b.C, 1, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			xs := x[c*m : (c+1)*m]
			var mean, invstd float64
			if train {
				// One pass of sum and sum of squares in float64: with float32 data
				// the cancellation in E[x^2] - E[x]^2 stays far below float32
				// resolution unless |mean| is ~1e4 standard deviations.
				s, ss := sumSq(xs)
				mean = s / float64(m)
				dev := max(ss-s*mean, 0) // sum of squared deviations
				vr := dev / float64(m)
				invstd = 1 / math.Sqrt(vr+b.Eps)
				unbiased := vr
				if m > 1 {
					unbiased = dev / float64(m-1)
				}
				mom := b.Momentum
				b.RunningMean.Data[c] = float32((1-mom)*float64(b.RunningMean.Data[c]) + mom*mean)
				b.RunningVar.Data[c] = float32((1-mom)*float64(b.RunningVar.Data[c]) + mom*unbiased)
			} else {
				mean = float64(b.RunningMean.Data[c])
				invstd = 1 / math.Sqrt(float64(b.RunningVar.Data[c])+b.Eps)
			}
			b.mean[c], b.invstd[c] = float32(mean), float32(invstd)
			scale := float64(b.Weight.Data[c]) * invstd
			sc, sh := float32(scale), float32(float64(b.Bias.Data[c])-mean*scale)
			ys := b.y[c*m : (c+1)*m]
			ys = ys[:len(xs)]
			// One loop per activation keeps the branch on Act out of the element loop.
			// Products are rounded (float32(x*y)) before they are added: Go fuses
			// x*y+z into an FMA on some targets (GOAMD64=v3, arm64), and a seed's
			// avatar must have the same bits whatever the build flags.
			switch b.Act {
			case ActNone:
				for i, v := range xs {
					ys[i] = float32(v*sc) + sh
				}
			case ActReLU:
				for i, v := range xs {
					ys[i] = max(float32(v*sc)+sh, 0)
				}
			default:
				sl := b.Slope
				for i, v := range xs {
					t := float32(v*sc) + sh
					ys[i] = max(t, 0) + float32(sl*min(t, 0))
				}
			}
		}
	})
	if train {
		b.NumBatchesTracked++
	}
	return b.y
}

// Backward takes dy (like y), accumulates dgamma and dbeta unless NoParamGrad, and
// returns dx (owned by the layer). After a training forward the batch statistics are
// differentiated through; after an eval forward they are constants.
func (b *BatchNorm2d) Backward(dy []float32) []float32 {
	m := b.m
	b.dx = Grow(b.dx, len(dy))
	gemm.ParallelFor(b.C, 1, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			xs, ys := b.x[c*m:(c+1)*m], b.y[c*m:(c+1)*m]
			dys, dxs := dy[c*m:(c+1)*m], b.dx[c*m:(c+1)*m]
			mean, invstd := b.mean[c], b.invstd[c]
			// First pass: g = dy * act'(y) (stored in dx), sum(g), sum(g*(x-mean)).
			actGrad(dxs, dys, ys, b.Act, b.Slope)
			sg, sgx := sumProd(dxs, xs, mean)
			sgx *= float64(invstd) // sum(g*xhat)
			if !b.NoParamGrad {
				b.Weight.Grad[c] += float32(sgx)
				b.Bias.Grad[c] += float32(sg)
			}
			k := b.Weight.Data[c] * invstd
			if !b.train {
				for i := range dxs {
					dxs[i] *= k
				}
				continue
			}
			// dx = gamma*invstd * (g - mean(g) - xhat*mean(g*xhat))
			//    = k*g + kx*(x-mean) + k0.
			mg, mgx := float32(sg/float64(m)), float32(sgx/float64(m))
			kx, k0 := -k*mgx*invstd, -k*mg
			xs = xs[:len(dxs)]
			for i, g := range dxs {
				dxs[i] = k*g + kx*(xs[i]-mean) + k0
			}
		}
	})
	return b.dx
}

// sumSq returns the float64 sum and sum of squares of xs, with four independent
// accumulators each so the adds do not wait on one another.
func sumSq(xs []float32) (s, ss float64) {
	var s0, s1, s2, s3, q0, q1, q2, q3 float64
	i := 0
	for ; i+4 <= len(xs); i += 4 {
		a, b, c, d := float64(xs[i]), float64(xs[i+1]), float64(xs[i+2]), float64(xs[i+3])
		s0, s1, s2, s3 = s0+a, s1+b, s2+c, s3+d
		q0, q1, q2, q3 = q0+a*a, q1+b*b, q2+c*c, q3+d*d
	}
	for ; i < len(xs); i++ {
		a := float64(xs[i])
		s0, q0 = s0+a, q0+a*a
	}
	return (s0 + s1) + (s2 + s3), (q0 + q1) + (q2 + q3)
}

// sumProd returns sum(g) and sum(g*(x-mean)) in float64, four accumulators each.
func sumProd(g, x []float32, mean float32) (sg, sgx float64) {
	var s0, s1, s2, s3, p0, p1, p2, p3 float64
	x = x[:len(g)]
	i := 0
	for ; i+4 <= len(g); i += 4 {
		a, b, c, d := float64(g[i]), float64(g[i+1]), float64(g[i+2]), float64(g[i+3])
		s0, s1, s2, s3 = s0+a, s1+b, s2+c, s3+d
		p0 += a * float64(x[i]-mean)
		p1 += b * float64(x[i+1]-mean)
		p2 += c * float64(x[i+2]-mean)
		p3 += d * float64(x[i+3]-mean)
	}
	for ; i < len(g); i++ {
		a := float64(g[i])
		s0, p0 = s0+a, p0+a*float64(x[i]-mean)
	}
	return (s0 + s1) + (s2 + s3), (p0 + p1) + (p2 + p3)
}

// actGrad writes g = dy * act'(y); y's sign decides the branch (for a positive slope
// it equals the sign of the pre-activation), and the gradient at 0 is that of the
// negative side, as in PyTorch.
func actGrad(g, dy, y []float32, act Act, slope float32) {
	dy, y = dy[:len(g)], y[:len(g)]
	switch act {
	case ActNone:
		copy(g, dy)
	case ActReLU:
		reluGrad(g, dy, y)
	default:
		leakyGrad(g, dy, y, slope)
	}
}
