package dcgan

import "avatargan/internal/gemm"

// SetPrecision sets the operand precision of every product of the generator
// (its Linear and transposed convolutions; see nn.Conv2d.Precision). Weights,
// BatchNorm and activations stay float32, so a generator's tensors, and any
// checkpoint, are the same in either precision.
func (g *Generator) SetPrecision(p gemm.Precision) {
	g.FC.Precision = p
	for _, d := range g.Deconv {
		d.Precision = p
	}
	if g.Refine > 0 {
		g.RefineDeconv.Precision = p
		g.RefineConv.Precision = p
	}
}

// Precision returns the operand precision set by SetPrecision (F32 by default).
func (g *Generator) Precision() gemm.Precision { return g.FC.Precision }

// SetPrecision sets the operand precision of every product of the
// discriminator, as Generator.SetPrecision.
func (d *Discriminator) SetPrecision(p gemm.Precision) {
	d.FC.Precision = p
	for _, c := range d.Conv {
		c.Precision = p
	}
}

// SetPrecision sets the operand precision of both networks' products: mixed
// precision training with gemm.BF16. Adam, its moments, the master weights,
// BatchNorm and the losses stay float32 whatever p is.
func (t *Trainer) SetPrecision(p gemm.Precision) {
	t.G.SetPrecision(p)
	t.D.SetPrecision(p)
}
