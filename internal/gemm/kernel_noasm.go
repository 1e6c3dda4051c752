//go:build !amd64 || noasm

package gemm

// asmKernels is empty where there is no assembly: only the generic kernel runs.
func asmKernels() []kernelImpl { return nil }

// packT8 exists only in assembly; asmPack is never set without it.
func packT8(kb8 int, src *float32, lds int, dst *float32, ldd int, alpha float32) {
	panic("gemm: packT8 without assembly")
}
