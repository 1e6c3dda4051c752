package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/ir"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// The bf16 kernels. Neither Go's assembler nor avo v0.5.0 knows VDPBF16PS
// (AVX512_BF16), so the generator encodes it itself (evexDPBF16PS) and emits
// the bytes with LONG and WORD directives. avo's register allocator cannot see
// registers hidden in raw bytes, so these functions use physical registers
// only: nothing is left for the allocator to place.

// evexDPBF16PS returns the encoding of VDPBF16PS zmm_dst, zmm_src1, zmm_src2
// (Intel operand order; Go order is src2, src1, dst): for each of the 16 fp32
// lanes, dst += src1.bf16[2i]*src2.bf16[2i] + src1.bf16[2i+1]*src2.bf16[2i+1].
// EVEX.512.F3.0F38.W0 52 /r, register form only (mod = 11), no masking.
func evexDPBF16PS(dst, src1, src2 int) []byte {
	for _, r := range []int{dst, src1, src2} {
		if r < 0 || r > 31 {
			panic(fmt.Sprintf("evexDPBF16PS: register %d out of range", r))
		}
	}
	inv := func(v, bit int) byte { return byte(^v>>bit) & 1 }
	// P0: R X B R' 0 0 m m (R, X, B, R' stored inverted); mm = 10: 0F38 map.
	p0 := inv(dst, 3)<<7 | inv(src2, 4)<<6 | inv(src2, 3)<<5 | inv(dst, 4)<<4 | 0b10
	// P1: W vvvv 1 pp (vvvv inverted); W0, pp = 10: F3 prefix.
	p1 := byte(^src1&0xF)<<3 | 1<<2 | 0b10
	// P2: z L'L b V' aaa; L'L = 10 (512-bit), V' inverted, no broadcast, no mask.
	p2 := byte(0b10)<<5 | inv(src1, 4)<<3
	modrm := byte(0xC0) | byte(dst&7)<<3 | byte(src2&7)
	return []byte{0x62, p0, p1, p2, 0x52, modrm}
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
	Comment(fmt.Sprintf("VDPBF16PS %s, %s, %s", src2.Asm(), src1.Asm(), dst.Asm()))
	e := evexDPBF16PS(zmmNum(dst), zmmNum(src1), zmmNum(src2))
	// LONG and WORD store little-endian: bytes 0-3, then 4-5.
	Instruction(&ir.Instruction{Opcode: "LONG", Operands: []Op{U32(uint32(e[0]) | uint32(e[1])<<8 | uint32(e[2])<<16 | uint32(e[3])<<24)}})
	Instruction(&ir.Instruction{Opcode: "WORD", Operands: []Op{U16(uint16(e[4]) | uint16(e[5])<<8)}})
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
