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

// TestEvexDPBF16PS checks evexDPBF16PS against GNU as: every register number in
// each of the three operand positions (0..31, so every bit of the EVEX R, R',
// X, B, vvvv and V' fields is exercised both ways) is assembled by binutils and
// disassembled with objdump, and the bytes compared.
func TestEvexDPBF16PS(t *testing.T) {
	as, err1 := exec.LookPath("as")
	objdump, err2 := exec.LookPath("objdump")
	if err1 != nil || err2 != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("binutils as/objdump needed: %v %v", err1, err2)
		}
		t.Skip("binutils as/objdump not installed")
	}
	type ins struct{ dst, src1, src2 int }
	var list []ins
	for r := 0; r < 32; r++ {
		list = append(list, ins{r, (r + 7) % 32, (r + 19) % 32}, ins{(r + 3) % 32, r, (r + 11) % 32}, ins{(r + 5) % 32, (r + 13) % 32, r})
	}
	var src strings.Builder
	for _, in := range list {
		// AT&T order: src2, src1, dst.
		fmt.Fprintf(&src, "vdpbf16ps %%zmm%d, %%zmm%d, %%zmm%d\n", in.src2, in.src1, in.dst)
	}
	dir := t.TempDir()
	s, o := filepath.Join(dir, "t.s"), filepath.Join(dir, "t.o")
	if err := os.WriteFile(s, []byte(src.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(as, "--64", "-o", o, s).CombinedOutput(); err != nil {
		t.Fatalf("as: %v\n%s", err, out)
	}
	out, err := exec.Command(objdump, "-d", o).Output()
	if err != nil {
		t.Fatalf("objdump: %v", err)
	}
	// Lines look like "   6:\t62 32 36 40 52 e9    \tvdpbf16ps %zmm17,%zmm25,%zmm13".
	line := regexp.MustCompile(`(?m)^\s*[0-9a-f]+:\s+((?:[0-9a-f]{2} )+)\s*vdpbf16ps`)
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
		if enc := evexDPBF16PS(in.dst, in.src1, in.src2); !bytes.Equal(enc, want) {
			t.Errorf("VDPBF16PS zmm%d, zmm%d, zmm%d: encoded % x, binutils % x", in.dst, in.src1, in.src2, enc, want)
		}
	}
}
