package nn

import (
	"math/rand/v2"
	"testing"
)

// TestConvTransposeBatchBits checks that a ConvTranspose2d gives an image the same bits
// alone (one dense GEMM: too few columns to split) as in a batch (the tap-split layout):
// the server batches requests, and an avatar must not depend on its neighbours.
func TestConvTransposeBatchBits(t *testing.T) {
	const n, ci, co, h, w = 4, 160, 8, 6, 6
	old := splitMinCols
	defer func() { splitMinCols = old }()
	splitMinCols = 2 * h * w // the batch splits, one image does not
	c := NewConvTranspose2d("d", ci, co, 5, 2, 2, 1)
	if !c.useSplit(n, h, w) || c.useSplit(1, h, w) {
		t.Fatalf("the test needs the batch split (%v) and one image dense (%v)", c.useSplit(n, h, w), c.useSplit(1, h, w))
	}
	r := rand.New(rand.NewPCG(11, 12))
	copy(c.Weight.Data, randSlice(r, len(c.Weight.Data)))
	copy(c.Bias.Data, randSlice(r, co))
	x := randSlice(r, ci*n*h*w) // CNHW
	ho, wo := c.OutSize(h, w)
	batch := append([]float32(nil), c.Forward(x, n, h, w)...)
	for img := 0; img < n; img++ {
		one := make([]float32, ci*h*w)
		for ch := 0; ch < ci; ch++ {
			copy(one[ch*h*w:(ch+1)*h*w], x[(ch*n+img)*h*w:])
		}
		y := c.Forward(one, 1, h, w)
		for ch := 0; ch < co; ch++ {
			for i := 0; i < ho*wo; i++ {
				if a, b := y[ch*ho*wo+i], batch[(ch*n+img)*ho*wo+i]; a != b {
					t.Fatalf("image %d, channel %d, pixel %d: alone %v, in the batch %v", img, ch, i, a, b)
				}
			}
		}
	}
}
