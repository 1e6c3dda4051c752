package dcgan

import (
	"fmt"
	"math"
	"math/rand/v2"

	"avatargan/nn"
)

// Trainer holds both networks and their optimisers and runs the original schedule.
type Trainer struct {
	Cfg        Config
	G          *Generator
	D          *Discriminator
	OptG, OptD *nn.Adam
	// EMA, when non-nil, is updated once at the end of every successful Step.
	EMA *EMA

	realC, dlog []float32
}

// StepStats reports one iteration.
type StepStats struct {
	LossD float64 // BCE(D(x), 1) + BCE(D(G(z)), 0)
	DReal float64 // mean sigmoid(D(x)) in the D step
	DFake float64 // mean sigmoid(D(G(z))) in the D step
	LossG float64 // BCE(D(G(z)), 1) of the last G step
	// Losses is [LossD, G loss of step 1, ..., G loss of step GSteps].
	Losses []float64
}

// NewTrainer validates cfg and returns a Trainer whose G and D are initialised from a
// PCG seeded with cfg.Seed (G first, then D), so the same seed gives the same start.
func NewTrainer(cfg Config) (*Trainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t := &Trainer{Cfg: cfg, G: NewGenerator(cfg.Size, cfg.ZDim, cfg.GF), D: NewDiscriminator(cfg.Size, cfg.DF)}
	// G and D run one layer at a time, never together: one scratch serves both.
	t.D.SetScratch(t.G.Scratch())
	r := rand.New(rand.NewPCG(cfg.Seed, 0x6a09e667f3bcc908))
	t.G.Init(r)
	t.D.Init(r)
	t.OptG = nn.NewAdam(t.G.Params(), cfg.LRG, cfg.Beta1, cfg.Beta2, AdamEps)
	t.OptD = nn.NewAdam(t.D.Params(), cfg.LRD, cfg.Beta1, cfg.Beta2, AdamEps)
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

// discriminatorGrads sets D's grads to those of the D loss: the fake batch G(z) (G in
// training mode) and the real batch realC (CNHW) go through D separately, each with its
// own batch statistics, and each is backpropagated right after its forward (D's layers
// keep one pass of activations). It returns the stats of the D step.
func (t *Trainer) discriminatorGrads(realC, z []float32, n int) (lossD, dReal, dFake float64) {
	fake := t.G.forwardCNHW(z, n, true)
	t.dlog = growF(t.dlog, n)
	t.D.ZeroGrad()
	lr := t.D.forwardCNHW(realC, n, true)
	dReal = nn.MeanSigmoid(lr)
	lossD = nn.BCEWithLogits(lr, 1, t.dlog)
	t.D.backwardCNHW(t.dlog, false, true)
	lf := t.D.forwardCNHW(fake, n, true)
	dFake = nn.MeanSigmoid(lf)
	lossD += nn.BCEWithLogits(lf, 0, t.dlog)
	t.D.backwardCNHW(t.dlog, false, true)
	return lossD, dReal, dFake
}

// generatorGrads sets G's grads to those of BCE(D(G(z)), 1) from a fresh forward (both
// networks in training mode, so D's running stats move too, as in PyTorch) and returns
// the loss. D's own param grads are not computed: the D step zeroes them anyway.
func (t *Trainer) generatorGrads(z []float32, n int) float64 {
	fake := t.G.forwardCNHW(z, n, true)
	t.dlog = growF(t.dlog, n)
	lo := t.D.forwardCNHW(fake, n, true)
	loss := nn.BCEWithLogits(lo, 1, t.dlog)
	dx := t.D.backwardCNHW(t.dlog, true, false)
	t.G.ZeroGrad()
	t.G.backwardCNHW(dx)
	return loss
}

// Step runs one iteration of the original schedule on real (NCHW images in [-1, 1]) and
// z ([n, ZDim]): one D Adam step on BCE(D(real), 1) + BCE(D(G(z)), 0), then GSteps G Adam
// steps on BCE(D(G(z)), 1), each with a fresh forward of the same z. A non-finite loss
// returns an error before the update it would have poisoned (earlier updates of the
// iteration stay applied).
func (t *Trainer) Step(real, z []float32) (StepStats, error) {
	n, err := t.batch(real, z)
	if err != nil {
		return StepStats{}, err
	}
	t.realC = growF(t.realC, len(real))
	nn.NCHWToCNHW(t.realC, real, n, 3, t.Cfg.Size*t.Cfg.Size)
	var st StepStats
	st.LossD, st.DReal, st.DFake = t.discriminatorGrads(t.realC, z, n)
	st.Losses = append(make([]float64, 0, 1+t.Cfg.GSteps), st.LossD)
	if !finite(st.LossD) {
		return st, fmt.Errorf("dcgan: non-finite D loss %v", st.LossD)
	}
	t.OptD.Step()
	for k := 0; k < t.Cfg.GSteps; k++ {
		st.LossG = t.generatorGrads(z, n)
		st.Losses = append(st.Losses, st.LossG)
		if !finite(st.LossG) {
			return st, fmt.Errorf("dcgan: non-finite G loss %v at G step %d", st.LossG, k+1)
		}
		t.OptG.Step()
	}
	if t.EMA != nil {
		// OptD.T counts the iterations (one D step each) and is checkpointed, so the
		// EMA's warm-up resumes exactly without state of its own.
		t.EMA.Update(t.OptD.T)
	}
	return st, nil
}
