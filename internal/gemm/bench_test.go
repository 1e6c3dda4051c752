package gemm

import (
	"fmt"
	"math/rand"
	"testing"
)

type benchShape struct {
	name           string
	transA, transB bool
	m, n, k        int
}

// benchShapes are the MxKxN layer shapes (batch 64) with their two
// backward products, and the distinct products the nn package issues
// (channel-major activations: M = channels). ConvTranspose2d forward and
// backward reuse the Conv2d dcol, forward and dW shapes except for the first
// layer, so only that one is listed separately.
var benchShapes = []benchShape{
	{"issue/36864x1600x128/fwd", false, false, 36864, 128, 1600},
	{"issue/36864x1600x128/dA", false, true, 36864, 1600, 128},
	{"issue/36864x1600x128/dB", true, false, 1600, 128, 36864},
	{"issue/9216x3200x256/fwd", false, false, 9216, 256, 3200},
	{"issue/9216x3200x256/dA", false, true, 9216, 3200, 256},
	{"issue/9216x3200x256/dB", true, false, 3200, 256, 9216},
	{"issue/2304x6400x512/fwd", false, false, 2304, 512, 6400},
	{"issue/2304x6400x512/dA", false, true, 2304, 6400, 512},
	{"issue/2304x6400x512/dB", true, false, 6400, 512, 2304},

	{"conv/fwd/64x36864x75", false, false, 64, 36864, 75},
	{"conv/fwd/128x9216x1600", false, false, 128, 9216, 1600},
	{"conv/fwd/256x2304x3200", false, false, 256, 2304, 3200},
	{"conv/fwd/512x576x6400", false, false, 512, 576, 6400},
	{"conv/dW/128x1600x9216", false, true, 128, 1600, 9216},
	{"conv/dW/256x3200x2304", false, true, 256, 3200, 2304},
	{"conv/dW/512x6400x576", false, true, 512, 6400, 576},
	{"conv/dcol/1600x9216x128", true, false, 1600, 9216, 128},
	{"conv/dcol/3200x2304x256", true, false, 3200, 2304, 256},
	{"conv/dcol/6400x576x512", true, false, 6400, 576, 512},
	{"convT/fwd/75x36864x64", true, false, 75, 36864, 64},
}

// BenchmarkSgemm reports GFLOP/s (2mnk per call) for each shape on 1 and 2
// threads with the default kernel (set AVATARGAN_GEMM to bench another path).
func BenchmarkSgemm(b *testing.B) {
	r := rand.New(rand.NewSource(1))
	for _, s := range benchShapes {
		b.Run(s.name, func(b *testing.B) { benchShape1(b, r, s, F32) })
	}
}

// BenchmarkGemmBF16 is BenchmarkSgemm with BF16 operands (the avx512bf16 path
// where the CPU has it; AVATARGAN_GEMM=generic benches the pure-Go bf16 kernel).
// Quote it against BenchmarkPeak/bf16zmm from the same run.
func BenchmarkGemmBF16(b *testing.B) {
	r := rand.New(rand.NewSource(1))
	for _, s := range benchShapes {
		b.Run(s.name, func(b *testing.B) { benchShape1(b, r, s, BF16) })
	}
}

func benchShape1(b *testing.B, r *rand.Rand, s benchShape, p Precision) {
	{
		a := randSlice(r, s.m*s.k)
		bm := randSlice(r, s.k*s.n)
		c := make([]float32, s.m*s.n)
		lda, ldb := s.k, s.n
		if s.transA {
			lda = s.m
		}
		if s.transB {
			ldb = s.k
		}
		for _, th := range []int{1, 2} {
			b.Run(fmt.Sprintf("t%d", th), func(b *testing.B) {
				old := SetThreads(th)
				defer SetThreads(old)
				Gemm(p, s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bm, ldb, 0, c, s.n)
				b.ResetTimer()
				cpu0 := cpuSeconds()
				for i := 0; i < b.N; i++ {
					Gemm(p, s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bm, ldb, 0, c, s.n)
				}
				flops := 2 * float64(s.m) * float64(s.n) * float64(s.k) * float64(b.N)
				b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				if cpu := cpuSeconds() - cpu0; cpu > 0 {
					b.ReportMetric(flops/cpu/1e9, "GFLOP/cpu-s")
				}
			})
		}
	}
}

// smallNShapes are batch-1 generator products (deconvolution, A transposed and
// a column slice of the tap-major weights, so lda > m): m x n x k, lda, ldb.
var smallNShapes = []struct {
	name     string
	m, n, k  int
	lda, ldb int
}{
	{"6400x9x512", 6400, 9, 512, 6400, 9},
	{"3200x36x256", 3200, 36, 256, 3200, 36},
	{"1600x144x128", 1600, 144, 128, 1600, 144},
	{"1024x2x512", 1024, 2, 512, 6400, 9},
	{"1280x3x512", 1280, 3, 512, 6400, 9},
	{"512x6x256", 512, 6, 256, 3200, 36},
	{"640x20x256", 640, 20, 256, 3200, 36},
	{"256x12x128", 256, 12, 128, 1600, 144},
	{"320x110x128", 320, 110, 128, 1600, 144},
	{"75x576x64", 75, 576, 64, 75, 576},
}

// BenchmarkSmallN compares the small-N path with the regular one on the
// batch-1 inference shapes.
func BenchmarkSmallN(b *testing.B) {
	r := rand.New(rand.NewSource(1))
	for _, s := range smallNShapes {
		a := randSlice(r, s.k*s.lda)
		bm := randSlice(r, s.k*s.ldb)
		c := make([]float32, s.m*s.ldb)
		for _, mode := range []int{1, -1} {
			for _, th := range []int{1, 2} {
				name := fmt.Sprintf("%s/%s/t%d", s.name, map[int]string{1: "small", -1: "regular"}[mode], th)
				b.Run(name, func(b *testing.B) {
					old, oldT := smallMode, SetThreads(th)
					smallMode = mode
					defer func() { smallMode = old; SetThreads(oldT) }()
					if mode == 1 && !useSmall(cur.Load(), s.m, s.n, s.k) {
						b.Skip("no small-N kernel")
					}
					cpu0 := cpuSeconds()
					for b.Loop() {
						Sgemm(true, false, s.m, s.n, s.k, 1, a, s.lda, bm, s.ldb, 0, c, s.ldb)
					}
					flops := 2 * float64(s.m) * float64(s.n) * float64(s.k) * float64(b.N)
					b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
					if cpu := cpuSeconds() - cpu0; cpu > 0 {
						b.ReportMetric(flops/cpu/1e9, "GFLOP/cpu-s")
					}
				})
			}
		}
	}
}
