package gemm

import "unsafe"

// The small-N path. Batch-1 inference issues GEMMs with a large M (weights
// rows: OutC*K*K taps) and a tiny N (the 3x3..12x12 spatial positions, split
// further by the tap-split convolutions into 2..24 columns). On the regular
// path N runs along the 32-wide vector axis of the 8x32 tile, so N = 2 wastes
// 15/16 of every FMA, and the large operand A is packed 8 rows at a time.
//
// Instead the driver computes the transposed product
//
//	C^T (n x m) = op(B)^T (n x k) * op(A)^T (k x m)
//
// with m along the vector axis: op(B)^T is tiny and packed once per call
// (alpha folded in) into groups of at most smallMaxR rows; op(A)^T is read in
// place when A is stored transposed (k x m, the deconvolution case), or packed
// into a k x smallW panel otherwise and for the ragged last panel. A smallMaxR x
// smallW register tile accumulates one k block (the regular path's blocks, so
// both paths round alike), lands in a per-worker n x smallW scratch and is
// transposed into C's rows with beta applied, so the kernel never touches C.
// Workers split the smallW-column panels of m.

// smallW is the tile width of the small-N kernels (4 zmm).
const smallW = 64

// smallMaxR is the most rows one small-N kernel call computes (asm/gen.go).
const smallMaxR = 6

// smallMaxN bounds n on the small-N path: beyond it the regular tile wastes
// little and re-reading op(A) once per row group stops being cheap.
const smallMaxN = 48

// smallMode forces the small-N path on (1) or off (-1) for tests and benchmarks.
var smallMode = 0

// useSmall reports whether Sgemm takes the small-N path for an m x n x k product.
func useSmall(ki *kernelImpl, m, n, k int) bool {
	if ki.small == nil {
		return false
	}
	switch smallMode {
	case 1:
		return true
	case -1:
		return false
	}
	// k bounds the k x smallW panel buffer that ragged or untransposed A needs.
	if n > smallMaxN || m < smallW || k < 8 || k > 1<<14 {
		return false
	}
	nt := (n + ki.nr - 1) / ki.nr * ki.nr
	return 5*nt > 6*n // the regular tile would waste more than 1/6
}

// smallGroups is the number of kernel row groups for n rows, and smallGroup the
// first row of group g: rows are spread evenly so no group is a sliver.
func smallGroups(n int) int       { return (n + smallMaxR - 1) / smallMaxR }
func smallGroup(n, ng, g int) int { return g * n / ng }

// smallPackB packs alpha*op(B)^T (n x k) into smallA: group g (rows r0..r1)
// occupies [r0*k, r1*k), k-major with r1-r0 floats per k step.
func smallPackB(dst []float32, transB bool, b []float32, ldb, n, k int, alpha float32) {
	ng := smallGroups(n)
	for g := 0; g < ng; g++ {
		r0, r1 := smallGroup(n, ng, g), smallGroup(n, ng, g+1)
		r := r1 - r0
		d := dst[r0*k : r1*k]
		if transB {
			// B is n x k: row j of B is column j of op(B).
			for j := r0; j < r1; j++ {
				src := b[j*ldb : j*ldb+k]
				for p, v := range src {
					d[p*r+j-r0] = alpha * v
				}
			}
			continue
		}
		for p := 0; p < k; p++ {
			src := b[p*ldb+r0 : p*ldb+r1]
			dd := d[p*r : p*r+r]
			for i, v := range src {
				dd[i] = alpha * v
			}
		}
	}
}

// smallPanels runs the small-N product for the smallW-column panels [p0, p1)
// of m. ap is the packed op(B)^T from smallPackB.
func smallPanels(wb *workerBuf, ki *kernelImpl, transA bool, m, n, k int, a []float32, lda int, ap []float32, beta float32, c []float32, ldc int, p0, p1 int) {
	wb.tmp = grow(wb.tmp, n*smallW)
	tmp := wb.tmp
	ng := smallGroups(n)
	for pi := p0; pi < p1; pi++ {
		i0 := pi * smallW
		w := min(smallW, m-i0)
		var bp *float32
		ldbp := smallW
		switch {
		case transA && w == smallW:
			// A is k x m: the panel is read where it lies.
			bp, ldbp = &a[i0], lda
		case transA:
			wb.b = grow(wb.b, k*smallW)
			for p := 0; p < k; p++ {
				d := wb.b[p*smallW : p*smallW+smallW]
				copy(d, a[p*lda+i0:p*lda+i0+w])
				clear(d[w:])
			}
			bp = &wb.b[0]
		default:
			// A is m x k: op(A)^T's panel is rows i0..i0+w of A, transposed.
			wb.b = grow(wb.b, k*smallW)
			packT(wb.b, a, lda, i0, w, 0, k, smallW, 1, ki.asmPack)
			if w < smallW {
				for p := 0; p < k; p++ {
					clear(wb.b[p*smallW+w : p*smallW+smallW])
				}
			}
			bp = &wb.b[0]
		}
		// k runs in the regular path's blocks (kBlocks), each summed from zero and
		// added to C, so that an element's value does not depend on which path
		// computed it (nor, through the path, on the batch size n).
		nk, kcB := kBlocks(ki, k)
		for bi := 0; bi < nk; bi++ {
			pc := bi * kcB
			kb := min(kcB, k-pc)
			for g := 0; g < ng; g++ {
				r0, r1 := smallGroup(n, ng, g), smallGroup(n, ng, g+1)
				ki.small(r1-r0, kb, &ap[r0*k+pc*(r1-r0)], (*float32)(unsafe.Add(unsafe.Pointer(bp), 4*pc*ldbp)), ldbp, &tmp[r0*smallW], smallW)
			}
			// C[i0+i, j] = tmp[j, i] (+ beta*C on the first block, + C after it).
			bet := beta
			if bi > 0 {
				bet = 1
			}
			for i := 0; i < w; i++ {
				row := c[(i0+i)*ldc : (i0+i)*ldc+n]
				t := tmp[i:]
				if bet == 0 {
					for j := range row {
						row[j] = t[j*smallW]
					}
					continue
				}
				for j := range row {
					row[j] = t[j*smallW] + float32(bet*row[j])
				}
			}
		}
	}
}

// smallGeneric is the pure-Go small-N kernel (same contract as smallN<r> in
// asm/gen.go): an r x smallW tile c = a*b, a packed r floats per k step, b kc
// rows of smallW floats with row stride ldb.
func smallGeneric(r, kc int, a, b *float32, ldb int, c *float32, ldc int) {
	if kc <= 0 {
		for i := 0; i < r; i++ {
			clear(unsafe.Slice((*float32)(unsafe.Add(unsafe.Pointer(c), 4*i*ldc)), smallW))
		}
		return
	}
	pa := unsafe.Slice(a, r*kc)
	pb := unsafe.Slice(b, (kc-1)*ldb+smallW)
	for i := 0; i < r; i++ {
		var acc [smallW]float32
		for p := 0; p < kc; p++ {
			av := pa[p*r+i]
			brow := pb[p*ldb : p*ldb+smallW]
			for j := range acc {
				acc[j] += float32(av * brow[j]) // rounded product: no FMA fusion (see kernelGeneric)
			}
		}
		copy(unsafe.Slice((*float32)(unsafe.Add(unsafe.Pointer(c), 4*i*ldc)), smallW), acc[:])
	}
}
