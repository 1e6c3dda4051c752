//go:build !noasm

package gemm

import (
	"time"

	"golang.org/x/sys/cpu"
)

func init() {
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ && cpu.X86.HasAVX512BF16 {
		peakProbe = probeBF16
		amxProbe = probeAMX
	}
}

// amxPeakCfg is amxPeak with the package's tile configuration, as a probe.
func amxPeakCfg(n int) { amxPeak(n, &amxCfg[0]) }

// peakGFLOPS runs the register-only probe of precision p (zmm FMAs, or ymm
// without AVX-512, for F32; for BF16 TDPBF16PS on the AMX path, else VDPBF16PS)
// in bursts for about d and returns the best burst's rate in GFLOP/s; 0 where
// the CPU lacks it.
func peakGFLOPS(p Precision, d time.Duration) float64 {
	var fn func(int)
	var flopsPerIter float64
	switch {
	case p == BF16 && cur.Load().bf.amx != nil:
		fn, flopsPerIter = amxPeakCfg, 4*16384
	case p == BF16 && cpu.X86.HasAVX512F && cpu.X86.HasAVX512BF16:
		fn, flopsPerIter = dpbf16PeakZMM, 12*64
	case p == F32 && cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ:
		fn, flopsPerIter = fmaPeakZMM, 12*32
	case p == F32 && cpu.X86.HasAVX2 && cpu.X86.HasFMA:
		fn, flopsPerIter = fmaPeakYMM, 12*16
	default:
		return 0
	}
	const iters = 1 << 14
	var best float64
	for start := time.Now(); time.Since(start) < d; {
		t0 := time.Now()
		fn(iters)
		if s := time.Since(t0).Seconds(); s > 0 {
			best = max(best, iters*flopsPerIter/s/1e9)
		}
	}
	return best
}

// probeAMX is probeBF16 for the AMX path: float32 FMAs against TDPBF16PS
// (4 independent tiles, 16384 flops each, per iteration), each one's best of five.
func probeAMX() float64 { return probeRatio(amxPeakCfg, 500, 4*16384) }

// probeBF16 times the register-only probes of asm/gen.go (12 chains each: 12
// FMAs of 32 flops, or 12 VDPBF16PS of 64 flops, per iteration), alternating
// and keeping each one's best of five, so that a clock ramp or a preemption
// does not decide the ratio.
func probeBF16() float64 { return probeRatio(dpbf16PeakZMM, 4000, 12*64) }

// probeRatio returns the flop rate of probe f (iters iterations of flops each)
// over that of fmaPeakZMM (4000 iterations of 12 FMAs of 32 flops), alternating
// the two and keeping each one's best of five.
func probeRatio(f func(int), iters int, flops float64) float64 {
	const fmaIters, fmaFlops = 4000, 12 * 32
	best := func(d *time.Duration, f func(int), n int) {
		t0 := time.Now()
		f(n)
		if e := time.Since(t0); *d == 0 || e < *d {
			*d = e
		}
	}
	var fma, x time.Duration
	for range 5 {
		best(&fma, fmaPeakZMM, fmaIters)
		best(&x, f, iters)
	}
	if fma <= 0 || x <= 0 {
		return 0
	}
	return (float64(iters) * flops / x.Seconds()) / (fmaIters * fmaFlops / fma.Seconds())
}

//go:generate go run ./asm -out kernel_amd64.s -stubs stub_amd64.go -pkg gemm

// asmKernels lists the assembly kernels this CPU can run, fastest first.
// The AVX-512 kernel needs DQ too because the generated code zeroes with VXORPS on zmm.
func asmKernels() []kernelImpl {
	var ks []kernelImpl
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ {
		avx512 := kernelImpl{
			name: "avx512", mr: 8, nr: 32, mc: 384, kc: 256, nc: 3072,
			fn: kernelAVX512, asmPack: true, small: smallAVX512, bf: bf16Generic,
		}
		if cpu.X86.HasAVX512BF16 && cpu.X86.HasAMXTile && cpu.X86.HasAMXBF16 && amxPermitted() {
			// avx512bf16 with BF16 products on the AMX tile unit. kc 1024, mc 256:
			// the fastest of kc 256/512/1024 x mc 128/256/512 on the reference
			// net's nine GEMM shapes (one thread, training paused).
			k := avx512
			k.name = "avx512amx"
			k.bf = &bf16Kernel{native: true, mr: amxTile, nr: amxTile, mc: 256, kc: 1024, nc: 2048, amx: kernelAMX}
			ks = append(ks, k)
		}
		if cpu.X86.HasAVX512BF16 {
			// The F32 kernels of avx512 plus VDPBF16PS for BF16. kc counts k
			// elements: 512 (256 pairs) keeps the B panel at 32 KiB, as F32's 256.
			k := avx512
			k.name = "avx512bf16"
			k.bf = &bf16Kernel{native: true, mr: 8, nr: 32, mc: 384, kc: 512, nc: 3072, fn: kernelBF16AVX512}
			ks = append(ks, k)
		}
		ks = append(ks, avx512)
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		ks = append(ks, kernelImpl{
			name: "avx2", mr: 6, nr: 16, mc: 240, kc: 320, nc: 3072,
			fn: kernelAVX2, asmPack: true, bf: bf16Generic,
		})
	}
	return ks
}

// smallAVX512 runs the generated smallN<r> kernel (1 <= r <= smallMaxR).
func smallAVX512(r, kc int, a, b *float32, ldb int, c *float32, ldc int) {
	switch r {
	case 1:
		smallN1(kc, a, b, ldb, c, ldc)
	case 2:
		smallN2(kc, a, b, ldb, c, ldc)
	case 3:
		smallN3(kc, a, b, ldb, c, ldc)
	case 4:
		smallN4(kc, a, b, ldb, c, ldc)
	case 5:
		smallN5(kc, a, b, ldb, c, ldc)
	case 6:
		smallN6(kc, a, b, ldb, c, ldc)
	default:
		panic("gemm: smallAVX512 rows out of range")
	}
}
