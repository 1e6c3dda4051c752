// Command asm generates the amd64 elementwise loops of package nn with avo.
//
// Run through `go generate` in nn; it writes simd_amd64.s and stub_amd64.go.
// The loops do the same IEEE float32 operations in the same order as the Go
// fallbacks (addToGo, adamGo), with no fused multiply-adds, so results are
// bit-identical either way.
package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

func main() {
	ConstraintExpr("amd64,!noasm")
	addTo()
	adam()
	Generate()
}

// addTo emits addToAVX: a[i] += s[i] for i < n, 32 then 8 lanes at a time,
// then one by one.
func addTo() {
	TEXT("addToAVX", NOSPLIT, "func(a, s *float32, n int)")
	Pragma("noescape")
	Doc("addToAVX does a[i] += s[i] for i < n.")
	a := Load(Param("a"), GP64())
	s := Load(Param("s"), GP64())
	n := Load(Param("n"), GP64())

	Label("loop32")
	CMPQ(n, Imm(32))
	JL(LabelRef("loop8"))
	var y [4]VecVirtual
	for i := range y {
		y[i] = YMM()
		VMOVUPS(Mem{Base: a, Disp: 32 * i}, y[i])
	}
	for i := range y {
		VADDPS(Mem{Base: s, Disp: 32 * i}, y[i], y[i])
	}
	for i := range y {
		VMOVUPS(y[i], Mem{Base: a, Disp: 32 * i})
	}
	ADDQ(Imm(128), a)
	ADDQ(Imm(128), s)
	SUBQ(Imm(32), n)
	JMP(LabelRef("loop32"))

	Label("loop8")
	CMPQ(n, Imm(8))
	JL(LabelRef("tail"))
	y8 := YMM()
	VMOVUPS(Mem{Base: a}, y8)
	VADDPS(Mem{Base: s}, y8, y8)
	VMOVUPS(y8, Mem{Base: a})
	ADDQ(Imm(32), a)
	ADDQ(Imm(32), s)
	SUBQ(Imm(8), n)
	JMP(LabelRef("loop8"))

	Label("tail")
	TESTQ(n, n)
	JE(LabelRef("done"))
	x := XMM()
	VMOVSS(Mem{Base: a}, x)
	VADDSS(Mem{Base: s}, x, x)
	VMOVSS(x, Mem{Base: a})
	ADDQ(Imm(4), a)
	ADDQ(Imm(4), s)
	DECQ(n)
	JMP(LabelRef("tail"))

	Label("done")
	VZEROUPPER()
	RET()
}

// adam emits adamAVX, the Adam update of Adam.Step in the operation order of
// adamGo:
//
//	m' = b1*m + (1-b1)*g
//	v' = b2*v + ((1-b2)*g)*g
//	w -= (step*m') / (sqrt(v')/sqrt(bc2) + eps)
func adam() {
	TEXT("adamAVX", NOSPLIT, "func(pw, pg, pm, pv *float32, n int, k *[8]float32)")
	Pragma("noescape")
	Doc(
		"adamAVX is the Adam update of Adam.Step over n elements; k holds b1, 1-b1, b2, 1-b2,",
		"step, sqrt(bc2), eps.",
	)
	pw := Load(Param("pw"), GP64())
	pg := Load(Param("pg"), GP64())
	pm := Load(Param("pm"), GP64())
	pv := Load(Param("pv"), GP64())
	n := Load(Param("n"), GP64())
	k := Load(Param("k"), GP64())

	// Constants, broadcast: b1, 1-b1, b2, 1-b2, step, sqrt(bc2), eps.
	var c [7]VecVirtual
	for i := range c {
		c[i] = YMM()
		VBROADCASTSS(Mem{Base: k, Disp: 4 * i}, c[i])
	}
	b1, c1, b2, c2, step, bc2s, eps := c[0], c[1], c[2], c[3], c[4], c[5], c[6]

	var t [8]VecVirtual
	for i := range t {
		t[i] = YMM()
	}
	g, m, bg, v, cg, q, u, w := t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7]

	Label("aloop8")
	CMPQ(n, Imm(8))
	JL(LabelRef("atail"))
	VMOVUPS(Mem{Base: pg}, g)
	VMULPS(Mem{Base: pm}, b1, m) // b1*m
	VMULPS(g, c1, bg)            // (1-b1)*g
	VADDPS(bg, m, m)             // m'
	VMOVUPS(m, Mem{Base: pm})
	VMULPS(Mem{Base: pv}, b2, v) // b2*v
	VMULPS(g, c2, cg)            // (1-b2)*g
	VMULPS(g, cg, cg)            // ((1-b2)*g)*g
	VADDPS(cg, v, v)             // v'
	VMOVUPS(v, Mem{Base: pv})
	VSQRTPS(v, q)
	VDIVPS(bc2s, q, q) // sqrt(v')/sqrt(bc2)
	VADDPS(eps, q, q)  // + eps
	VMULPS(m, step, u) // step*m'
	VDIVPS(q, u, u)
	VMOVUPS(Mem{Base: pw}, w)
	VSUBPS(u, w, w)
	VMOVUPS(w, Mem{Base: pw})
	ADDQ(Imm(32), pw)
	ADDQ(Imm(32), pg)
	ADDQ(Imm(32), pm)
	ADDQ(Imm(32), pv)
	SUBQ(Imm(8), n)
	JMP(LabelRef("aloop8"))

	Label("atail")
	TESTQ(n, n)
	JE(LabelRef("adone"))
	VMOVSS(Mem{Base: pg}, g.AsX())
	VMULSS(Mem{Base: pm}, b1.AsX(), m.AsX())
	VMULSS(g.AsX(), c1.AsX(), bg.AsX())
	VADDSS(bg.AsX(), m.AsX(), m.AsX())
	VMOVSS(m.AsX(), Mem{Base: pm})
	VMULSS(Mem{Base: pv}, b2.AsX(), v.AsX())
	VMULSS(g.AsX(), c2.AsX(), cg.AsX())
	VMULSS(g.AsX(), cg.AsX(), cg.AsX())
	VADDSS(cg.AsX(), v.AsX(), v.AsX())
	VMOVSS(v.AsX(), Mem{Base: pv})
	VSQRTSS(v.AsX(), v.AsX(), q.AsX())
	VDIVSS(bc2s.AsX(), q.AsX(), q.AsX())
	VADDSS(eps.AsX(), q.AsX(), q.AsX())
	VMULSS(m.AsX(), step.AsX(), u.AsX())
	VDIVSS(q.AsX(), u.AsX(), u.AsX())
	VMOVSS(Mem{Base: pw}, w.AsX())
	VSUBSS(u.AsX(), w.AsX(), w.AsX())
	VMOVSS(w.AsX(), Mem{Base: pw})
	ADDQ(Imm(4), pw)
	ADDQ(Imm(4), pg)
	ADDQ(Imm(4), pm)
	ADDQ(Imm(4), pv)
	DECQ(n)
	JMP(LabelRef("atail"))

	Label("adone")
	VZEROUPPER()
	RET()
}
