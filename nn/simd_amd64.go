//go:build amd64 && !noasm

package nn

import "golang.org/x/sys/cpu"

//go:generate go run ./asm -out simd_amd64.s -stubs stub_amd64.go -pkg nn

// useAVX selects the avo-generated AVX loops of simd_amd64.s (addToAVX, adamAVX; see
// asm/gen.go) for the elementwise kernels (col2im's adds, Adam). They do the same IEEE
// float32 operations in the same order as the Go loops, without fused multiply-adds, so
// results are bit-identical either way.
var useAVX = cpu.X86.HasAVX
