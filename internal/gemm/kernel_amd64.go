//go:build !noasm

package gemm

import "golang.org/x/sys/cpu"

//go:generate go run ./asm -out kernel_amd64.s -stubs stub_amd64.go -pkg gemm

// asmKernels lists the assembly kernels this CPU can run, fastest first.
// The AVX-512 kernel needs DQ too because the generated code zeroes with VXORPS on zmm.
func asmKernels() []kernelImpl {
	var ks []kernelImpl
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ {
		ks = append(ks, kernelImpl{
			name: "avx512", mr: 8, nr: 32, mc: 384, kc: 256, nc: 3072,
			fn: kernelAVX512, asmPack: true,
		})
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		ks = append(ks, kernelImpl{
			name: "avx2", mr: 6, nr: 16, mc: 240, kc: 320, nc: 3072,
			fn: kernelAVX2, asmPack: true,
		})
	}
	return ks
}
