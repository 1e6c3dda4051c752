// Package dcgan is the DCGAN of avatargan: the Generator and Discriminator of
// shared/reference/dcgan_reference.py built from package nn, the training schedule (one
// D step, then GSteps G steps on the same z) in Trainer with the recipe options beyond
// the original (hinge loss, spectral normalisation and compensation, a discriminator
// without BatchNorm, differentiable augmentation, the R1 penalty, separate optimiser
// settings), named recipes, and the helpers a training run needs around it (EMA of the
// generator, BatchNorm recalibration, named tensors for checkpoints).
//
// Images are NCHW float32 in [-1, 1] at the API; inside, activations are CNHW (see
// package nn), converted only at the model boundaries.
package dcgan

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"avatargan/nn"
)

// Config holds the network sizes, the recipe and the optimisation hyperparameters. Its
// JSON form (config.json, checkpoint metadata) uses snake_case names and enum names.
type Config struct {
	Size int `json:"size"` // image side, a multiple of 16 (48 for the reference)
	ZDim int `json:"zdim"` // latent size
	GF   int `json:"gf"`   // generator base width
	// Refine is the width of the generator's refinement head at the output size (see
	// Generator; 0: none, the reference network).
	Refine int `json:"refine,omitempty"`
	DF     int `json:"df"`    // discriminator base width
	Batch  int `json:"batch"` // training batch size
	// LRG and LRD are the Adam learning rates of G and D. Beta1, Beta2 are G's Adam
	// betas, Beta1D, Beta2D D's (the original uses one pair for both).
	LRG    float64 `json:"lr_g"`
	LRD    float64 `json:"lr_d"`
	Beta1  float64 `json:"beta1"`
	Beta2  float64 `json:"beta2"`
	Beta1D float64 `json:"beta1_d"`
	Beta2D float64 `json:"beta2_d"`
	GSteps int     `json:"g_steps"` // generator steps per iteration (the original uses 2)
	// DSteps > 1 takes G's steps on every DSteps-th iteration only, so D gets DSteps
	// updates (each on its own real batch) per G update: the n_dis of Miyato et al.
	// 2018, for a discriminator that lags its generator. 0 means 1 (every iteration).
	DSteps int `json:"d_steps,omitempty"`
	// DWarmup > 0 makes the first DWarmup iterations (counted by D's updates, which
	// the checkpoint keeps) train D only: a discriminator started fresh against an
	// already trained generator (train --from a generator file) would otherwise
	// steer G with the gradients of a random network for its first few hundred
	// updates and undo some of what G learned.
	DWarmup int    `json:"d_warmup,omitempty"`
	Dist    Dist   `json:"dist"` // latent distribution
	Seed    uint64 `json:"seed"` // seed of the parameter init
	// Loss is the adversarial loss; SpectralNorm normalises every weight of D (conv and
	// fc) with nn.SpectralNorm; DNorm is the normalisation after D's conv1..conv3.
	Loss         Loss  `json:"loss"`
	SpectralNorm bool  `json:"spectral_norm"`
	DNorm        DNorm `json:"d_norm"`
	// Augment is the DiffAugment policy applied to every image D sees, real and fake,
	// in D and G steps ("" = none; e.g. "color,translation,cutout").
	Augment string `json:"augment,omitempty"`
	// R1 is the weight gamma of the R1 penalty gamma/2 * E||dD(x)/dx||^2 on (augmented)
	// real images in D's loss (Mescheder et al. 2018: it makes GAN training converge
	// locally instead of circling); 0 is off. It needs DNorm == DNoNorm. R1Every > 1
	// applies it on every R1Every-th D step only, with gamma scaled by R1Every
	// (StyleGAN2's lazy regularisation; 0 means 1).
	R1      float64 `json:"r1,omitempty"`
	R1Every int     `json:"r1_every,omitempty"`
	// SpectralReg > 0 applies SR-GAN's spectral compensation (nn.CompensateSpectrum;
	// Liu et al. 2019) to every spectrally normalised weight of D after every
	// SpectralReg-th D update (the authors use 5): the top half of each weight's
	// singular values are raised to its largest, against the spectral collapse in
	// which one growing direction divides all others down. 0 is off. It needs
	// SpectralNorm.
	SpectralReg int `json:"spectral_reg,omitempty"`
	// PhaseBalance > 0 keeps G's last PhaseBalance transposed convolutions (1: the
	// output layer, and the refinement head's) phase-balanced (nn.BalancePhases): projected at the start of a new
	// run and after every G update. Their stride-2 phases otherwise get unequal tap
	// sums, a checkerboard the discriminator does not remove (measured on the embedded
	// model: 3-11x the real images' power at the 2- and 4-pixel periods). 0 is off.
	PhaseBalance int `json:"phase_balance,omitempty"`
	// SpectrumLoss > 0 adds SpectrumLoss times nn.SpectrumLoss to G's loss: the squared
	// log ratio of the mean Fourier power spectrum (Y, Cb, Cr) of G's batch to that of
	// the iteration's real batch, at every frequency but DC. It asks G directly for the
	// images' spectrum, which the discriminator left wrong (measured on the embedded
	// model: too little power in fine luma detail, up to 10x too much colour noise at
	// the highest frequencies). 0 is off. (Not D's spectral norm: this is the images'.)
	SpectrumLoss float64 `json:"spectrum_loss,omitempty"`
	// SpectrumWindow multiplies every image by a 2-D Hann window before the spectrum
	// loss's transform (nn.SpectrumLoss.Window). Without it the loss can be met with
	// spikes in the corner pixels, which a generator learns: the embedded model's corner
	// pixels differ from their neighbours 3x as much as real faces' do.
	SpectrumWindow bool `json:"spectrum_window,omitempty"`
	// PatchLoss > 0 adds PatchLoss times nn.PatchSWD to G's loss: the sliced
	// Wasserstein distance between the 5x5 patches of G's batch and of the iteration's
	// real batch, in box-filter Laplacian bands at the full and half size. Where the
	// spectrum loss matches only power per frequency, which noise can supply, this
	// matches local patterns, phases included. 0 is off.
	PatchLoss float64 `json:"patch_loss,omitempty"`
	// PatchLowPass makes the patch loss's coarser level the half-size image itself
	// (nn.PatchSWD.LowPass) instead of its Laplacian band: it then also matches the
	// colours and layout, where the avatars differ most from real faces once grain is
	// gone (metrics.SWD's 24 px level).
	PatchLowPass bool `json:"patch_lowpass,omitempty"`
}

// AdamEps is Adam's epsilon, PyTorch's default.
const AdamEps = 1e-8

// DefaultConfig returns the reference configuration (recipe "original"): 48 px, z 100,
// widths 64, batch 64, BCE, Adam 2e-4 (0.5, 0.999) for both nets, two G steps, uniform
// latents, BatchNorm in D, no spectral norm, no augmentation.
func DefaultConfig() Config {
	return Config{Size: 48, ZDim: 100, GF: 64, DF: 64, Batch: 64,
		LRG: 2e-4, LRD: 2e-4, Beta1: 0.5, Beta2: 0.999, Beta1D: 0.5, Beta2D: 0.999,
		GSteps: 2, Dist: Uniform, Seed: 1, Loss: BCE, DNorm: DBatchNorm}
}

// UnmarshalJSON reads a Config, including those written before the recipe options and
// snake_case names existed (keys LRG, LRD, GSteps; no D betas: D used G's; no loss,
// d_norm: BCE and BatchNorm).
func (c *Config) UnmarshalJSON(b []byte) error {
	type plain Config
	p := plain{Beta1D: math.NaN(), Beta2D: math.NaN()}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	var legacy struct {
		LRG, LRD *float64
		GSteps   *int
	}
	if err := json.Unmarshal(b, &legacy); err != nil {
		return err
	}
	// encoding/json matches keys case-insensitively, so "LRG" never fills lr_g: copy
	// the legacy keys when present.
	if legacy.LRG != nil {
		p.LRG = *legacy.LRG
	}
	if legacy.LRD != nil {
		p.LRD = *legacy.LRD
	}
	if legacy.GSteps != nil {
		p.GSteps = *legacy.GSteps
	}
	if math.IsNaN(p.Beta1D) {
		p.Beta1D = p.Beta1
	}
	if math.IsNaN(p.Beta2D) {
		p.Beta2D = p.Beta2
	}
	*c = Config(p)
	return nil
}

// Validate reports the first problem with c.
func (c Config) Validate() error {
	betasOK := func(b1, b2 float64) bool { return b1 >= 0 && b1 < 1 && b2 > 0 && b2 < 1 }
	switch {
	case c.Size < 16 || c.Size%16 != 0:
		return fmt.Errorf("dcgan: size %d is not a positive multiple of 16", c.Size)
	case c.ZDim < 1 || c.GF < 1 || c.DF < 1:
		return fmt.Errorf("dcgan: zdim %d, gf %d, df %d must be positive", c.ZDim, c.GF, c.DF)
	case c.Refine < 0 || c.Refine > MaxWidth:
		return fmt.Errorf("dcgan: refine %d is not in 0..%d", c.Refine, MaxWidth)
	case c.Batch < 2:
		// BatchNorm's unbiased variance needs two values per channel at the last layer.
		return fmt.Errorf("dcgan: batch %d must be at least 2", c.Batch)
	case !(c.LRG > 0) || !(c.LRD > 0) || math.IsInf(c.LRG, 0) || math.IsInf(c.LRD, 0):
		return fmt.Errorf("dcgan: learning rates %v, %v must be positive and finite", c.LRG, c.LRD)
	case !betasOK(c.Beta1, c.Beta2) || !betasOK(c.Beta1D, c.Beta2D):
		return fmt.Errorf("dcgan: Adam betas (%v, %v) for G and (%v, %v) for D: beta1 must be in [0, 1), beta2 in (0, 1)",
			c.Beta1, c.Beta2, c.Beta1D, c.Beta2D)
	case c.GSteps < 1:
		return fmt.Errorf("dcgan: gsteps %d must be at least 1", c.GSteps)
	case c.Dist != Uniform && c.Dist != Normal:
		return fmt.Errorf("dcgan: unknown latent distribution %d", c.Dist)
	case c.Loss != BCE && c.Loss != Hinge:
		return fmt.Errorf("dcgan: unknown loss %d", c.Loss)
	case c.DNorm != DBatchNorm && c.DNorm != DNoNorm:
		return fmt.Errorf("dcgan: unknown discriminator normalisation %d", c.DNorm)
	case !(c.R1 >= 0) || math.IsInf(c.R1, 0):
		return fmt.Errorf("dcgan: r1 %v must be 0 or positive and finite", c.R1)
	case c.R1 > 0 && c.DNorm != DNoNorm:
		// The penalty's exact gradient relies on D being piecewise linear in its input;
		// BatchNorm also ties each image's gradient to the rest of the batch.
		return fmt.Errorf("dcgan: r1 needs a discriminator without BatchNorm (d_norm none)")
	case c.DSteps < 0:
		return fmt.Errorf("dcgan: d_steps %d must be 0 or positive", c.DSteps)
	case c.DWarmup < 0:
		return fmt.Errorf("dcgan: d_warmup %d must be 0 or positive", c.DWarmup)
	case c.R1Every < 0:
		return fmt.Errorf("dcgan: r1_every %d must be 0 or positive", c.R1Every)
	case c.SpectralReg < 0:
		return fmt.Errorf("dcgan: spectral_reg %d must be 0 or positive", c.SpectralReg)
	case c.SpectralReg > 0 && !c.SpectralNorm:
		return fmt.Errorf("dcgan: spectral_reg needs spectral norm in the discriminator")
	case !(c.SpectrumLoss >= 0) || math.IsInf(c.SpectrumLoss, 1):
		return fmt.Errorf("dcgan: spectrum_loss %v must be a finite number >= 0", c.SpectrumLoss)
	case !(c.PatchLoss >= 0) || math.IsInf(c.PatchLoss, 1):
		return fmt.Errorf("dcgan: patch_loss %v must be a finite number >= 0", c.PatchLoss)
	case c.SpectrumWindow && c.SpectrumLoss == 0:
		return fmt.Errorf("dcgan: spectrum_window needs spectrum_loss > 0")
	case c.PatchLowPass && c.PatchLoss == 0:
		return fmt.Errorf("dcgan: patch_lowpass needs patch_loss > 0")
	case c.PhaseBalance < 0 || c.PhaseBalance > 4:
		return fmt.Errorf("dcgan: phase_balance %d: want 0..4 (the generator's transposed convolutions, counted from its output)", c.PhaseBalance)
	}
	if _, err := nn.ParseAugmentPolicy(c.Augment); err != nil {
		return fmt.Errorf("dcgan: %w", err)
	}
	return c.checkMemory()
}

// Loss is the adversarial loss.
type Loss int

const (
	// BCE is the original's: D minimises BCE(D(x), 1) + BCE(D(G(z)), 0), G minimises
	// BCE(D(G(z)), 1) (the non-saturating loss).
	BCE Loss = iota
	// Hinge: D minimises mean(relu(1 - D(x))) + mean(relu(1 + D(G(z)))), G minimises
	// -mean(D(G(z))).
	Hinge
)

// DNorm is the normalisation after the discriminator's conv1..conv3.
type DNorm int

const (
	// DBatchNorm is the original's BatchNorm (real and fake batches normalised
	// separately).
	DBatchNorm DNorm = iota
	// DNoNorm has none: the usual companion of spectral normalisation, whose D then
	// scores each image independently of the rest of its batch.
	DNoNorm
)

var (
	lossNames  = []string{"bce", "hinge"}
	dnormNames = []string{"batch", "none"}
	distNames  = []string{"uniform", "normal"}
)

func enumText(names []string, v int, what string) ([]byte, error) {
	if v < 0 || v >= len(names) {
		return nil, fmt.Errorf("dcgan: unknown %s %d", what, v)
	}
	return []byte(names[v]), nil
}

func enumParse(names []string, s, what string) (int, error) {
	for i, n := range names {
		if n == s {
			return i, nil
		}
	}
	return 0, fmt.Errorf("dcgan: unknown %s %q (want %s)", what, s, strings.Join(names, " or "))
}

// enumJSON decodes a JSON string name, or a number as older files wrote the enums.
func enumJSON(names []string, b []byte, what string) (int, error) {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		return enumParse(names, s, what)
	}
	var n int
	if err := json.Unmarshal(b, &n); err != nil {
		return 0, fmt.Errorf("dcgan: %s: want a name or a number, got %s", what, b)
	}
	if n < 0 || n >= len(names) {
		return 0, fmt.Errorf("dcgan: unknown %s %d", what, n)
	}
	return n, nil
}

// String returns the loss's name.
func (l Loss) String() string { b, _ := enumText(lossNames, int(l), "loss"); return string(b) }

// MarshalText writes the loss's name ("bce", "hinge").
func (l Loss) MarshalText() ([]byte, error) { return enumText(lossNames, int(l), "loss") }

// UnmarshalJSON reads a loss name (or its number).
func (l *Loss) UnmarshalJSON(b []byte) error {
	v, err := enumJSON(lossNames, b, "loss")
	*l = Loss(v)
	return err
}

// ParseLoss returns the loss named s.
func ParseLoss(s string) (Loss, error) {
	v, err := enumParse(lossNames, s, "loss")
	return Loss(v), err
}

// String returns the normalisation's name.
func (d DNorm) String() string { b, _ := enumText(dnormNames, int(d), "d_norm"); return string(b) }

// MarshalText writes the normalisation's name ("batch", "none").
func (d DNorm) MarshalText() ([]byte, error) { return enumText(dnormNames, int(d), "d_norm") }

// UnmarshalJSON reads a normalisation name (or its number).
func (d *DNorm) UnmarshalJSON(b []byte) error {
	v, err := enumJSON(dnormNames, b, "d_norm")
	*d = DNorm(v)
	return err
}

// ParseDNorm returns the discriminator normalisation named s.
func ParseDNorm(s string) (DNorm, error) {
	v, err := enumParse(dnormNames, s, "d_norm")
	return DNorm(v), err
}

// String returns the distribution's name.
func (d Dist) String() string { b, _ := enumText(distNames, int(d), "dist"); return string(b) }

// MarshalText writes the distribution's name ("uniform", "normal").
func (d Dist) MarshalText() ([]byte, error) { return enumText(distNames, int(d), "dist") }

// UnmarshalJSON reads a distribution name (or its number, as older files have it).
func (d *Dist) UnmarshalJSON(b []byte) error {
	v, err := enumJSON(distNames, b, "dist")
	*d = Dist(v)
	return err
}

// ParseDist returns the latent distribution named s.
func ParseDist(s string) (Dist, error) {
	v, err := enumParse(distNames, s, "dist")
	return Dist(v), err
}

// Recipes lists the named recipes of Recipe, the default first.
func Recipes() []string { return []string{"original", "ttur", "sngan", "sngan-da"} }

// Recipe returns c with the training recipe `name` applied (network sizes, batch, seed
// and latent distribution are kept):
//
//   - original: the TF original (DefaultConfig's recipe): BCE, BatchNorm in D, Adam
//     2e-4 (0.5, 0.999) for both, two G steps per D step.
//   - ttur: the original with one G step and two-time-scale rates (D 4e-4, G 1e-4).
//   - sngan: hinge loss, spectral norm in D without BatchNorm, one G step, D 4e-4 and
//     G 1e-4 with Adam (0, 0.9) (Miyato et al. 2018; Zhang et al. 2019).
//   - sngan-da: sngan plus DiffAugment "color,translation,cutout" (Zhao et al. 2020).
//
// The README's recipe study measures them against each other.
func Recipe(name string, c Config) (Config, error) {
	d := DefaultConfig()
	c.LRG, c.LRD, c.Beta1, c.Beta2, c.Beta1D, c.Beta2D = d.LRG, d.LRD, d.Beta1, d.Beta2, d.Beta1D, d.Beta2D
	c.GSteps, c.Loss, c.SpectralNorm, c.DNorm, c.Augment = d.GSteps, d.Loss, d.SpectralNorm, d.DNorm, d.Augment
	c.R1, c.R1Every, c.DSteps, c.DWarmup, c.SpectralReg = d.R1, d.R1Every, d.DSteps, d.DWarmup, d.SpectralReg
	c.PhaseBalance, c.SpectrumLoss, c.PatchLoss, c.PatchLowPass = d.PhaseBalance, d.SpectrumLoss, d.PatchLoss, d.PatchLowPass
	c.SpectrumWindow = d.SpectrumWindow
	switch name {
	case "original":
	case "ttur":
		c.GSteps, c.LRD, c.LRG = 1, 4e-4, 1e-4
	case "sngan", "sngan-da":
		c.GSteps, c.LRD, c.LRG = 1, 4e-4, 1e-4
		c.Beta1, c.Beta2, c.Beta1D, c.Beta2D = 0, 0.9, 0, 0.9
		c.Loss, c.SpectralNorm, c.DNorm = Hinge, true, DNoNorm
		if name == "sngan-da" {
			c.Augment = "color,translation,cutout"
		}
	default:
		return c, fmt.Errorf("dcgan: unknown recipe %q (want %s)", name, strings.Join(Recipes(), ", "))
	}
	return c, nil
}
