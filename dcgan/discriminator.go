package dcgan

import (
	"fmt"
	"math/rand/v2"

	"avatargan/nn"
)

// Discriminator maps images [N, 3, Size, Size] to one logit each:
// conv0 -> lrelu(0.2) -> (convK -> bnK -> lrelu(0.2)) x 3 -> flatten (NCHW order) -> fc.
// The LeakyReLUs after bn1..bn3 are fused into the BatchNorms.
type Discriminator struct {
	Size, DF int
	// Conv[k] is convK; BN[k] follows it (BN[0] is nil: conv0 has no BatchNorm).
	Conv  [4]*nn.Conv2d
	BN    [4]*nn.BatchNorm2d
	LReLU nn.LeakyReLU
	FC    *nn.Linear

	n               int
	xc, flat, dflat []float32
	dx              []float32
	params          []*nn.Param
	scratch         *nn.Scratch
}

// NewDiscriminator returns a Discriminator with zero weights and fresh BatchNorms.
func NewDiscriminator(size, df int) *Discriminator {
	s := size / 16
	d := &Discriminator{Size: size, DF: df, LReLU: nn.LeakyReLU{Slope: 0.2}}
	chans := []int{3, df, 2 * df, 4 * df, 8 * df}
	for i := 0; i < 4; i++ {
		d.Conv[i] = nn.NewConv2d(fmt.Sprintf("conv%d", i), chans[i], chans[i+1], 5, 2, 2)
		d.params = append(d.params, d.Conv[i].Params()...)
		if i > 0 {
			d.BN[i] = nn.NewBatchNorm2d(fmt.Sprintf("bn%d", i), chans[i+1], nn.ActLeakyReLU)
			d.BN[i].Slope = 0.2
			d.params = append(d.params, d.BN[i].Params()...)
		}
	}
	d.FC = nn.NewLinear("fc", 8*df*s*s, 1)
	d.params = append(d.params, d.FC.Params()...)
	d.SetScratch(new(nn.Scratch))
	return d
}

// Scratch returns the scratch memory of the discriminator's layers (see nn.Scratch).
func (d *Discriminator) Scratch() *nn.Scratch { return d.scratch }

// SetScratch makes the discriminator's layers draw their per-call temporaries from s,
// which may be shared with networks that never run at the same time (see
// Generator.SetScratch).
func (d *Discriminator) SetScratch(s *nn.Scratch) {
	d.scratch = s
	for _, c := range d.Conv {
		c.Scratch = s
	}
}

// Init draws the TF original's init from r: conv weights N(0, 0.02) truncated at 2
// sigma, fc weights N(0, 0.02), biases 0, BN gamma 1 beta 0.
func (d *Discriminator) Init(r *rand.Rand) {
	for i, c := range d.Conv {
		c.Init(InitStd, r)
		if i > 0 {
			d.BN[i].Reset()
		}
	}
	d.FC.Init(InitStd, r)
}

// Params returns all params, trainable and buffers (flagged), in reference order with
// reference names ("conv0.weight", "bn1.running_var", ..., "fc.bias").
func (d *Discriminator) Params() []*nn.Param { return d.params }

// Tensors returns every tensor of the state_dict in its order (see Generator.Tensors).
func (d *Discriminator) Tensors() []nn.NamedTensor {
	var out []nn.NamedTensor
	for i := 0; i < 4; i++ {
		out = append(out, nn.Tensors("", d.Conv[i].Params())...)
		if i > 0 {
			out = append(out, nn.Tensors("", d.BN[i].Params())...)
			out = append(out, d.BN[i].CountTensor(fmt.Sprintf("bn%d.num_batches_tracked", i)))
		}
	}
	return append(out, nn.Tensors("", d.FC.Params())...)
}

// forwardCNHW returns the logits [n] of x CNHW [3][n][S][S] (owned by D).
func (d *Discriminator) forwardCNHW(x []float32, n int, train bool) []float32 {
	if len(x) != n*3*d.Size*d.Size {
		panic(fmt.Sprintf("dcgan: Discriminator: len(x)=%d, want %d x 3 x %d x %d", len(x), n, d.Size, d.Size))
	}
	d.n = n
	s := d.Size
	need := 0
	for i, c := range d.Conv {
		need = max(need, c.ScratchLen(n, s>>i, s>>i))
	}
	d.scratch.Reserve(need)
	h := d.Conv[0].Forward(x, n, s, s)
	h = d.LReLU.Forward(h)
	s /= 2
	for i := 1; i < 4; i++ {
		h = d.Conv[i].Forward(h, n, s, s)
		s /= 2
		h = d.BN[i].Forward(h, n, s*s, train)
	}
	d.flat = growF(d.flat, len(h))
	nn.CNHWToNCHW(d.flat, h, n, 8*d.DF, s*s)
	return d.FC.Forward(d.flat, n)
}

// backwardCNHW backpropagates dlogits [n]. paramGrads accumulates D's param grads
// (a D step); inputGrad returns dx CNHW (a G step, which skips the param grads). With
// inputGrad false it returns nil.
func (d *Discriminator) backwardCNHW(dlogits []float32, inputGrad, paramGrads bool) []float32 {
	for i := 0; i < 4; i++ {
		d.Conv[i].NoParamGrad = !paramGrads
		if i > 0 {
			d.BN[i].NoParamGrad = !paramGrads
		}
	}
	d.FC.NoParamGrad = !paramGrads
	d.Conv[0].NoInputGrad = !inputGrad
	s := d.Size / 16
	g := d.FC.Backward(dlogits)
	d.dflat = growF(d.dflat, len(g))
	nn.NCHWToCNHW(d.dflat, g, d.n, 8*d.DF, s*s)
	g = d.dflat
	for i := 3; i >= 1; i-- {
		g = d.BN[i].Backward(g)
		g = d.Conv[i].Backward(g)
	}
	g = d.LReLU.Backward(g)
	return d.Conv[0].Backward(g)
}

// Forward returns the logits [n] of images x NCHW [n, 3, Size, Size], in a buffer owned
// by D (valid until the next call).
func (d *Discriminator) Forward(x []float32, n int, train bool) []float32 {
	d.xc = growF(d.xc, len(x))
	nn.NCHWToCNHW(d.xc, x, n, 3, d.Size*d.Size)
	return d.forwardCNHW(d.xc, n, train)
}

// Backward backpropagates dlogits through the last Forward, accumulating D's param
// grads when paramGrads, and returns dx NCHW when inputGrad (else nil).
func (d *Discriminator) Backward(dlogits []float32, inputGrad, paramGrads bool) []float32 {
	g := d.backwardCNHW(dlogits, inputGrad, paramGrads)
	if g == nil {
		return nil
	}
	d.dx = growF(d.dx, len(g))
	nn.CNHWToNCHW(d.dx, g, d.n, 3, d.Size*d.Size)
	return d.dx
}

// ZeroGrad clears all param gradients.
func (d *Discriminator) ZeroGrad() { nn.ZeroGrads(d.params) }
