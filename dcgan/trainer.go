package dcgan

import (
	"fmt"
	"math"
	"math/rand/v2"

	"avatargan/nn"
)

// Trainer holds both networks and their optimisers and runs the training schedule of
// its Config: one D step, then GSteps G steps with the same z (on every DSteps-th
// iteration only, when DSteps > 1).
type Trainer struct {
	Cfg        Config
	G          *Generator
	D          *Discriminator
	OptG, OptD *nn.Adam
	// EMA, when non-nil, is updated once at the end of every successful Step.
	EMA *EMA

	aug         *nn.DiffAugment  // nil without augmentation
	spec        *nn.SpectrumLoss // nil without Config.SpectrumLoss
	patch       *nn.PatchSWD     // nil without Config.PatchLoss
	realC, dlog []float32
}

// StepStats reports one iteration.
type StepStats struct {
	LossD float64 // the D loss: BCE(D(x), 1) + BCE(D(G(z)), 0), or the hinge loss
	DReal float64 // mean sigmoid(D(x)) in the D step
	DFake float64 // mean sigmoid(D(G(z))) in the D step
	// GStepped reports whether the iteration took G steps (always, unless Config.DSteps
	// > 1); LossG is then the G loss (BCE(D(G(z)), 1) or -mean D(G(z))) of its last G
	// step, and 0 otherwise.
	GStepped bool
	LossG    float64
	// Spectrum is the spectrum loss (nn.SpectrumLoss, unweighted; not part of LossG) of
	// the last G step with Config.SpectrumLoss on, else 0.
	Spectrum float64
	// Patch is the patch loss (nn.PatchSWD, unweighted; not part of LossG) of the last
	// G step with Config.PatchLoss on, else 0.
	Patch float64
	// R1 is the R1 penalty of the D step, gamma/2 * mean ||dD(x)/dx||^2 with the
	// configured gamma (not scaled by R1Every; not part of LossD); 0 on a step without it.
	R1 float64
	// Losses is [LossD, G loss of step 1, ..., G loss of step GSteps], or [LossD] on an
	// iteration without G steps.
	Losses []float64
}

// NewTrainer validates cfg and returns a Trainer whose G and D are initialised from a
// PCG seeded with cfg.Seed (G first, then D), so the same seed gives the same start.
func NewTrainer(cfg Config) (*Trainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t := &Trainer{Cfg: cfg, G: NewGeneratorRefine(cfg.Size, cfg.ZDim, cfg.GF, cfg.Refine),
		D: NewDiscriminatorWith(cfg.Size, cfg.DF, DOptions{SpectralNorm: cfg.SpectralNorm, Norm: cfg.DNorm})}
	if cfg.Augment != "" {
		pol, err := nn.ParseAugmentPolicy(cfg.Augment)
		if err != nil {
			return nil, err
		}
		t.aug = &nn.DiffAugment{Policy: pol}
	}
	if cfg.SpectrumLoss > 0 {
		t.spec = nn.NewSpectrumLoss(cfg.Size, cfg.Size)
		t.spec.Window = cfg.SpectrumWindow
	}
	if cfg.PatchLoss > 0 {
		p, err := nn.NewPatchSWD(cfg.Size, cfg.Size)
		if err != nil {
			return nil, err
		}
		p.LowPass = cfg.PatchLowPass
		t.patch = p
	}
	// G and D run one layer at a time, never together: one scratch serves both.
	t.D.SetScratch(t.G.Scratch())
	r := rand.New(rand.NewPCG(cfg.Seed, 0x6a09e667f3bcc908))
	t.G.Init(r)
	t.D.Init(r)
	t.OptG = nn.NewAdam(t.G.Params(), cfg.LRG, cfg.Beta1, cfg.Beta2, AdamEps)
	t.OptD = nn.NewAdam(t.D.Params(), cfg.LRD, cfg.Beta1D, cfg.Beta2D, AdamEps)
	return t, nil
}

// Tensors returns the whole training state for a checkpoint: "generator.*",
// "discriminator.*" (state_dict names), and the optimisers as "adam_g.*" and "adam_d.*"
// (see nn.Adam.State). The EMA, if any, is "ema.*". All alias live state.
func (t *Trainer) Tensors() []nn.NamedTensor {
	var out []nn.NamedTensor
	add := func(prefix string, ts []nn.NamedTensor) {
		for _, x := range ts {
			x.Name = prefix + x.Name
			out = append(out, x)
		}
	}
	add("generator.", t.G.Tensors())
	add("discriminator.", t.D.Tensors())
	add("adam_g.", t.OptG.State())
	add("adam_d.", t.OptD.State())
	if t.EMA != nil {
		add("ema.", t.EMA.Tensors())
	}
	return out
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// batch checks the input sizes and returns the batch size.
func (t *Trainer) batch(real, z []float32) (int, error) {
	c := t.Cfg
	n := len(z) / c.ZDim
	if n < 2 || len(z) != n*c.ZDim || len(real) != n*3*c.Size*c.Size {
		return 0, fmt.Errorf("dcgan: Step: len(real)=%d, len(z)=%d do not make a batch of >= 2 (z %d, %d px)",
			len(real), len(z), c.ZDim, c.Size)
	}
	return n, nil
}

// augment applies a fresh draw of the augmentation to x (CNHW, n images) for D
// evaluation `k` of the current iteration, or returns x without augmentation. The
// draw is a pure function of (seed, iteration, k): OptD.T counts iterations and is
// checkpointed, so a resumed run augments exactly as an uninterrupted one.
func (t *Trainer) augment(x []float32, n, k int) []float32 {
	if t.aug == nil {
		return x
	}
	r := rand.New(rand.NewPCG(t.Cfg.Seed^0xd1b54a32d192ed03, uint64(t.OptD.T)<<8|uint64(k)))
	t.aug.Draw(r, n, t.Cfg.Size, t.Cfg.Size)
	return t.aug.Forward(x, 3, n, t.Cfg.Size, t.Cfg.Size)
}

// lossD returns D's loss on logits of real (real true) or fake images and writes its
// gradient to grad.
func (t *Trainer) lossD(logits []float32, real bool, grad []float32) float64 {
	if t.Cfg.Loss == Hinge {
		if real {
			return nn.HingeD(logits, 1, grad)
		}
		return nn.HingeD(logits, -1, grad)
	}
	if real {
		return nn.BCEWithLogits(logits, 1, grad)
	}
	return nn.BCEWithLogits(logits, 0, grad)
}

// discriminatorGrads sets D's grads to those of the D loss: the fake batch G(z) (G in
// training mode) and the real batch realC (CNHW) go through D separately, each with its
// own batch statistics, and each is backpropagated right after its forward (D's layers
// keep one pass of activations). It returns the stats of the D step.
func (t *Trainer) discriminatorGrads(realC, z []float32, n int) (lossD, dReal, dFake float64) {
	fake := t.G.forwardCNHW(z, n, true)
	t.dlog = nn.Grow(t.dlog, n)
	t.D.ZeroGrad()
	lr := t.D.forwardCNHW(t.augment(realC, n, 0), n, true)
	dReal = nn.MeanSigmoid(lr)
	lossD = t.lossD(lr, true, t.dlog)
	t.D.backwardCNHW(t.dlog, false, true)
	lf := t.D.forwardCNHW(t.augment(fake, n, 1), n, true)
	dFake = nn.MeanSigmoid(lf)
	lossD += t.lossD(lf, false, t.dlog)
	t.D.backwardCNHW(t.dlog, false, true)
	return lossD, dReal, dFake
}

// r1Due reports whether this iteration's D step takes the R1 penalty, and its weight
// then: every R1Every-th D step (counted by OptD.T, so resume keeps the rhythm), with
// gamma scaled by R1Every to keep the average strength.
func (t *Trainer) r1Due() (bool, float64) {
	c := t.Cfg
	if c.R1 <= 0 {
		return false, 0
	}
	every := max(c.R1Every, 1)
	return (t.OptD.T+1)%int64(every) == 0, c.R1 * float64(every)
}

// gDue reports whether the iteration whose D step has just been taken takes G steps:
// none in the first DWarmup iterations, then every DSteps-th, both counted by OptD.T,
// which the checkpoint keeps, so a resumed run keeps the rhythm.
func (t *Trainer) gDue() bool {
	after := t.OptD.T - int64(t.Cfg.DWarmup)
	return after > 0 && after%int64(max(t.Cfg.DSteps, 1)) == 0
}

// generatorGrads sets G's grads to those of the G loss (k-th G step) from a fresh
// forward (both networks in training mode, so D's running stats and spectral-norm
// vectors move too, as in PyTorch; plus Config.SpectrumLoss times the spectrum loss and
// Config.PatchLoss times the patch loss when on) and returns the adversarial loss and
// the (unweighted) spectrum and patch losses, 0 when off. D's own param grads are not
// computed: the D step zeroes them anyway.
func (t *Trainer) generatorGrads(z []float32, n, k int) (loss, spectrum, patch float64) {
	fake := t.G.forwardCNHW(z, n, true)
	if t.spec != nil {
		// Before D's forward: the spectra are taken of G's output as it is now.
		spectrum = t.spec.Forward(fake, n)
	}
	if t.patch != nil {
		// A fresh draw of directions and positions for every G step, a pure function
		// of (seed, iteration, k) like the augmentation's, so resume is exact; the
		// target is this iteration's real batch as D sees it before augmentation.
		r := rand.New(rand.NewPCG(t.Cfg.Seed^0x8c6d2b1e4f3a5970, uint64(t.OptD.T)<<8|uint64(k)))
		t.patch.Draw(r, n, n)
		t.patch.SetTarget(t.realC, n)
		patch = t.patch.Forward(fake, n)
	}
	t.dlog = nn.Grow(t.dlog, n)
	lo := t.D.forwardCNHW(t.augment(fake, n, 2+k), n, true)
	if t.Cfg.Loss == Hinge {
		loss = nn.HingeG(lo, t.dlog)
	} else {
		loss = nn.BCEWithLogits(lo, 1, t.dlog)
	}
	dx := t.D.backwardCNHW(t.dlog, true, false)
	if t.aug != nil {
		dx = t.aug.Backward(dx)
	}
	if t.spec != nil {
		t.spec.Backward(dx, t.Cfg.SpectrumLoss)
	}
	if t.patch != nil {
		t.patch.Backward(dx, t.Cfg.PatchLoss)
	}
	t.G.ZeroGrad()
	t.G.backwardCNHW(dx)
	return loss, spectrum, patch
}

// Step runs one iteration on real (NCHW images in [-1, 1]) and z ([n, ZDim]): one D Adam
// step on the D loss (BCE(D(real), 1) + BCE(D(G(z)), 0) in the original; plus the R1
// penalty on the steps it is due, see Config.R1; then the spectral compensation when it
// is due, see Config.SpectralReg), then GSteps G Adam steps on the G loss
// (BCE(D(G(z)), 1)), each with a fresh forward of the same z, when they are due (every
// iteration, or every DSteps-th, see gDue), each followed by the phase balancing of
// Config.PhaseBalance when on. A non-finite loss
// returns an error before the update it would have poisoned (earlier updates of the
// iteration stay applied).
func (t *Trainer) Step(real, z []float32) (StepStats, error) {
	n, err := t.batch(real, z)
	if err != nil {
		return StepStats{}, err
	}
	t.realC = nn.Grow(t.realC, len(real))
	nn.NCHWToCNHW(t.realC, real, n, 3, t.Cfg.Size*t.Cfg.Size)
	var st StepStats
	st.LossD, st.DReal, st.DFake = t.discriminatorGrads(t.realC, z, n)
	if due, gamma := t.r1Due(); due {
		// On the same augmented reals as the loss (the draw for k = 0 again).
		pen := t.D.r1Grads(t.augment(t.realC, n, 0), n, gamma)
		st.R1 = pen / gamma * t.Cfg.R1
		if !finite(pen) {
			return st, fmt.Errorf("dcgan: non-finite R1 penalty %v", pen)
		}
	}
	st.Losses = append(make([]float64, 0, 1+t.Cfg.GSteps), st.LossD)
	if !finite(st.LossD) {
		return st, fmt.Errorf("dcgan: non-finite D loss %v", st.LossD)
	}
	t.OptD.Step()
	if every := t.Cfg.SpectralReg; every > 0 && t.OptD.T%int64(every) == 0 {
		// Counted by OptD.T (checkpointed), so a resumed run compensates at the same
		// updates; the weights it rewrites are checkpointed as they are.
		t.D.compensateSpectra()
	}
	if !t.gDue() {
		return st, nil
	}
	st.GStepped = true
	if t.spec != nil {
		// The target is this iteration's real batch, as D sees it before augmentation.
		t.spec.SetTarget(t.realC, n)
	}
	for k := 0; k < t.Cfg.GSteps; k++ {
		st.LossG, st.Spectrum, st.Patch = t.generatorGrads(z, n, k)
		st.Losses = append(st.Losses, st.LossG)
		if !finite(st.LossG) {
			return st, fmt.Errorf("dcgan: non-finite G loss %v at G step %d", st.LossG, k+1)
		}
		if !finite(st.Spectrum) {
			return st, fmt.Errorf("dcgan: non-finite spectrum loss %v at G step %d", st.Spectrum, k+1)
		}
		if !finite(st.Patch) {
			return st, fmt.Errorf("dcgan: non-finite patch loss %v at G step %d", st.Patch, k+1)
		}
		t.OptG.Step()
		if t.Cfg.PhaseBalance > 0 {
			t.G.BalancePhases(t.Cfg.PhaseBalance)
		}
	}
	if t.EMA != nil {
		// OptD.T counts the iterations (one D step each) and is checkpointed, so the
		// EMA's warm-up resumes exactly without state of its own. Only an iteration
		// that moved G moves the average: with DSteps > 1 its horizon stays 1/(1-decay)
		// G updates.
		t.EMA.Update(t.OptD.T)
	}
	return st, nil
}
