package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestEvexBF16 checks the encoders of VDPBF16PS, VCVTNE2PS2BF16 (ymm, zmm) and
// VCVTNEPS2BF16 against GNU as: every register number in each operand
// position (0..31, so every bit of the EVEX R, R', X, B, vvvv and V' fields is
// exercised both ways) is assembled by binutils and disassembled with objdump,
// and the bytes compared.
func TestEvexBF16(t *testing.T) {
	var list []ins
	for r := 0; r < 32; r++ {
		for _, o := range [][3]int{{r, (r + 7) % 32, (r + 19) % 32}, {(r + 3) % 32, r, (r + 11) % 32}, {(r + 5) % 32, (r + 13) % 32, r}} {
			d, s1, s2 := o[0], o[1], o[2]
			// AT&T order: src2, src1, dst.
			list = append(list,
				ins{fmt.Sprintf("vdpbf16ps %%zmm%d, %%zmm%d, %%zmm%d", s2, s1, d), evexDPBF16PS(d, s1, s2)},
				ins{fmt.Sprintf("vcvtne2ps2bf16 %%zmm%d, %%zmm%d, %%zmm%d", s2, s1, d), evexCVTNE2PS2BF16(0b10, d, s1, s2)},
				ins{fmt.Sprintf("vcvtne2ps2bf16 %%ymm%d, %%ymm%d, %%ymm%d", s2, s1, d), evexCVTNE2PS2BF16(0b01, d, s1, s2)},
				ins{fmt.Sprintf("vcvtneps2bf16 %%zmm%d, %%ymm%d", s2, d), evexCVTNEPS2BF16(d, s2)})
		}
	}
	checkWithBinutils(t, list, "vcvt|vdp")
}

// ins is an instruction in GNU syntax and the bytes an encoder gave for it.
type ins struct {
	att string
	enc []byte
}

// checkWithBinutils assembles every instruction of list with GNU as, disassembles
// the object with objdump and compares each one's bytes with its encoding; mnemonics
// is a regexp alternation that matches the start of every listed mnemonic, so that
// objdump's other lines are skipped. Without binutils it skips, or fails under CI.
func checkWithBinutils(t *testing.T, list []ins, mnemonics string) {
	t.Helper()
	as, err1 := exec.LookPath("as")
	objdump, err2 := exec.LookPath("objdump")
	if err1 != nil || err2 != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("binutils as/objdump needed: %v %v", err1, err2)
		}
		t.Skip("binutils as/objdump not installed")
	}
	var src strings.Builder
	for _, in := range list {
		src.WriteString(in.att + "\n")
	}
	dir := t.TempDir()
	s, o := filepath.Join(dir, "t.s"), filepath.Join(dir, "t.o")
	if err := os.WriteFile(s, []byte(src.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(as, "--64", "-o", o, s).CombinedOutput(); err != nil {
		t.Fatalf("as: %v\n%s", err, out)
	}
	// --insn-width keeps long encodings on one line.
	out, err := exec.Command(objdump, "-d", "--insn-width=16", o).Output()
	if err != nil {
		t.Fatalf("objdump: %v", err)
	}
	// Lines look like "   6:\t62 32 36 40 52 e9    \tvdpbf16ps %zmm17,%zmm25,%zmm13".
	line := regexp.MustCompile(`(?m)^\s*[0-9a-f]+:\s+((?:[0-9a-f]{2} )+)\s*(?:` + mnemonics + `)`)
	got := line.FindAllStringSubmatch(string(out), -1)
	if len(got) != len(list) {
		t.Fatalf("objdump listed %d instructions, want %d:\n%s", len(got), len(list), out)
	}
	for i, in := range list {
		var want []byte
		for _, h := range strings.Fields(got[i][1]) {
			v, _ := strconv.ParseUint(h, 16, 8)
			want = append(want, byte(v))
		}
		if !bytes.Equal(in.enc, want) {
			t.Errorf("%s: encoded % x, binutils % x", in.att, in.enc, want)
		}
	}
}
