package nn

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkIm2col times im2col then col2im at the shape of D's conv1 (64 -> 128,
// 24 px, batch 64), the largest column matrix of the reference net.
func BenchmarkIm2col(b *testing.B) {
	g := geom{C: 64, N: benchN, H: 24, W: 24, Ho: 12, Wo: 12, K: 5, S: 2, P: 2}
	x := randSlice(rand.New(rand.NewPCG(1, 1)), g.C*g.N*g.H*g.W)
	col := make([]float32, g.C*g.K*g.K*g.N*g.Ho*g.Wo)
	b.Run("im2col", func(b *testing.B) {
		b.SetBytes(int64(4 * len(col)))
		for b.Loop() {
			im2col(col, x, g)
		}
	})
	b.Run("col2im", func(b *testing.B) {
		b.SetBytes(int64(4 * len(col)))
		for b.Loop() {
			col2im(x, col, g, nil)
		}
	})
}
