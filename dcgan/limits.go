package dcgan

import "fmt"

// Upper bounds on a generator's shape, checked before anything is allocated so that a
// corrupt or hostile generator file or a mistyped flag ends in a one-line error instead
// of an out-of-memory crash. The estimates count float32 buffers the way the nn layers
// allocate them (weights with their gradients, layer outputs, the largest column
// matrix); they are bounds for refusing absurd shapes, not exact accounting. (A training
// configuration is bounded by the memory of a whole training step instead.)
const (
	// MaxSize bounds the image side before any arithmetic, so that no product below can
	// overflow; the memory limits are the real bound.
	MaxSize = 4096
	// MaxZDim and MaxWidth bound the latent size and the base width likewise.
	MaxZDim  = 1 << 16
	MaxWidth = 1 << 16
	// MaxParamBytes bounds the memory of a generator's parameters with their gradients
	// (2 x 4 bytes per weight): 4 GiB, over a hundred times the reference generator's.
	MaxParamBytes = 4 << 30
	// MaxImageBytes bounds the memory an evaluation-mode generator pass needs per image
	// (about 1 MB at the reference's 48 px, 0.5 GB at 1024 px).
	MaxImageBytes = 1 << 30
)

// GeneratorMemory is the estimated memory of a generator, in bytes.
type GeneratorMemory struct {
	Params int64 // parameters with their gradients
	Image  int64 // one image of an evaluation-mode pass: layer outputs and columns
}

// EstimateGenerator returns the memory estimate of a generator of shape (size, zdim,
// gf, refine), or an error when a dimension is out of range. Dimensions within the hard
// caps cannot overflow int64.
func EstimateGenerator(size, zdim, gf, refine int) (GeneratorMemory, error) {
	switch {
	case size < 16 || size%16 != 0 || size > MaxSize:
		return GeneratorMemory{}, fmt.Errorf("dcgan: size %d is not a multiple of 16 in 16..%d", size, MaxSize)
	case zdim < 1 || zdim > MaxZDim:
		return GeneratorMemory{}, fmt.Errorf("dcgan: zdim %d is not in 1..%d", zdim, MaxZDim)
	case gf < 1 || gf > MaxWidth:
		return GeneratorMemory{}, fmt.Errorf("dcgan: gf %d is not in 1..%d", gf, MaxWidth)
	case refine < 0 || refine > MaxWidth:
		return GeneratorMemory{}, fmt.Errorf("dcgan: refine %d is not in 0..%d", refine, MaxWidth)
	}
	s, z, g := int64(size/16), int64(zdim), int64(gf)
	// fc to 8gf x s x s, then four 5x5 transposed convolutions doubling the side, each
	// with a bias and (but the last) a BatchNorm of 4 values per channel (scale, shift
	// and running statistics).
	params := z*8*g*s*s + 8*g*s*s + 4*8*g
	ch := []int64{8 * g, 4 * g, 2 * g, g, 3}
	act, col := 8*g*s*s, int64(0)
	for i := 0; i < 4; i++ {
		side := s << i // input side
		params += 25*ch[i]*ch[i+1] + ch[i+1]
		if i < 3 {
			params += 4 * ch[i+1]
		}
		act += ch[i+1] * (2 * side) * (2 * side)
		col = max(col, ch[i+1]*25*side*side+ch[i]*side*side)
	}
	kept := int64(0)
	if r := int64(refine); r > 0 {
		// The head: a 5x5 transposed convolution gf -> r with its BatchNorm, a 3x3
		// convolution r -> 3, at the output side 16s; the transposed convolution's
		// columns are transient, the convolution's (its input's im2col) are kept.
		side := 16 * s
		params += 25*g*r + r + 4*r + 9*r*3 + 3
		act += r*side*side + 3*side*side
		col = max(col, r*25*side*side/4+g*side*side/4)
		kept = 9 * r * side * side
	}
	// Outputs before and after each BatchNorm, plus the largest column matrix.
	return GeneratorMemory{Params: 2 * 4 * params, Image: 4 * (2*act + col + kept)}, nil
}

// CheckGenerator reports whether a generator of this shape can be built and run one image
// at a time within the limits, in one line; every loader of generator files and every
// flag that sets a generator's shape should call it before allocating.
func CheckGenerator(size, zdim, gf, refine int) error {
	m, err := EstimateGenerator(size, zdim, gf, refine)
	if err != nil {
		return err
	}
	shape := fmt.Sprintf("size %d, zdim %d, gf %d%s", size, zdim, gf, refineText(refine))
	switch {
	case m.Params > MaxParamBytes:
		return fmt.Errorf("dcgan: %s: the generator's parameters would need %s, over the %s limit", shape, GiB(m.Params), GiB(MaxParamBytes))
	case m.Image > MaxImageBytes:
		return fmt.Errorf("dcgan: %s: one generated image would need %s, over the %s limit", shape, GiB(m.Image), GiB(MaxImageBytes))
	}
	return nil
}

// GiB formats a byte count for messages.
func GiB(b int64) string {
	if b < 1<<30 {
		return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20))
	}
	return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30))
}

// refineText names a refinement head in a shape's description: ", refine N", or
// nothing without one, so head-less shapes read as they always have.
func refineText(refine int) string {
	if refine == 0 {
		return ""
	}
	return fmt.Sprintf(", refine %d", refine)
}
