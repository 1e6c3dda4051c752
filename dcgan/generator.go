package dcgan

import (
	"fmt"
	"math/rand/v2"

	"avatargan/nn"
)

// InitStd is the standard deviation of the TF original's weight init.
const InitStd = 0.02

// Generator maps z [N, ZDim] to images [N, 3, Size, Size] in [-1, 1]:
// fc -> view [N, 8gf, s, s] -> bn0 -> relu -> (deconvK -> bnK -> relu) x 3 -> deconv4 ->
// tanh, with s = Size/16. The ReLUs are fused into the BatchNorms.
//
// With a refinement head (Refine > 0), the output is tanh(deconv4(h) + refine_conv(
// relu(refine_bn(refine_deconv(h))))), h being bn3's output: a second transposed
// convolution to Refine channels at the full size, then a 3x3 stride-1 convolution to
// RGB. Without it every output pixel is a linear function of the half-size features,
// so fine detail (the 48 px level of metrics.SWD, where the avatars' grain is) has no
// nonlinearity of its own; the head adds one at the output size for about a third
// more generator arithmetic at Refine = GF/2.
type Generator struct {
	Size, ZDim, GF int
	// Refine is the refinement head's width (0: none, the reference generator).
	Refine int
	FC     *nn.Linear
	// BN[0] is bn0 (after fc), BN[k] follows Deconv[k-1]; Deconv[k] is deconv(k+1).
	BN     [4]*nn.BatchNorm2d
	Deconv [4]*nn.ConvTranspose2d
	// RefineDeconv (5x5, stride 2, like deconv4), RefineBN (ReLU fused) and
	// RefineConv (3x3, stride 1, padding 1) are the refinement head; nil without one.
	RefineDeconv *nn.ConvTranspose2d
	RefineBN     *nn.BatchNorm2d
	RefineConv   *nn.Conv2d
	Tanh         nn.Tanh

	n         int
	h0, dh0   []float32
	sum       []float32 // deconv4's output plus the head's
	img, dimg []float32
	params    []*nn.Param
	scratch   *nn.Scratch
}

// NewGenerator returns a Generator without a refinement head, with zero weights and
// fresh BatchNorms (load a checkpoint into Tensors, or call Init).
func NewGenerator(size, zdim, gf int) *Generator { return NewGeneratorRefine(size, zdim, gf, 0) }

// NewGeneratorRefine returns a Generator with a refinement head of refine channels (0:
// none), with zero weights and fresh BatchNorms.
func NewGeneratorRefine(size, zdim, gf, refine int) *Generator {
	s := size / 16
	g := &Generator{Size: size, ZDim: zdim, GF: gf, Refine: refine, FC: nn.NewLinear("fc", zdim, 8*gf*s*s)}
	g.FC.NoInputGrad = true // z needs no gradient
	chans := []int{8 * gf, 4 * gf, 2 * gf, gf, 3}
	g.BN[0] = nn.NewBatchNorm2d("bn0", chans[0], nn.ActReLU)
	for i := 0; i < 4; i++ {
		g.Deconv[i] = nn.NewConvTranspose2d(fmt.Sprintf("deconv%d", i+1), chans[i], chans[i+1], 5, 2, 2, 1)
		if i < 3 {
			g.BN[i+1] = nn.NewBatchNorm2d(fmt.Sprintf("bn%d", i+1), chans[i+1], nn.ActReLU)
		}
	}
	if refine > 0 {
		g.RefineDeconv = nn.NewConvTranspose2d("refine_deconv", gf, refine, 5, 2, 2, 1)
		g.RefineBN = nn.NewBatchNorm2d("refine_bn", refine, nn.ActReLU)
		g.RefineConv = nn.NewConv2d("refine_conv", refine, 3, 3, 1, 1)
	}
	g.SetScratch(new(nn.Scratch))
	// Reference (state_dict) order: fc, bn0, deconv1, bn1, ..., deconv3, bn3, deconv4,
	// then the head's refine_deconv, refine_bn, refine_conv.
	g.params = append(g.params, g.FC.Params()...)
	g.params = append(g.params, g.BN[0].Params()...)
	for i := 0; i < 4; i++ {
		g.params = append(g.params, g.Deconv[i].Params()...)
		if i < 3 {
			g.params = append(g.params, g.BN[i+1].Params()...)
		}
	}
	if refine > 0 {
		g.params = append(g.params, g.RefineDeconv.Params()...)
		g.params = append(g.params, g.RefineBN.Params()...)
		g.params = append(g.params, g.RefineConv.Params()...)
	}
	return g
}

// Scratch returns the scratch memory of the generator's layers (see nn.Scratch).
func (g *Generator) Scratch() *nn.Scratch { return g.scratch }

// SetScratch makes the generator's layers draw their per-call temporaries from s, which
// may be shared with other networks that never run at the same time as this one (the
// trainer's D, a sampling copy of G used between training steps).
func (g *Generator) SetScratch(s *nn.Scratch) {
	g.scratch = s
	for _, d := range g.Deconv {
		d.Scratch = s
	}
	if g.Refine > 0 {
		g.RefineDeconv.Scratch = s
		g.RefineConv.Scratch = s
	}
}

// reserveScratch sizes the scratch for a pass of n latents once, before the first layer
// runs, so it is not grown layer by layer.
func (g *Generator) reserveScratch(n int) {
	need, s := 0, g.Size/16
	for _, d := range g.Deconv {
		need = max(need, d.ScratchLen(n, s, s))
		s *= 2
	}
	if g.Refine > 0 {
		need = max(need, g.RefineDeconv.ScratchLen(n, s/2, s/2), g.RefineConv.ScratchLen(n, s, s))
	}
	g.scratch.Reserve(need)
}

// Init draws the TF original's init from r: fc weights N(0, 0.02) (not truncated, as TF's
// linear()), deconv weights N(0, 0.02) truncated at 2 sigma, biases 0, BN gamma 1 beta 0.
// The refinement head's weights are drawn the same way after all others, so a generator
// with a head starts with the same reference layers as one without.
func (g *Generator) Init(r *rand.Rand) {
	g.FC.Init(InitStd, r)
	for i, d := range g.Deconv {
		d.Init(InitStd, r)
		if i < 3 {
			g.BN[i].Reset()
		}
	}
	g.BN[3].Reset()
	if g.Refine > 0 {
		g.RefineDeconv.Init(InitStd, r)
		g.RefineBN.Reset()
		g.RefineConv.Init(InitStd, r)
	}
}

// Params returns all params, trainable and buffers (flagged), in reference order with
// reference names ("fc.weight", "bn0.running_mean", ...).
func (g *Generator) Params() []*nn.Param { return g.params }

// Tensors returns every tensor of the state_dict, in its order and with its names
// (num_batches_tracked as a Count); the data alias the model, so a loader writes into
// them. Prefix the names ("generator.") for a combined checkpoint.
func (g *Generator) Tensors() []nn.NamedTensor {
	var out []nn.NamedTensor
	add := func(ps []*nn.Param) { out = append(out, nn.Tensors("", ps)...) }
	addBN := func(i int) {
		add(g.BN[i].Params())
		out = append(out, g.BN[i].CountTensor(fmt.Sprintf("bn%d.num_batches_tracked", i)))
	}
	add(g.FC.Params())
	addBN(0)
	for i := 0; i < 4; i++ {
		add(g.Deconv[i].Params())
		if i < 3 {
			addBN(i + 1)
		}
	}
	if g.Refine > 0 {
		add(g.RefineDeconv.Params())
		add(g.RefineBN.Params())
		out = append(out, g.RefineBN.CountTensor("refine_bn.num_batches_tracked"))
		add(g.RefineConv.Params())
	}
	return out
}

// forwardCNHW runs the network on z [n, ZDim] and returns the image CNHW [3][n][S][S],
// owned by the generator. train selects BatchNorm's mode (and updates running stats).
func (g *Generator) forwardCNHW(z []float32, n int, train bool) []float32 {
	if len(z) != n*g.ZDim {
		panic(fmt.Sprintf("dcgan: Generator: len(z)=%d, want %d x %d", len(z), n, g.ZDim))
	}
	g.n = n
	g.reserveScratch(n)
	s := g.Size / 16
	c0 := 8 * g.GF
	fc := g.FC.Forward(z, n) // [n][c0][s][s], i.e. NCHW
	g.h0 = nn.Grow(g.h0, len(fc))
	nn.NCHWToCNHW(g.h0, fc, n, c0, s*s)
	h := g.BN[0].Forward(g.h0, n, s*s, train)
	for i := 0; i < 3; i++ {
		h = g.Deconv[i].Forward(h, n, s, s)
		s *= 2
		h = g.BN[i+1].Forward(h, n, s*s, train)
	}
	out := g.Deconv[3].Forward(h, n, s, s)
	if g.Refine > 0 {
		r := g.RefineDeconv.Forward(h, n, s, s)
		r = g.RefineBN.Forward(r, n, 4*s*s, train)
		r = g.RefineConv.Forward(r, n, 2*s, 2*s)
		g.sum = nn.Grow(g.sum, len(out))
		for i := range out {
			g.sum[i] = out[i] + r[i]
		}
		out = g.sum
	}
	return g.Tanh.Forward(out)
}

// backwardCNHW backpropagates dimg (CNHW, like forwardCNHW's output) and accumulates
// the gradients of all trainable params.
func (g *Generator) backwardCNHW(dimg []float32) {
	n, s := g.n, g.Size/16
	dout := g.Tanh.Backward(dimg)
	d := g.Deconv[3].Backward(dout)
	if g.Refine > 0 {
		// Both branches read bn3's output: their input gradients add.
		r := g.RefineConv.Backward(dout)
		r = g.RefineBN.Backward(r)
		r = g.RefineDeconv.Backward(r)
		for i := range d {
			d[i] += r[i]
		}
	}
	for i := 2; i >= 0; i-- {
		d = g.BN[i+1].Backward(d)
		d = g.Deconv[i].Backward(d)
	}
	d = g.BN[0].Backward(d)
	g.dh0 = nn.Grow(g.dh0, len(d))
	nn.CNHWToNCHW(g.dh0, d, n, 8*g.GF, s*s)
	g.FC.Backward(g.dh0)
}

// Forward returns G(z) for z [n, ZDim] as NCHW images [n, 3, Size, Size], in a buffer
// owned by the generator (valid until the next call). Use train=false for inference:
// eval-mode BatchNorm accepts any n (1 included) and leaves the running stats alone.
func (g *Generator) Forward(z []float32, n int, train bool) []float32 {
	y := g.forwardCNHW(z, n, train)
	g.img = nn.Grow(g.img, len(y))
	nn.CNHWToNCHW(g.img, y, n, 3, g.Size*g.Size)
	return g.img
}

// Backward backpropagates dimg (NCHW, like Forward's output) through the last Forward
// and accumulates the param gradients (zero them first with ZeroGrad).
func (g *Generator) Backward(dimg []float32) {
	g.dimg = nn.Grow(g.dimg, len(dimg))
	nn.NCHWToCNHW(g.dimg, dimg, g.n, 3, g.Size*g.Size)
	g.backwardCNHW(g.dimg)
}

// ZeroGrad clears all param gradients.
func (g *Generator) ZeroGrad() { nn.ZeroGrads(g.params) }

// Freeze declares the weights final (a generator loaded for inference): layers may then
// cache weight layouts across Forward calls instead of rebuilding them each time. Do
// not train or load new weights into a frozen generator.
func (g *Generator) Freeze() {
	for _, d := range g.Deconv {
		d.Frozen = true
	}
	if g.Refine > 0 {
		g.RefineDeconv.Frozen = true
	}
}

// batchNorms returns all of g's BatchNorms: bn0..bn3, then the refinement head's.
func (g *Generator) batchNorms() []*nn.BatchNorm2d {
	bns := g.BN[:]
	if g.Refine > 0 {
		bns = append(bns[:len(bns):len(bns)], g.RefineBN)
	}
	return bns
}

// BalancePhases phase-balances G's last k transposed convolutions (k = 1: the output
// layer, and the refinement head's, which works at the same level; see
// nn.BalancePhases and Config.PhaseBalance).
func (g *Generator) BalancePhases(k int) {
	for _, c := range g.lastDeconvs(k) {
		c.BalancePhases()
	}
}

// lastDeconvs returns G's last k transposed convolutions (all of them for k >= 4),
// with the refinement head's among them when k >= 1: like deconv4 it draws the full
// size from bn3's output, and its stride phases would put a checkerboard into the
// head's features just the same.
func (g *Generator) lastDeconvs(k int) []*nn.ConvTranspose2d {
	out := g.Deconv[len(g.Deconv)-min(k, len(g.Deconv)):]
	if k >= 1 && g.Refine > 0 {
		out = append(out[:len(out):len(out)], g.RefineDeconv)
	}
	return out
}
