//go:build amd64 && !noasm

#include "textflag.h"

// func addToAVX(a, s *float32, n int)
TEXT ·addToAVX(SB), NOSPLIT, $0-24
	MOVQ a+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ n+16(FP), BX

loop32:
	CMPQ    BX, $32
	JL      loop8
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	VADDPS  (SI), Y0, Y0
	VADDPS  32(SI), Y1, Y1
	VADDPS  64(SI), Y2, Y2
	VADDPS  96(SI), Y3, Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ    $128, DI
	ADDQ    $128, SI
	SUBQ    $32, BX
	JMP     loop32

loop8:
	CMPQ    BX, $8
	JL      tail
	VMOVUPS (DI), Y0
	VADDPS  (SI), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, DI
	ADDQ    $32, SI
	SUBQ    $8, BX
	JMP     loop8

tail:
	TESTQ  BX, BX
	JE     done
	VMOVSS (DI), X0
	VADDSS (SI), X0, X0
	VMOVSS X0, (DI)
	ADDQ   $4, DI
	ADDQ   $4, SI
	DECQ   BX
	JMP    tail

done:
	VZEROUPPER
	RET

// func adamAVX(pw, pg, pm, pv *float32, n int, k *[8]float32)
TEXT ·adamAVX(SB), NOSPLIT, $0-48
	MOVQ         pw+0(FP), DI
	MOVQ         pg+8(FP), SI
	MOVQ         pm+16(FP), DX
	MOVQ         pv+24(FP), CX
	MOVQ         n+32(FP), BX
	MOVQ         k+40(FP), AX
	VBROADCASTSS 0(AX), Y8   // b1
	VBROADCASTSS 4(AX), Y9   // 1-b1
	VBROADCASTSS 8(AX), Y10  // b2
	VBROADCASTSS 12(AX), Y11 // 1-b2
	VBROADCASTSS 16(AX), Y12 // step
	VBROADCASTSS 20(AX), Y13 // sqrt(bc2)
	VBROADCASTSS 24(AX), Y14 // eps

aloop8:
	CMPQ    BX, $8
	JL      atail
	VMOVUPS (SI), Y0      // g
	VMULPS  (DX), Y8, Y1  // b1*m
	VMULPS  Y0, Y9, Y2    // (1-b1)*g
	VADDPS  Y2, Y1, Y1    // m'
	VMOVUPS Y1, (DX)
	VMULPS  (CX), Y10, Y3 // b2*v
	VMULPS  Y0, Y11, Y4   // (1-b2)*g
	VMULPS  Y0, Y4, Y4    // ((1-b2)*g)*g
	VADDPS  Y4, Y3, Y3    // v'
	VMOVUPS Y3, (CX)
	VSQRTPS Y3, Y5
	VDIVPS  Y13, Y5, Y5   // sqrt(v')/sqrt(bc2)
	VADDPS  Y14, Y5, Y5   // + eps
	VMULPS  Y1, Y12, Y6   // step*m'
	VDIVPS  Y5, Y6, Y6
	VMOVUPS (DI), Y7
	VSUBPS  Y6, Y7, Y7
	VMOVUPS Y7, (DI)
	ADDQ    $32, DI
	ADDQ    $32, SI
	ADDQ    $32, DX
	ADDQ    $32, CX
	SUBQ    $8, BX
	JMP     aloop8

atail:
	TESTQ   BX, BX
	JE      adone
	VMOVSS  (SI), X0
	VMULSS  (DX), X8, X1
	VMULSS  X0, X9, X2
	VADDSS  X2, X1, X1
	VMOVSS  X1, (DX)
	VMULSS  (CX), X10, X3
	VMULSS  X0, X11, X4
	VMULSS  X0, X4, X4
	VADDSS  X4, X3, X3
	VMOVSS  X3, (CX)
	VSQRTSS X3, X3, X5
	VDIVSS  X13, X5, X5
	VADDSS  X14, X5, X5
	VMULSS  X1, X12, X6
	VDIVSS  X5, X6, X6
	VMOVSS  (DI), X7
	VSUBSS  X6, X7, X7
	VMOVSS  X7, (DI)
	ADDQ    $4, DI
	ADDQ    $4, SI
	ADDQ    $4, DX
	ADDQ    $4, CX
	DECQ    BX
	JMP     atail

adone:
	VZEROUPPER
	RET
