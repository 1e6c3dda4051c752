// Package dcgan is the DCGAN of avatargan: the Generator and Discriminator of
// shared/reference/dcgan_reference.py built from package nn, the original training
// schedule (one D step, then GSteps G steps on the same z) in Trainer, and the helpers
// a training run needs around it (EMA of the generator, BatchNorm recalibration, named
// tensors for checkpoints).
//
// Images are NCHW float32 in [-1, 1] at the API; inside, activations are CNHW (see
// package nn), converted only at the model boundaries.
package dcgan

import (
	"errors"
	"fmt"
)

// Config holds the network sizes and the optimisation hyperparameters.
type Config struct {
	Size   int // image side, a multiple of 16 (48 for the reference)
	ZDim   int // latent size
	GF, DF int // base widths of generator and discriminator
	Batch  int // training batch size
	// LRG and LRD are the Adam learning rates of G and D; Beta1, Beta2 Adam's betas.
	LRG, LRD, Beta1, Beta2 float64
	GSteps                 int    // generator steps per iteration (the original uses 2)
	Dist                   Dist   // latent distribution
	Seed                   uint64 // seed of the parameter init
}

// AdamEps is Adam's epsilon, PyTorch's default.
const AdamEps = 1e-8

// DefaultConfig returns the reference configuration: 48 px, z 100, widths 64, batch 64,
// Adam 2e-4 (0.5, 0.999), two G steps, uniform latents.
func DefaultConfig() Config {
	return Config{Size: 48, ZDim: 100, GF: 64, DF: 64, Batch: 64,
		LRG: 2e-4, LRD: 2e-4, Beta1: 0.5, Beta2: 0.999, GSteps: 2, Dist: Uniform, Seed: 1}
}

// Validate reports the first problem with c.
func (c Config) Validate() error {
	switch {
	case c.Size < 16 || c.Size%16 != 0:
		return fmt.Errorf("dcgan: size %d is not a positive multiple of 16", c.Size)
	case c.ZDim < 1 || c.GF < 1 || c.DF < 1:
		return fmt.Errorf("dcgan: zdim %d, gf %d, df %d must be positive", c.ZDim, c.GF, c.DF)
	case c.Batch < 2:
		// BatchNorm's unbiased variance needs two values per channel at the last layer.
		return fmt.Errorf("dcgan: batch %d must be at least 2", c.Batch)
	case !(c.LRG > 0) || !(c.LRD > 0):
		return errors.New("dcgan: learning rates must be positive")
	case !(c.Beta1 >= 0 && c.Beta1 < 1) || !(c.Beta2 >= 0 && c.Beta2 < 1):
		return errors.New("dcgan: Adam betas must be in [0, 1)")
	case c.GSteps < 1:
		return fmt.Errorf("dcgan: gsteps %d must be at least 1", c.GSteps)
	case c.Dist != Uniform && c.Dist != Normal:
		return fmt.Errorf("dcgan: unknown latent distribution %d", c.Dist)
	}
	return nil
}
