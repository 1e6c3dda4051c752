package dcgan

import (
	"fmt"
	"math/rand/v2"

	"avatargan/nn"
)

// Discriminator maps images [N, 3, Size, Size] to one logit each:
// conv0 -> lrelu(0.2) -> (convK -> bnK -> lrelu(0.2)) x 3 -> flatten (NCHW order) -> fc.
// The LeakyReLUs after bn1..bn3 are fused into the BatchNorms. With DNoNorm there are
// no BatchNorms; with spectral normalisation every conv and the fc compute with
// weight_orig / sigma (nn.SpectralNorm), as torch.nn.utils.spectral_norm applied to
// each of them would.
type Discriminator struct {
	Size, DF int
	Opts     DOptions
	// Conv[k] is convK; BN[k] follows it (BN[0] is nil: conv0 has no BatchNorm, and
	// all are nil with DNoNorm).
	Conv [4]*nn.Conv2d
	BN   [4]*nn.BatchNorm2d
	// LReLU[0] follows conv0; LReLU[1..3] follow conv1..conv3 when there is no
	// BatchNorm to fuse them into.
	LReLU [4]nn.LeakyReLU
	FC    *nn.Linear
	// SN[k] normalises Conv[k]'s weight, SN[4] FC's; all nil without spectral norm.
	SN [5]*nn.SpectralNorm

	n               int
	xc, flat, dflat []float32
	r1up            []float32
	dx              []float32
	params          []*nn.Param
	scratch         *nn.Scratch
}

// DOptions are the discriminator's architecture options beyond the original.
type DOptions struct {
	SpectralNorm bool
	Norm         DNorm
}

// NewDiscriminator returns the original Discriminator with zero weights and fresh
// BatchNorms.
func NewDiscriminator(size, df int) *Discriminator {
	return NewDiscriminatorWith(size, df, DOptions{})
}

// NewDiscriminatorWith returns a Discriminator with the given options, zero weights and
// fresh BatchNorms (if any).
func NewDiscriminatorWith(size, df int, o DOptions) *Discriminator {
	s := size / 16
	d := &Discriminator{Size: size, DF: df, Opts: o}
	for i := range d.LReLU {
		d.LReLU[i].Slope = 0.2
	}
	// weightParams lists a layer's params, with its weight replaced by the spectral
	// norm's weight_orig, weight_u and weight_v when on (PyTorch's state_dict names).
	weightParams := func(k int, w *nn.Param, rest ...*nn.Param) []*nn.Param {
		if !o.SpectralNorm {
			return append([]*nn.Param{w}, rest...)
		}
		d.SN[k] = nn.NewSpectralNorm(w)
		return append(d.SN[k].Params(), rest...)
	}
	chans := []int{3, df, 2 * df, 4 * df, 8 * df}
	for i := 0; i < 4; i++ {
		d.Conv[i] = nn.NewConv2d(fmt.Sprintf("conv%d", i), chans[i], chans[i+1], 5, 2, 2)
		d.params = append(d.params, weightParams(i, d.Conv[i].Weight, d.Conv[i].Bias)...)
		if i > 0 && o.Norm == DBatchNorm {
			d.BN[i] = nn.NewBatchNorm2d(fmt.Sprintf("bn%d", i), chans[i+1], nn.ActLeakyReLU)
			d.BN[i].Slope = 0.2
			d.params = append(d.params, d.BN[i].Params()...)
		}
	}
	d.FC = nn.NewLinear("fc", 8*df*s*s, 1)
	d.params = append(d.params, weightParams(4, d.FC.Weight, d.FC.Bias)...)
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
// With spectral norm, weight_orig starts as those weights and u, v are then drawn
// from r (normalised N(0, 1), PyTorch's), layer by layer.
func (d *Discriminator) Init(r *rand.Rand) {
	for i, c := range d.Conv {
		c.Init(InitStd, r)
		if d.BN[i] != nil {
			d.BN[i].Reset()
		}
	}
	d.FC.Init(InitStd, r)
	for _, sn := range d.SN {
		if sn != nil {
			sn.Init(r)
		}
	}
}

// compensateSpectra applies the spectral compensation (Config.SpectralReg) to every
// spectrally normalised weight; the fc layer's 1 x n weight has one singular value and
// is left as it is.
func (d *Discriminator) compensateSpectra() {
	for _, sn := range d.SN {
		if sn != nil {
			sn.Compensate()
		}
	}
}

// Params returns all params, trainable and buffers (flagged), in reference order with
// reference names ("conv0.weight", "bn1.running_var", ..., "fc.bias").
func (d *Discriminator) Params() []*nn.Param { return d.params }

// Tensors returns every tensor of the state_dict in its order (see Generator.Tensors).
func (d *Discriminator) Tensors() []nn.NamedTensor {
	var out []nn.NamedTensor
	layer := func(k int, w, b *nn.Param) {
		if d.SN[k] != nil {
			out = append(out, nn.Tensors("", d.SN[k].Params())...)
			out = append(out, nn.Tensors("", []*nn.Param{b})...)
			return
		}
		out = append(out, nn.Tensors("", []*nn.Param{w, b})...)
	}
	for i := 0; i < 4; i++ {
		layer(i, d.Conv[i].Weight, d.Conv[i].Bias)
		if d.BN[i] != nil {
			out = append(out, nn.Tensors("", d.BN[i].Params())...)
			out = append(out, d.BN[i].CountTensor(fmt.Sprintf("bn%d.num_batches_tracked", i)))
		}
	}
	layer(4, d.FC.Weight, d.FC.Bias)
	return out
}

// normalise sets every spectral-normed weight from weight_orig (with a power
// iteration in training mode); a no-op without spectral norm.
func (d *Discriminator) normalise(train bool) {
	for _, sn := range d.SN {
		if sn != nil {
			sn.Forward(train)
		}
	}
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
	d.normalise(train)
	h := d.Conv[0].Forward(x, n, s, s)
	h = d.LReLU[0].Forward(h)
	s /= 2
	for i := 1; i < 4; i++ {
		h = d.Conv[i].Forward(h, n, s, s)
		s /= 2
		if d.BN[i] != nil {
			h = d.BN[i].Forward(h, n, s*s, train)
		} else {
			h = d.LReLU[i].Forward(h)
		}
	}
	d.flat = nn.Grow(d.flat, len(h))
	nn.CNHWToNCHW(d.flat, h, n, 8*d.DF, s*s)
	return d.FC.Forward(d.flat, n)
}

// backwardCNHW backpropagates dlogits [n]. paramGrads accumulates D's param grads
// (a D step); inputGrad returns dx CNHW (a G step, which skips the param grads). With
// inputGrad false it returns nil.
func (d *Discriminator) backwardCNHW(dlogits []float32, inputGrad, paramGrads bool) []float32 {
	for i := 0; i < 4; i++ {
		d.Conv[i].NoParamGrad = !paramGrads
		if d.BN[i] != nil {
			d.BN[i].NoParamGrad = !paramGrads
		}
	}
	d.FC.NoParamGrad = !paramGrads
	d.Conv[0].NoInputGrad = !inputGrad
	s := d.Size / 16
	g := d.FC.Backward(dlogits)
	d.dflat = nn.Grow(d.dflat, len(g))
	nn.NCHWToCNHW(d.dflat, g, d.n, 8*d.DF, s*s)
	g = d.dflat
	for i := 3; i >= 1; i-- {
		if d.BN[i] != nil {
			g = d.BN[i].Backward(g)
		} else {
			g = d.LReLU[i].Backward(g)
		}
		g = d.Conv[i].Backward(g)
	}
	g = d.LReLU[0].Backward(g)
	g = d.Conv[0].Backward(g)
	if paramGrads {
		// Each pass's dL/dW becomes dL/dweight_orig with this forward's sigma, u and v,
		// before the next forward changes them.
		for _, sn := range d.SN {
			if sn != nil {
				sn.Backward()
			}
		}
	}
	return g
}

// r1Grads adds to D's param grads the gradient of the R1 penalty
//
//	gamma/2 * mean_i ||dD(x_i)/dx_i||^2
//
// over x (CNHW, n images) and returns the penalty. D must have no BatchNorm: it is then
// piecewise linear in x, and with x's LeakyReLU slopes held fixed (they are constant
// almost everywhere) the input gradient g = J^T 1 gives grad_theta(|g|^2/2) =
// grad_theta(J v) at v = g held fixed: the weight gradient of v pushed forward through D's
// Jacobian (convs and fc without bias, x's slopes), backpropagated with the same
// slopes. So the exact second-order gradient takes two forwards and two backwards and
// no double-backprop machinery. Spectral norm runs in eval mode (u and v as the last
// training forward left them), as a PyTorch module in eval() would.
func (d *Discriminator) r1Grads(x []float32, n int, gamma float64) float64 {
	for _, bn := range d.BN {
		if bn != nil {
			panic("dcgan: R1 on a discriminator with BatchNorm")
		}
	}
	g, ss := d.inputGrads(x, n)
	penalty := gamma / 2 * ss / float64(n)
	// J g: Conv[0].ForwardLinear reads g (Conv[0]'s dx) and writes only its col and y.
	s := d.Size
	h := d.LReLU[0].Linearized(d.Conv[0].ForwardLinear(g, n, s, s))
	s /= 2
	for i := 1; i < 4; i++ {
		h = d.Conv[i].ForwardLinear(h, n, s, s)
		s /= 2
		h = d.LReLU[i].Linearized(h)
	}
	d.flat = nn.Grow(d.flat, len(h))
	nn.CNHWToNCHW(d.flat, h, n, 8*d.DF, s*s)
	d.FC.ForwardLinear(d.flat, n)
	for i := range d.r1up {
		d.r1up[i] = float32(gamma / float64(n))
	}
	d.backwardCNHW(d.r1up, false, true)
	return penalty
}

// inputGrads returns dD(x_i)/dx_i for x (CNHW, n images; owned by Conv[0]) from an
// eval-mode forward (spectral norm keeps u, v) and its sum of squares in float64,
// accumulating no param grads: the R1 penalty's first-order half.
func (d *Discriminator) inputGrads(x []float32, n int) ([]float32, float64) {
	d.forwardCNHW(x, n, false)
	d.r1up = nn.Grow(d.r1up, n)
	for i := range d.r1up {
		d.r1up[i] = 1
	}
	g := d.backwardCNHW(d.r1up, true, false)
	var ss float64
	for _, v := range g {
		ss += float64(v) * float64(v)
	}
	return g, ss
}

// Forward returns the logits [n] of images x NCHW [n, 3, Size, Size], in a buffer owned
// by D (valid until the next call).
func (d *Discriminator) Forward(x []float32, n int, train bool) []float32 {
	d.xc = nn.Grow(d.xc, len(x))
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
	d.dx = nn.Grow(d.dx, len(g))
	nn.CNHWToNCHW(d.dx, g, d.n, 3, d.Size*d.Size)
	return d.dx
}

// ZeroGrad clears all param gradients.
func (d *Discriminator) ZeroGrad() { nn.ZeroGrads(d.params) }
