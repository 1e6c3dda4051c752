package dcgan

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"avatargan/internal/gemm"
)

// BenchmarkTrainStep times one full iteration of the reference configuration (48 px,
// batch 64: one D step, two G steps) on synthetic data.
func BenchmarkTrainStep(b *testing.B) { benchTrainStep(b, DefaultConfig()) }

// BenchmarkTrainStepBF16 is BenchmarkTrainStep with bf16 operands in every GEMM
// (train --precision bf16): the path decides the kernel (AVX512_BF16, AMX tiles, or
// the slow pure-Go one); run it with AVATARGAN_GEMM to compare paths.
func BenchmarkTrainStepBF16(b *testing.B) {
	cfg := DefaultConfig()
	benchTrainStepWith(b, cfg, gemm.BF16)
}

// benchTrainStep times Trainer.Step of cfg on synthetic data, after one untimed step
// that allocates the buffers, and reports images/s.
func benchTrainStep(b *testing.B, cfg Config) { benchTrainStepWith(b, cfg, gemm.F32) }

// benchTrainStepWith is benchTrainStep with the GEMMs' operands in precision p.
func benchTrainStepWith(b *testing.B, cfg Config, p gemm.Precision) {
	tr, err := NewTrainer(cfg)
	if err != nil {
		b.Fatal(err)
	}
	tr.SetPrecision(p)
	r := rand.New(rand.NewPCG(1, 1))
	real := randZ(r, cfg.Batch*3*cfg.Size*cfg.Size)
	z := randZ(r, cfg.Batch*cfg.ZDim)
	if _, err := tr.Step(real, z); err != nil { // allocate the buffers
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := tr.Step(real, z); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cfg.Batch*b.N)/time.Since(start).Seconds(), "images/s")
}

// BenchmarkGenerate times eval-mode generator inference of the reference generator.
func BenchmarkGenerate(b *testing.B) {
	cfg := DefaultConfig()
	tr, _ := NewTrainer(cfg)
	for _, n := range []int{1, 64} {
		b.Run(map[int]string{1: "batch1", 64: "batch64"}[n], func(b *testing.B) {
			z := randZ(rand.New(rand.NewPCG(2, 2)), n*cfg.ZDim)
			tr.G.Forward(z, n, false)
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				tr.G.Forward(z, n, false)
			}
			b.ReportMetric(float64(n*b.N)/time.Since(start).Seconds(), "images/s")
		})
	}
}

// BenchmarkTrainStepR1 times an iteration of the sngan-da recipe without and with the
// R1 penalty (every D step, and lazily every 4th), to price the penalty's extra two
// forwards and backwards of D on the real batch.
func BenchmarkTrainStepR1(b *testing.B) {
	for _, c := range []struct {
		name  string
		r1    float64
		every int
	}{{"none", 0, 0}, {"every1", 1, 1}, {"every4", 1, 4}} {
		b.Run(c.name, func(b *testing.B) {
			cfg, err := Recipe("sngan-da", DefaultConfig())
			if err != nil {
				b.Fatal(err)
			}
			cfg.R1, cfg.R1Every = c.r1, c.every
			benchTrainStep(b, cfg)
		})
	}
}

// BenchmarkTrainStepSpectralReg times an iteration of the sngan-da recipe without and
// with the spectral compensation (every 10th and every 5th D update, the authors'
// interval), to price the eigendecompositions it adds. Give -benchtime a multiple of 10
// iterations (e.g. 20x) so that every variant takes its exact share of them.
func BenchmarkTrainStepSpectralReg(b *testing.B) {
	for _, every := range []int{0, 10, 5} {
		b.Run(fmt.Sprintf("every%d", every), func(b *testing.B) {
			cfg, err := Recipe("sngan-da", DefaultConfig())
			if err != nil {
				b.Fatal(err)
			}
			cfg.SpectralReg = every
			benchTrainStep(b, cfg)
		})
	}
}

// BenchmarkTrainStepRefine times an iteration of the embedded model's stage
// configuration (sngan-da, 96/64 channels, bf16) without and with a refinement head of
// 32 channels, to price the head against its share of the FLOPs.
func BenchmarkTrainStepRefine(b *testing.B) {
	for _, refine := range []int{0, 32} {
		b.Run(fmt.Sprintf("refine%d", refine), func(b *testing.B) {
			cfg, err := Recipe("sngan-da", DefaultConfig())
			if err != nil {
				b.Fatal(err)
			}
			cfg.GF, cfg.DF, cfg.Refine = 96, 64, refine
			benchTrainStepWith(b, cfg, gemm.BF16)
		})
	}
}
