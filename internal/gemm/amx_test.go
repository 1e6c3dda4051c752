package gemm

import (
	"math/rand"
	"slices"
	"testing"
)

// TestAMXPackAMatchesGo packs the same A blocks with the AMX path's assembly packs
// and with its Go code, plain and transposed, with special values (NaN, infinities,
// subnormals), odd kb, kb not a multiple of 32, and a partial 32-row panel, and
// requires identical words: both must round as bf16Pair, bit for bit.
func TestAMXPackAMatchesGo(t *testing.T) {
	if !slices.Contains(Kernels(), "avx512bf16") {
		t.Skip("CPU lacks AVX512_BF16")
	}
	r := rand.New(rand.NewSource(19))
	for _, kb := range []int{2, 7, 32, 37, 64, 101} {
		for _, trans := range []bool{false, true} {
			const mb = 45 // a full and a partial 32-row panel
			kp := (kb + 1) / 2
			kt := (kp + 15) / 16
			lda := kb + 3
			if trans {
				lda = mb + 5
			}
			a := specialSlice(r, (max(mb, kb)+2)*lda)
			n := (mb + 31) / 32 * 32 * kt * 16
			ga, aa := make([]uint32, n), make([]uint32, n)
			for i := range ga { // the pack must write every word, padding included
				ga[i], aa[i] = 0xdeadbeef, 0xfeedface
			}
			var sg, sa []uint32
			amxPackA(ga, &sg, trans, a, lda, 1, mb, 1, kb, 1.5, kt, false)
			amxPackA(aa, &sa, trans, a, lda, 1, mb, 1, kb, 1.5, kt, true)
			for i := range ga {
				if ga[i] != aa[i] {
					t.Fatalf("kb=%d trans=%v: word %d: Go %#08x, asm %#08x", kb, trans, i, ga[i], aa[i])
				}
			}
		}
	}
}
