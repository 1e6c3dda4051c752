package nn

import (
	"fmt"
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

// BenchmarkIm2colSplit is BenchmarkIm2col on the tap-split path, at conv1 (12 px
// output) and conv3 (3 px output, every x-class one column wide).
func BenchmarkIm2colSplit(b *testing.B) {
	for _, g := range []geom{
		{C: 64, N: benchN, H: 24, W: 24, Ho: 12, Wo: 12, K: 5, S: 2, P: 2},
		{C: 256, N: benchN, H: 6, W: 6, Ho: 3, Wo: 3, K: 5, S: 2, P: 2},
	} {
		x := randSlice(rand.New(rand.NewPCG(1, 1)), g.C*g.N*g.H*g.W)
		col := make([]float32, g.C*g.K*g.K*g.N*g.Ho*g.Wo)
		p := new(splitPlan).plan(g)
		b.Run(fmt.Sprintf("im2col_%dpx", g.Ho), func(b *testing.B) {
			for b.Loop() {
				im2colSplit(col, x, p)
			}
		})
		b.Run(fmt.Sprintf("col2im_%dpx", g.Ho), func(b *testing.B) {
			for b.Loop() {
				col2imSplit(x, col, p, nil)
			}
		})
	}
}
