package nn

import (
	"fmt"
	"math/rand/v2"

	"avatargan/internal/gemm"
)

// Conv2d is PyTorch's Conv2d (square kernel K, stride, padding, with bias) on CNHW
// activations. Weight is [OutC, InC, K, K], which read row-major is already the
// [OutC x InC*K*K] matrix of the im2col GEMM.
type Conv2d struct {
	InC, OutC, K, Stride, Pad int
	Weight, Bias              *Param
	// NoInputGrad skips dx in Backward (the first layer of a network, or a pass whose
	// input needs no gradient); NoParamGrad skips dW and db (a pass that only
	// backpropagates through this layer, such as D during a generator step).
	NoInputGrad, NoParamGrad bool
	// Precision is the operand precision of the layer's products (forward, dx and
	// dW): with gemm.BF16 the weights and activations are rounded to bfloat16 as
	// they enter each GEMM. Weights, gradients, bias and every sum stay float32.
	Precision gemm.Precision

	// Scratch, when set, holds the temporaries of each call (see Scratch); nil uses
	// a private one.
	Scratch *Scratch

	g          geom
	col, y, dx []float32 // col: the im2col of the last input, kept for Backward
	// linear: the last forward was ForwardLinear, whose function has no bias term.
	linear bool
	// The tap-split path (tapsplit.go): plan and tap-major weights (cached, see
	// wtCache). Its GEMM-order y or dy and tap-major dW are scratch.
	split bool
	sp    splitPlan
	wc    wtCache
	own   Scratch
	// The tap-sum path (tapsum.go): its weight matrix, weight-gradient matrix and
	// Z / G buffer; col then holds a copy of the input instead of its im2col.
	tapsum     bool
	wp, dwp, z []float32
}

// NewConv2d returns a Conv2d with params named name+".weight" and name+".bias", zeroed.
func NewConv2d(name string, inC, outC, k, stride, pad int) *Conv2d {
	return &Conv2d{InC: inC, OutC: outC, K: k, Stride: stride, Pad: pad,
		Weight: newParam(name+".weight", outC, inC, k, k), Bias: newParam(name+".bias", outC)}
}

// Init sets the weights to N(0, std) truncated at 2 std (the TF original's conv init)
// and the bias to zero.
func (c *Conv2d) Init(std float64, r *rand.Rand) {
	InitNormal(c.Weight.Data, std, true, r)
	clear(c.Bias.Data)
	Touch(c.Params())
}

// Params returns weight and bias.
func (c *Conv2d) Params() []*Param { return []*Param{c.Weight, c.Bias} }

// OutSize returns the output height and width for an h x w input.
func (c *Conv2d) OutSize(h, w int) (int, int) {
	return (h+2*c.Pad-c.K)/c.Stride + 1, (w+2*c.Pad-c.K)/c.Stride + 1
}

// useSplit reports whether the layer takes the tap-split path (see splitMinInner).
func (c *Conv2d) useSplit() bool { return c.Pad > 0 && c.InC*c.K*c.K >= splitMinInner }

// ScratchLen returns the scratch floats that a Forward or Backward of n images of
// h x w needs (see Scratch).
func (c *Conv2d) ScratchLen(n, h, w int) int {
	if !c.useSplit() || c.useTapSum() {
		return 0
	}
	ho, wo := c.OutSize(h, w)
	return c.OutC*n*ho*wo + len(c.Weight.Data)
}

func (c *Conv2d) scratch() *Scratch {
	if c.Scratch != nil {
		return c.Scratch
	}
	return &c.own
}

// Forward computes y = conv(x) + bias for x CNHW [InC][n][h][w]; y is CNHW
// [OutC][n][ho][wo], owned by the layer. x is not kept, only its im2col (or, on the
// tap-sum path, a copy).
func (c *Conv2d) Forward(x []float32, n, h, w int) []float32 {
	c.linear = false
	return c.forward(x, n, h, w, c.Bias.Data)
}

// ForwardLinear computes y = conv(x) without the bias: the layer's Jacobian applied to
// x, which an input-gradient penalty's second-order pass needs (see
// dcgan.Discriminator's R1). Its Backward accumulates dW but no bias gradient, since
// the bias is not part of this function.
func (c *Conv2d) ForwardLinear(x []float32, n, h, w int) []float32 {
	c.linear = true
	return c.forward(x, n, h, w, nil)
}

// forward is Forward with bias (nil: none).
func (c *Conv2d) forward(x []float32, n, h, w int, bias []float32) []float32 {
	ho, wo := c.OutSize(h, w)
	if len(x) != c.InC*n*h*w || ho < 1 || wo < 1 {
		panic(fmt.Sprintf("nn: Conv2d.Forward: len(x)=%d for C=%d N=%d H=%d W=%d", len(x), c.InC, n, h, w))
	}
	c.g = geom{C: c.InC, N: n, H: h, W: w, Ho: ho, Wo: wo, K: c.K, S: c.Stride, P: c.Pad}
	c.tapsum = c.useTapSum()
	if c.tapsum {
		c.split = false
		return c.forwardTapSum(x, bias)
	}
	kdim, np := c.InC*c.K*c.K, n*ho*wo
	c.col = Grow(c.col, kdim*np)
	c.y = Grow(c.y, c.OutC*np)
	c.split = c.useSplit()
	if c.split {
		p := c.sp.plan(c.g)
		wt := c.wc.get(c.Weight, c.OutC, c.InC, c.K*c.K, false)
		im2colSplit(c.col, x, p)
		s := c.scratch()
		s.begin(c.OutC * np)
		ys := s.alloc(c.OutC * np)
		clear(ys)
		for _, b := range p.blocks {
			gemm.Gemm(c.Precision, false, false, c.OutC, b.nc, b.nr, 1, wt[b.r0:], kdim,
				c.col[b.r0*np+b.c0:], np, 1, ys[b.c0:], np)
		}
		p.fromSplitCols(c.y, ys, c.OutC, bias)
		return c.y
	}
	im2col(c.col, x, c.g)
	if bias == nil {
		clear(c.y)
	} else {
		fillRows(c.y, bias, np)
	}
	gemm.Gemm(c.Precision, false, false, c.OutC, np, kdim, 1, c.Weight.Data, kdim, c.col, np, 1, c.y, np)
	return c.y
}

// Backward takes dy (CNHW, like y), accumulates dW and db (no db after ForwardLinear)
// unless NoParamGrad, and returns dx (CNHW, owned by the layer), or nil with NoInputGrad.
func (c *Conv2d) Backward(dy []float32) []float32 {
	g := c.g
	kdim, np := c.InC*c.K*c.K, g.N*g.Ho*g.Wo
	if c.tapsum {
		return c.backwardTapSum(dy)
	}
	if c.split {
		return c.backwardSplit(dy)
	}
	if !c.NoParamGrad {
		gemm.Gemm(c.Precision, false, true, c.OutC, kdim, np, 1, dy, np, c.col, np, 1, c.Weight.Grad, kdim)
		if !c.linear {
			channelSums(c.Bias.Grad, dy, np)
		}
	}
	if c.NoInputGrad {
		return nil
	}
	// dcol overwrites col: dW above was its last use.
	gemm.Gemm(c.Precision, true, false, kdim, np, c.OutC, 1, c.Weight.Data, kdim, dy, np, 0, c.col, np)
	c.dx = Grow(c.dx, c.InC*g.N*g.H*g.W)
	col2im(c.dx, c.col, g, nil)
	return c.dx
}

// backwardSplit is Backward on the tap-split path: the same three products, one GEMM
// per block.
func (c *Conv2d) backwardSplit(dy []float32) []float32 {
	g, p := c.g, &c.sp
	kdim, np := c.InC*c.K*c.K, g.N*g.Ho*g.Wo
	s := c.scratch()
	s.begin(c.OutC*np + len(c.Weight.Grad))
	ys := s.alloc(c.OutC * np)
	p.toSplitCols(ys, dy, c.OutC)
	if !c.NoParamGrad {
		dw := s.alloc(len(c.Weight.Grad))
		clear(dw)
		for _, b := range p.blocks {
			gemm.Gemm(c.Precision, false, true, c.OutC, b.nr, b.nc, 1, ys[b.c0:], np,
				c.col[b.r0*np+b.c0:], np, 1, dw[b.r0:], kdim)
		}
		addChannelMajor(c.Weight.Grad, dw, c.OutC, c.InC, c.K*c.K)
		if !c.linear {
			channelSums(c.Bias.Grad, dy, np)
		}
	}
	if c.NoInputGrad {
		return nil
	}
	// dcol overwrites col block by block: the blocks are disjoint, and dW above was
	// col's last use.
	for _, b := range p.blocks {
		gemm.Gemm(c.Precision, true, false, b.nr, b.nc, c.OutC, 1, c.wc.wt[b.r0:], kdim,
			ys[b.c0:], np, 0, c.col[b.r0*np+b.c0:], np)
	}
	c.dx = Grow(c.dx, c.InC*g.N*g.H*g.W)
	col2imSplit(c.dx, c.col, p, nil)
	return c.dx
}

// ConvTranspose2d is PyTorch's ConvTranspose2d (square kernel K, stride, padding,
// output_padding, with bias) on CNHW activations. Weight is [InC, OutC, K, K], read
// row-major as the [InC x OutC*K*K] matrix whose transpose maps inputs to columns.
type ConvTranspose2d struct {
	InC, OutC, K, Stride, Pad, OutPad int
	Weight, Bias                      *Param
	// NoInputGrad and NoParamGrad skip dx and dW/db in Backward, as for Conv2d.
	NoInputGrad, NoParamGrad bool
	// Precision is the operand precision of the layer's products, as for Conv2d.
	Precision gemm.Precision

	// Scratch, when set, holds the temporaries of each call (see Scratch): the column
	// matrix, which Backward recomputes from dy, and the tap-split path's GEMM-order x
	// and dx and tap-major dW. nil uses a private one.
	Scratch *Scratch

	g     geom
	x     []float32
	y, dx []float32
	// The tap-split path (tapsplit.go): plan and tap-major weights (cached, see
	// wtCache).
	split bool
	sp    splitPlan
	wc    wtCache
	own   Scratch
	// Frozen promises that the weights no longer change (inference), so the tap-major
	// copy is never rebuilt, whatever Weight.Version says. Set it only after the
	// weights are final.
	Frozen bool
}

// NewConvTranspose2d returns a ConvTranspose2d with params name+".weight" and
// name+".bias", zeroed. outPad must be smaller than stride, as in PyTorch.
func NewConvTranspose2d(name string, inC, outC, k, stride, pad, outPad int) *ConvTranspose2d {
	if outPad >= stride || outPad < 0 {
		panic("nn: ConvTranspose2d: output_padding must be in [0, stride)")
	}
	return &ConvTranspose2d{InC: inC, OutC: outC, K: k, Stride: stride, Pad: pad, OutPad: outPad,
		Weight: newParam(name+".weight", inC, outC, k, k), Bias: newParam(name+".bias", outC)}
}

// Init sets the weights to N(0, std) truncated at 2 std and the bias to zero.
func (c *ConvTranspose2d) Init(std float64, r *rand.Rand) {
	InitNormal(c.Weight.Data, std, true, r)
	clear(c.Bias.Data)
	Touch(c.Params())
}

// Params returns weight and bias.
func (c *ConvTranspose2d) Params() []*Param { return []*Param{c.Weight, c.Bias} }

// OutSize returns the output height and width for an h x w input.
func (c *ConvTranspose2d) OutSize(h, w int) (int, int) {
	return (h-1)*c.Stride - 2*c.Pad + c.K + c.OutPad, (w-1)*c.Stride - 2*c.Pad + c.K + c.OutPad
}

// useSplit reports whether a batch of n inputs of h x w takes the tap-split path (see
// splitMinInner and splitMinCols).
func (c *ConvTranspose2d) useSplit(n, h, w int) bool {
	return c.Pad > 0 && c.InC >= splitMinInner && n*h*w >= splitMinCols
}

// ScratchLen returns the scratch floats that a Forward or Backward of n inputs of
// h x w needs (see Scratch).
func (c *ConvTranspose2d) ScratchLen(n, h, w int) int {
	np := n * h * w
	col := c.OutC * c.K * c.K * np
	if !c.useSplit(n, h, w) {
		return col
	}
	// Backward: col, then x in GEMM order and dW, then (reusing those) dx in GEMM order.
	return col + c.InC*np + len(c.Weight.Data)
}

func (c *ConvTranspose2d) scratch() *Scratch {
	if c.Scratch != nil {
		return c.Scratch
	}
	return &c.own
}

// Forward computes y = convT(x) + bias for x CNHW [InC][n][h][w]; y is CNHW
// [OutC][n][ho][wo], owned by the layer. x is kept (not copied) for Backward.
func (c *ConvTranspose2d) Forward(x []float32, n, h, w int) []float32 {
	ho, wo := c.OutSize(h, w)
	if len(x) != c.InC*n*h*w || ho < 1 || wo < 1 {
		panic(fmt.Sprintf("nn: ConvTranspose2d.Forward: len(x)=%d for C=%d N=%d H=%d W=%d", len(x), c.InC, n, h, w))
	}
	// The output is the "image" of the equivalent convolution and the input its grid.
	c.g = geom{C: c.OutC, N: n, H: ho, W: wo, Ho: h, Wo: w, K: c.K, S: c.Stride, P: c.Pad}
	c.x = x
	m, np := c.OutC*c.K*c.K, n*h*w
	c.y = Grow(c.y, c.OutC*n*ho*wo)
	c.split = c.useSplit(n, h, w)
	s := c.scratch()
	if c.split {
		p := c.sp.plan(c.g)
		wt := c.wc.get(c.Weight, c.InC, c.OutC, c.K*c.K, c.Frozen)
		s.begin(m*np + len(x))
		col, xs := s.alloc(m*np), s.alloc(len(x))
		p.toSplitCols(xs, x, c.InC)
		for _, b := range p.blocks {
			gemm.Gemm(c.Precision, true, false, b.nr, b.nc, c.InC, 1, wt[b.r0:], m,
				xs[b.c0:], np, 0, col[b.r0*np+b.c0:], np)
		}
		col2imSplit(c.y, col, p, c.Bias.Data)
		return c.y
	}
	s.begin(m * np)
	col := s.alloc(m * np)
	gemm.Gemm(c.Precision, true, false, m, np, c.InC, 1, c.Weight.Data, m, x, np, 0, col, np)
	col2im(c.y, col, c.g, c.Bias.Data)
	return c.y
}

// Backward takes dy (CNHW, like y), accumulates dW and db unless NoParamGrad, and
// returns dx (CNHW, owned by the layer), or nil with NoInputGrad.
func (c *ConvTranspose2d) Backward(dy []float32) []float32 {
	g := c.g
	m, np := c.OutC*c.K*c.K, g.N*g.Ho*g.Wo
	if c.split {
		return c.backwardSplit(dy)
	}
	s := c.scratch()
	s.begin(m * np)
	col := s.alloc(m * np)
	im2col(col, dy, g)
	if !c.NoParamGrad {
		gemm.Gemm(c.Precision, false, true, c.InC, m, np, 1, c.x, np, col, np, 1, c.Weight.Grad, m)
		channelSums(c.Bias.Grad, dy, g.N*g.H*g.W)
	}
	if c.NoInputGrad {
		return nil
	}
	c.dx = Grow(c.dx, c.InC*np)
	gemm.Gemm(c.Precision, false, false, c.InC, np, m, 1, c.Weight.Data, m, col, np, 0, c.dx, np)
	return c.dx
}

// backwardSplit is Backward on the tap-split path, one GEMM per block.
func (c *ConvTranspose2d) backwardSplit(dy []float32) []float32 {
	g, p := c.g, &c.sp
	m, np := c.OutC*c.K*c.K, g.N*g.Ho*g.Wo
	s := c.scratch()
	s.begin(c.ScratchLen(g.N, g.Ho, g.Wo))
	col := s.alloc(m * np)
	im2colSplit(col, dy, p)
	mark := s.off
	if !c.NoParamGrad {
		// x in GEMM order again: keeping Forward's copy would hold it across the
		// passes of the other layers, and the permutation is cheap next to the GEMMs.
		xs, dw := s.alloc(c.InC*np), s.alloc(len(c.Weight.Grad))
		p.toSplitCols(xs, c.x, c.InC)
		clear(dw)
		for _, b := range p.blocks {
			gemm.Gemm(c.Precision, false, true, c.InC, b.nr, b.nc, 1, xs[b.c0:], np,
				col[b.r0*np+b.c0:], np, 1, dw[b.r0:], m)
		}
		addChannelMajor(c.Weight.Grad, dw, c.InC, c.OutC, c.K*c.K)
		channelSums(c.Bias.Grad, dy, g.N*g.H*g.W)
	}
	if c.NoInputGrad {
		return nil
	}
	s.off = mark // xs and dW are spent
	dxs := s.alloc(c.InC * np)
	clear(dxs)
	for _, b := range p.blocks {
		gemm.Gemm(c.Precision, false, false, c.InC, b.nc, b.nr, 1, c.wc.wt[b.r0:], m,
			col[b.r0*np+b.c0:], np, 1, dxs[b.c0:], np)
	}
	c.dx = Grow(c.dx, c.InC*np)
	p.fromSplitCols(c.dx, dxs, c.InC, nil)
	return c.dx
}
