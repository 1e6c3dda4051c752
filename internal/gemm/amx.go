package gemm

// The AMX bf16 path. On Intel Xeons with AMX (Sapphire Rapids and later) VDPBF16PS
// runs at about half the float32 FMA rate, but the AMX tile unit's TDPBF16PS
// multiplies a 16x32 by a 32x16 bf16 tile into 16x16 float32 accumulators in one
// instruction: 2,553 GFLOP/s on one core of the Xeon VM of this project against 152
// for float32 FMAs (register-only probes, avatargan bench). Packing and C's memory
// traffic, not the tile unit, bound a GEMM here (1.2-3x the float32 path). Its
// products and accumulation are those of Precision BF16: operands rounded to bf16
// (the same packing rounding), float32 accumulation, so it is another kernel of the
// same precision, not a new one.
//
// Tiles: TMM0..3 hold the four 16x16 quarters of a 32x32 block of C, TMM4/5 the two
// 16-row halves of a 32-row A panel (16 k pairs per row, 64 bytes), TMM6/7 the two
// 16-column halves of a 32-column B panel (16 pair rows). A is packed row-major in k
// (amxPackA), B in the pair-major panels of the VDPBF16PS path (packBBF16 with nr 32),
// both padded with zeros to whole steps of 16 k pairs.

// amxTile is the tile width: 32 rows or columns of C per kernel call.
const amxTile = 32

// amxCfg is the tile configuration every AMX kernel loads on entry: palette 1,
// tiles 0..7 of 16 rows by 64 bytes. Read-only.
var amxCfg = func() (c [64]byte) {
	c[0] = 1
	for t := 0; t < 8; t++ {
		c[16+2*t] = 64
		c[48+t] = 16
	}
	return c
}()

// amxKernelFn has the contract of kernelAMX (asm/amx.go).
type amxKernelFn func(kt int, a, b *uint32, c *float32, ldc int, load int, cfg *byte)

// serialAMX is serialBF16 for the AMX kernel: the same blocking (B block kc x nc,
// A block mc x kc), 32x32 register tiles, k in steps of 16 pairs.
func serialAMX(wb *workerBuf, bk *bf16Kernel, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	const t = amxTile // bk.mr and bk.nr
	kcB, mcB, ncB := bk.blocks(m, n, k)
	ktB := (kcB/2 + 15) / 16
	wb.pa = growU32(wb.pa, min(mcB, (m+t-1)/t*t)*ktB*16)
	wb.pb = growU32(wb.pb, min(ncB, (n+t-1)/t*t)*ktB*16)
	wb.tmp = grow(wb.tmp, t*t)
	for jc := 0; jc < n; jc += ncB {
		nb := min(ncB, n-jc)
		for pc := 0; pc < k; pc += kcB {
			kb := min(kcB, k-pc)
			kp := (kb + 1) / 2
			kt := (kp + 15) / 16
			for jr := 0; jr < nb; jr += t {
				d := wb.pb[jr*kt*16 : (jr+t)*kt*16]
				packBBF16(d, transB, b, ldb, jc+jr, min(t, nb-jr), pc, kb, t, bk.native)
				clear(d[kp*t:])
			}
			bet := beta
			if pc > 0 {
				bet = 1
			}
			for ic := 0; ic < m; ic += mcB {
				mb := min(mcB, m-ic)
				amxPackA(wb.pa, &wb.amx, transA, a, lda, ic, mb, pc, kb, alpha, kt, bk.native)
				amxMacro(bk.amx, mb, nb, kt, wb.pa, wb.pb, c[ic*ldc+jc:], ldc, bet, wb.tmp)
			}
		}
	}
}

// amxMacro runs the kernel over an mb x nb block. Whole tiles with beta 0 or 1 go
// straight to C (the kernel starts from C when beta is 1: C's value joins the float32
// accumulation first rather than last, equally accurate); edge tiles and other betas
// go through tmp.
func amxMacro(fn amxKernelFn, mb, nb, kt int, ap, bp []uint32, c []float32, ldc int, beta float32, tmp []float32) {
	const t = amxTile
	cfg := &amxCfg[0]
	for jr := 0; jr < nb; jr += t {
		cols := min(t, nb-jr)
		pb := &bp[jr*kt*16]
		for ir := 0; ir < mb; ir += t {
			rows := min(t, mb-ir)
			pa := &ap[ir*kt*16]
			if rows == t && cols == t && (beta == 0 || beta == 1) {
				load := 0
				if beta == 1 {
					load = 1
				}
				fn(kt, pa, pb, &c[ir*ldc+jr], ldc, load, cfg)
				continue
			}
			fn(kt, pa, pb, &tmp[0], t, 0, cfg)
			edgeTile(c[ir*ldc+jr:], ldc, tmp, t, rows, cols, beta, beta != 0)
		}
	}
}

// amxPackA packs rows [i0, i0+mb) x cols [p0, p0+kb) of alpha*op(A) for the AMX
// kernel: per 32-row panel, kt steps of 32 rows x 16 bf16 pairs (row i's values at
// k and k+1 in one word, even k low), zero past mb rows and past kb. asm uses the
// AVX512_BF16 packs for whole 32-row panels: packRowAMX on plain A, packPairN32 into
// scratch then a word transpose on transposed A; they round exactly as bf16Pair.
func amxPackA(dst []uint32, scratch *[]uint32, transA bool, a []float32, lda, i0, mb, p0, kb int, alpha float32, kt int, asm bool) {
	const t = amxTile
	kp := (kb + 1) / 2
	step := t * 16
	for ip := 0; ip < mb; ip += t {
		d := dst[ip*kt*16 : (ip+t)*kt*16]
		rows := min(t, mb-ip)
		if rows < t || kp < kt*16 {
			clear(d)
		}
		if transA && asm && rows == t && kb >= 2 {
			// A is k x m: pack pair-major (the VDPBF16PS layout, [k pair][row],
			// contiguous reads) into scratch, then transpose the words into the
			// tile layout ([row][k pair]).
			*scratch = growU32(*scratch, kp*t)
			sc := *scratch
			packPairN32(kb/2, &a[p0*lda+i0+ip], lda, &sc[0], alpha)
			if kb%2 != 0 {
				r0 := a[(p0+kb-1)*lda+i0+ip : (p0+kb-1)*lda+i0+ip+t]
				for i, v := range r0 {
					sc[(kp-1)*t+i] = bf16Pair(alpha*v, 0)
				}
			}
			for q := 0; q < kp; q++ {
				src := sc[q*t : q*t+t : q*t+t]
				o := d[(q/16)*step+q%16:]
				_ = o[(t-1)*16]
				for i, v := range src {
					o[i*16] = v
				}
			}
			continue
		}
		if transA {
			// A is k x m: a pair row of op(A) is a strided column; walk k outside
			// so that the reads are contiguous runs of rows.
			for q := 0; q < kp; q++ {
				r0 := a[(p0+2*q)*lda+i0+ip : (p0+2*q)*lda+i0+ip+rows]
				var r1 []float32
				if 2*q+1 < kb {
					r1 = a[(p0+2*q+1)*lda+i0+ip : (p0+2*q+1)*lda+i0+ip+rows]
				}
				o := (q/16)*step + q%16
				for i, v := range r0 {
					var hi float32
					if r1 != nil {
						hi = alpha * r1[i]
					}
					d[o+i*16] = bf16Pair(alpha*v, hi)
				}
			}
			continue
		}
		for i := 0; i < rows; i++ {
			row := a[(i0+ip+i)*lda+p0 : (i0+ip+i)*lda+p0+kb]
			q0 := 0
			if asm && kb >= 32 {
				packRowAMX(kb/32, &row[0], &d[i*16], alpha)
				q0 = kb / 32 * 16
			}
			for q := q0; q < kp; q++ {
				var hi float32
				if 2*q+1 < kb {
					hi = alpha * row[2*q+1]
				}
				d[(q/16)*step+i*16+q%16] = bf16Pair(alpha*row[2*q], hi)
			}
		}
	}
}
