package gemm

import (
	"math/rand"
	"testing"
)

// TestSgemmSmallN covers the small-N path (transposed product) and, with the
// path forced off, the regular one on the same shapes: n 1..40 against large m,
// every transpose, alpha/beta including beta = 0 over a NaN C, ragged last panels.
func TestSgemmSmallN(t *testing.T) {
	ms := []int{64, 75, 200, 1029}
	if testing.Short() {
		ms = []int{75, 200}
	}
	for _, mode := range []int{0, 1, -1} {
		forEachKernel(t, func(t *testing.T) {
			if mode == 1 && cur.Load().small == nil {
				t.Skipf("%s has no small-N kernel: forcing the path on runs the regular one", Kernel())
			}
			old := smallMode
			smallMode = mode
			defer func() { smallMode = old }()
			r := rand.New(rand.NewSource(3))
			for n := 1; n <= 40; n++ {
				if testing.Short() && n > 14 && n%6 != 0 {
					continue
				}
				m := ms[n%len(ms)]
				k := []int{1, 7, 64, 129}[n%4]
				combo := n % 4
				tA, tB := combo&1 != 0, combo&2 != 0
				checkOne(t, r, tA, tB, shape{m, n, k}, 1, 0, 0)
				checkOne(t, r, !tA, tB, shape{m, n, k}, -0.5, 1, 2)
				checkOne(t, r, tA, !tB, shape{m, n, k}, 2, 0.25, 1)
				checkOne(t, r, !tA, !tB, shape{m, n, k}, 0.75, 0, 3)
			}
			// The inference shapes: A transposed with a wide row stride.
			checkOne(t, r, true, false, shape{1024, 2, 512}, 1, 0, 0)
			checkOne(t, r, true, false, shape{640, 20, 256}, 1, 0, 5)
		})
	}
}

// TestAllocs asserts that steady-state Gemm (F32 and BF16, regular and small-N, one and two
// workers) and ParallelFor allocate nothing of their own.
func TestAllocs(t *testing.T) {
	old := SetThreads(2)
	defer SetThreads(old)
	r := rand.New(rand.NewSource(4))
	for _, s := range []benchShape{
		{"medium", false, false, 128, 256, 300},
		{"medium-tA-tB", true, true, 200, 96, 128},
		{"smallN", true, false, 1024, 3, 512},
		{"smallN-tB", false, true, 640, 20, 256},
	} {
		a := randSlice(r, s.m*s.k)
		b := randSlice(r, s.k*s.n)
		c := make([]float32, s.m*s.n)
		lda, ldb := s.k, s.n
		if s.transA {
			lda = s.m
		}
		if s.transB {
			ldb = s.k
		}
		for _, th := range []int{1, 2} {
			for _, p := range []Precision{F32, BF16} {
				SetThreads(th)
				f := func() { Gemm(p, s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, b, ldb, 0.5, c, s.n) }
				f()
				if n := testing.AllocsPerRun(20, f); n != 0 {
					t.Errorf("%s threads=%d %v: Gemm makes %v allocs per call", s.name, th, p, n)
				}
			}
		}
	}
	SetThreads(2)
	x := make([]float32, 1<<12)
	body := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			x[i]++
		}
	}
	ParallelFor(len(x), 16, body)
	if n := testing.AllocsPerRun(50, func() { ParallelFor(len(x), 16, body) }); n != 0 {
		t.Errorf("ParallelFor makes %v allocs per call", n)
	}
}

// TestSmallNSameBits checks that the small-N path rounds exactly as the regular one
// (alpha 1, beta 0 or 1), with k longer than every kernel's k block: a generator's
// output must not depend on whether an image was drawn alone (small N) or in a batch.
func TestSmallNSameBits(t *testing.T) {
	forEachKernel(t, func(t *testing.T) {
		if cur.Load().small == nil {
			t.Skipf("%s has no small-N kernel: nothing to compare", Kernel())
		}
		old := smallMode
		defer func() { smallMode = old }()
		r := rand.New(rand.NewSource(5))
		for _, s := range []struct {
			tA, tB  bool
			m, n, k int
		}{{true, false, 1024, 2, 512}, {true, false, 200, 9, 700}, {false, true, 130, 20, 1029}, {false, false, 75, 1, 333}} {
			lda, ldb := s.k, s.n
			if s.tA {
				lda = s.m
			}
			if s.tB {
				ldb = s.k
			}
			a, b, c0 := randSlice(r, s.m*s.k), randSlice(r, s.k*s.n), randSlice(r, s.m*s.n)
			for _, beta := range []float32{0, 1} {
				var got [2][]float32
				for i, mode := range []int{1, -1} {
					smallMode = mode
					got[i] = append([]float32(nil), c0...)
					Sgemm(s.tA, s.tB, s.m, s.n, s.k, 1, a, lda, b, ldb, beta, got[i], s.n)
				}
				for i := range got[0] {
					if got[0][i] != got[1][i] {
						t.Fatalf("%+v beta %v: C[%d] small-N %v, regular %v", s, beta, i, got[0][i], got[1][i])
					}
				}
			}
		}
	})
}
