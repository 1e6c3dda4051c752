package dcgan

import "fmt"

// MaxTrainBytes bounds the memory a training configuration may need (TrainBytes): far
// above the reference run (~0.6 GB), and far below what a mistyped size or width asks
// for (--size 4096 or --gf 100000 want terabytes), which is then refused with a
// one-line error before anything is allocated.
const MaxTrainBytes = 64 << 30

// TrainBytes estimates the memory of training c: parameters with their gradients, two
// Adam moments and an EMA copy; per image of the batch, every layer's activations with
// their gradients and BatchNorm copies; and the largest column matrix of a
// convolution. It is computed in float64 so that absurd sizes cannot overflow.
func (c Config) TrainBytes() float64 {
	s := float64(c.Size / 16)
	z, gf, df, n := float64(c.ZDim), float64(c.GF), float64(c.DF), float64(c.Batch)
	gParams := z*8*gf*s*s + 25*(8*gf*4*gf+4*gf*2*gf+2*gf*gf+gf*3)
	dParams := 25*(3*df+df*2*df+2*df*4*df+4*df*8*df) + 8*df*s*s
	// Activations per image: G's 8gf x s^2 ... 3 x (16s)^2, D's mirror image.
	gActs := 8*gf*s*s + 4*gf*4*s*s + 2*gf*16*s*s + gf*64*s*s + 3*256*s*s
	r := float64(c.Refine)
	if r > 0 {
		// The refinement head at the output side: its weights, its features, the sum
		// before tanh, and its 3x3 convolution's buffers on the tap-sum path (a copy of
		// its input, r values per pixel, and 27 tap sums per pixel; nn/tapsum.go).
		gParams += 25*gf*r + 9*r*3
		gActs += r*256*s*s + 3*256*s*s + (r+27)*256*s*s
	}
	dActs := df*64*s*s + 2*df*16*s*s + 4*df*4*s*s + 8*df*s*s + 3*256*s*s
	// Column matrices (25 taps): G's deconv3 (gf outputs over (4s)^2 inputs) and D's
	// conv1 (df inputs over (4s)^2 outputs) are the largest at the default widths.
	// The head's transposed convolution: r outputs over (8s)^2 inputs.
	cols := 25 * n * 16 * s * s * max(gf, df, 2*gf, 2*df, 4*r)
	return 4 * (5*(gParams+dParams) + 8*n*(gActs+dActs) + cols)
}

// checkMemory refuses a configuration whose training would need more than
// MaxTrainBytes.
func (c Config) checkMemory() error {
	if b := c.TrainBytes(); b > MaxTrainBytes {
		return fmt.Errorf("dcgan: size %d, z %d, gf %d%s, df %d, batch %d would need about %.3g GB to train (limit %d GB)",
			c.Size, c.ZDim, c.GF, refineText(c.Refine), c.DF, c.Batch, b/1e9, MaxTrainBytes>>30)
	}
	return nil
}
