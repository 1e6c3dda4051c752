//go:build !noasm

package gemm

import (
	"testing"

	"golang.org/x/sys/cpu"
)

// BenchmarkPeak measures this machine's real FMA peak per core with the
// register-only probes from asm/gen.go (12 independent FMA chains, no memory
// traffic), for zmm and ymm. Quote kernel and Sgemm efficiency against these
// figures rather than a datasheet number: on the AMD EPYC (Zen 4) VM this package was
// tuned on both report ~117 GFLOP/cpu-s, i.e. 512-bit FMAs are double-pumped.
// bf16zmm is the VDPBF16PS probe (64 flops per instruction: 16 lanes of two
// bf16 products and their sums), the peak of the BF16 kernel. The subtests run
// back to back in one process, so their ratio holds even on a busy machine.
func BenchmarkPeak(b *testing.B) {
	probes := []struct {
		name  string
		width int
		ok    bool
		fn    func(n int)
	}{
		{"zmm", 16, cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ, fmaPeakZMM},
		{"ymm", 8, cpu.X86.HasAVX2 && cpu.X86.HasFMA, fmaPeakYMM},
		// Counted as 32 "lanes" of FMA (2 products per fp32 lane).
		{"bf16zmm", 32, cpu.X86.HasAVX512F && cpu.X86.HasAVX512BF16, dpbf16PeakZMM},
	}
	for _, p := range probes {
		b.Run(p.name, func(b *testing.B) {
			if !p.ok {
				b.Skipf("CPU lacks %s FMA", p.name)
			}
			const iters = 1 << 20
			cpu0 := cpuSeconds()
			for i := 0; i < b.N; i++ {
				p.fn(iters)
			}
			flops := float64(iters) * 12 * 2 * float64(p.width) * float64(b.N)
			b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			if cpu := cpuSeconds() - cpu0; cpu > 0 {
				b.ReportMetric(flops/cpu/1e9, "GFLOP/cpu-s")
			}
		})
	}
}

// TestPeakProbes runs the probes once so that they are exercised by go test.
func TestPeakProbes(t *testing.T) {
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ {
		fmaPeakZMM(100)
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		fmaPeakYMM(100)
	}
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512BF16 {
		dpbf16PeakZMM(100)
	}
}
