package gemm

import (
	"fmt"
	"math"
	"math/rand"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
)

// refGemm is the float64-accumulated reference; it also returns, per element,
// sum |alpha*a*b| + |beta*c| to scale the tolerance.
func refGemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) (want, mag []float64) {
	want = make([]float64, m*n)
	mag = make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s, sa float64
			for p := 0; p < k; p++ {
				var av, bv float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += float64(av) * float64(bv)
				sa += math.Abs(float64(av) * float64(bv))
			}
			w := float64(alpha) * s
			mg := math.Abs(float64(alpha)) * sa
			if beta != 0 {
				w += float64(beta) * float64(c[i*ldc+j])
				mg += math.Abs(float64(beta) * float64(c[i*ldc+j]))
			}
			want[i*n+j], mag[i*n+j] = w, mg
		}
	}
	return want, mag
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = r.Float32()*2 - 1
	}
	return s
}

type shape struct{ m, n, k int }

// checkOne fails the test unless Sgemm matches the float64 reference on one random
// problem. Call it on the test's goroutine; goroutines use gemmErr and report with
// t.Error, since t.Fatal must not be called from them.
func checkOne(t *testing.T, r *rand.Rand, transA, transB bool, s shape, alpha, beta float32, pad int) {
	t.Helper()
	if err := gemmErr(r, transA, transB, s, alpha, beta, pad); err != nil {
		t.Fatal(err)
	}
}

// gemmErr runs Sgemm on one random problem and describes the first element that
// differs from the float64 reference beyond rounding, or a write into C's padding.
func gemmErr(r *rand.Rand, transA, transB bool, s shape, alpha, beta float32, pad int) error {
	m, n, k := s.m, s.n, s.k
	lda, ldb, ldc := k+pad, n+pad, n+pad
	ar, ac := m, k
	if transA {
		ar, ac, lda = k, m, m+pad
	}
	br, bc := k, n
	if transB {
		br, bc, ldb = n, k, k+pad
	}
	_ = ac
	_ = bc
	a := randSlice(r, max(ar*lda, 1))
	b := randSlice(r, max(br*ldb, 1))
	c := randSlice(r, m*ldc)
	if beta == 0 {
		for i := range c {
			c[i] = float32(math.NaN())
		}
	}
	orig := append([]float32(nil), c...)
	want, mag := refGemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, orig, ldc)
	Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	for i := 0; i < m; i++ {
		for j := 0; j < ldc; j++ {
			got := c[i*ldc+j]
			if j >= n {
				if got != orig[i*ldc+j] && !(math.IsNaN(float64(got)) && math.IsNaN(float64(orig[i*ldc+j]))) {
					return fmt.Errorf("%s tA=%v tB=%v %v pad=%d: wrote padding C[%d,%d]", Kernel(), transA, transB, s, pad, i, j)
				}
				continue
			}
			w := want[i*n+j]
			tol := 1e-5*mag[i*n+j] + 1e-6
			if d := math.Abs(float64(got) - w); !(d <= tol) {
				return fmt.Errorf("%s threads=%d tA=%v tB=%v %+v alpha=%v beta=%v pad=%d: C[%d,%d]=%v want %v (tol %g)",
					Kernel(), Threads(), transA, transB, s, alpha, beta, pad, i, j, got, w, tol)
			}
		}
	}
	return nil
}

func forEachKernel(t *testing.T, f func(t *testing.T)) {
	old := Kernel()
	defer SetKernel(old)
	for _, name := range []string{"avx512", "avx2", "generic"} {
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

func TestSgemm(t *testing.T) {
	shapes := []shape{
		{1, 1, 1}, {1, 1, 7}, {1, 17, 3}, {13, 1, 5}, {3, 5, 0}, {8, 32, 16}, {6, 16, 9},
		{7, 31, 33}, {9, 33, 4}, {17, 65, 129}, {33, 47, 300}, {64, 100, 75},
		{100, 64, 700}, {400, 50, 30}, {5, 600, 11}, {130, 130, 130},
	}
	forEachKernel(t, func(t *testing.T) {
		r := rand.New(rand.NewSource(1))
		for _, s := range shapes {
			for combo := 0; combo < 4; combo++ {
				tA, tB := combo&1 != 0, combo&2 != 0
				checkOne(t, r, tA, tB, s, 1, 0, 0)
				checkOne(t, r, tA, tB, s, 0.5, 1, 3)
				checkOne(t, r, tA, tB, s, -1.5, 0.25, 1)
				checkOne(t, r, tA, tB, s, 2, 0, 5)
			}
		}
		for i := 0; i < 60; i++ {
			s := shape{1 + r.Intn(90), 1 + r.Intn(90), r.Intn(90)}
			alphas := []float32{1, -0.75, 0}
			betas := []float32{0, 1, 0.3}
			checkOne(t, r, r.Intn(2) == 0, r.Intn(2) == 0, s, alphas[r.Intn(3)], betas[r.Intn(3)], r.Intn(4))
		}
	})
}

// TestSgemmBlocks uses shapes larger than one mc/kc/nc block so every blocking
// loop runs more than once, including the beta handling of the later k blocks.
func TestSgemmBlocks(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	forEachKernel(t, func(t *testing.T) {
		r := rand.New(rand.NewSource(2))
		checkOne(t, r, false, false, shape{450, 70, 700}, 1, 0, 0)
		checkOne(t, r, true, true, shape{70, 3100, 340}, 1, 0.5, 2)
		checkOne(t, r, true, false, shape{390, 2100, 45}, -1, 1, 0)
		checkOne(t, r, false, true, shape{23, 3200, 333}, 1, 0, 1)
	})
}

func TestSgemmConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			r := rand.New(rand.NewSource(int64(g)))
			for i := 0; i < 5; i++ {
				if err := gemmErr(r, g&1 != 0, g&2 != 0, shape{70 + g, 90, 80}, 1, 0.5, 1); err != nil {
					t.Errorf("goroutine %d: %v", g, err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
}

func TestParallelFor(t *testing.T) {
	for _, th := range []int{1, 2, 3} {
		old := SetThreads(th)
		for _, n := range []int{0, 1, 2, 5, 100, 1001} {
			for _, grain := range []int{0, 1, 3, 64, 2000} {
				hits := make([]int32, n)
				ParallelFor(n, grain, func(lo, hi int) {
					if lo >= hi {
						t.Errorf("empty chunk [%d,%d)", lo, hi)
					}
					for i := lo; i < hi; i++ {
						atomic.AddInt32(&hits[i], 1)
					}
				})
				for i, h := range hits {
					if h != 1 {
						t.Fatalf("threads=%d n=%d grain=%d: index %d visited %d times", th, n, grain, i, h)
					}
				}
			}
		}
		SetThreads(old)
	}
}

func TestSetKernel(t *testing.T) {
	if err := SetKernel("nope"); err == nil {
		t.Fatal("SetKernel accepted an unknown kernel")
	}
	ks := Kernels()
	if ks[len(ks)-1] != "generic" {
		t.Fatalf("generic not last in %v", ks)
	}
}

// TestEnvOverride checks that AVATARGAN_GEMM picks the path at start-up, by
// re-running this test binary with the variable set.
func TestEnvOverride(t *testing.T) {
	if want := os.Getenv("GEMM_TEST_CHILD"); want != "" {
		if got := Kernel(); got != want {
			t.Fatalf("AVATARGAN_GEMM=%s: Kernel() = %s", want, got)
		}
		return
	}
	for _, name := range Kernels() {
		cmd := exec.Command(os.Args[0], "-test.run=^TestEnvOverride$")
		cmd.Env = append(os.Environ(), "AVATARGAN_GEMM="+name, "GEMM_TEST_CHILD="+name)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, out)
		}
	}
}
