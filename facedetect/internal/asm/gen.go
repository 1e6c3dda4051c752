// Command asm generates the AVX-512 stage kernels of package facedetect
// with avo.
//
// Run through `go generate` in facedetect; it writes stage_amd64.s and
// stage_stub_amd64.go. A kernel evaluates one stage of a cascade of stumps
// for groups of 16 windows along one integral-image row:
//
//	func(base *int32, groups int, ev *int32, nev int, thr float32, mask *uint16)
//
// base is the integral-image entry of the first window's top-left corner,
// window i of a group starts step*i entries further on (step 1 or 2, one
// kernel each), ev points at nev stumpEval records (package facedetect's
// layout: 16 int32 offsets, 8 uint32 subset words, float32 left and right
// leaves: 26 words), thr is the stage threshold. mask[g] holds a bit per
// window of group g still alive; the kernel skips groups with none and
// clears the bits of windows that fail. The arithmetic is evalStumps's, lane by lane:
// the eight block comparisons give the LBP code, the code's bit in the
// subset picks a leaf, leaves are widened to float64 and summed in stump
// order, and a window passes unless the sum is below the threshold, so
// the kernels and the Go code agree bit for bit.
package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// stumpWords is the size of facedetect's stumpEval in 4-byte words.
const stumpWords = 16 + 8 + 2

func main() {
	ConstraintExpr("!noasm")
	bits := GLOBL("lbpBits", RODATA|NOPTR)
	for b := 0; b < 8; b++ {
		DATA(4*b, U32(1<<(7-b)))
	}
	even := GLOBL("evenLanes", RODATA|NOPTR)
	for i := 0; i < 16; i++ {
		DATA(4*i, U32(2*i))
	}
	kernel("stageStep1AVX512", 1, bits, even)
	kernel("stageStep2AVX512", 2, bits, even)
	Generate()
}

// kernel emits the stage kernel for window step step.
func kernel(name string, step int, bits, even Mem) {
	TEXT(name, NOSPLIT, "func(base *int32, groups int, ev *int32, nev int, thr float32, mask *uint16)")
	Doc(fmt.Sprintf("%s evaluates one stage of a cascade of stumps for groups of 16 windows %d integral entries apart.", name, step))
	base := Load(Param("base"), GP64())
	groups := Load(Param("groups"), GP64())
	ev0 := Load(Param("ev"), GP64())
	nev := Load(Param("nev"), GP64())
	mask := Load(Param("mask"), GP64())

	// Constants: the threshold widened to float64, 31 and 1 in every lane,
	// and for step 2 the permutation picking the even lanes of two rows.
	thrS := XMM()
	MOVSS(NewParamAddr("thr", 32), thrS)
	thrD := ZMM()
	VCVTSS2SD(thrS, thrS, thrS)
	VBROADCASTSD(thrS, thrD)
	tmp := GP32()
	m31, one := ZMM(), ZMM()
	MOVL(U32(31), tmp)
	VPBROADCASTD(tmp, m31)
	MOVL(U32(1), tmp)
	VPBROADCASTD(tmp, one)
	var perm VecVirtual
	if step == 2 {
		perm = ZMM()
		VMOVDQU32(even, perm)
	}

	Label(name + "_group")
	CMPQ(groups, Imm(0))
	JE(LabelRef(name + "_done"))
	alive := GP32()
	MOVWLZX(Mem{Base: mask}, alive)
	TESTL(alive, alive)
	JZ(LabelRef(name + "_next"))
	accLo, accHi := ZMM(), ZMM()
	VXORPD(accLo, accLo, accLo)
	VXORPD(accHi, accHi, accHi)
	ev := GP64()
	MOVQ(ev0, ev)
	n := GP64()
	MOVQ(nev, n)

	Label(name + "_stump")
	// The 16 corner sums of the feature's 3x3 blocks, one window per lane.
	var p [16]VecVirtual
	off := GP64()
	for k := range p {
		p[k] = ZMM()
		MOVLQSX(Mem{Base: ev, Disp: 4 * k}, off)
		at := Mem{Base: base, Index: off, Scale: 4}
		VMOVDQU32(at, p[k])
		if step == 2 {
			VPERMT2D(at.Offset(64), perm, p[k])
		}
	}
	block := func(a, b, c, d int) VecVirtual {
		r := ZMM()
		VPSUBD(p[b], p[a], r)
		VPSUBD(p[c], r, r)
		VPADDD(p[d], r, r)
		return r
	}
	cv := block(5, 6, 9, 10)
	// Bit 7 first, clockwise from the top-left block, as lbpAt.
	blocks := [8][4]int{{0, 1, 4, 5}, {1, 2, 5, 6}, {2, 3, 6, 7}, {6, 7, 10, 11}, {10, 11, 14, 15}, {9, 10, 13, 14}, {8, 9, 12, 13}, {4, 5, 8, 9}}
	code := ZMM()
	VPXORD(code, code, code)
	for b, q := range blocks {
		s := block(q[0], q[1], q[2], q[3])
		// k = s >= cv (predicate 5: not less than).
		VPCMPD(U8(5), cv, s, K1)
		VPORD_BCST(bits.Offset(4*b), code, K1, code)
	}
	// Leaf: bit code&31 of subset word code>>5.
	subset, word, sh := ZMM(), ZMM(), ZMM()
	VBROADCASTI32X8(Mem{Base: ev, Disp: 4 * 16}, subset)
	VPSRLD(U8(5), code, word)
	VPERMD(subset, word, word)
	VPANDD(m31, code, sh)
	VPSRLVD(sh, word, word)
	VPTESTMD(one, word, K2)
	left, right, leaf := ZMM(), ZMM(), ZMM()
	VBROADCASTSS(Mem{Base: ev, Disp: 4 * 24}, left)
	VBROADCASTSS(Mem{Base: ev, Disp: 4 * 25}, right)
	VBLENDMPS(left, right, K2, leaf)
	wide := ZMM()
	VCVTPS2PD(leaf.AsY(), wide)
	VADDPD(wide, accLo, accLo)
	hi := YMM()
	VEXTRACTF32X8(U8(1), leaf, hi)
	VCVTPS2PD(hi, wide)
	VADDPD(wide, accHi, accHi)

	ADDQ(U32(4*stumpWords), ev)
	DECQ(n)
	JNZ(LabelRef(name + "_stump"))

	// Pass unless the sum is below the threshold (predicate 5: not less than).
	VCMPPD(U8(5), thrD, accLo, K3)
	VCMPPD(U8(5), thrD, accHi, K4)
	KUNPCKBW(K3, K4, K5)
	passed := GP32()
	KMOVW(K5, passed)
	ANDL(passed, alive)
	MOVW(alive.As16(), Mem{Base: mask})

	Label(name + "_next")
	ADDQ(U32(2), mask)
	ADDQ(U32(4*16*step), base)
	DECQ(groups)
	JMP(LabelRef(name + "_group"))

	Label(name + "_done")
	VZEROUPPER()
	RET()
}
