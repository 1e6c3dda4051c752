package nn

import (
	"fmt"
	"math"

	"avatargan/internal/gemm"
)

// Act is an activation that BatchNorm2d can apply in the same pass as the
// normalisation, saving a trip through memory in forward and backward.
type Act int

const (
	// ActNone applies no activation.
	ActNone Act = iota
	// ActReLU applies max(x, 0).
	ActReLU
	// ActLeakyReLU applies x for x > 0 and slope*x otherwise.
	ActLeakyReLU
)

// elementwise grain: large enough that a chunk amortises the pool hand-off.
const ewGrain = 1 << 14

// ReLU is max(x, 0), elementwise on any layout.
type ReLU struct{ y, dx []float32 }

// Forward returns relu(x) in a buffer owned by the layer.
func (a *ReLU) Forward(x []float32) []float32 {
	a.y = Grow(a.y, len(x))
	y := a.y
	gemm.ParallelFor(len(x), ewGrain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			y[i] = max(x[i], 0)
		}
	})
	return y
}

// Backward returns dx = dy where y > 0, else 0 (PyTorch's gradient at 0 is 0).
func (a *ReLU) Backward(dy []float32) []float32 {
	a.dx = Grow(a.dx, len(dy))
	y, dx := a.y, a.dx
	gemm.ParallelFor(len(dy), ewGrain, func(lo, hi int) {
		reluGrad(dx[lo:hi], dy[lo:hi], y[lo:hi])
	})
	return dx
}

// LeakyReLU is x for x > 0 and Slope*x otherwise (the discriminator uses 0.2).
type LeakyReLU struct {
	Slope      float32
	y, dx, lin []float32
}

// Forward returns leaky_relu(x) in a buffer owned by the layer.
func (a *LeakyReLU) Forward(x []float32) []float32 {
	a.y = Grow(a.y, len(x))
	y, s := a.y, a.Slope
	gemm.ParallelFor(len(x), ewGrain, func(lo, hi int) {
		// Branch-free: the signs are close to random, so a branch mispredicts often.
		for i, v := range x[lo:hi] {
			y[lo+i] = max(v, 0) + float32(s*min(v, 0)) // rounded product: no FMA fusion (see BatchNorm2d.Forward)
		}
	})
	return y
}

// Backward returns dx; the sign of y equals the sign of x for a positive slope, so y
// alone decides the branch.
func (a *LeakyReLU) Backward(dy []float32) []float32 {
	a.dx = Grow(a.dx, len(dy))
	y, dx, s := a.y, a.dx, a.Slope
	gemm.ParallelFor(len(dy), ewGrain, func(lo, hi int) {
		leakyGrad(dx[lo:hi], dy[lo:hi], y[lo:hi], s)
	})
	return dx
}

// Linearized returns the layer's Jacobian at the last Forward applied to v: v where
// that forward's output was positive, else Slope*v (in a buffer of its own). The
// Forward state stays, so Backward still backpropagates through the last Forward, which
// is also the Jacobian-transpose of this map: a penalty on input gradients (R1) needs
// both.
func (a *LeakyReLU) Linearized(v []float32) []float32 {
	if len(v) != len(a.y) {
		panic(fmt.Sprintf("nn: LeakyReLU.Linearized: len(v)=%d, last Forward had %d", len(v), len(a.y)))
	}
	a.lin = Grow(a.lin, len(v))
	y, out, s := a.y, a.lin, a.Slope
	gemm.ParallelFor(len(v), ewGrain, func(lo, hi int) {
		leakyGrad(out[lo:hi], v[lo:hi], y[lo:hi], s)
	})
	return out
}

// Tanh is the elementwise hyperbolic tangent (the generator's output).
type Tanh struct{ y, dx []float32 }

// Forward returns tanh(x) in a buffer owned by the layer.
func (a *Tanh) Forward(x []float32) []float32 {
	a.y = Grow(a.y, len(x))
	y := a.y
	gemm.ParallelFor(len(x), ewGrain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			y[i] = float32(math.Tanh(float64(x[i])))
		}
	})
	return y
}

// Backward returns dx = dy * (1 - y^2).
func (a *Tanh) Backward(dy []float32) []float32 {
	a.dx = Grow(a.dx, len(dy))
	y, dx := a.y, a.dx
	gemm.ParallelFor(len(dy), ewGrain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			dx[i] = dy[i] * (1 - y[i]*y[i])
		}
	})
	return dx
}

// leakyGrad writes g = dy where y > 0, else slope*dy. The factor is picked on its bit
// pattern, which the compiler turns into a conditional move instead of a branch.
func leakyGrad(g, dy, y []float32, slope float32) {
	one, sl := math.Float32bits(1), math.Float32bits(slope)
	dy, y = dy[:len(g)], y[:len(g)]
	for i, d := range dy {
		k := one
		if y[i] <= 0 {
			k = sl
		}
		g[i] = d * math.Float32frombits(k)
	}
}

// reluGrad writes g = dy where y > 0, else 0, by masking dy's bits (a conditional move,
// not a branch; and an infinite dy still gives 0, as in PyTorch).
func reluGrad(g, dy, y []float32) {
	dy, y = dy[:len(g)], y[:len(g)]
	for i, d := range dy {
		var m uint32
		if y[i] > 0 {
			m = ^uint32(0)
		}
		g[i] = math.Float32frombits(math.Float32bits(d) & m)
	}
}
