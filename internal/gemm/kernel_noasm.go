//go:build !amd64 || noasm

package gemm

// asmKernels is empty where there is no assembly: only the generic kernel runs.
func asmKernels() []kernelImpl { return nil }
