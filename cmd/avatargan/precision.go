package main

import (
	"flag"
	"fmt"
	"io"

	"avatargan/avatar"
	"avatargan/internal/gemm"
)

// precisionUsage is the help of an inference command's --precision.
const precisionUsage = "operand precision of the generator's products: f32, bf16, or auto (bf16 where the CPU multiplies bf16 in hardware faster than float32)"

// precisionFlag adds --precision to an inference command (generate, interpolate,
// serve, eval).
func precisionFlag(fs *flag.FlagSet) *string {
	return fs.String("precision", "auto", precisionUsage)
}

// checkPrecision refuses an inference --precision value other than auto, f32 and bf16,
// before anything is loaded.
func checkPrecision(value string) error {
	if value == "auto" {
		return nil
	}
	if _, err := gemm.ParsePrecision(value); err != nil {
		return usageError{fmt.Errorf("--precision %s: unknown precision; want auto, f32 or bf16", value)}
	}
	return nil
}

// usePrecision resolves an inference --precision value (auto: gemm.FastBF16)
// and sets it on each model's generator.
// Warnings go to warn (the command's error stream).
func usePrecision(warn io.Writer, value string, models ...*avatar.Model) error {
	p := gemm.F32
	switch value {
	case "auto":
		if gemm.FastBF16() {
			p = gemm.BF16
		}
	default:
		var err error
		if p, err = gemm.ParsePrecision(value); err != nil {
			return usageError{fmt.Errorf("--precision %s: unknown precision; want auto, f32 or bf16", value)}
		}
		warnSlowBF16(warn, p)
	}
	for _, m := range models {
		if m != nil {
			m.Generator().SetPrecision(p)
		}
	}
	return nil
}

// warnSlowBF16 tells the user (on w, the command's error stream) when bf16 will
// run on the pure-Go kernel.
func warnSlowBF16(w io.Writer, p gemm.Precision) {
	if p == gemm.BF16 && !gemm.NativeBF16() {
		fmt.Fprintf(w, "warning: GEMM path %s has no bf16 instructions (AVX512_BF16 or AMX); bf16 products run in a slow pure-Go kernel\n", gemm.Kernel())
	}
}
