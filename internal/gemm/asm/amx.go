package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/ir"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// The AMX bf16 kernel. AMX (Intel Xeons since Sapphire Rapids) multiplies in eight
// 1 KiB tile registers: TDPBF16PS adds a 16x32 bf16 tile times a 32x16 bf16 tile
// (stored as 16 rows of k pairs) into a 16x16 fp32 tile, 16 Kflop in one
// instruction. Neither Go's assembler nor avo knows the AMX instructions, so they
// are encoded here (VEX, map 0F38) and emitted as BYTE directives; as in bf16.go the
// functions use physical registers only, and only rax..rdi (no REX bits needed).

// gp numbers the general registers the AMX encodings use.
var gp = map[reg.Register]byte{reg.RAX: 0, reg.RCX: 1, reg.RDX: 2, reg.RBX: 3, reg.RSI: 6, reg.RDI: 7}

// vexAMX returns the three-byte VEX prefix and opcode of an AMX instruction: map 0F38,
// W0, L0, prefix pp (0: none, 1: 66, 2: F3, 3: F2), vvvv = tile v, stored inverted
// (instructions without a third operand pass 0, which encodes as 1111, "none").
func vexAMX(pp, v, op byte) []byte {
	return []byte{0xC4, 0xE2, (^v&0xF)<<3 | pp, op}
}

// amxMem encodes an AMX instruction with a tile register and the memory operand
// [base + disp + index*1] (TILELOADD, TILESTORED need the SIB form).
func amxMem(pp, op byte, tmm int, base, index reg.Register, disp int) []byte {
	e := vexAMX(pp, 0, op)
	b, i := gp[base], gp[index]
	sib := i<<3 | b
	switch {
	case disp == 0:
		return append(e, byte(tmm)<<3|0b100, sib)
	case disp >= -128 && disp < 128:
		return append(e, 0b01<<6|byte(tmm)<<3|0b100, sib, byte(int8(disp)))
	}
	d := uint32(int32(disp))
	return append(e, 0b10<<6|byte(tmm)<<3|0b100, sib, byte(d), byte(d>>8), byte(d>>16), byte(d>>24))
}

// emitRaw emits encoded bytes with BYTE directives after a comment that spells them.
func emitRaw(asm string, e []byte) {
	Comment(asm)
	for _, x := range e {
		Instruction(&ir.Instruction{Opcode: "BYTE", Operands: []Op{U8(x)}})
	}
}

// LDTILECFG loads the tile configuration (64 bytes) at [base]. VEX.128.NP.0F38.W0 49 /0.
func LDTILECFG(base reg.Register) {
	emitRaw(fmt.Sprintf("LDTILECFG (%s)", base.Asm()), append(vexAMX(0, 0, 0x49), gp[base]))
}

// TILERELEASE returns the tiles to their init state, so that context switches stop
// saving 8 KiB of tile data. VEX.128.NP.0F38.W0 49 C0.
func TILERELEASE() { emitRaw("TILERELEASE", append(vexAMX(0, 0, 0x49), 0xC0)) }

// TILEZERO zeroes tile t. VEX.128.F2.0F38.W0 49 11:rrr:000.
func TILEZERO(t int) {
	emitRaw(fmt.Sprintf("TILEZERO TMM%d", t), append(vexAMX(3, 0, 0x49), 0xC0|byte(t)<<3))
}

// TILELOADD loads tile t from rows at [base+disp], row stride index bytes.
// VEX.128.F2.0F38.W0 4B /r.
func TILELOADD(t int, base reg.Register, disp int, stride reg.Register) {
	emitRaw(fmt.Sprintf("TILELOADD %d(%s)(%s*1), TMM%d", disp, base.Asm(), stride.Asm(), t), amxMem(3, 0x4B, t, base, stride, disp))
}

// TILESTORED stores tile t to rows at [base+disp], row stride index bytes.
// VEX.128.F3.0F38.W0 4B /r.
func TILESTORED(t int, base reg.Register, disp int, stride reg.Register) {
	emitRaw(fmt.Sprintf("TILESTORED TMM%d, %d(%s)(%s*1)", t, disp, base.Asm(), stride.Asm()), amxMem(2, 0x4B, t, base, stride, disp))
}

// TDPBF16PS adds tile a (rows x k pairs) times tile b (k pairs x columns) to tile
// dst. VEX.128.F3.0F38.W0 5C 11:dst:a, vvvv = b.
func TDPBF16PS(dst, a, b int) {
	emitRaw(fmt.Sprintf("TDPBF16PS TMM%d, TMM%d, TMM%d", dst, a, b), append(vexAMX(2, byte(b), 0x5C), 0xC0|byte(dst)<<3|byte(a)))
}

// kernelAMX emits the 32x32 AMX kernel:
//
//	func(kt int, a, b *uint32, c *float32, ldc int, load int, cfg *byte)
//
// cfg is the tile configuration (every tile 16 rows of 64 bytes), loaded on entry
// because tile state belongs to the OS thread and a goroutine may move between
// calls. a holds kt steps of 16 k pairs, each two 16-row tiles (rows 0..15, then
// 16..31) of 16 pair words per row; b kt steps of 16 pair rows of 32 words (columns
// 0..15 then 16..31 in each 128-byte row). Accumulators TMM0..3 are the four 16x16
// quarters of C (row stride ldc floats); they start from C when load != 0, else
// from zero, and are stored back to C.
func kernelAMX(name string) {
	TEXT(name, NOSPLIT, "func(kt int, a, b *uint32, c *float32, ldc int, load int, cfg *byte)")
	Doc(fmt.Sprintf("%s computes a 32x32 tile of c from AMX bf16 panels: c = a*b (+ c when load != 0).", name))
	kt, a, b, sa, sb := reg.RCX, reg.RSI, reg.RDI, reg.RAX, reg.RBX
	c, ldc := reg.RSI, reg.RDX
	Load(Param("cfg"), a)
	LDTILECFG(a)
	Load(Param("c"), c)
	Load(Param("ldc"), ldc)
	SHLQ(U8(2), ldc)
	MOVQ(ldc, kt)
	SHLQ(U8(4), kt) // 16 rows of C
	Load(Param("load"), sa)
	TESTQ(sa, sa)
	JZ(LabelRef(name + "_zero"))
	TILELOADD(0, c, 0, ldc)
	TILELOADD(1, c, 64, ldc)
	ADDQ(kt, c)
	TILELOADD(2, c, 0, ldc)
	TILELOADD(3, c, 64, ldc)
	JMP(LabelRef(name + "_start"))
	Label(name + "_zero")
	for t := 0; t < 4; t++ {
		TILEZERO(t)
	}
	Label(name + "_start")
	Load(Param("kt"), kt)
	Load(Param("a"), a)
	Load(Param("b"), b)
	MOVQ(U32(64), sa)
	MOVQ(U32(128), sb)
	Label(name + "_loop")
	TESTQ(kt, kt)
	JZ(LabelRef(name + "_store"))
	TILELOADD(4, a, 0, sa)
	TILELOADD(6, b, 0, sb)
	TDPBF16PS(0, 4, 6)
	TILELOADD(7, b, 64, sb)
	TDPBF16PS(1, 4, 7)
	TILELOADD(5, a, 1024, sa)
	TDPBF16PS(2, 5, 6)
	TDPBF16PS(3, 5, 7)
	ADDQ(U32(2048), a)
	ADDQ(U32(2048), b)
	DECQ(kt)
	JMP(LabelRef(name + "_loop"))

	Label(name + "_store")
	Load(Param("c"), c)
	MOVQ(ldc, kt)
	SHLQ(U8(4), kt)
	TILESTORED(0, c, 0, ldc)
	TILESTORED(1, c, 64, ldc)
	ADDQ(kt, c)
	TILESTORED(2, c, 0, ldc)
	TILESTORED(3, c, 64, ldc)
	TILERELEASE()
	RET()
}

// amxPeak emits a register-only TDPBF16PS loop (four independent accumulator
// tiles), the AMX counterpart of fmaPeak: 4 x 16384 flops per iteration.
func amxPeak(name string) {
	TEXT(name, NOSPLIT, "func(n int, cfg *byte)")
	Doc(fmt.Sprintf("%s runs n iterations of 4 independent TDPBF16PS on zeroed tiles (a peak-throughput probe).", name))
	n, p := reg.RCX, reg.RSI
	Load(Param("cfg"), p)
	LDTILECFG(p)
	Load(Param("n"), n)
	for t := 0; t < 8; t++ {
		TILEZERO(t)
	}
	Label(name + "_loop")
	TESTQ(n, n)
	JZ(LabelRef(name + "_done"))
	TDPBF16PS(0, 4, 6)
	TDPBF16PS(1, 4, 7)
	TDPBF16PS(2, 5, 6)
	TDPBF16PS(3, 5, 7)
	DECQ(n)
	JMP(LabelRef(name + "_loop"))
	Label(name + "_done")
	TILERELEASE()
	RET()
}

// packRowAMX emits the AMX A pack of one row:
//
//	func(kt int, src *float32, dst *uint32, alpha float32)
//
// It rounds alpha*src[0 : 32*kt] to bf16 pairs (VCVTNE2PS2BF16: even k in the low
// half of each word, as bf16Pair) and writes step t's 16 words at dst + t*2048
// bytes, the row's place in a 32-row panel of amxPackA.
func packRowAMX(name string) {
	TEXT(name, NOSPLIT, "func(kt int, src *float32, dst *uint32, alpha float32)")
	Doc(fmt.Sprintf("%s packs 32*kt floats of one row, times alpha, as bf16 pairs into an AMX A panel row.", name))
	kt, src, dst := reg.RCX, reg.RSI, reg.RDI
	Load(Param("kt"), kt)
	Load(Param("src"), src)
	Load(Param("dst"), dst)
	alphaArg, err := Param("alpha").Resolve()
	if err != nil {
		panic(err)
	}
	alpha := zr(4)
	VBROADCASTSS(alphaArg.Addr, alpha)
	Label(name + "_loop")
	TESTQ(kt, kt)
	JZ(LabelRef(name + "_done"))
	VMULPS(Mem{Base: src}, alpha, zr(0))
	VMULPS(Mem{Base: src, Disp: 64}, alpha, zr(1))
	VCVTNE2PS2BF16(zr(0), zr(1), zr(2), true)
	VMOVDQU32(zr(2), Mem{Base: dst})
	ADDQ(U32(128), src)
	ADDQ(U32(2048), dst)
	DECQ(kt)
	JMP(LabelRef(name + "_loop"))
	Label(name + "_done")
	VZEROUPPER()
	RET()
}
