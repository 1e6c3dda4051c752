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

// usePrecision sets an inference --precision value (auto: bf16 where it is fast) on
// each model, warning on warn (the command's error stream) when an explicit bf16
// will run on the pure-Go kernel.
func usePrecision(warn io.Writer, value string, models ...*avatar.Model) error {
	if err := checkPrecision(value); err != nil {
		return err
	}
	if value == "bf16" {
		warnSlowBF16(warn, gemm.BF16)
	}
	for _, m := range models {
		if m != nil {
			if err := m.SetPrecision(value); err != nil {
				return usageError{err}
			}
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
