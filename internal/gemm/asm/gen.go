// Command asm generates the amd64 GEMM micro-kernels of package gemm with avo.
//
// Run through `go generate` in internal/gemm; it writes kernel_amd64.s and
// stub_amd64.go. Every kernel has the same contract so that the Go driver can
// treat them alike:
//
//	func(kc int, a, b, c *float32, ldc int, beta float32, load int)
//
// a is an mr x kc panel packed k-major (mr floats per k step, alpha already
// folded in), b a kc x nr panel packed k-major (nr floats per k step), c the
// top-left of an mr x nr tile with row stride ldc (in floats). The tile becomes
// a*b + beta*c when load != 0, and a*b (c is never read) when load == 0, so
// BLAS beta==0 semantics and the first k block need no separate pass over C.
package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

const signature = "func(kc int, a, b, c *float32, ldc int, beta float32, load int)"

func main() {
	ConstraintExpr("!noasm")
	kernel("kernelAVX512", 8, 2, 16, ZMM, 4, 1024)
	kernel("kernelAVX2", 6, 2, 8, YMM, 4, 512)
	for r := 1; r <= smallMaxR; r++ {
		smallN(r)
	}
	packT8()
	packN("packN8", 8)
	packN("packN16", 16)
	packN("packN32", 32)
	fmaPeak("fmaPeakZMM", ZMM)
	fmaPeak("fmaPeakYMM", YMM)
	kernelBF16("kernelBF16AVX512", 4, 1024)
	idx := interleaveIdx()
	packPairN("packPairN8", 8, idx)
	packPairN("packPairN32", 32, idx)
	packT8BF16()
	dpbf16Peak("dpbf16PeakZMM")
	kernelAMX("kernelAMX")
	amxPeak("amxPeak")
	packRowAMX("packRowAMX")
	Generate()
}

// packT8 emits the transposing pack used for A (not transposed) and B
// (transposed): it moves an 8 x 8*kb8 strip of a row-major matrix into 8*kb8
// rows of 8 contiguous floats (row stride ldd), scaled by alpha, with an
// in-register 8x8 transpose. Scalar Go did this at ~1 ns/element, a large share
// of the small-M/N GEMMs where each packed element feeds only ~2*128 flops.
func packT8() {
	TEXT("packT8", NOSPLIT, "func(kb8 int, src *float32, lds int, dst *float32, ldd int, alpha float32)")
	Doc("packT8 transposes an 8 x 8*kb8 strip of src (row stride lds) into dst (row stride ldd), times alpha.")
	n := Load(Param("kb8"), GP64())
	src := Load(Param("src"), GP64())
	lds := Load(Param("lds"), GP64())
	dst := Load(Param("dst"), GP64())
	ldd := Load(Param("ldd"), GP64())
	SHLQ(U8(2), lds)
	SHLQ(U8(2), ldd)
	alphaArg, err := Param("alpha").Resolve()
	if err != nil {
		panic(err)
	}
	alpha := YMM()
	VBROADCASTSS(alphaArg.Addr, alpha)
	lds3 := GP64()
	LEAQ(Mem{Base: lds, Index: lds, Scale: 2}, lds3)
	ldd3 := GP64()
	LEAQ(Mem{Base: ldd, Index: ldd, Scale: 2}, ldd3)

	Label("packT8_loop")
	TESTQ(n, n)
	JZ(LabelRef("packT8_done"))
	s4 := GP64()
	LEAQ(Mem{Base: src, Index: lds, Scale: 4}, s4)
	r := make([]VecVirtual, 8)
	for i := range r {
		r[i] = YMM()
	}
	VMOVUPS(Mem{Base: src}, r[0])
	VMOVUPS(Mem{Base: src, Index: lds, Scale: 1}, r[1])
	VMOVUPS(Mem{Base: src, Index: lds, Scale: 2}, r[2])
	VMOVUPS(Mem{Base: src, Index: lds3, Scale: 1}, r[3])
	VMOVUPS(Mem{Base: s4}, r[4])
	VMOVUPS(Mem{Base: s4, Index: lds, Scale: 1}, r[5])
	VMOVUPS(Mem{Base: s4, Index: lds, Scale: 2}, r[6])
	VMOVUPS(Mem{Base: s4, Index: lds3, Scale: 1}, r[7])
	// Prefetch the same columns of the next 8 rows (the next strip, which the
	// driver packs after this one): short per-row runs defeat the hardware
	// stream prefetchers, and the transposing packs were DRAM-latency bound.
	s8 := GP64()
	LEAQ(Mem{Base: src, Index: lds, Scale: 8}, s8)
	s12 := GP64()
	LEAQ(Mem{Base: s4, Index: lds, Scale: 8}, s12)
	for _, base := range []Register{s8, s12} {
		PREFETCHT0(Mem{Base: base})
		PREFETCHT0(Mem{Base: base, Index: lds, Scale: 1})
		PREFETCHT0(Mem{Base: base, Index: lds, Scale: 2})
		PREFETCHT0(Mem{Base: base, Index: lds3, Scale: 1})
	}
	t := make([]VecVirtual, 8)
	for i := 0; i < 8; i += 2 {
		t[i], t[i+1] = YMM(), YMM()
		VUNPCKLPS(r[i+1], r[i], t[i])
		VUNPCKHPS(r[i+1], r[i], t[i+1])
	}
	// u[0..3]: columns {0,4},{1,5},{2,6},{3,7} of rows 0-3; u[4..7] of rows 4-7.
	u := make([]VecVirtual, 8)
	for h := 0; h < 2; h++ {
		a, b := t[4*h], t[4*h+2]
		c, d := t[4*h+1], t[4*h+3]
		for q := 0; q < 4; q++ {
			u[4*h+q] = YMM()
		}
		VSHUFPS(U8(0x44), b, a, u[4*h+0])
		VSHUFPS(U8(0xEE), b, a, u[4*h+1])
		VSHUFPS(U8(0x44), d, c, u[4*h+2])
		VSHUFPS(U8(0xEE), d, c, u[4*h+3])
	}
	d4 := GP64()
	LEAQ(Mem{Base: dst, Index: ldd, Scale: 4}, d4)
	outs := []Mem{
		{Base: dst}, {Base: dst, Index: ldd, Scale: 1}, {Base: dst, Index: ldd, Scale: 2}, {Base: dst, Index: ldd3, Scale: 1},
		{Base: d4}, {Base: d4, Index: ldd, Scale: 1}, {Base: d4, Index: ldd, Scale: 2}, {Base: d4, Index: ldd3, Scale: 1},
	}
	for col := 0; col < 8; col++ {
		o := YMM()
		imm := U8(0x20)
		if col >= 4 {
			imm = U8(0x31)
		}
		VPERM2F128(imm, u[4+col%4], u[col%4], o)
		VMULPS(alpha, o, o)
		VMOVUPS(o, outs[col])
	}
	ADDQ(U8(32), src)
	LEAQ(Mem{Base: d4, Index: ldd, Scale: 4}, dst)
	DECQ(n)
	JMP(LabelRef("packT8_loop"))

	Label("packT8_done")
	VZEROUPPER()
	RET()
}

// kernel emits an mr x (nvec*width) kernel. Each k step loads nvec vectors of B
// and broadcasts mr scalars of A, giving mr*nvec independent FMA chains: enough
// to hide the 4-cycle FMA latency on two pipes (needs >= 8).
// unroll is the k unroll factor; pfDist the B prefetch distance in bytes.
func kernel(name string, mr, nvec, width int, vec func() VecVirtual, unroll, pfDist int) {
	kernelOpt(name, mr, nvec, width, vec, unroll, pfDist, false)
}

// kernelOpt is kernel with a choice of A broadcast: bcst uses the EVEX embedded
// broadcast operand of the FMA instead of a separate VBROADCASTSS.
func kernelOpt(name string, mr, nvec, width int, vec func() VecVirtual, unroll, pfDist int, bcst bool) {
	TEXT(name, NOSPLIT, signature)
	Doc(fmt.Sprintf("%s computes an %dx%d tile: c = a*b (+ beta*c when load != 0).", name, mr, nvec*width))

	kc := Load(Param("kc"), GP64())
	a := Load(Param("a"), GP64())
	b := Load(Param("b"), GP64())
	c := Load(Param("c"), GP64())
	ldc := Load(Param("ldc"), GP64())
	SHLQ(U8(2), ldc)

	// Warm the C tile while the k loop runs; it is touched once at the end.
	cp := GP64()
	MOVQ(c, cp)
	for i := 0; i < mr; i++ {
		for v := 0; v < nvec*width*4; v += 64 {
			PREFETCHT0(Mem{Base: cp, Disp: v})
		}
		if i+1 < mr {
			ADDQ(ldc, cp)
		}
	}

	acc := make([][]VecVirtual, mr)
	for i := range acc {
		acc[i] = make([]VecVirtual, nvec)
		for v := range acc[i] {
			acc[i][v] = vec()
			VXORPS(acc[i][v], acc[i][v], acc[i][v])
		}
	}

	aStep := mr * 4
	bStep := nvec * width * 4
	step := func(u int) {
		bv := make([]VecVirtual, nvec)
		for v := range bv {
			bv[v] = vec()
			VMOVUPS(Mem{Base: b, Disp: u*bStep + v*width*4}, bv[v])
		}
		if pfDist > 0 {
			for off := 0; off < bStep; off += 64 {
				PREFETCHT0(Mem{Base: b, Disp: u*bStep + off + pfDist})
			}
		}
		for i := 0; i < mr; i++ {
			if bcst {
				for v := 0; v < nvec; v++ {
					VFMADD231PS_BCST(Mem{Base: a, Disp: (u*mr + i) * 4}, bv[v], acc[i][v])
				}
				continue
			}
			t := vec()
			VBROADCASTSS(Mem{Base: a, Disp: (u*mr + i) * 4}, t)
			for v := 0; v < nvec; v++ {
				VFMADD231PS(bv[v], t, acc[i][v])
			}
		}
	}

	Label(name + "_loop")
	CMPQ(kc, U32(unroll))
	JL(LabelRef(name + "_tail"))
	for u := 0; u < unroll; u++ {
		step(u)
	}
	ADDQ(U32(unroll*aStep), a)
	ADDQ(U32(unroll*bStep), b)
	SUBQ(U32(unroll), kc)
	JMP(LabelRef(name + "_loop"))

	Label(name + "_tail")
	TESTQ(kc, kc)
	JZ(LabelRef(name + "_store"))
	step(0)
	ADDQ(U32(aStep), a)
	ADDQ(U32(bStep), b)
	DECQ(kc)
	JMP(LabelRef(name + "_tail"))

	Label(name + "_store")
	load := Load(Param("load"), GP64())
	TESTQ(load, load)
	JZ(LabelRef(name + "_write"))
	beta := vec()
	betaArg, err := Param("beta").Resolve()
	if err != nil {
		panic(err)
	}
	VBROADCASTSS(betaArg.Addr, beta)
	MOVQ(c, cp)
	for i := 0; i < mr; i++ {
		for v := 0; v < nvec; v++ {
			VFMADD231PS(Mem{Base: cp, Disp: v * width * 4}, beta, acc[i][v])
		}
		if i+1 < mr {
			ADDQ(ldc, cp)
		}
	}

	Label(name + "_write")
	for i := 0; i < mr; i++ {
		for v := 0; v < nvec; v++ {
			VMOVUPS(acc[i][v], Mem{Base: c, Disp: v * width * 4})
		}
		if i+1 < mr {
			ADDQ(ldc, c)
		}
	}
	VZEROUPPER()
	RET()
}

// packN emits the non-transposing pack used for B (not transposed) and A
// (transposed): it copies kb rows of w floats from src (row stride lds, in
// floats) into kb contiguous rows of w floats at dst, times alpha. Alongside
// each row it prefetches the same row two w-wide panels ahead, so that a driver
// packing panel by panel, just ahead of the kernel, finds the source panels in
// cache instead of paying a DRAM miss per row (two ahead measured a little
// better than one on the small-K shapes, and clearly better than none). Only AVX2
// is used so that both kernel paths can call it.
func packN(name string, w int) {
	TEXT(name, NOSPLIT, "func(kb int, src *float32, lds int, dst *float32, alpha float32)")
	Doc(fmt.Sprintf("%s copies kb rows of %d floats of src (row stride lds) to contiguous rows at dst, times alpha, prefetching the next panel.", name, w))
	n := Load(Param("kb"), GP64())
	src := Load(Param("src"), GP64())
	lds := Load(Param("lds"), GP64())
	dst := Load(Param("dst"), GP64())
	SHLQ(U8(2), lds)
	alphaArg, err := Param("alpha").Resolve()
	if err != nil {
		panic(err)
	}
	alpha := YMM()
	VBROADCASTSS(alphaArg.Addr, alpha)
	nv := w / 8
	Label(name + "_loop")
	TESTQ(n, n)
	JZ(LabelRef(name + "_done"))
	for off := 2 * w * 4; off < 3*w*4 || off == 2*w*4; off += 64 {
		PREFETCHT1(Mem{Base: src, Disp: off})
	}
	t := make([]VecVirtual, nv)
	for v := range t {
		t[v] = YMM()
		VMULPS(Mem{Base: src, Disp: v * 32}, alpha, t[v])
	}
	for v := range t {
		VMOVUPS(t[v], Mem{Base: dst, Disp: v * 32})
	}
	ADDQ(lds, src)
	ADDQ(U32(w*4), dst)
	DECQ(n)
	JMP(LabelRef(name + "_loop"))
	Label(name + "_done")
	VZEROUPPER()
	RET()
}

// fmaPeak emits a register-only FMA loop (12 independent accumulator chains,
// enough to cover FMA latency x pipes) used to measure the machine's real
// per-core FMA throughput for one vector width: on a CPU that double-pumps
// 512-bit FMAs, the zmm and ymm probes report the same FLOP rate.
func fmaPeak(name string, vec func() VecVirtual) {
	TEXT(name, NOSPLIT, "func(n int)")
	Doc(fmt.Sprintf("%s runs n iterations of 12 independent register FMAs (a peak-throughput probe).", name))
	n := Load(Param("n"), GP64())
	x, y := vec(), vec()
	VXORPS(x, x, x)
	VXORPS(y, y, y)
	acc := make([]VecVirtual, 12)
	for i := range acc {
		acc[i] = vec()
		VXORPS(acc[i], acc[i], acc[i])
	}
	Label(name + "_loop")
	TESTQ(n, n)
	JZ(LabelRef(name + "_done"))
	for i := range acc {
		VFMADD231PS(x, y, acc[i])
	}
	DECQ(n)
	JMP(LabelRef(name + "_loop"))
	Label(name + "_done")
	// Keep the accumulators live so that nothing is dead code.
	for i := 1; i < len(acc); i++ {
		VADDPS(acc[i], acc[0], acc[0])
	}
	VADDPS(acc[0], x, x)
	VZEROUPPER()
	RET()
}

// smallMaxR is the most rows a smallN kernel computes (4*r accumulators + 4 B
// vectors fit the 32 zmm registers up to r = 6).
const smallMaxR = 6

// smallN emits smallN<r>, the kernel of the small-N path (transposed product,
// see gemm.go): an r x 64 tile c = a*b, with a packed k-major (r floats per k
// step, alpha folded in) and b read in place: kc rows of 64 floats with row
// stride ldb (in floats), so the large operand is never packed. It prefetches
// the same row of the next 64-column panel, which the driver sweeps next.
func smallN(r int) {
	name := fmt.Sprintf("smallN%d", r)
	TEXT(name, NOSPLIT, "func(kc int, a, b *float32, ldb int, c *float32, ldc int)")
	Doc(fmt.Sprintf("%s computes a %dx64 tile c = a*b from a packed a and an unpacked b (row stride ldb).", name, r))
	kc := Load(Param("kc"), GP64())
	a := Load(Param("a"), GP64())
	b := Load(Param("b"), GP64())
	ldb := Load(Param("ldb"), GP64())
	SHLQ(U8(2), ldb)
	const nvec = 4
	acc := make([][]VecVirtual, r)
	for i := range acc {
		acc[i] = make([]VecVirtual, nvec)
		for v := range acc[i] {
			acc[i][v] = ZMM()
			VXORPS(acc[i][v], acc[i][v], acc[i][v])
		}
	}
	step := func(u int) {
		bv := make([]VecVirtual, nvec)
		for v := range bv {
			bv[v] = ZMM()
			VMOVUPS(Mem{Base: b, Disp: v * 64}, bv[v])
		}
		for off := 0; off < nvec*64; off += 64 {
			PREFETCHT0(Mem{Base: b, Disp: nvec*64 + off})
		}
		for i := 0; i < r; i++ {
			for v := 0; v < nvec; v++ {
				VFMADD231PS_BCST(Mem{Base: a, Disp: (u*r + i) * 4}, bv[v], acc[i][v])
			}
		}
		ADDQ(ldb, b)
	}
	const unroll = 4
	Label(name + "_loop")
	CMPQ(kc, U32(unroll))
	JL(LabelRef(name + "_tail"))
	for u := 0; u < unroll; u++ {
		step(u)
	}
	ADDQ(U32(unroll*r*4), a)
	SUBQ(U32(unroll), kc)
	JMP(LabelRef(name + "_loop"))

	Label(name + "_tail")
	TESTQ(kc, kc)
	JZ(LabelRef(name + "_write"))
	step(0)
	ADDQ(U32(r*4), a)
	DECQ(kc)
	JMP(LabelRef(name + "_tail"))

	Label(name + "_write")
	c := Load(Param("c"), GP64())
	ldc := Load(Param("ldc"), GP64())
	SHLQ(U8(2), ldc)
	for i := 0; i < r; i++ {
		for v := 0; v < nvec; v++ {
			VMOVUPS(acc[i][v], Mem{Base: c, Disp: v * 64})
		}
		if i+1 < r {
			ADDQ(ldc, c)
		}
	}
	VZEROUPPER()
	RET()
}
