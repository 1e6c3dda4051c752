package dcgan

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"avatargan/internal/gemm"
)

// TestGeneratorBatchBits checks that an image drawn alone on one thread has the same
// float bits as in a batch on every thread, on every GEMM path this CPU runs: a batch
// of 32 takes the tap-split layout in deconv1-3 (deconv4, with 64 inputs, stays dense)
// and the regular GEMM path, one image the dense layout and the small-N path, so this
// holds only because both sum in the same order (see col2im and gemm.kBlocks). With a
// refinement head (refine 32), its 3x3 convolution takes the tap-sum path in both. The
// server batches requests, and "seed S" must be the same avatar wherever it is drawn.
func TestGeneratorBatchBits(t *testing.T) {
	for _, refine := range []int{0, 32} {
		t.Run(fmt.Sprintf("refine%d", refine), func(t *testing.T) { generatorBatchBits(t, refine) })
	}
}

func generatorBatchBits(t *testing.T, refine int) {
	const n = 32
	g := NewGeneratorRefine(48, 100, 64, refine)
	r := rand.New(rand.NewPCG(5, 6))
	g.Init(r)
	// Non-trivial eval statistics, so that BatchNorm's affine part is exercised too.
	bns := g.BN[:3]
	if refine > 0 {
		bns = append(bns[:3:3], g.RefineBN)
	}
	for _, bn := range bns {
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
