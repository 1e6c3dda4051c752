//go:build amd64 && !noasm

package nn

import "golang.org/x/sys/cpu"

// useAVX selects the AVX loops of simd_amd64.s for the elementwise kernels (col2im's
// adds, Adam). They do the same IEEE float32 operations in the same order as the Go
// loops, without fused multiply-adds, so results are bit-identical either way.
var useAVX = cpu.X86.HasAVX

// addToAVX does a[i] += s[i] for i < n.
//
//go:noescape
func addToAVX(a, s *float32, n int)

// adamAVX is the Adam update of Adam.Step over n elements; k holds b1, 1-b1, b2, 1-b2,
// step, sqrt(bc2), eps.
//
//go:noescape
func adamAVX(pw, pg, pm, pv *float32, n int, k *[8]float32)
