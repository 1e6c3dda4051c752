package nn

import (
	"fmt"
	"math/rand/v2"

	"avatargan/internal/gemm"
)

// Linear is PyTorch's Linear with bias: y[n, out] = x[n, in] * W^T + b, W [out, in].
// Rows are samples (not CNHW): a Linear sits at a model boundary (the generator's input,
// the discriminator's output), where the model flattens in NCHW order.
type Linear struct {
	In, Out      int
	Weight, Bias *Param
	// NoInputGrad and NoParamGrad skip dx and dW/db in Backward.
	NoInputGrad, NoParamGrad bool
	// Precision is the operand precision of the layer's products, as for Conv2d.
	Precision gemm.Precision

	n        int
	x, y, dx []float32
	linear   bool // the last forward was ForwardLinear
}

// NewLinear returns a Linear with params name+".weight" and name+".bias", zeroed.
func NewLinear(name string, in, out int) *Linear {
	return &Linear{In: in, Out: out, Weight: newParam(name+".weight", out, in), Bias: newParam(name+".bias", out)}
}

// Init sets the weights to N(0, std) and the bias to zero. Unlike the convolutions it
// does not truncate: the TF original's linear() uses random_normal_initializer.
func (l *Linear) Init(std float64, r *rand.Rand) {
	InitNormal(l.Weight.Data, std, false, r)
	clear(l.Bias.Data)
}

// Params returns weight and bias.
func (l *Linear) Params() []*Param { return []*Param{l.Weight, l.Bias} }

// Forward computes y [n, Out] for x [n, In]; x is kept for Backward, y is owned by the
// layer.
func (l *Linear) Forward(x []float32, n int) []float32 { return l.forward(x, n, false) }

// ForwardLinear computes y = x * W^T without the bias (the layer's Jacobian applied to
// x, as Conv2d.ForwardLinear); its Backward accumulates dW but no bias gradient.
func (l *Linear) ForwardLinear(x []float32, n int) []float32 { return l.forward(x, n, true) }

// forward is Forward, or ForwardLinear when linear (no bias).
func (l *Linear) forward(x []float32, n int, linear bool) []float32 {
	if len(x) != n*l.In {
		panic(fmt.Sprintf("nn: Linear.Forward: len(x)=%d, want %d x %d", len(x), n, l.In))
	}
	l.n, l.x, l.linear = n, x, linear
	l.y = Grow(l.y, n*l.Out)
	var beta float32 // ForwardLinear: y = x W^T alone
	if !linear {
		for i := 0; i < n; i++ {
			copy(l.y[i*l.Out:(i+1)*l.Out], l.Bias.Data)
		}
		beta = 1
	}
	gemm.Gemm(l.Precision, false, true, n, l.Out, l.In, 1, x, l.In, l.Weight.Data, l.In, beta, l.y, l.Out)
	return l.y
}

// Backward takes dy [n, Out], accumulates dW and db (no db after ForwardLinear) unless
// NoParamGrad, and returns dx [n, In] (owned by the layer), or nil with NoInputGrad.
func (l *Linear) Backward(dy []float32) []float32 {
	n := l.n
	if !l.NoParamGrad {
		gemm.Gemm(l.Precision, true, false, l.Out, l.In, n, 1, dy, l.Out, l.x, l.In, 1, l.Weight.Grad, l.In)
		for i := 0; i < n && !l.linear; i++ {
			for j, v := range dy[i*l.Out : (i+1)*l.Out] {
				l.Bias.Grad[j] += v
			}
		}
	}
	if l.NoInputGrad {
		return nil
	}
	l.dx = Grow(l.dx, n*l.In)
	gemm.Gemm(l.Precision, false, false, n, l.In, l.Out, 1, dy, l.Out, l.Weight.Data, l.In, 0, l.dx, l.In)
	return l.dx
}
