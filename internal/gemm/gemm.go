// Package gemm is avatargan's float32 matrix multiply, C = alpha*op(A)*op(B) + beta*C
// on row-major matrices, plus the persistent worker pool the rest of the engine
// parallelises on.
//
// The design follows BLIS: op(B) is packed into kc x nr panels and op(A) into
// mr x kc panels (alpha folded in), so every transpose combination feeds the same
// micro-kernel with unit-stride loads; the kc/mc/nc blocking keeps a B panel in
// L1, the A block in L2 and the B block in L3. Micro-kernels are avo-generated
// assembly (asm/gen.go): AVX-512 8x32 and AVX2+FMA 6x16, with a pure-Go 4x4
// fallback. The kernel is picked at start-up from the CPU features; the
// environment variable AVATARGAN_GEMM=avx512amx|avx512bf16|avx512|avx2|generic forces one.
//
// When all of op(A)'s rows fit one mc block (the usual case here: M is a channel
// count, 64..512) the driver packs A once per k block and each B micro-panel
// just before using it (serialFused), so packed B stays in L1. Packing is
// assembly for every layout: packT8 (transposing: A plain, B transposed) and
// packN8/16/32 (copying: B plain, A transposed); both prefetch the source they
// will read next, because the packs were DRAM-latency bound, not bandwidth bound.
//
// Small N (batch-1 inference: M = OutC*K*K taps, N = a handful of pixels) takes
// the transposed product instead, C^T = op(B)^T*op(A)^T, so that the large M runs
// along the vector axis and A is read in place (small.go); useSmall decides.
//
// BF16 (Gemm with Precision BF16, bf16.go) rounds both operands to bfloat16
// while packing into pair-major panels (two consecutive k values per 32-bit
// word) and multiplies them with VDPBF16PS (AVX512_BF16) into float32
// accumulators: an 8x32 kernel and VCVTNE2PS2BF16/VCVTNEPS2BF16 packs whose
// instruction bytes asm/bf16.go encodes, since neither Go's assembler nor avo
// knows these instructions. Pure-Go packs and kernel compute the same products
// (the packs bit for bit) on every other path, so tests run anywhere. On Intel
// Xeons with AMX the avx512amx path runs BF16 on the tile unit instead (amx.go,
// asm/amx.go): same operand rounding, ~20x the float32 FMA rate in the kernel.
//
// Dispatch is allocation-free: a call's arguments live in package state owned
// by the pool's holder, and the pool runs top-level functions (sgemmPart,
// pforPart) that read them, so steady-state Gemm and ParallelFor calls allocate
// nothing (TestAllocs). A call that would have to wait for a ParallelFor, which
// may be its own caller, runs on its goroutine alone instead (lockPool).
//
// Peak: BenchmarkPeak runs register-only FMA probes (fmaPeakZMM/YMM). On the
// 2-vCPU AMD EPYC (Zen 4) VM this was tuned on, both report ~116 GFLOP/s per core:
// 512-bit FMAs are double-pumped, so AVX-512 buys no FLOPs over AVX2 there (the
// 8x32 kernel still wins on fewer loads and broadcasts per FLOP, reaching ~97%
// of that peak on L1-resident panels). Quote efficiency against the probe.
package gemm

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// kernelImpl describes one micro-kernel and the cache blocking tuned for it.
type kernelImpl struct {
	name       string
	mr, nr     int // register tile
	mc, kc, nc int // cache blocks: A block mc x kc (L2), B panel kc x nr (L1), B block kc x nc (L3)
	fn         func(kc int, a, b, c *float32, ldc int, beta float32, load int)
	asmPack    bool // transposing packs use packT8 (the generic path keeps pure Go so tests cover it)
	// small is the small-N kernel (small.go): an r x smallW tile from a packed
	// a and an in-place b; nil where the path has none.
	small func(r, kc int, a, b *float32, ldb int, c *float32, ldc int)
	// bf is the BF16 kernel of the path: native VDPBF16PS on avx512bf16, the
	// pure-Go bf16Generic elsewhere.
	bf *bf16Kernel
}

// workerBuf holds one worker's packing buffers; they only grow, so steady-state
// calls do not allocate.
type workerBuf struct {
	a, b   []float32
	tmp    []float32 // mr x nr scratch tile for partial edge tiles
	pa, pb []uint32  // BF16 panels: bf16 pairs
	amx    []uint32  // AMX: transposed A packed pair-major before its word transpose
	small  []float32 // the small-N path's packed op(B)^T, for calls off the pool
}

var (
	// pool says who holds the worker pool, the per-worker buffers and the call
	// state below (see lockPool): one call at a time uses them.
	pool struct {
		mu   sync.Mutex
		cond sync.Cond // signalled when the pool is released
		held bool
		pfor bool // the holder is a ParallelFor, whose bodies may call in
	}
	// privBufs holds the buffers of calls that run off the pool (offPool).
	privBufs  = sync.Pool{New: func() any { return new(workerBuf) }}
	available []kernelImpl // usable on this CPU, fastest first; generic last
	// cur and numThreads are atomics so that Kernel and Threads never block,
	// even when called from inside a ParallelFor body.
	cur        atomic.Pointer[kernelImpl]
	numThreads atomic.Int64
	bufs       []*workerBuf
	workers    []chan func(int) // workers[i] feeds pool goroutine i+1; the caller is worker 0
	wg         sync.WaitGroup

	// The current parallel call's arguments, owned by the pool's holder. Workers get a
	// top-level function that reads them, not a closure, so that dispatching a
	// call allocates nothing.
	job  sgemmJob
	pfor struct {
		n, chunks int
		fn        func(lo, hi int)
	}
	smallA []float32 // the small-N path's packed op(B)^T, shared by the workers
)

// sgemmJob is one Sgemm call as its workers see it.
type sgemmJob struct {
	ki             kernelImpl
	transA, transB bool
	small, splitM  bool
	bf             bool // BF16 operands (ki.bf)
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int
	parts, tiles   int
}

func init() {
	pool.cond.L = &pool.mu
	available = append(asmKernels(), kernelImpl{
		name: "generic", mr: genericMR, nr: genericNR, mc: 128, kc: 256, nc: 2048,
		fn: kernelGeneric, small: smallGeneric, bf: bf16Generic,
	})
	cur.Store(&available[0])
	numThreads.Store(int64(runtime.GOMAXPROCS(0)))
	if env := os.Getenv("AVATARGAN_GEMM"); env != "" {
		if err := setKernel(env); err != nil {
			fmt.Fprintf(os.Stderr, "gemm: AVATARGAN_GEMM: %v; using %s\n", err, cur.Load().name)
		}
	}
}

// Kernel reports the micro-kernel path in use: "avx512amx", "avx512bf16",
// "avx512", "avx2" or "generic". All run F32 and BF16 products; avx512amx (AMX
// tiles) and avx512bf16 (VDPBF16PS) run BF16 in hardware, the others with the
// pure-Go bf16 kernel.
func Kernel() string { return cur.Load().name }

// Kernels lists the paths this CPU can run, fastest first, so that tests and
// benchmarks can cover each of them.
func Kernels() []string {
	names := make([]string, len(available))
	for i, k := range available {
		names[i] = k.name
	}
	return names
}

// SetKernel switches the micro-kernel path (one of Kernels()); it exists so that
// tests and benchmarks can exercise every path on one machine.
func SetKernel(name string) error {
	// A call copies the kernel it uses when it starts, so switching mid-call is safe.
	return setKernel(name)
}

func setKernel(name string) error {
	for i := range available {
		if available[i].name == name {
			cur.Store(&available[i])
			return nil
		}
	}
	return fmt.Errorf("kernel %q not available (have %v)", name, Kernels())
}

// Threads returns the number of workers used by Sgemm and ParallelFor.
func Threads() int { return int(numThreads.Load()) }

// SetThreads sets the number of workers (n < 1 means GOMAXPROCS) and returns the old value.
func SetThreads(n int) int {
	if n < 1 {
		n = runtime.GOMAXPROCS(0)
	}
	return int(numThreads.Swap(int64(n)))
}

// run calls fn(0..parts-1) concurrently on the persistent pool (fn(0) on the
// calling goroutine) and returns when all are done. The pool must be held.
func run(parts int, fn func(w int)) {
	for len(workers) < parts-1 {
		ch := make(chan func(int))
		workers = append(workers, ch)
		go worker(len(workers), ch)
	}
	wg.Add(parts - 1)
	for w := 1; w < parts; w++ {
		workers[w-1] <- fn
	}
	fn(0)
	wg.Wait()
}

func worker(id int, ch chan func(int)) {
	for fn := range ch {
		fn(id)
		wg.Done()
	}
}

// ParallelFor splits [0, n) into contiguous chunks of at least grain items and calls
// fn(lo, hi) on each, on the persistent worker pool; it returns when all are done.
// fn may itself call ParallelFor or Sgemm: such nested calls run on the calling
// goroutine alone (see lockPool).
func ParallelFor(n, grain int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if grain < 1 {
		grain = 1
	}
	chunks := (n + grain - 1) / grain
	if t := Threads(); chunks > t {
		chunks = t
	}
	if chunks <= 1 || !lockPool() {
		fn(0, n)
		return
	}
	defer unlockPool()
	pool.mu.Lock()
	pool.pfor = true
	pool.mu.Unlock()
	pfor.n, pfor.chunks, pfor.fn = n, chunks, fn
	defer func() { pfor.fn = nil }()
	run(chunks, pforPart)
}

func pforPart(w int) {
	n, chunks := pfor.n, pfor.chunks
	pfor.fn(w*n/chunks, (w+1)*n/chunks)
}

// lockPool takes the pool for a call and reports true, or reports false when
// a ParallelFor holds it: the caller may be one of that ParallelFor's bodies,
// for which waiting would deadlock, so it must run off the pool (offPool). A
// caller on another goroutine that arrives then also runs off the pool, which
// is correct, just single-threaded. While an Sgemm holds the pool the caller
// cannot be nested in it (Sgemm runs no caller code), so it waits its turn.
func lockPool() bool {
	pool.mu.Lock()
	defer pool.mu.Unlock()
	for pool.held {
		if pool.pfor {
			return false
		}
		pool.cond.Wait()
	}
	pool.held = true
	return true
}

// unlockPool releases the pool taken by lockPool and wakes one waiter.
func unlockPool() {
	pool.mu.Lock()
	pool.held, pool.pfor = false, false
	pool.mu.Unlock()
	pool.cond.Signal()
}

// Sgemm computes C = alpha*op(A)*op(B) + beta*C, all row-major.
// op(A) is m x k (A is m x k, or k x m when transA), op(B) is k x n (B is k x n, or n x k
// when transB), C is m x n. lda, ldb, ldc are the row strides of A, B and C as stored.
// beta == 0 overwrites C without reading it (NaNs in C do not propagate), as in BLAS.
// It is safe to call from several goroutines (calls take turns on the pool) and
// from inside a ParallelFor body.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	Gemm(F32, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Gemm is Sgemm with operands in precision p. With BF16, alpha*op(A) and op(B)
// are rounded to bfloat16 while packing (see Precision); the small-N path
// (useSmall: batch-1 products, bound by memory traffic rather than arithmetic)
// stays F32, which is never less accurate.
func Gemm(p Precision, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic("gemm: negative dimension")
	}
	if m == 0 || n == 0 {
		return
	}
	checkMat("C", c, m, n, ldc)
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	if transA {
		checkMat("A", a, k, m, lda)
	} else {
		checkMat("A", a, m, k, lda)
	}
	if transB {
		checkMat("B", b, n, k, ldb)
	} else {
		checkMat("B", b, k, n, ldb)
	}

	if !lockPool() {
		offPool(p, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	defer unlockPool()
	j := &job
	j.ki = *cur.Load()
	ki := &j.ki
	j.bf = p == BF16 && !useSmall(ki, m, n, k)
	j.transA, j.transB, j.m, j.n, j.k = transA, transB, m, n, k
	j.alpha, j.beta, j.a, j.b, j.c, j.lda, j.ldb, j.ldc = alpha, beta, a, b, c, lda, ldb, ldc
	defer func() { j.a, j.b, j.c = nil, nil, nil }()
	parts := Threads()
	// Below ~1 MFLOP the pool hand-off costs more than it saves.
	if float64(m)*float64(n)*float64(k) < 1<<19 {
		parts = 1
	}
	j.small = useSmall(ki, m, n, k)
	if j.small {
		smallA = grow(smallA, n*k)
		smallPackB(smallA, transB, b, ldb, n, k, alpha)
		j.tiles = (m + smallW - 1) / smallW
	} else {
		mr, nr := ki.mr, ki.nr
		if j.bf {
			mr, nr = ki.bf.mr, ki.bf.nr
		}
		mt := (m + mr - 1) / mr
		nt := (n + nr - 1) / nr
		j.splitM = mt >= nt
		j.tiles = nt
		if j.splitM {
			j.tiles = mt
		}
	}
	if parts > j.tiles {
		parts = j.tiles
	}
	j.parts = parts
	for len(bufs) < parts {
		bufs = append(bufs, &workerBuf{})
	}
	if parts == 1 {
		sgemmPart(0)
		return
	}
	run(parts, sgemmPart)
}

// offPool is a Gemm call that runs on the calling goroutine alone, with
// private buffers, because the pool is busy (see lockPool).
func offPool(p Precision, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	ki := cur.Load()
	wb := privBufs.Get().(*workerBuf)
	defer privBufs.Put(wb)
	switch {
	case useSmall(ki, m, n, k):
		wb.small = grow(wb.small, n*k)
		smallPackB(wb.small, transB, b, ldb, n, k, alpha)
		smallPanels(wb, ki, transA, m, n, k, a, lda, wb.small, beta, c, ldc, 0, (m+smallW-1)/smallW)
	case p == BF16:
		serialBF16(wb, ki.bf, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	default:
		serial(wb, ki, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	}
}

// serialPart runs one worker's sub-problem in job's precision.
func serialPart(wb *workerBuf, j *sgemmJob, m, n int, a []float32, b []float32, c []float32) {
	if j.bf {
		serialBF16(wb, j.ki.bf, j.transA, j.transB, m, n, j.k, j.alpha, a, j.lda, b, j.ldb, j.beta, c, j.ldc)
		return
	}
	serial(wb, &j.ki, j.transA, j.transB, m, n, j.k, j.alpha, a, j.lda, b, j.ldb, j.beta, c, j.ldc)
}

// sgemmPart is worker w's share of job.
func sgemmPart(w int) {
	j := &job
	ki := &j.ki
	m, n, k, a, b, c, lda, ldb, ldc := j.m, j.n, j.k, j.a, j.b, j.c, j.lda, j.ldb, j.ldc
	lo, hi := w*j.tiles/j.parts, (w+1)*j.tiles/j.parts
	mr, nr := ki.mr, ki.nr
	if j.bf {
		mr, nr = ki.bf.mr, ki.bf.nr
	}
	switch {
	case j.small:
		smallPanels(bufs[w], ki, j.transA, m, n, k, a, lda, smallA, j.beta, c, ldc, lo, hi)
	case j.parts == 1:
		serialPart(bufs[0], j, m, n, a, b, c)
	case j.splitM:
		i0, i1 := lo*mr, min(hi*mr, m)
		var aw []float32
		if j.transA {
			aw = a[i0:]
		} else {
			aw = a[i0*lda:]
		}
		serialPart(bufs[w], j, i1-i0, n, aw, b, c[i0*ldc:])
	default:
		j0, j1 := lo*nr, min(hi*nr, n)
		var bw []float32
		if j.transB {
			bw = b[j0*ldb:]
		} else {
			bw = b[j0:]
		}
		serialPart(bufs[w], j, m, j1-j0, a, bw, c[j0:])
	}
}

// checkMat panics unless s can hold a rows x cols matrix with row stride ld; the
// kernels index through raw pointers, so this is the bounds check.
func checkMat(name string, s []float32, rows, cols, ld int) {
	if ld < cols || ld < 1 {
		panic(fmt.Sprintf("gemm: ld%s=%d < %d", name, ld, cols))
	}
	if rows > 0 && cols > 0 && len(s) < (rows-1)*ld+cols {
		panic(fmt.Sprintf("gemm: %s has %d elements, need %d", name, len(s), (rows-1)*ld+cols))
	}
}

// scaleC does C = beta*C (beta == 0 clears, so NaNs do not survive).
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

// kBlocks splits k into nk blocks of kcB (the last one shorter), evened out so
// that the last one is not a sliver. Both F32 paths sum each block from zero
// and add it to C, so an element of C is rounded the same on either path (for
// alpha 1 and beta 0 or 1) and does not depend on n or on the path chosen.
func kBlocks(ki *kernelImpl, k int) (nk, kcB int) {
	nk = (k + ki.kc - 1) / ki.kc
	return nk, (k + nk - 1) / nk
}

// serial runs the blocked GEMM on one worker for a sub-problem.
func serial(wb *workerBuf, ki *kernelImpl, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	mr, nr := ki.mr, ki.nr
	_, kcB := kBlocks(ki, k)
	// Even out the m and n blocks too, so that the last one is not a sliver.
	nm := (m + ki.mc - 1) / ki.mc
	mcB := ((m+nm-1)/nm + mr - 1) / mr * mr
	nn := (n + ki.nc - 1) / ki.nc
	ncB := ((n+nn-1)/nn + nr - 1) / nr * nr

	if nm == 1 {
		serialFused(wb, ki, transA, transB, m, n, k, kcB, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	wb.a = grow(wb.a, min(mcB, (m+mr-1)/mr*mr)*kcB)
	wb.b = grow(wb.b, min(ncB, (n+nr-1)/nr*nr)*kcB)
	wb.tmp = grow(wb.tmp, mr*nr)

	for jc := 0; jc < n; jc += ncB {
		nb := min(ncB, n-jc)
		for pc := 0; pc < k; pc += kcB {
			kb := min(kcB, k-pc)
			packB(wb.b, transB, b, ldb, jc, nb, pc, kb, nr, ki.asmPack)
			bet, load := beta, 0
			if beta != 0 {
				load = 1
			}
			if pc > 0 {
				bet, load = 1, 1
			}
			for ic := 0; ic < m; ic += mcB {
				mb := min(mcB, m-ic)
				packA(wb.a, transA, a, lda, ic, mb, pc, kb, alpha, mr, ki.asmPack)
				macro(ki, mb, nb, kb, wb.a, wb.b, c[ic*ldc+jc:], ldc, bet, load, wb.tmp)
			}
		}
	}
}

// serialFused is serial for the common case where all of op(A)'s rows fit one
// mc block (the small-M products: M = channels). A is packed once per k block
// and each B micro-panel is packed just before the kernel sweeps the A block
// with it, into a kc x nr buffer that stays in L1: the packed B never makes the
// round trip through L3 that a whole kc x nc block does, and the pack's
// next-panel prefetch overlaps the source reads with the kernel's FMAs.
func serialFused(wb *workerBuf, ki *kernelImpl, transA, transB bool, m, n, k, kcB int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	mr, nr := ki.mr, ki.nr
	wb.a = grow(wb.a, (m+mr-1)/mr*mr*kcB)
	wb.b = grow(wb.b, nr*kcB)
	wb.tmp = grow(wb.tmp, mr*nr)
	for pc := 0; pc < k; pc += kcB {
		kb := min(kcB, k-pc)
		bet, load := beta, 0
		if beta != 0 {
			load = 1
		}
		if pc > 0 {
			bet, load = 1, 1
		}
		packA(wb.a, transA, a, lda, 0, m, pc, kb, alpha, mr, ki.asmPack)
		for jr := 0; jr < n; jr += nr {
			cols := min(nr, n-jr)
			packB(wb.b, transB, b, ldb, jr, cols, pc, kb, nr, ki.asmPack)
			macro(ki, m, cols, kb, wb.a, wb.b, c[jr:], ldc, bet, load, wb.tmp)
		}
	}
}

// macro runs the micro-kernel over an mb x nb block of C. Full tiles go straight
// to C; edge tiles go through tmp so the kernel never writes outside C.
func macro(ki *kernelImpl, mb, nb, kb int, ap, bp, c []float32, ldc int, beta float32, load int, tmp []float32) {
	mr, nr, fn := ki.mr, ki.nr, ki.fn
	for jr := 0; jr < nb; jr += nr {
		cols := min(nr, nb-jr)
		pb := &bp[jr*kb]
		for ir := 0; ir < mb; ir += mr {
			rows := min(mr, mb-ir)
			pa := &ap[ir*kb]
			if rows == mr && cols == nr {
				fn(kb, pa, pb, &c[ir*ldc+jr], ldc, beta, load)
				continue
			}
			fn(kb, pa, pb, &tmp[0], nr, 0, 0)
			edgeTile(c[ir*ldc+jr:], ldc, tmp, nr, rows, cols, beta, load != 0)
		}
	}
}

// edgeTile writes the rows x cols corner of a micro-kernel tile computed into tmp
// (row stride ldt) to c (row stride ldc): c = tmp, or c = tmp + beta*c when load.
// Edge tiles go through tmp so that kernels never write past C's rows or columns.
func edgeTile(c []float32, ldc int, tmp []float32, ldt, rows, cols int, beta float32, load bool) {
	for i := 0; i < rows; i++ {
		dst := c[i*ldc : i*ldc+cols]
		src := tmp[i*ldt : i*ldt+cols]
		if !load {
			copy(dst, src)
			continue
		}
		for j, v := range src {
			dst[j] = v + float32(beta*dst[j])
		}
	}
}

// packA packs rows [i0, i0+mb) x cols [p0, p0+kb) of op(A), times alpha, into
// mr-row panels, k-major (mr values per k step), zero-padding the last panel.
func packA(dst []float32, transA bool, a []float32, lda, i0, mb, p0, kb int, alpha float32, mr int, asm bool) {
	for ip := 0; ip < mb; ip += mr {
		rows := min(mr, mb-ip)
		d := dst[ip*kb : ip*kb+mr*kb]
		r0 := i0 + ip
		if transA {
			// A is k x m: the mr values of one k step are contiguous.
			if asm && rows == 8 && mr == 8 {
				_ = a[(p0+kb-1)*lda+r0+7]
				packN8(kb, &a[p0*lda+r0], lda, &d[0], alpha)
				continue
			}
			for p := 0; p < kb; p++ {
				src := a[(p0+p)*lda+r0 : (p0+p)*lda+r0+rows]
				dd := d[p*mr : p*mr+mr]
				for i, v := range src {
					dd[i] = alpha * v
				}
				clear(dd[rows:])
			}
			continue
		}
		packT(d, a, lda, r0, rows, p0, kb, mr, alpha, asm)
		if rows < mr {
			for p := 0; p < kb; p++ {
				clear(d[p*mr+rows : p*mr+mr])
			}
		}
	}
}

// packB packs rows [p0, p0+kb) x cols [j0, j0+nb) of op(B) into nr-column
// panels, k-major (nr values per k step), zero-padding the last panel.
func packB(dst []float32, transB bool, b []float32, ldb, j0, nb, p0, kb int, nr int, asm bool) {
	for jp := 0; jp < nb; jp += nr {
		cols := min(nr, nb-jp)
		d := dst[jp*kb : jp*kb+nr*kb]
		c0 := j0 + jp
		if !transB {
			if asm && cols == nr && (nr == 32 || nr == 16) {
				_ = b[(p0+kb-1)*ldb+c0+nr-1]
				if nr == 32 {
					packN32(kb, &b[p0*ldb+c0], ldb, &d[0], 1)
				} else {
					packN16(kb, &b[p0*ldb+c0], ldb, &d[0], 1)
				}
				continue
			}
			for p := 0; p < kb; p++ {
				off := (p0+p)*ldb + c0
				dd := d[p*nr : p*nr+nr]
				copy(dd, b[off:off+cols])
				clear(dd[cols:])
			}
			continue
		}
		packT(d, b, ldb, c0, cols, p0, kb, nr, 1, asm)
		if cols < nr {
			for p := 0; p < kb; p++ {
				clear(d[p*nr+cols : p*nr+nr])
			}
		}
	}
}

// grow returns a 64-byte-aligned slice of at least n floats, reusing s when it
// is big enough, so that zmm loads from packed panels never split cache lines.
func grow(s []float32, n int) []float32 {
	if cap(s) >= n {
		return s[:n]
	}
	raw := make([]float32, n+16)
	off := 0
	if r := uintptr(unsafe.Pointer(&raw[0])) % 64; r != 0 {
		off = int((64 - r) / 4)
	}
	return raw[off : off+n : off+n]
}

// packT writes d[p*w+j] = alpha*s[(r0+j)*ld+p0+p] for j < rows, p < kb: the
// transposing half of packing. Four source rows at a time make each k step's
// writes contiguous and amortise the bounds checks, which roughly halves its cost.
func packT(d, s []float32, ld, r0, rows, p0, kb, w int, alpha float32, asm bool) {
	j := 0
	if asm && kb >= 8 {
		kb8 := kb / 8
		for ; j+8 <= rows; j += 8 {
			o := (r0+j)*ld + p0
			_ = s[o+7*ld+kb-1] // the assembly reads rows o..o+7*ld, kb8*8 floats each
			_ = d[(kb-1)*w+j+7]
			packT8(kb8, &s[o], ld, &d[j], w, alpha)
			for p := kb8 * 8; p < kb; p++ {
				for jj := 0; jj < 8; jj++ {
					d[p*w+j+jj] = alpha * s[o+jj*ld+p]
				}
			}
		}
	}
	for ; j+4 <= rows; j += 4 {
		o := (r0+j)*ld + p0
		s0 := s[o : o+kb]
		s1 := s[o+ld : o+ld+kb]
		s2 := s[o+2*ld : o+2*ld+kb]
		s3 := s[o+3*ld : o+3*ld+kb]
		dd := d[j : (kb-1)*w+j+4]
		if alpha == 1 {
			for p := range s0 {
				q := dd[p*w : p*w+4 : p*w+4]
				q[0], q[1], q[2], q[3] = s0[p], s1[p], s2[p], s3[p]
			}
			continue
		}
		for p := range s0 {
			q := dd[p*w : p*w+4 : p*w+4]
			q[0], q[1], q[2], q[3] = alpha*s0[p], alpha*s1[p], alpha*s2[p], alpha*s3[p]
		}
	}
	for ; j < rows; j++ {
		o := (r0+j)*ld + p0
		for p, v := range s[o : o+kb] {
			d[p*w+j] = alpha * v
		}
	}
}
