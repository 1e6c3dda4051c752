package gemm

import (
	"fmt"
	"math"
	"math/rand"
	"slices"
	"sync"
	"testing"
	"time"
)

// refRoundBF16 rounds x to 8 significant bits, ties to even, with float64
// arithmetic (math.Frexp, math.RoundToEven): an implementation independent of
// bf16Bits' integer trick. Subnormals flush to zero, as RoundBF16 documents.
func refRoundBF16(x float32) float32 {
	f := float64(x)
	if math.IsNaN(f) || math.IsInf(f, 0) || f == 0 {
		return x
	}
	if math.Abs(f) < 0x1p-126 {
		return float32(math.Copysign(0, f))
	}
	m, e := math.Frexp(f) // |m| in [0.5, 1): 8 significant bits are m*256
	return float32(math.Ldexp(math.RoundToEven(m*256)/256, e))
}

func TestRoundBF16(t *testing.T) {
	cases := []struct{ in, want float32 }{
		{1, 1},
		{1 + 0x1p-8, 1},                    // tie, 1 is even
		{1 + 3*0x1p-8, 1 + 0x1p-6},         // tie, rounds up to even
		{1 + 0x1p-8 + 0x1p-20, 1 + 0x1p-7}, // above the tie
		{-2.75, -2.75},
		{0x1p-130, 0}, // subnormal flushes
		{math.MaxFloat32, float32(math.Inf(1))},
		{float32(math.Inf(-1)), float32(math.Inf(-1))},
	}
	for _, c := range cases {
		if got := RoundBF16(c.in); got != c.want {
			t.Errorf("RoundBF16(%g) = %g, want %g", c.in, got, c.want)
		}
	}
	if nan := RoundBF16(math.Float32frombits(0x7f800001)); !math.IsNaN(float64(nan)) {
		t.Errorf("RoundBF16(signalling NaN) = %g, want NaN", nan)
	}
	r := rand.New(rand.NewSource(7))
	for i := 0; i < 200000; i++ {
		x := math.Float32frombits(r.Uint32())
		if math.IsNaN(float64(x)) || math.Abs(float64(x)) > 3e38 {
			continue
		}
		if got, want := RoundBF16(x), refRoundBF16(x); got != want {
			t.Fatalf("RoundBF16(%g [%#08x]) = %g, want %g", x, math.Float32bits(x), got, want)
		}
	}
}

// bf16Paths are the BF16 kernels: AMX tiles, the AVX512_BF16 assembly and the pure-Go one
// (which every other path uses).
var bf16Paths = []string{"avx512amx", "avx512bf16", "generic"}

func forEachBF16Path(t *testing.T, f func(t *testing.T)) {
	old := Kernel()
	defer SetKernel(old)
	for _, name := range bf16Paths {
		t.Run(name, func(t *testing.T) {
			if err := SetKernel(name); err != nil {
				t.Skipf("CPU lacks %s: %v", name, err)
			}
			for _, th := range []int{1, 2} {
				oldT := SetThreads(th)
				t.Run(fmt.Sprintf("threads%d", th), f)
				SetThreads(oldT)
			}
		})
	}
}

// checkBF16 runs Gemm(BF16, ...) on random operands and checks every element of
// C twice, each against a float64 reference with a per-element tolerance
// scaled by mag = sum |alpha a b| + |beta c| (so that cancellation in one
// element does not borrow slack from the largest one):
//
//   - against the exact product of the operands rounded by refRoundBF16: only
//     float32 accumulation separates them, at most k+2 roundings of 2^-24;
//   - against the exact product of the unrounded operands: each operand
//     carries one bf16 rounding (2^-8 relative) and alpha*a one float32
//     rounding, so a product is off by at most 2^-7 + 2^-15 relative.
//
// It also checks that C's padding columns are not written.
func checkBF16(t *testing.T, r *rand.Rand, transA, transB bool, s shape, alpha, beta float32, pad int) {
	t.Helper()
	m, n, k := s.m, s.n, s.k
	lda, ldb, ldc := k+pad, n+pad, n+pad
	ar, br := m, k
	if transA {
		ar, lda = k, m+pad
	}
	if transB {
		br, ldb = n, k+pad
	}
	a := randSlice(r, max(ar*lda, 1))
	b := randSlice(r, max(br*ldb, 1))
	c := randSlice(r, m*ldc)
	if beta == 0 {
		for i := range c {
			c[i] = float32(math.NaN())
		}
	}
	orig := append([]float32(nil), c...)
	ra := make([]float32, len(a))
	for i, v := range a {
		ra[i] = refRoundBF16(alpha * v)
	}
	rb := make([]float32, len(b))
	for i, v := range b {
		rb[i] = refRoundBF16(v)
	}
	wantR, magR := refGemm(transA, transB, m, n, k, 1, ra, lda, rb, ldb, beta, orig, ldc)
	want, mag := refGemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, orig, ldc)
	Gemm(BF16, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	for i := 0; i < m; i++ {
		for j := 0; j < ldc; j++ {
			got := c[i*ldc+j]
			if j >= n {
				if math.Float32bits(got) != math.Float32bits(orig[i*ldc+j]) {
					t.Fatalf("%s tA=%v tB=%v %v pad=%d: wrote padding C[%d,%d]", Kernel(), transA, transB, s, pad, i, j)
				}
				continue
			}
			e := i*n + j
			tolR := float64(k+2)*0x1p-24*magR[e] + 1e-30
			if d := math.Abs(float64(got) - wantR[e]); !(d <= tolR) {
				t.Fatalf("%s threads=%d tA=%v tB=%v %+v alpha=%v beta=%v: C[%d,%d]=%v, exact product of the bf16 operands %v (tol %g)",
					Kernel(), Threads(), transA, transB, s, alpha, beta, i, j, got, wantR[e], tolR)
			}
			tol := (0x1p-7+0x1p-15+float64(k+2)*0x1p-24)*mag[e] + 1e-30
			if d := math.Abs(float64(got) - want[e]); !(d <= tol) {
				t.Fatalf("%s threads=%d tA=%v tB=%v %+v alpha=%v beta=%v: C[%d,%d]=%v, float64 product %v (tol %g)",
					Kernel(), Threads(), transA, transB, s, alpha, beta, i, j, got, want[e], tol)
			}
		}
	}
}

func TestGemmBF16(t *testing.T) {
	shapes := []shape{
		{1, 1, 1}, {1, 1, 2}, {1, 17, 3}, {13, 1, 5}, {3, 5, 0}, {8, 32, 16}, {8, 32, 1},
		{7, 31, 33}, {9, 33, 4}, {17, 65, 129}, {33, 47, 300}, {64, 100, 75},
		{100, 64, 1100}, {400, 50, 30}, {130, 130, 131},
	}
	forEachBF16Path(t, func(t *testing.T) {
		r := rand.New(rand.NewSource(11))
		for _, s := range shapes {
			for combo := 0; combo < 4; combo++ {
				tA, tB := combo&1 != 0, combo&2 != 0
				checkBF16(t, r, tA, tB, s, 1, 0, 0)
				checkBF16(t, r, tA, tB, s, -1.5, 0.25, 3)
			}
		}
		for i := 0; i < 30; i++ {
			s := shape{1 + r.Intn(90), 48 + r.Intn(90), r.Intn(90)}
			alphas := []float32{1, -0.75, 0}
			betas := []float32{0, 1, 0.3}
			checkBF16(t, r, r.Intn(2) == 0, r.Intn(2) == 0, s, alphas[r.Intn(3)], betas[r.Intn(3)], r.Intn(4))
		}
	})
}

// TestGemmBF16Blocks covers more than one mc, kc (odd remainder) and nc block.
func TestGemmBF16Blocks(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	forEachBF16Path(t, func(t *testing.T) {
		r := rand.New(rand.NewSource(12))
		checkBF16(t, r, false, false, shape{450, 70, 1201}, 1, 0, 0)
		checkBF16(t, r, true, true, shape{70, 3100, 340}, 1, 0.5, 2)
		checkBF16(t, r, false, true, shape{23, 3200, 555}, 1, 1, 1)
	})
}

// TestBF16AsmMatchesGo runs the same products on the AVX512_BF16 kernel and the
// pure-Go one. Operand rounding is shared (the Go packing code), so they can
// differ only in how float32 accumulation rounds: the tolerance is 2(k+2)
// roundings of 2^-24 relative to sum |a b|. It logs whether they agree exactly.
func TestBF16AsmMatchesGo(t *testing.T) {
	old := Kernel()
	defer SetKernel(old)
	if err := SetKernel("avx512bf16"); err != nil {
		t.Skipf("CPU lacks AVX512_BF16: %v", err)
	}
	r := rand.New(rand.NewSource(13))
	exact, total := 0, 0
	for _, s := range []shape{{8, 32, 2}, {8, 32, 7}, {64, 96, 300}, {37, 71, 1029}} {
		for combo := 0; combo < 4; combo++ {
			tA, tB := combo&1 != 0, combo&2 != 0
			lda, ldb := s.k, s.n
			if tA {
				lda = s.m
			}
			if tB {
				ldb = s.k
			}
			a, b := randSlice(r, s.m*s.k), randSlice(r, s.k*s.n)
			got, want := make([]float32, s.m*s.n), make([]float32, s.m*s.n)
			SetKernel("avx512bf16")
			Gemm(BF16, tA, tB, s.m, s.n, s.k, 1, a, lda, b, ldb, 0, got, s.n)
			SetKernel("generic")
			Gemm(BF16, tA, tB, s.m, s.n, s.k, 1, a, lda, b, ldb, 0, want, s.n)
			ra, rb := make([]float32, len(a)), make([]float32, len(b))
			for i := range a {
				ra[i] = RoundBF16(a[i])
			}
			for i := range b {
				rb[i] = RoundBF16(b[i])
			}
			_, mag := refGemm(tA, tB, s.m, s.n, s.k, 1, ra, lda, rb, ldb, 0, want, s.n)
			for e := range got {
				total++
				if got[e] == want[e] {
					exact++
				}
				tol := 2*float64(s.k+2)*0x1p-24*mag[e] + 1e-30
				if d := math.Abs(float64(got[e]) - float64(want[e])); !(d <= tol) {
					t.Fatalf("%+v tA=%v tB=%v: element %d asm %v, Go %v (tol %g)", s, tA, tB, e, got[e], want[e], tol)
				}
			}
		}
	}
	t.Logf("asm and Go bf16 paths agree bit for bit on %d of %d elements", exact, total)
}

// TestNestedCalls calls Sgemm, Gemm and ParallelFor from inside ParallelFor
// bodies, on the pool, and from several goroutines at once. Before calls could
// run off the pool this deadlocked (one global lock held while bodies ran),
// so the test fails by timing out after a generous bound rather than hanging.
func TestNestedCalls(t *testing.T) {
	old := SetThreads(2)
	defer SetThreads(old)
	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		for g := 0; g < 3; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				r := rand.New(rand.NewSource(int64(20 + g)))
				const m, n, k = 40, 50, 60
				a, b := randSlice(r, m*k), randSlice(r, k*n)
				want := make([]float32, m*n)
				Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, want, n)
				for it := 0; it < 20; it++ {
					got := make([][]float32, 4)
					ParallelFor(4, 1, func(lo, hi int) {
						for i := lo; i < hi; i++ {
							got[i] = make([]float32, m*n)
							if i%2 == 0 {
								Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, got[i], n)
							} else {
								Gemm(BF16, false, false, m, n, k, 1, a, k, b, n, 0, got[i], n)
							}
							var cnt int
							var mu sync.Mutex
							ParallelFor(100, 1, func(lo, hi int) { mu.Lock(); cnt += hi - lo; mu.Unlock() })
							if cnt != 100 {
								t.Errorf("nested ParallelFor covered %d of 100", cnt)
							}
						}
					})
					for i, c := range got {
						for e := range c {
							tol := float32(1e-4)
							if i%2 == 1 {
								tol = 0.2 // bf16 operands, |C| up to ~15
							}
							if d := c[e] - want[e]; d > tol || d < -tol {
								t.Errorf("goroutine %d body %d: C[%d]=%v want %v", g, i, e, c[e], want[e])
								return
							}
						}
					}
				}
			}(g)
		}
		wg.Wait()
	}()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("nested Sgemm/ParallelFor calls deadlocked")
	}
}

// TestFastBF16 checks, on every path this CPU runs, that the probe behind
// FastBF16 measures something plausible (VDPBF16PS between a tenth and ten times
// the FMA flop rate; TDPBF16PS, which does 16x32x16 multiply-adds at once, between
// one and a hundred times) and that FastBF16 follows it.
func TestFastBF16(t *testing.T) {
	old := Kernel()
	defer SetKernel(old)
	for _, k := range Kernels() {
		if err := SetKernel(k); err != nil {
			t.Fatal(err)
		}
		r := BF16PeakRatio()
		if !NativeBF16() {
			if FastBF16() {
				t.Fatalf("%s: FastBF16 without native bf16", k)
			}
			continue
		}
		lo, hi := 0.1, 10.0
		if cur.Load().bf.amx != nil {
			lo, hi = 1, 100
		}
		if !(r > lo && r < hi) {
			t.Fatalf("%s: BF16PeakRatio = %v", k, r)
		}
		if FastBF16() != (r >= 1.25) {
			t.Fatalf("%s: FastBF16 = %v with ratio %v", k, FastBF16(), r)
		}
		t.Logf("%s: bf16 / FMA flop rate %.2f (FastBF16 %v)", k, r, FastBF16())
	}
}

// specialSlice is random data salted with the values where rounding rules
// matter: exact ties (even and odd), values just above a tie, subnormals,
// signed zeros, infinities, NaNs, and values that round up to infinity.
func specialSlice(r *rand.Rand, n int) []float32 {
	specials := []float32{
		1 + 0x1p-8, 1 + 3*0x1p-8, -(1 + 0x1p-8 + 0x1p-20), 0x1p-130, -0x1p-140, 0x1p-126,
		float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)),
		math.Float32frombits(0x7f800001), math.Float32frombits(0xffc12345), math.MaxFloat32, 3.3895e38,
	}
	s := randSlice(r, n)
	for i := range s {
		if r.Intn(3) == 0 {
			s[i] = specials[r.Intn(len(specials))]
		}
	}
	return s
}

// TestBF16PacksMatchGo packs the same special-laden operands with the
// AVX512_BF16 assembly packs and with the Go code, in every layout the
// assembly handles (and its edges: odd kb, kb not a multiple of 16, partial
// column groups), and requires identical words: rounding must be the same in
// both paths, bit for bit.
func TestBF16PacksMatchGo(t *testing.T) {
	if !slices.Contains(Kernels(), "avx512bf16") {
		t.Skip("CPU lacks AVX512_BF16")
	}
	r := rand.New(rand.NewSource(17))
	for _, kb := range []int{2, 7, 16, 37, 64} {
		for _, trans := range []bool{false, true} {
			const mb, nb = 16, 45 // two 8-row A panels; a full and a partial 32-column B panel
			kp := (kb + 1) / 2
			// A: op(A) is mb x kb.
			lda := kb + 3
			if trans {
				lda = mb + 5
			}
			a := specialSlice(r, (max(mb, kb)+1)*lda)
			ga, aa := make([]uint32, mb*kp), make([]uint32, mb*kp)
			packABF16(ga, trans, a, lda, 0, mb, 1, kb, 1.5, 8, false)
			packABF16(aa, trans, a, lda, 0, mb, 1, kb, 1.5, 8, true)
			for i := range ga {
				if ga[i] != aa[i] {
					t.Fatalf("A kb=%d trans=%v: word %d: Go %#08x, asm %#08x", kb, trans, i, ga[i], aa[i])
				}
			}
			// B: op(B) is kb x nb.
			ldb := nb + 2
			if trans {
				ldb = kb + 4
			}
			b := specialSlice(r, (max(nb, kb)+2)*ldb)
			npad := (nb + 31) / 32 * 32
			gb, ab := make([]uint32, npad*kp), make([]uint32, npad*kp)
			packBBF16(gb, trans, b, ldb, 1, nb, 1, kb, 32, false)
			packBBF16(ab, trans, b, ldb, 1, nb, 1, kb, 32, true)
			for i := range gb {
				if gb[i] != ab[i] {
					t.Fatalf("B kb=%d trans=%v: word %d: Go %#08x, asm %#08x", kb, trans, i, gb[i], ab[i])
				}
			}
		}
	}
}
