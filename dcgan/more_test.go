package dcgan

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"avatargan/nn"
)

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, mod := range []func(*Config){
		func(c *Config) { c.Size = 40 }, func(c *Config) { c.ZDim = 0 }, func(c *Config) { c.Batch = 1 },
		func(c *Config) { c.LRG = 0 }, func(c *Config) { c.Beta2 = 1 }, func(c *Config) { c.GSteps = 0 },
		func(c *Config) { c.Dist = 7 }, func(c *Config) { c.LRD = math.NaN() }, func(c *Config) { c.Refine = -1 },
		func(c *Config) { c.Refine = MaxWidth + 1 },
	} {
		c := DefaultConfig()
		mod(&c)
		if c.Validate() == nil {
			t.Errorf("%+v validated", c)
		}
	}
}

func randZ(r *rand.Rand, n int) []float32 {
	z := make([]float32, n)
	for i := range z {
		z[i] = float32(2*r.Float64() - 1)
	}
	return z
}

func snapshot(ts []nn.NamedTensor) [][]float32 {
	var out [][]float32
	for _, x := range ts {
		if x.Data != nil {
			out = append(out, append([]float32(nil), x.Data...))
		} else {
			out = append(out, []float32{float32(*x.Count)})
		}
	}
	return out
}

func equalSnap(a, b [][]float32) bool {
	for i := range a {
		for j := range a[i] {
			if a[i][j] != b[i][j] {
				return false
			}
		}
	}
	return true
}

// In eval mode each image depends only on its own z, whatever the batch size, and the
// BatchNorm state does not change.
func TestGeneratorInferenceAnyBatch(t *testing.T) {
	tr, err := NewTrainer(tinyConfig())
	if err != nil {
		t.Fatal(err)
	}
	g := tr.G
	r := rand.New(rand.NewPCG(1, 2))
	z := randZ(r, 7*g.ZDim)
	// Give the running stats non-trivial values first.
	g.Forward(z[:4*g.ZDim], 4, true)
	before := snapshot(g.Tensors())
	all := append([]float32(nil), g.Forward(z, 7, false)...)
	per := 3 * g.Size * g.Size
	for _, n := range []int{1, 3, 5} {
		part := g.Forward(z[:n*g.ZDim], n, false)
		for j, v := range part {
			if math.Abs(float64(v-all[j])) > 1e-5 {
				t.Fatalf("batch %d: image %d differs at %d: %v vs %v", n, j/per, j%per, v, all[j])
			}
		}
	}
	for i := 0; i < 7; i++ {
		one := g.Forward(z[i*g.ZDim:(i+1)*g.ZDim], 1, false)
		for j, v := range one {
			if math.Abs(float64(v-all[i*per+j])) > 1e-5 {
				t.Fatalf("image %d alone differs at %d: %v vs %v", i, j, v, all[i*per+j])
			}
		}
	}
	if !equalSnap(before, snapshot(g.Tensors())) {
		t.Error("eval forward changed the generator's state")
	}
}

func TestTrainerDeterministicAndFinite(t *testing.T) {
	run := func() ([]float64, [][]float32) {
		tr, err := NewTrainer(tinyConfig())
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(3, 4))
		var losses []float64
		for it := 0; it < 3; it++ {
			real := randZ(r, 4*3*16*16)
			z := randZ(r, 4*8)
			st, err := tr.Step(real, z)
			if err != nil {
				t.Fatal(err)
			}
			if len(st.Losses) != 3 || st.LossG != st.Losses[2] || st.LossD != st.Losses[0] ||
				!(st.DReal > 0 && st.DReal < 1 && st.DFake > 0 && st.DFake < 1) {
				t.Fatalf("stats %+v", st)
			}
			losses = append(losses, st.Losses...)
		}
		return losses, snapshot(tr.Tensors())
	}
	l1, s1 := run()
	l2, s2 := run()
	for i := range l1 {
		if l1[i] != l2[i] || !finite(l1[i]) {
			t.Fatalf("losses %v vs %v", l1, l2)
		}
	}
	if !equalSnap(s1, s2) {
		t.Error("same seed, different state")
	}
}

func TestStepRejectsNonFinite(t *testing.T) {
	tr, _ := NewTrainer(tinyConfig())
	before := snapshot(tr.D.Tensors())
	real := make([]float32, 4*3*16*16)
	real[5] = float32(math.Inf(1))
	if _, err := tr.Step(real, make([]float32, 4*8)); err == nil {
		t.Fatal("no error for a non-finite loss")
	}
	after := snapshot(tr.D.Tensors())
	// Only forward-only buffers may have changed; the weights must not.
	for i, x := range tr.D.Tensors() {
		if x.Data != nil && !equalSnap([][]float32{before[i]}, [][]float32{after[i]}) &&
			!strings.Contains(x.Name, "running_") {
			t.Errorf("%s changed", x.Name)
		}
	}
	if tr.OptD.T != 0 || tr.OptG.T != 0 {
		t.Error("an optimiser stepped")
	}
	if _, err := tr.Step(real[:10], make([]float32, 4*8)); err == nil {
		t.Error("no error for a bad batch")
	}
}

func TestTensorsNames(t *testing.T) {
	tr, _ := NewTrainer(tinyConfig())
	tr.EMA = NewEMA(tr.G, 0.999)
	names := map[string]bool{}
	for _, x := range tr.Tensors() {
		if names[x.Name] {
			t.Errorf("duplicate %s", x.Name)
		}
		names[x.Name] = true
	}
	for _, n := range []string{"generator.fc.weight", "generator.bn0.num_batches_tracked", "discriminator.conv0.weight",
		"discriminator.fc.bias", "adam_g.step", "adam_d.conv3.weight.exp_avg_sq", "ema.deconv4.weight"} {
		if !names[n] {
			t.Errorf("missing %s", n)
		}
	}
	if names["adam_g.bn0.running_mean.exp_avg"] {
		t.Error("optimiser has state for a buffer")
	}
}

func TestEMA(t *testing.T) {
	tr, _ := NewTrainer(tinyConfig())
	e := NewEMA(tr.G, 0.75)
	w := tr.G.FC.Weight.Data
	w0 := w[3]
	w[3] = w0 + 1
	e.Update(1000) // past the warm-up: the decay is 0.75
	dst := NewGenerator(16, 8, 4)
	e.CopyTo(dst)
	if got, want := dst.FC.Weight.Data[3], 0.75*w0+0.25*(w0+1); math.Abs(float64(got-want)) > 1e-6 {
		t.Errorf("ema %v, want %v", got, want)
	}
	// Early updates use the warm-up decay (1+step)/(10+step) = 2/11 at step 1.
	w[3] = w0 + 3
	e.Update(1)
	e.CopyTo(dst)
	prev := 0.75*w0 + 0.25*(w0+1)
	if got, want := dst.FC.Weight.Data[3], (2.0/11)*prev+(9.0/11)*(w0+3); math.Abs(float64(got-want)) > 1e-5 {
		t.Errorf("ema warm-up %v, want %v", got, want)
	}
	// a*w + b*w is w only to rounding (and exactly where the compiler fuses it).
	if got, want := dst.Deconv[2].Weight.Data[5], tr.G.Deconv[2].Weight.Data[5]; math.Abs(float64(got-want)) > 1e-6*math.Abs(float64(want)) {
		t.Errorf("unchanged weight: ema %v, want %v", got, want)
	}
	// Without the warm-up (an average started at trained weights), step 1 already
	// uses the full decay.
	w[3] = w0
	f := NewEMA(tr.G, 0.75)
	f.NoWarmup = true
	w[3] = w0 + 3
	f.Update(1)
	f.CopyTo(dst)
	if got, want := dst.FC.Weight.Data[3], 0.75*w0+0.25*(w0+3); math.Abs(float64(got-want)) > 1e-6 {
		t.Errorf("ema without warm-up %v, want %v", got, want)
	}
}

// RecalibrateBN's running stats must be the average of each batch's statistics, which a
// momentum-1 BatchNorm exposes one batch at a time: for every BatchNorm, the refinement
// head's included (stale statistics there must be replaced too, or an EMA generator's
// images would depend on the live one's).
func TestRecalibrateBN(t *testing.T) {
	for _, refine := range []int{0, 3} {
		t.Run(fmt.Sprintf("refine%d", refine), func(t *testing.T) { recalibrateBN(t, refine) })
	}
}

func recalibrateBN(t *testing.T, refine int) {
	cfg := tinyConfig()
	cfg.Refine = refine
	tr, _ := NewTrainer(cfg)
	g := tr.G
	g.Forward(randZ(rand.New(rand.NewPCG(9, 9)), 4*8), 4, true) // stale stats to be replaced
	const batches, batch, seed = 3, 5, 100
	ref := NewGeneratorRefine(16, 8, 4, refine)
	copyGenerator(ref, g)
	bns, refBNs := g.batchNorms(), ref.batchNorms()
	if len(bns) != 4+min(refine, 1) {
		t.Fatalf("%d BatchNorms with refine %d", len(bns), refine)
	}
	sumM := make([][]float64, len(bns))
	sumV := make([][]float64, len(bns))
	z := make([]float32, batch*8)
	for b := 0; b < batches; b++ {
		for i := 0; i < batch; i++ {
			Latent(seed+uint64(b*batch+i), Uniform, z[i*8:(i+1)*8])
		}
		for _, bn := range refBNs {
			bn.Momentum = 1
		}
		ref.Forward(z, batch, true)
		for k, bn := range refBNs {
			if sumM[k] == nil {
				sumM[k], sumV[k] = make([]float64, bn.C), make([]float64, bn.C)
			}
			for c := 0; c < bn.C; c++ {
				sumM[k][c] += float64(bn.RunningMean.Data[c]) / batches
				sumV[k][c] += float64(bn.RunningVar.Data[c]) / batches
			}
		}
	}
	w := append([]float32(nil), g.FC.Weight.Data...)
	RecalibrateBN(g, batches, batch, seed, Uniform)
	for k, bn := range bns {
		if bn.NumBatchesTracked != batches || bn.Momentum != 0.1 {
			t.Errorf("BatchNorm %d: count %d momentum %v", k, bn.NumBatchesTracked, bn.Momentum)
		}
		for c := 0; c < bn.C; c++ {
			if math.Abs(float64(bn.RunningMean.Data[c])-sumM[k][c]) > 1e-5 ||
				math.Abs(float64(bn.RunningVar.Data[c])-sumV[k][c]) > 1e-4*math.Max(1, sumV[k][c]) {
				t.Fatalf("BatchNorm %d[%d]: %v %v, want %v %v", k, c, bn.RunningMean.Data[c], bn.RunningVar.Data[c], sumM[k][c], sumV[k][c])
			}
		}
	}
	for i := range w {
		if w[i] != g.FC.Weight.Data[i] {
			t.Fatal("RecalibrateBN changed a weight")
		}
	}
}

// copyGenerator copies every tensor of src (weights, running stats, counts) into dst,
// a generator of the same shape.
func copyGenerator(dst, src *Generator) {
	ds := dst.Tensors()
	for i, x := range src.Tensors() {
		if x.Data != nil {
			copy(ds[i].Data, x.Data)
		} else {
			*ds[i].Count = *x.Count
		}
	}
}

// A frozen generator caches its weight layouts; its images must not change, whether
// it was frozen after a forward or before its first. Batch 64 at 32 px with 16
// channels puts deconv1 (128 inputs over 64 x 2 x 2 = 256 positions) on the tap-split
// path, the only one that reads the cache (nn.ConvTranspose2d.Frozen).
func TestFreezeSameImages(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Size, cfg.ZDim, cfg.GF = 32, 16, 16
	tr, _ := NewTrainer(cfg)
	n := 64
	z := randZ(rand.New(rand.NewPCG(3, 3)), n*cfg.ZDim)
	want := append([]float32(nil), tr.G.Forward(z, n, false)...)
	fresh := NewGenerator(cfg.Size, cfg.ZDim, cfg.GF)
	copyGenerator(fresh, tr.G)
	fresh.Freeze()
	tr.G.Freeze()
	for i, g := range []*Generator{tr.G, tr.G, fresh, fresh} {
		got := g.Forward(z, n, false)
		for j := range want {
			if got[j] != want[j] {
				t.Fatalf("pass %d: frozen output differs at %d: %v vs %v", i, j, got[j], want[j])
			}
		}
	}
}
