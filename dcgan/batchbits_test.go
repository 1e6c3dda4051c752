package dcgan

import (
	"math/rand/v2"
	"testing"

	"avatargan/internal/gemm"
)

// TestGeneratorBatchBits checks that an image drawn alone on one thread has the same
// float bits as in a batch on every thread, on every GEMM path this CPU runs: a batch
// of 32 takes the tap-split layout in every transposed convolution and the regular GEMM
// path, one image the dense layout and the small-N path, so this holds only because
// both sum in the same order (see col2im and gemm.kBlocks). The server batches
// requests, and "seed S" must be the same avatar wherever it is drawn.
func TestGeneratorBatchBits(t *testing.T) {
	const n = 32
	g := NewGenerator(48, 100, 64)
	r := rand.New(rand.NewPCG(5, 6))
	g.Init(r)
	// Non-trivial eval statistics, so that BatchNorm's affine part is exercised too.
	for _, bn := range g.BN[:3] {
		for i := range bn.RunningMean.Data {
			bn.RunningMean.Data[i] = float32(r.NormFloat64() * 0.1)
			bn.RunningVar.Data[i] = float32(0.5 + r.Float64())
		}
	}
	z := make([]float32, n*100)
	for i := range z {
		z[i] = float32(r.NormFloat64())
	}
	orig, threads := gemm.Kernel(), gemm.Threads()
	t.Cleanup(func() { gemm.SetKernel(orig); gemm.SetThreads(threads) })
	for _, k := range gemm.Kernels() {
		if err := gemm.SetKernel(k); err != nil {
			t.Fatal(err)
		}
		gemm.SetThreads(max(2, threads))
		batch := append([]float32(nil), g.Forward(z, n, false)...)
		gemm.SetThreads(1)
		per := len(batch) / n
		for _, i := range []int{0, 13, n - 1} {
			one := g.Forward(z[i*100:(i+1)*100], 1, false)
			for j, v := range one {
				if w := batch[i*per+j]; v != w {
					t.Fatalf("%s: image %d element %d: alone %v, in the batch %v", k, i, j, v, w)
				}
			}
		}
	}
}
