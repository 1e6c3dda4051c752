package main

import (
	"fmt"
	"testing"

	"github.com/mmcloughlin/avo/reg"
)

// TestAMXEncodings checks the AMX encoders against GNU as: LDTILECFG, TILERELEASE,
// TILEZERO of every tile, TDPBF16PS with every tile in each operand position,
// TILELOADD and TILESTORED with every tile and every pair of the base and stride
// registers the kernels may use, at displacements of no, 8-bit and 32-bit size;
// each is assembled by binutils, disassembled with objdump and the bytes compared.
func TestAMXEncodings(t *testing.T) {
	regs := []reg.Register{reg.RAX, reg.RCX, reg.RDX, reg.RBX, reg.RSI, reg.RDI}
	gname := map[reg.Register]string{reg.RAX: "%rax", reg.RCX: "%rcx", reg.RDX: "%rdx", reg.RBX: "%rbx", reg.RSI: "%rsi", reg.RDI: "%rdi"}
	list := []ins{{"tilerelease", append(vexAMX(0, 0, 0x49), 0xC0)}}
	for _, b := range regs {
		list = append(list, ins{fmt.Sprintf("ldtilecfg (%s)", gname[b]), append(vexAMX(0, 0, 0x49), gp[b])})
	}
	for tm := 0; tm < 8; tm++ {
		list = append(list, ins{fmt.Sprintf("tilezero %%tmm%d", tm), append(vexAMX(3, 0, 0x49), 0xC0|byte(tm)<<3)})
		for _, o := range [][2]int{{(tm + 3) % 8, (tm + 5) % 8}, {(tm + 1) % 8, (tm + 2) % 8}} {
			a, b := o[0], o[1]
			list = append(list, ins{fmt.Sprintf("tdpbf16ps %%tmm%d, %%tmm%d, %%tmm%d", b, a, tm), append(vexAMX(2, byte(b), 0x5C), 0xC0|byte(tm)<<3|byte(a))})
		}
		for i, base := range regs {
			idx := regs[(i+tm+1)%len(regs)]
			for _, disp := range []int{0, 64, -8, 1024} {
				list = append(list,
					ins{fmt.Sprintf("tileloadd %d(%s,%s,1), %%tmm%d", disp, gname[base], gname[idx], tm), amxMem(3, 0x4B, tm, base, idx, disp)},
					ins{fmt.Sprintf("tilestored %%tmm%d, %d(%s,%s,1)", tm, disp, gname[base], gname[idx]), amxMem(2, 0x4B, tm, base, idx, disp)})
			}
		}
	}
	checkWithBinutils(t, list, "ldtilecfg|tile|tdp")
}
