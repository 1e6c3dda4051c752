//go:build !amd64 || noasm

package gemm

import "time"

// asmKernels is empty where there is no assembly: only the generic kernel runs.
func asmKernels() []kernelImpl { return nil }

// peakGFLOPS has no probes to run without assembly.
func peakGFLOPS(p Precision, d time.Duration) float64 { return 0 }

// packT8 exists only in assembly; asmPack is never set without it.
func packT8(kb8 int, src *float32, lds int, dst *float32, ldd int, alpha float32) {
	panic("gemm: packT8 without assembly")
}

// packN8, packN16 and packN32 exist only in assembly; asmPack is never set without them.
func packN8(kb int, src *float32, lds int, dst *float32, alpha float32) {
	panic("gemm: packN8 without assembly")
}

func packN16(kb int, src *float32, lds int, dst *float32, alpha float32) {
	panic("gemm: packN16 without assembly")
}

func packN32(kb int, src *float32, lds int, dst *float32, alpha float32) {
	panic("gemm: packN32 without assembly")
}

// packPairN8, packPairN32 and packT8BF16 exist only in assembly; bf16 kernels
// are native (and use them) only with it.
func packPairN8(kp int, src *float32, lds int, dst *uint32, alpha float32) {
	panic("gemm: packPairN8 without assembly")
}

func packPairN32(kp int, src *float32, lds int, dst *uint32, alpha float32) {
	panic("gemm: packPairN32 without assembly")
}

func packT8BF16(kq int, src *float32, lds int, dst *uint32, ldd int, alpha float32) {
	panic("gemm: packT8BF16 without assembly")
}

// packRowAMX exists only in assembly, used only by the AMX path (amd64).
func packRowAMX(kt int, src *float32, dst *uint32, alpha float32) {
	panic("gemm: packRowAMX without assembly")
}
