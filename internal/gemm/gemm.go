// Package gemm is avatargan's float32 matrix multiply: C = alpha*op(A)*op(B) + beta*C
// on row-major matrices, plus the worker pool the rest of the engine parallelises on.
//
// STUB: this is a naive placeholder so that dependent packages can be written against
// the final API. The real implementation (avo-generated AVX-512/AVX2 kernels, packing,
// cache blocking) replaces the body of Sgemm without changing its signature.
package gemm

import (
	"runtime"
	"sync"
)

// Sgemm computes C = alpha*op(A)*op(B) + beta*C, all row-major.
// op(A) is m x k (A is m x k, or k x m when transA), op(B) is k x n (B is k x n, or n x k
// when transB), C is m x n. lda, ldb, ldc are the row strides of A, B and C as stored.
// beta == 0 overwrites C without reading it (NaNs in C do not propagate), as in BLAS.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float32
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
				s += av * bv
			}
			if beta == 0 {
				c[i*ldc+j] = alpha * s
			} else {
				c[i*ldc+j] = alpha*s + beta*c[i*ldc+j]
			}
		}
	}
}

// Threads returns the number of workers used by Sgemm and ParallelFor.
func Threads() int { return runtime.GOMAXPROCS(0) }

// SetThreads sets the number of workers (n < 1 means GOMAXPROCS) and returns the old value.
func SetThreads(n int) int { return runtime.GOMAXPROCS(0) }

// ParallelFor splits [0, n) into contiguous chunks of at least grain items and calls
// fn(lo, hi) on each, on the persistent worker pool; it returns when all are done.
// fn must not call ParallelFor or Sgemm itself.
func ParallelFor(n, grain int, fn func(lo, hi int)) {
	t := Threads()
	if grain < 1 {
		grain = 1
	}
	chunks := (n + grain - 1) / grain
	if chunks > t {
		chunks = t
	}
	if chunks <= 1 {
		if n > 0 {
			fn(0, n)
		}
		return
	}
	var wg sync.WaitGroup
	for w := 0; w < chunks; w++ {
		lo, hi := w*n/chunks, (w+1)*n/chunks
		wg.Add(1)
		go func() { defer wg.Done(); fn(lo, hi) }()
	}
	wg.Wait()
}
