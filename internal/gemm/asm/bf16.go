package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/ir"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// The bf16 kernels and packs. Neither Go's assembler nor avo v0.5.0 knows the
// AVX512_BF16 instructions (VDPBF16PS, VCVTNE2PS2BF16, VCVTNEPS2BF16), so the
// generator encodes them itself (evexRR) and emits
// the bytes with LONG and WORD directives. avo's register allocator cannot see
// registers hidden in raw bytes, so these functions use physical registers
// only: nothing is left for the allocator to place.

// evexRR returns the EVEX encoding of a register-to-register instruction of
// map 0F38 with W0 and no masking: opcode op, prefix pp (0b10: F3, 0b11: F2),
// vector length ll (0b01: 256, 0b10: 512 bits), ModRM.reg = dst, EVEX.vvvv =
// src1 (-1 when the instruction has none), ModRM.rm = src2. Register numbers
// are 0..31.
func evexRR(op, pp, ll byte, dst, src1, src2 int) []byte {
	if src1 < 0 {
		src1 = 0 // encodes as vvvv = 1111, V' = 1: "no register"
	}
	for _, r := range []int{dst, src1, src2} {
		if r < 0 || r > 31 {
			panic(fmt.Sprintf("evexRR: register %d out of range", r))
		}
	}
	inv := func(v, bit int) byte { return byte(^v>>bit) & 1 }
	// P0: R X B R' 0 0 m m (R, X, B, R' stored inverted); mm = 10: 0F38 map.
	p0 := inv(dst, 3)<<7 | inv(src2, 4)<<6 | inv(src2, 3)<<5 | inv(dst, 4)<<4 | 0b10
	// P1: W vvvv 1 pp (vvvv inverted); W0.
	p1 := byte(^src1&0xF)<<3 | 1<<2 | pp
	// P2: z L'L b V' aaa; V' inverted, no broadcast, no mask.
	p2 := ll<<5 | inv(src1, 4)<<3
	modrm := byte(0xC0) | byte(dst&7)<<3 | byte(src2&7)
	return []byte{0x62, p0, p1, p2, op, modrm}
}

// evexDPBF16PS encodes VDPBF16PS zmm_dst, zmm_src1, zmm_src2 (Intel operand
// order; Go's is src2, src1, dst): for each of the 16 fp32 lanes, dst +=
// src1.bf16[2i]*src2.bf16[2i] + src1.bf16[2i+1]*src2.bf16[2i+1].
// EVEX.512.F3.0F38.W0 52 /r.
func evexDPBF16PS(dst, src1, src2 int) []byte { return evexRR(0x52, 0b10, 0b10, dst, src1, src2) }

// evexCVTNE2PS2BF16 encodes VCVTNE2PS2BF16 dst, src1, src2 on ymm (ll = 01)
// or zmm (ll = 10): the low half of dst gets src2's floats rounded to bf16,
// the high half src1's. EVEX.F2.0F38.W0 72 /r.
func evexCVTNE2PS2BF16(ll byte, dst, src1, src2 int) []byte {
	return evexRR(0x72, 0b11, ll, dst, src1, src2)
}

// evexCVTNEPS2BF16 encodes VCVTNEPS2BF16 ymm_dst, zmm_src: 16 floats rounded to
// 16 bf16. EVEX.512.F3.0F38.W0 72 /r.
func evexCVTNEPS2BF16(dst, src int) []byte { return evexRR(0x72, 0b10, 0b10, dst, -1, src) }

// emitBytes emits an encoded instruction with LONG/WORD directives (little
// endian), after a comment that spells it.
func emitBytes(asm string, e []byte) {
	Comment(asm)
	if len(e) != 6 {
		panic("emitBytes: want 6 bytes")
	}
	Instruction(&ir.Instruction{Opcode: "LONG", Operands: []Op{U32(uint32(e[0]) | uint32(e[1])<<8 | uint32(e[2])<<16 | uint32(e[3])<<24)}})
	Instruction(&ir.Instruction{Opcode: "WORD", Operands: []Op{U16(uint16(e[4]) | uint16(e[5])<<8)}})
}

// vecNum is the encoding number of a physical vector register (X, Y or Z).
func vecNum(r reg.Register) int {
	p, ok := r.(reg.Physical)
	if !ok || p.Kind() != reg.KindVector {
		panic(fmt.Sprintf("not a physical vector register: %v", r))
	}
	return int(p.PhysicalIndex())
}

// VCVTNE2PS2BF16 emits the two-source conversion (Go operand order: src2 ->
// low half, src1 -> high half, dst) on ymm or zmm registers.
func VCVTNE2PS2BF16(src2, src1, dst reg.Register, zmm bool) {
	ll := byte(0b01)
	if zmm {
		ll = 0b10
	}
	emitBytes(fmt.Sprintf("VCVTNE2PS2BF16 %s, %s, %s", src2.Asm(), src1.Asm(), dst.Asm()),
		evexCVTNE2PS2BF16(ll, vecNum(dst), vecNum(src1), vecNum(src2)))
}

// VCVTNEPS2BF16 emits the zmm -> ymm conversion (Go operand order: src, dst).
func VCVTNEPS2BF16(src, dst reg.Register) {
	emitBytes(fmt.Sprintf("VCVTNEPS2BF16 %s, %s", src.Asm(), dst.Asm()), evexCVTNEPS2BF16(vecNum(dst), vecNum(src)))
}

// zmmNum is the encoding number of a physical zmm register.
func zmmNum(r reg.Register) int {
	p, ok := r.(reg.Physical)
	if !ok || p.Kind() != reg.KindVector {
		panic(fmt.Sprintf("not a physical vector register: %v", r))
	}
	return int(p.PhysicalIndex())
}

// VDPBF16PS emits dst += dot-pairs(src1, src2) (Go operand order) as bytes.
func VDPBF16PS(src2, src1, dst reg.Register) {
	emitBytes(fmt.Sprintf("VDPBF16PS %s, %s, %s", src2.Asm(), src1.Asm(), dst.Asm()),
		evexDPBF16PS(zmmNum(dst), zmmNum(src1), zmmNum(src2)))
}

// zr returns physical zmm register i.
func zr(i int) reg.VecPhysical {
	return []reg.VecPhysical{
		reg.Z0, reg.Z1, reg.Z2, reg.Z3, reg.Z4, reg.Z5, reg.Z6, reg.Z7,
		reg.Z8, reg.Z9, reg.Z10, reg.Z11, reg.Z12, reg.Z13, reg.Z14, reg.Z15,
		reg.Z16, reg.Z17, reg.Z18, reg.Z19, reg.Z20, reg.Z21, reg.Z22, reg.Z23,
		reg.Z24, reg.Z25, reg.Z26, reg.Z27, reg.Z28, reg.Z29, reg.Z30, reg.Z31,
	}[i]
}

// kernelBF16 emits the 8x32 bf16 micro-kernel:
//
//	func(kp int, a, b *uint32, c *float32, ldc int, beta float32, load int)
//
// a is an 8 x 2kp panel packed pair-major: per k pair, 8 uint32 words, each
// holding row i's two bf16 values (even k in the low half); b a 2kp x 32 panel
// packed the same way: per k pair, 32 words holding column j's two values. Per
// k pair it loads two B vectors, broadcasts each row's pair and issues 16
// VDPBF16PS into 16 fp32 accumulators (Z0..Z15). C is handled as in kernel().
func kernelBF16(name string, unroll, pfDist int) {
	const mr, nvec = 8, 2
	TEXT(name, NOSPLIT, "func(kp int, a, b *uint32, c *float32, ldc int, beta float32, load int)")
	Doc(fmt.Sprintf("%s computes an 8x32 tile from bf16-pair panels: c = a*b (+ beta*c when load != 0).", name))
	kp, a, b, c, ldc, cp := reg.RAX, reg.RBX, reg.RCX, reg.RDX, reg.RSI, reg.RDI
	Load(Param("kp"), kp)
	Load(Param("a"), a)
	Load(Param("b"), b)
	Load(Param("c"), c)
	Load(Param("ldc"), ldc)
	SHLQ(U8(2), ldc)

	MOVQ(c, cp)
	for i := 0; i < mr; i++ {
		for v := 0; v < nvec*64; v += 64 {
			PREFETCHT0(Mem{Base: cp, Disp: v})
		}
		if i+1 < mr {
			ADDQ(ldc, cp)
		}
	}
	acc := func(i, v int) reg.VecPhysical { return zr(i*nvec + v) }
	for i := 0; i < mr*nvec; i++ {
		VPXORD(zr(i), zr(i), zr(i))
	}
	aStep, bStep := mr*4, nvec*64
	step := func(u int) {
		// Alternate B registers between steps so that consecutive steps overlap.
		bv := []reg.VecPhysical{zr(16 + 2*(u%2)), zr(17 + 2*(u%2))}
		for v := range bv {
			VMOVUPS(Mem{Base: b, Disp: u*bStep + v*64}, bv[v])
		}
		if pfDist > 0 {
			for off := 0; off < bStep; off += 64 {
				PREFETCHT0(Mem{Base: b, Disp: u*bStep + off + pfDist})
			}
		}
		for i := 0; i < mr; i++ {
			t := zr(20 + i)
			VPBROADCASTD(Mem{Base: a, Disp: (u*mr + i) * 4}, t)
			for v := 0; v < nvec; v++ {
				VDPBF16PS(bv[v], t, acc(i, v))
			}
		}
	}

	Label(name + "_loop")
	CMPQ(kp, U32(unroll))
	JL(LabelRef(name + "_tail"))
	for u := 0; u < unroll; u++ {
		step(u)
	}
	ADDQ(U32(unroll*aStep), a)
	ADDQ(U32(unroll*bStep), b)
	SUBQ(U32(unroll), kp)
	JMP(LabelRef(name + "_loop"))

	Label(name + "_tail")
	TESTQ(kp, kp)
	JZ(LabelRef(name + "_store"))
	step(0)
	ADDQ(U32(aStep), a)
	ADDQ(U32(bStep), b)
	DECQ(kp)
	JMP(LabelRef(name + "_tail"))

	Label(name + "_store")
	load := reg.R8
	Load(Param("load"), load)
	TESTQ(load, load)
	JZ(LabelRef(name + "_write"))
	beta := zr(28)
	betaArg, err := Param("beta").Resolve()
	if err != nil {
		panic(err)
	}
	VBROADCASTSS(betaArg.Addr, beta)
	MOVQ(c, cp)
	for i := 0; i < mr; i++ {
		for v := 0; v < nvec; v++ {
			VFMADD231PS(Mem{Base: cp, Disp: v * 64}, beta, acc(i, v))
		}
		if i+1 < mr {
			ADDQ(ldc, cp)
		}
	}

	Label(name + "_write")
	for i := 0; i < mr; i++ {
		for v := 0; v < nvec; v++ {
			VMOVUPS(acc(i, v), Mem{Base: c, Disp: v * 64})
		}
		if i+1 < mr {
			ADDQ(ldc, c)
		}
	}
	VZEROUPPER()
	RET()
}

// dpbf16Peak emits a register-only VDPBF16PS loop (12 independent accumulator
// chains), the bf16 counterpart of fmaPeak: 64 flops per instruction.
func dpbf16Peak(name string) {
	TEXT(name, NOSPLIT, "func(n int)")
	Doc(fmt.Sprintf("%s runs n iterations of 12 independent register VDPBF16PS (a peak-throughput probe).", name))
	n := reg.RAX
	Load(Param("n"), n)
	x, y := zr(12), zr(13)
	VPXORD(x, x, x)
	VPXORD(y, y, y)
	for i := 0; i < 12; i++ {
		VPXORD(zr(i), zr(i), zr(i))
	}
	Label(name + "_loop")
	TESTQ(n, n)
	JZ(LabelRef(name + "_done"))
	for i := 0; i < 12; i++ {
		VDPBF16PS(x, y, zr(i))
	}
	DECQ(n)
	JMP(LabelRef(name + "_loop"))
	Label(name + "_done")
	VZEROUPPER()
	RET()
}

// yr returns physical ymm register i.
func yr(i int) reg.VecPhysical {
	return []reg.VecPhysical{
		reg.Y0, reg.Y1, reg.Y2, reg.Y3, reg.Y4, reg.Y5, reg.Y6, reg.Y7,
		reg.Y8, reg.Y9, reg.Y10, reg.Y11, reg.Y12, reg.Y13, reg.Y14, reg.Y15,
		reg.Y16, reg.Y17, reg.Y18, reg.Y19, reg.Y20, reg.Y21, reg.Y22, reg.Y23,
		reg.Y24, reg.Y25, reg.Y26, reg.Y27, reg.Y28, reg.Y29, reg.Y30, reg.Y31,
	}[i]
}

// interleaveIdx is the VPERMW index that turns [a0..a15 b0..b15] (the two
// halves a VCVTNE2PS2BF16 writes) into [a0 b0 a1 b1 ... a15 b15]; its first 16
// words do the same for the ymm form with 8 + 8.
func interleaveIdx() Mem {
	m := GLOBL("bf16Interleave", RODATA|NOPTR)
	for half, n := range []int{16, 8} {
		for j := 0; j < n; j++ {
			off := half*64 + 4*j
			DATA(off, U16(uint16(j)))
			DATA(off+2, U16(uint16(n+j)))
		}
	}
	return m
}

// packPairN emits the non-transposing bf16 pack (B plain, A transposed): for
// kp k pairs it reads rows 2q and 2q+1 of w floats from src (row stride lds
// floats), scales them by alpha, rounds both to bf16 with one VCVTNE2PS2BF16
// and interleaves them with VPERMW into w pair words at dst (w words per
// pair). w is 8 (ymm) or 32 (two zmm).
func packPairN(name string, w int, idx Mem) {
	TEXT(name, NOSPLIT, "func(kp int, src *float32, lds int, dst *uint32, alpha float32)")
	Doc(fmt.Sprintf("%s packs kp pairs of rows of %d floats of src (row stride lds), times alpha, as %d bf16 pair words each at dst.", name, w, w))
	n, src, lds, dst, src1 := reg.RAX, reg.RBX, reg.RCX, reg.RDX, reg.RSI
	Load(Param("kp"), n)
	Load(Param("src"), src)
	Load(Param("lds"), lds)
	Load(Param("dst"), dst)
	SHLQ(U8(2), lds)
	alphaArg, err := Param("alpha").Resolve()
	if err != nil {
		panic(err)
	}
	zmm := w == 32
	vec, alpha, ix := yr, yr(30), yr(31)
	if zmm {
		vec = zr
		alpha, ix = zr(30), zr(31)
		VBROADCASTSS(alphaArg.Addr, alpha)
		VMOVDQU64(idx, ix)
	} else {
		VBROADCASTSS(alphaArg.Addr, alpha)
		VMOVDQU64(idx.Offset(64), ix)
	}
	chunks, width := 1, 32
	if zmm {
		chunks, width = 2, 64
	}
	Label(name + "_loop")
	TESTQ(n, n)
	JZ(LabelRef(name + "_done"))
	LEAQ(Mem{Base: src, Index: lds, Scale: 1}, src1)
	for c := 0; c < chunks; c++ {
		r0, r1, t, o := vec(4*c), vec(4*c+1), vec(4*c+2), vec(4*c+3)
		VMULPS(Mem{Base: src, Disp: c * width}, alpha, r0)
		VMULPS(Mem{Base: src1, Disp: c * width}, alpha, r1)
		VCVTNE2PS2BF16(r0, r1, t, zmm)
		VPERMW(t, ix, o)
		VMOVDQU64(o, Mem{Base: dst, Disp: c * width})
	}
	LEAQ(Mem{Base: src1, Index: lds, Scale: 1}, src)
	ADDQ(U32(w*4), dst)
	DECQ(n)
	JMP(LabelRef(name + "_loop"))
	Label(name + "_done")
	VZEROUPPER()
	RET()
}

// packT8BF16 emits the transposing bf16 pack (A plain, B transposed): it
// moves an 8 x 16*kq strip of src (row stride lds floats), times alpha, into
// 8*kq rows of 8 pair words (row stride ldd words): output row q holds the 8
// source rows' bf16 values at k = 2q and 2q+1. Each source row's 16 floats
// become 8 pair words in one VCVTNEPS2BF16, already pair-interleaved, and an
// 8x8 transpose of 32-bit words (packT8's network) does the rest.
func packT8BF16() {
	name := "packT8BF16"
	TEXT(name, NOSPLIT, "func(kq int, src *float32, lds int, dst *uint32, ldd int, alpha float32)")
	Doc(name + " transposes an 8 x 16*kq strip of src (row stride lds), times alpha and rounded to bf16 pairs, into dst (row stride ldd words).")
	n, src, lds, dst, ldd, s4, lds3, d4, ldd3 := reg.RAX, reg.RBX, reg.RCX, reg.RDX, reg.RSI, reg.RDI, reg.R8, reg.R9, reg.R10
	Load(Param("kq"), n)
	Load(Param("src"), src)
	Load(Param("lds"), lds)
	Load(Param("dst"), dst)
	Load(Param("ldd"), ldd)
	SHLQ(U8(2), lds)
	SHLQ(U8(2), ldd)
	LEAQ(Mem{Base: lds, Index: lds, Scale: 2}, lds3)
	LEAQ(Mem{Base: ldd, Index: ldd, Scale: 2}, ldd3)
	alphaArg, err := Param("alpha").Resolve()
	if err != nil {
		panic(err)
	}
	alpha := zr(31)
	VBROADCASTSS(alphaArg.Addr, alpha)

	Label(name + "_loop")
	TESTQ(n, n)
	JZ(LabelRef(name + "_done"))
	LEAQ(Mem{Base: src, Index: lds, Scale: 4}, s4)
	ins := []Mem{
		{Base: src}, {Base: src, Index: lds, Scale: 1}, {Base: src, Index: lds, Scale: 2}, {Base: src, Index: lds3, Scale: 1},
		{Base: s4}, {Base: s4, Index: lds, Scale: 1}, {Base: s4, Index: lds, Scale: 2}, {Base: s4, Index: lds3, Scale: 1},
	}
	r := make([]reg.VecPhysical, 8)
	for i := range r {
		z := zr(16 + i)
		VMULPS(ins[i], alpha, z)
		r[i] = yr(i)
		VCVTNEPS2BF16(z, r[i])
	}
	t := make([]reg.VecPhysical, 8)
	for i := 0; i < 8; i += 2 {
		t[i], t[i+1] = yr(8+i), yr(9+i)
		VUNPCKLPS(r[i+1], r[i], t[i])
		VUNPCKHPS(r[i+1], r[i], t[i+1])
	}
	u := make([]reg.VecPhysical, 8)
	// Registers for u: Y0..Y7 are free again once t is formed.
	for i := range u {
		u[i] = yr(i)
	}
	for h := 0; h < 2; h++ {
		a, b := t[4*h], t[4*h+2]
		c, d := t[4*h+1], t[4*h+3]
		VSHUFPS(U8(0x44), b, a, u[4*h+0])
		VSHUFPS(U8(0xEE), b, a, u[4*h+1])
		VSHUFPS(U8(0x44), d, c, u[4*h+2])
		VSHUFPS(U8(0xEE), d, c, u[4*h+3])
	}
	LEAQ(Mem{Base: dst, Index: ldd, Scale: 4}, d4)
	outs := []Mem{
		{Base: dst}, {Base: dst, Index: ldd, Scale: 1}, {Base: dst, Index: ldd, Scale: 2}, {Base: dst, Index: ldd3, Scale: 1},
		{Base: d4}, {Base: d4, Index: ldd, Scale: 1}, {Base: d4, Index: ldd, Scale: 2}, {Base: d4, Index: ldd3, Scale: 1},
	}
	for col := 0; col < 8; col++ {
		o := yr(8 + col) // VEX-only VPERM2F128: Y0..Y15; t is dead by now
		imm := U8(0x20)
		if col >= 4 {
			imm = U8(0x31)
		}
		VPERM2F128(imm, u[4+col%4], u[col%4], o)
		VMOVDQU(o, outs[col])
	}
	ADDQ(U32(64), src)
	LEAQ(Mem{Base: d4, Index: ldd, Scale: 4}, dst)
	DECQ(n)
	JMP(LabelRef(name + "_loop"))
	Label(name + "_done")
	VZEROUPPER()
	RET()
}
