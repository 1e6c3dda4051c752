package avatar

import (
	"fmt"
	"strconv"

	"avatargan/internal/gemm"
)

// SetPrecision sets the operand precision of the generator's products: "f32",
// "bf16", or "auto" (bf16 where this CPU multiplies bf16 in hardware faster than
// float32, else f32). The weights stay float32 either way; bf16 products change an
// avatar's pixels by a level or two. A new Model computes in f32. Call it before
// using the model, not concurrently with it.
func (m *Model) SetPrecision(p string) error {
	q := gemm.F32
	if p == "auto" {
		if gemm.FastBF16() {
			q = gemm.BF16
		}
	} else {
		var err error
		if q, err = gemm.ParsePrecision(p); err != nil {
			return fmt.Errorf("avatar: precision %q: want auto, f32 or bf16", p)
		}
	}
	m.g.SetPrecision(q)
	return nil
}

// Precision returns the operand precision in use, "f32" or "bf16".
func (m *Model) Precision() string { return m.g.Precision().String() }

// PixelID identifies the pixels the model makes, for caches and HTTP ETags (the
// server's Options.ModelID): the weights' ID and what may change a pixel by a level
// (the GEMM kernel, the precision) or change which latent a seed gets (the face check).
func (m *Model) PixelID() string {
	id := m.ID() + "-" + gemm.Kernel() + "-" + m.Precision()
	if m.tries > 1 {
		id += "-fc" + strconv.Itoa(m.tries)
	}
	return id
}
