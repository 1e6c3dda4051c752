package gemm

import (
	"fmt"
	"math"
	"sync"
	"time"
	"unsafe"
)

// Precision is the arithmetic of a product's operands. Accumulation and C are
// float32 in every precision.
type Precision uint8

const (
	// F32 multiplies float32 operands.
	F32 Precision = iota
	// BF16 rounds both operands to bfloat16 (round to nearest even) while
	// packing and multiplies those. A product of two bf16 values is exact in
	// float32, so only the operand rounding (relative error <= 2^-8 each) and the
	// float32 accumulation differ from F32.
	BF16
)

// String returns "f32" or "bf16", the spelling ParsePrecision accepts.
func (p Precision) String() string {
	switch p {
	case F32:
		return "f32"
	case BF16:
		return "bf16"
	}
	return fmt.Sprintf("Precision(%d)", uint8(p))
}

// ParsePrecision parses "f32" or "bf16".
func ParsePrecision(s string) (Precision, error) {
	switch s {
	case "f32":
		return F32, nil
	case "bf16":
		return BF16, nil
	}
	return F32, fmt.Errorf("unknown precision %q (want f32 or bf16)", s)
}

// NativeBF16 reports whether the kernel path in use multiplies bf16 in
// hardware (AVX512_BF16). Elsewhere BF16 runs a pure-Go kernel that computes
// the same products but is much slower than F32.
func NativeBF16() bool { return cur.Load().bf.native }

// FastBF16 reports whether BF16 products should beat F32 ones here: the path
// multiplies bf16 in hardware and a register-only probe, run once, finds its bf16
// instruction delivering at least 1.25x the flops of float32 FMAs. That differs
// between CPUs: VDPBF16PS gives twice the FMA rate on the AMD EPYC (Zen 4) VMs of
// this project (233 vs 116 GFLOP/s per core) but about half on Intel Xeons with
// AMX, whose avx512amx path uses the tile unit's TDPBF16PS instead (~15x there).
// The probe costs ~0.5 ms.
func FastBF16() bool {
	if !NativeBF16() {
		return false
	}
	return BF16PeakRatio() >= 1.25
}

// BF16PeakRatio is the flop rate of the path's bf16 instruction (TDPBF16PS on
// avx512amx, VDPBF16PS elsewhere) over that of float32 FMAs on 512-bit registers,
// from register-only probes measured once per instruction (the best of a few
// alternating runs); 0 where the CPU lacks either instruction.
func BF16PeakRatio() float64 {
	if cur.Load().bf.amx != nil {
		amxOnce.Do(func() {
			if amxProbe != nil {
				amxRatio = amxProbe()
			}
		})
		return amxRatio
	}
	peakOnce.Do(func() {
		if peakProbe != nil {
			peakRatio = peakProbe()
		}
	})
	return peakRatio
}

// PeakGFLOPS measures one core's peak for precision p with a register-only
// probe (no memory traffic: the rate a GEMM kernel could at best reach), run
// in bursts for about d on the calling goroutine; it returns the best burst's
// GFLOP/s, or 0 where there is no probe (no assembly, or no AVX512_BF16 for
// BF16). Quote GEMM efficiency against it, measured in the same run.
func PeakGFLOPS(p Precision, d time.Duration) float64 { return peakGFLOPS(p, d) }

var (
	peakOnce  sync.Once
	peakRatio float64
	// peakProbe measures BF16PeakRatio; set where the probes exist (amd64).
	peakProbe func() float64
	// amxOnce, amxRatio and amxProbe are the same for the AMX path.
	amxOnce  sync.Once
	amxRatio float64
	amxProbe func() float64
)

// bf16Kernel is a bf16 micro-kernel and its blocking. fn has the contract of
// kernelBF16AVX512 (asm/bf16.go): kp k pairs of pair-major packed panels.
type bf16Kernel struct {
	native     bool
	mr, nr     int
	mc, kc, nc int // kc in k elements, even
	fn         func(kp int, a, b *uint32, c *float32, ldc int, beta float32, load int)
	// amx, where set, replaces fn and the pair-major A panels: the AMX tile
	// kernel (amx.go), with mr = nr = 32.
	amx amxKernelFn
}

// bf16Generic is the pure-Go bf16 path: the same products as the assembly.
var bf16Generic = &bf16Kernel{mr: 4, nr: 4, mc: 128, kc: 512, nc: 2048, fn: kernelBF16Generic}

// RoundBF16 returns x rounded to the nearest bfloat16 (ties to even), as a
// float32. Subnormal inputs become zero (VDPBF16PS treats subnormal operands as
// zero, so the pure-Go path must too); NaN stays NaN; values that round past
// the largest bf16 become infinities.
func RoundBF16(x float32) float32 { return math.Float32frombits(uint32(bf16Bits(x)) << 16) }

// bf16Bits is RoundBF16 as the upper 16 bits of the float32 encoding.
func bf16Bits(x float32) uint16 {
	u := math.Float32bits(x)
	switch e := u & 0x7f800000; {
	case e == 0: // zero or subnormal: signed zero
		return uint16(u>>16) & 0x8000
	case e == 0x7f800000 && u&0x007fffff != 0: // NaN: keep it a (quiet) NaN
		return uint16(u>>16) | 0x0040
	}
	u += 0x7fff + (u>>16)&1
	return uint16(u >> 16)
}

// bf16Pair packs two values into one word: lo (the even k) in the low half.
func bf16Pair(lo, hi float32) uint32 { return uint32(bf16Bits(lo)) | uint32(bf16Bits(hi))<<16 }

// packABF16 packs rows [i0, i0+mb) x cols [p0, p0+kb) of op(A), times alpha,
// into mr-row pair-major panels: per k pair, mr words (row i's values at k and
// k+1), zero-padded past mb rows and past kb. asm uses the AVX512_BF16 packs
// (asm/bf16.go) for whole 8-row panels; they round exactly as bf16Bits.
func packABF16(dst []uint32, transA bool, a []float32, lda, i0, mb, p0, kb int, alpha float32, mr int, asm bool) {
	kp := (kb + 1) / 2
	// at returns alpha*op(A)[r, p], and 0 past kb.
	at := func(r, p int) float32 {
		if p >= p0+kb {
			return 0
		}
		if transA {
			return alpha * a[p*lda+r]
		}
		return alpha * a[r*lda+p]
	}
	for ip := 0; ip < mb; ip += mr {
		rows := min(mr, mb-ip)
		d := dst[ip*kp : ip*kp+mr*kp]
		r0 := i0 + ip
		q0 := 0 // pairs below q0 are done for every row
		if asm && rows == 8 && mr == 8 && kb >= 2 {
			if transA {
				_ = a[(p0+kb-1)*lda+r0+7]
				packPairN8(kb/2, &a[p0*lda+r0], lda, &d[0], alpha)
				q0 = kb / 2
			} else if kb >= 16 {
				_ = a[(r0+7)*lda+p0+kb-1]
				packT8BF16(kb/16, &a[r0*lda+p0], lda, &d[0], mr, alpha)
				q0 = kb / 16 * 8
			}
		}
		for i := 0; i < rows; i++ {
			for q := q0; q < kp; q++ {
				d[q*mr+i] = bf16Pair(at(r0+i, p0+2*q), at(r0+i, p0+2*q+1))
			}
		}
		for q := 0; q < kp && rows < mr; q++ {
			clear(d[q*mr+rows : q*mr+mr])
		}
	}
}

// packBBF16 packs rows [p0, p0+kb) x cols [j0, j0+nb) of op(B) into nr-column
// pair-major panels: per k pair, nr words (column j's values at k and k+1),
// zero-padded past nb columns and past kb. asm as for packABF16.
func packBBF16(dst []uint32, transB bool, b []float32, ldb, j0, nb, p0, kb int, nr int, asm bool) {
	kp := (kb + 1) / 2
	for jp := 0; jp < nb; jp += nr {
		cols := min(nr, nb-jp)
		d := dst[jp*kp : jp*kp+nr*kp]
		c0 := j0 + jp
		if transB { // B is n x k: column j of op(B) is row j of B
			j := 0
			if asm && kb >= 16 {
				for ; j+8 <= cols; j += 8 {
					_ = b[(c0+j+7)*ldb+p0+kb-1]
					packT8BF16(kb/16, &b[(c0+j)*ldb+p0], ldb, &d[j], nr, 1)
					for jj := j; jj < j+8; jj++ {
						packRowPairs(d, nr, jj, b[(c0+jj)*ldb+p0:(c0+jj)*ldb+p0+kb], kb/16*8)
					}
				}
			}
			for ; j < cols; j++ {
				packRowPairs(d, nr, j, b[(c0+j)*ldb+p0:(c0+j)*ldb+p0+kb], 0)
			}
		} else {
			q := 0
			if asm && cols == 32 && nr == 32 && kb >= 2 {
				_ = b[(p0+kb-1)*ldb+c0+31]
				packPairN32(kb/2, &b[p0*ldb+c0], ldb, &d[0], 1)
				q = kb / 2
			}
			for ; q < kp; q++ {
				r0 := b[(p0+2*q)*ldb+c0 : (p0+2*q)*ldb+c0+cols]
				dd := d[q*nr : q*nr+cols]
				if 2*q+1 < kb {
					r1 := b[(p0+2*q+1)*ldb+c0 : (p0+2*q+1)*ldb+c0+cols]
					for j := range dd {
						dd[j] = bf16Pair(r0[j], r1[j])
					}
				} else {
					for j := range dd {
						dd[j] = bf16Pair(r0[j], 0)
					}
				}
			}
		}
		for q := 0; q < kp && cols < nr; q++ {
			clear(d[q*nr+cols : q*nr+nr])
		}
	}
}

// packRowPairs writes the pairs q >= q0 of one contiguous source row src (kb
// values along k) into column j of a pair-major panel d of width w.
func packRowPairs(d []uint32, w, j int, src []float32, q0 int) {
	kb := len(src)
	for q := q0; q < kb/2; q++ {
		d[q*w+j] = bf16Pair(src[2*q], src[2*q+1])
	}
	if kb%2 == 1 && (kb-1)/2 >= q0 {
		d[(kb/2)*w+j] = bf16Pair(src[kb-1], 0)
	}
}

// kernelBF16Generic is the pure-Go bf16 micro-kernel (4x4 tile) with the
// contract of the assembly one. Per k pair it adds the odd product, then the
// even one, each rounded once to float32: the order of Intel's definition of
// VDPBF16PS. Products of bf16 values are exact in float32, so whether Go fuses
// a multiply-add or not changes nothing.
func kernelBF16Generic(kp int, a, b *uint32, c *float32, ldc int, beta float32, load int) {
	const mr, nr = 4, 4
	if kp < 0 {
		return
	}
	pa := unsafe.Slice(a, kp*mr+mr)[: kp*mr : kp*mr]
	pb := unsafe.Slice(b, kp*nr+nr)[: kp*nr : kp*nr]
	var acc [mr][nr]float32
	for q := 0; q < kp; q++ {
		av := pa[q*mr : q*mr+mr : q*mr+mr]
		bv := pb[q*nr : q*nr+nr : q*nr+nr]
		for i := 0; i < mr; i++ {
			a0 := math.Float32frombits(av[i] << 16)
			a1 := math.Float32frombits(av[i] &^ 0xffff)
			for j := 0; j < nr; j++ {
				acc[i][j] += a1 * math.Float32frombits(bv[j]&^0xffff)
				acc[i][j] += a0 * math.Float32frombits(bv[j]<<16)
			}
		}
	}
	cs := unsafe.Slice(c, (mr-1)*ldc+nr)
	for i := 0; i < mr; i++ {
		row := cs[i*ldc : i*ldc+nr : i*ldc+nr]
		for j := range row {
			v := acc[i][j]
			if load != 0 {
				v += beta * row[j]
			}
			row[j] = v
		}
	}
}

// serialBF16 is serial for BF16: the same blocking (B block kc x nc, A block
// mc x kc, register tiles), with pair-major bf16 panels. Packing rounds each
// operand element once per use of its block: B once per call, A once per nc
// block of columns.
func serialBF16(wb *workerBuf, bk *bf16Kernel, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if bk.amx != nil {
		serialAMX(wb, bk, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	mr, nr := bk.mr, bk.nr
	kcB, mcB, ncB := bk.blocks(m, n, k)
	kpB := kcB / 2
	wb.pa = growU32(wb.pa, min(mcB, (m+mr-1)/mr*mr)*kpB)
	wb.pb = growU32(wb.pb, min(ncB, (n+nr-1)/nr*nr)*kpB)
	wb.tmp = grow(wb.tmp, mr*nr)
	for jc := 0; jc < n; jc += ncB {
		nb := min(ncB, n-jc)
		for pc := 0; pc < k; pc += kcB {
			kb := min(kcB, k-pc)
			kp := (kb + 1) / 2
			packBBF16(wb.pb, transB, b, ldb, jc, nb, pc, kb, nr, bk.native)
			bet, load := beta, 0
			if beta != 0 {
				load = 1
			}
			if pc > 0 {
				bet, load = 1, 1
			}
			for ic := 0; ic < m; ic += mcB {
				mb := min(mcB, m-ic)
				packABF16(wb.pa, transA, a, lda, ic, mb, pc, kb, alpha, mr, bk.native)
				macroBF16(bk, mb, nb, kp, wb.pa, wb.pb, c[ic*ldc+jc:], ldc, bet, load, wb.tmp)
			}
		}
	}
}

// blocks returns the block sizes of an m x n x k product on bk: k blocks of even
// length (so that k pairs never straddle blocks), m and n blocks in whole register
// tiles, each evened out so that the last one is not a sliver.
func (bk *bf16Kernel) blocks(m, n, k int) (kcB, mcB, ncB int) {
	nk := (k + bk.kc - 1) / bk.kc
	kcB = ((k+nk-1)/nk + 1) &^ 1
	nm := (m + bk.mc - 1) / bk.mc
	mcB = ((m+nm-1)/nm + bk.mr - 1) / bk.mr * bk.mr
	nn := (n + bk.nc - 1) / bk.nc
	ncB = ((n+nn-1)/nn + bk.nr - 1) / bk.nr * bk.nr
	return kcB, mcB, ncB
}

// macroBF16 is macro for bf16 panels (kp k pairs).
func macroBF16(bk *bf16Kernel, mb, nb, kp int, ap, bp []uint32, c []float32, ldc int, beta float32, load int, tmp []float32) {
	mr, nr, fn := bk.mr, bk.nr, bk.fn
	for jr := 0; jr < nb; jr += nr {
		cols := min(nr, nb-jr)
		pb := &bp[jr*kp]
		for ir := 0; ir < mb; ir += mr {
			rows := min(mr, mb-ir)
			pa := &ap[ir*kp]
			if rows == mr && cols == nr {
				fn(kp, pa, pb, &c[ir*ldc+jr], ldc, beta, load)
				continue
			}
			fn(kp, pa, pb, &tmp[0], nr, 0, 0)
			edgeTile(c[ir*ldc+jr:], ldc, tmp, nr, rows, cols, beta, load != 0)
		}
	}
}

// growU32 is grow for packed bf16 pairs: 64-byte aligned, reused when big enough.
func growU32(s []uint32, n int) []uint32 {
	if cap(s) >= n {
		return s[:n]
	}
	raw := make([]uint32, n+16)
	off := 0
	if r := uintptr(unsafe.Pointer(&raw[0])) % 64; r != 0 {
		off = int((64 - r) / 4)
	}
	return raw[off : off+n : off+n]
}
