package dcgan

import (
	"slices"

	"avatargan/internal/gemm"
	"avatargan/nn"
)

// EMA keeps an exponential moving average of a generator's trainable weights, which
// usually samples better than the live weights. BatchNorm running stats are not
// averaged: they belong to the live weights, so after copying the EMA weights into a
// generator, recompute them with RecalibrateBN.
type EMA struct {
	Decay float64
	// NoWarmup keeps the decay at Decay from the first update. The warm-up (see
	// Update) is for an average that starts at random initial weights; one that
	// starts at a trained generator (a fine-tune) would lose that start within a few
	// dozen updates and follow the live weights' first, noisy moves.
	NoWarmup bool
	params   []*nn.Param
	shadow   [][]float32
}

// NewEMA starts an average of g's trainable params at their current values.
func NewEMA(g *Generator, decay float64) *EMA {
	e := &EMA{Decay: decay, params: nn.Trainable(g.Params())}
	for _, p := range e.params {
		e.shadow = append(e.shadow, append([]float32(nil), p.Data...))
	}
	return e
}

// Update moves the average towards the current weights: s = d*s + (1-d)*w, after the
// step-th update (1-based). Unless NoWarmup, the decay warms up as
// d = min(Decay, (1+step)/(10+step)): with a fixed 0.999 the average would still hold
// two thirds of the random initialisation after 400 steps, and samples drawn from it
// early in a run would be noise.
func (e *EMA) Update(step int64) {
	d := e.Decay
	if !e.NoWarmup {
		d = min(d, float64(1+step)/float64(10+step))
	}
	a, b := float32(d), float32(1-d)
	for i, p := range e.params {
		s, w := e.shadow[i], p.Data
		// Large tensors split across the workers; small ones run inline.
		gemm.ParallelFor(len(w), 1<<15, func(lo, hi int) {
			for j := lo; j < hi; j++ {
				s[j] = a*s[j] + b*w[j]
			}
		})
	}
}

// CopyTo writes the averaged weights into dst, a generator of the same shape (not the
// one being trained, unless training is over).
func (e *EMA) CopyTo(dst *Generator) {
	ps := nn.Trainable(dst.Params())
	for i, p := range ps {
		copy(p.Data, e.shadow[i])
	}
	nn.Touch(ps)
}

// Tensors returns the averaged weights under the generator's param names; they alias
// the average, so a loader can restore it.
func (e *EMA) Tensors() []nn.NamedTensor {
	out := make([]nn.NamedTensor, len(e.params))
	for i, p := range e.params {
		out[i] = nn.NamedTensor{Name: p.Name, Shape: p.Shape, Data: e.shadow[i]}
	}
	return out
}

// RecalibrateBN recomputes the BatchNorm running stats of g as the plain average of the
// batch statistics of `batches` training-mode forwards of `batch` latents each
// (PyTorch's momentum=None cumulative average). Latents come from Latent with seeds
// seed, seed+1, ..., so the result is deterministic. Weights are not changed;
// num_batches_tracked ends equal to batches.
func RecalibrateBN(g *Generator, batches, batch int, seed uint64, dist Dist) {
	bns := g.batchNorms()
	for _, bn := range bns {
		for c := range bn.RunningMean.Data {
			bn.RunningMean.Data[c], bn.RunningVar.Data[c] = 0, 1
		}
		bn.NumBatchesTracked = 0
	}
	z := make([]float32, batch*g.ZDim)
	for b := 0; b < batches; b++ {
		for i := 0; i < batch; i++ {
			Latent(seed+uint64(b*batch+i), dist, z[i*g.ZDim:(i+1)*g.ZDim])
		}
		// running = (1 - 1/(b+1))*running + batch/(b+1): the mean of all batches so far.
		for _, bn := range bns {
			bn.Momentum = 1 / float64(b+1)
		}
		g.forwardCNHW(z, batch, true)
	}
	for _, bn := range bns {
		bn.Momentum = 0.1
	}
}

// Recalibrate is RecalibrateBN with the calibration every consumer of EMA weights uses
// (16 batches of 64 latents from seed 2^40, clear of the seeds users ask for), so the
// training samples, exports and served avatars of one checkpoint agree.
func Recalibrate(g *Generator, dist Dist) { RecalibrateBN(g, 16, 64, 1<<40, dist) }

// BalancePhases applies Generator.BalancePhases(k) to the average (g is the generator it
// averages, for the layers' shapes), so that an average started from unbalanced weights
// agrees with its balanced generator.
func (e *EMA) BalancePhases(g *Generator, k int) {
	for _, c := range g.lastDeconvs(k) {
		j := slices.Index(e.params, c.Weight)
		if j < 0 {
			panic("dcgan: EMA.BalancePhases: g is not the generator the EMA averages")
		}
		nn.BalancePhases(e.shadow[j], c.InC*c.OutC, c.K, c.Stride)
	}
}
