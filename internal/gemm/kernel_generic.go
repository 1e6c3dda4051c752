package gemm

import "unsafe"

// Register tile of the portable kernel: 4x4 keeps the 16 accumulators in
// registers on arm64 (32 FP registers) and close to it on amd64.
const (
	genericMR = 4
	genericNR = 4
)

// kernelGeneric is the pure-Go micro-kernel with the same contract as the
// assembly ones (see asm/gen.go): c = a*b (+ beta*c when load != 0) on a
// genericMR x genericNR tile from k-major packed panels. Every product is
// rounded (float32(x*y)) before it is added: Go fuses x*y+z into an FMA on some
// targets (GOAMD64=v3, arm64), and a kernel that fused in one loop shape and
// not in another (smallGeneric) would give an image other bits alone than in a
// batch, or other bits under other build flags.
func kernelGeneric(kc int, a, b, c *float32, ldc int, beta float32, load int) {
	if kc < 0 {
		return
	}
	pa := unsafe.Slice(a, kc*genericMR+genericMR)[: kc*genericMR : kc*genericMR]
	pb := unsafe.Slice(b, kc*genericNR+genericNR)[: kc*genericNR : kc*genericNR]
	var c00, c01, c02, c03 float32
	var c10, c11, c12, c13 float32
	var c20, c21, c22, c23 float32
	var c30, c31, c32, c33 float32
	for p := 0; p < kc; p++ {
		av := pa[p*4 : p*4+4 : p*4+4]
		bv := pb[p*4 : p*4+4 : p*4+4]
		b0, b1, b2, b3 := bv[0], bv[1], bv[2], bv[3]
		a0 := av[0]
		c00 += float32(a0 * b0)
		c01 += float32(a0 * b1)
		c02 += float32(a0 * b2)
		c03 += float32(a0 * b3)
		a1 := av[1]
		c10 += float32(a1 * b0)
		c11 += float32(a1 * b1)
		c12 += float32(a1 * b2)
		c13 += float32(a1 * b3)
		a2 := av[2]
		c20 += float32(a2 * b0)
		c21 += float32(a2 * b1)
		c22 += float32(a2 * b2)
		c23 += float32(a2 * b3)
		a3 := av[3]
		c30 += float32(a3 * b0)
		c31 += float32(a3 * b1)
		c32 += float32(a3 * b2)
		c33 += float32(a3 * b3)
	}
	cs := unsafe.Slice(c, 3*ldc+4)
	r0 := cs[0:4:4]
	r1 := cs[ldc : ldc+4 : ldc+4]
	r2 := cs[2*ldc : 2*ldc+4 : 2*ldc+4]
	r3 := cs[3*ldc : 3*ldc+4 : 3*ldc+4]
	if load != 0 {
		c00 += float32(beta * r0[0])
		c01 += float32(beta * r0[1])
		c02 += float32(beta * r0[2])
		c03 += float32(beta * r0[3])
		c10 += float32(beta * r1[0])
		c11 += float32(beta * r1[1])
		c12 += float32(beta * r1[2])
		c13 += float32(beta * r1[3])
		c20 += float32(beta * r2[0])
		c21 += float32(beta * r2[1])
		c22 += float32(beta * r2[2])
		c23 += float32(beta * r2[3])
		c30 += float32(beta * r3[0])
		c31 += float32(beta * r3[1])
		c32 += float32(beta * r3[2])
		c33 += float32(beta * r3[3])
	}
	r0[0], r0[1], r0[2], r0[3] = c00, c01, c02, c03
	r1[0], r1[1], r1[2], r1[3] = c10, c11, c12, c13
	r2[0], r2[1], r2[2], r2[3] = c20, c21, c22, c23
	r3[0], r3[1], r3[2], r3[3] = c30, c31, c32, c33
}
