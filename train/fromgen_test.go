package train

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"avatargan/checkpoint"
	"avatargan/dataset"
	"avatargan/dcgan"
	"avatargan/internal/state"
	"avatargan/internal/testutil"
	"avatargan/nn"
)

// writeGenerator writes g as a generator-only file (the format of avatar.Model.Save
// and the embedded model) with spec's metadata (refine only when there is a head, as
// avatar.Spec omits it).
func writeGenerator(t *testing.T, path string, g *dcgan.Generator, m dcgan.Config) {
	t.Helper()
	fields := map[string]any{"size": m.Size, "zdim": m.ZDim, "gf": m.GF, "dist": m.Dist}
	if m.Refine != 0 {
		fields["refine"] = m.Refine
	}
	spec, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	meta := map[string]string{checkpoint.MetaFormat: checkpoint.FormatGenerator, checkpoint.MetaSpec: string(spec)}
	if err := checkpoint.WriteFileAtomic(path, func(w io.Writer) error {
		return checkpoint.Encode(w, state.Tensors("", g.Tensors(), "F32"), meta)
	}); err != nil {
		t.Fatal(err)
	}
}

// trainedGenerator returns a generator file for runs of cfg: a short run of another
// seed, exported, and that run.
func trainedGenerator(t *testing.T, cfg Config, data *dataset.Set) (string, *Run) {
	t.Helper()
	src := cfg
	src.Model.Seed = 9
	trained := trainTo(t, context.Background(), src, data, t.TempDir(), 4, nil)
	gen := filepath.Join(t.TempDir(), "g.safetensors")
	writeGenerator(t, gen, trained.Trainer.G, cfg.Model)
	return gen, trained
}

// sameTensors reports whether two tensor lists hold the same names and bits.
func sameTensors(a, b []nn.NamedTensor) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || !slices.Equal(a[i].Data, b[i].Data) {
			return false
		}
	}
	return true
}

// TestFromGenerator checks Options.From with a generator-only file: the new run starts
// at step 0 with G (and its EMA) equal to the file's weights and D, both optimisers
// untouched, exactly as a fresh run's; it records the source; it trains, and a resumed
// run of it continues bit for bit; a generator of another shape or latent
// distribution is refused with the flags to give, a file that is neither format too.
func TestFromGenerator(t *testing.T) {
	data := tinyData(t)
	cfg := tinyConfig()
	cfg.Model.DWarmup = 2
	gen, trained := trainedGenerator(t, cfg, data)

	fresh := open(t, cfg, data, Options{Dir: filepath.Join(t.TempDir(), "fresh")})
	dir := filepath.Join(t.TempDir(), "ft")
	r := open(t, cfg, data, Options{Dir: dir, From: gen, MaxSteps: 3})
	if r.Step != 0 {
		t.Fatalf("starts at step %d, want 0", r.Step)
	}
	if !sameTensors(r.Trainer.G.Tensors(), trained.Trainer.G.Tensors()) {
		t.Error("G differs from the file's generator")
	}
	if !sameTensors(r.Trainer.EMA.Tensors(), trainedEMAOf(trained.Trainer.G)) {
		t.Error("the EMA does not start from the file's generator")
	}
	if sameTensors(r.Trainer.G.Tensors(), fresh.Trainer.G.Tensors()) {
		t.Error("G is the fresh run's: the file was not loaded")
	}
	if !sameTensors(r.Trainer.D.Tensors(), fresh.Trainer.D.Tensors()) || !sameTensors(r.Trainer.OptD.State(), fresh.Trainer.OptD.State()) ||
		!sameTensors(r.Trainer.OptG.State(), fresh.Trainer.OptG.State()) {
		t.Error("D or an optimiser is not a fresh run's")
	}
	if err := r.Train(context.Background()); err != nil || r.Step != 3 {
		t.Fatalf("training from a generator: step %d, %v", r.Step, err)
	}
	r.Close()
	c, err := LoadConfig(dir)
	if err != nil || c.From != gen+"@generator" || c.Model.DWarmup != 2 {
		t.Fatalf("config: from %q, d_warmup %d (%v)", c.From, c.Model.DWarmup, err)
	}
	// Uninterrupted to step 5 vs resumed at 3: the same bits.
	whole := filepath.Join(t.TempDir(), "whole")
	ref := open(t, cfg, data, Options{Dir: whole, From: gen, MaxSteps: 5})
	if err := ref.Train(context.Background()); err != nil {
		t.Fatal(err)
	}
	resumed := trainTo(t, context.Background(), cfg, data, dir, 5, nil)
	sameState(t, ref.Trainer, resumed.Trainer)

	for _, tc := range []struct {
		name string
		edit func(*dcgan.Config)
		want string
	}{
		{"width", func(m *dcgan.Config) { m.GF = 2 }, "--gf"}, // narrower: wider ones are widened
		{"latents", func(m *dcgan.Config) { m.Dist = dcgan.Normal }, "--z-dist"},
	} {
		other := cfg
		tc.edit(&other.Model)
		if _, err := Open(other, data, Options{Dir: filepath.Join(t.TempDir(), tc.name), From: gen}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("generator of another %s: %v", tc.name, err)
		}
	}
	junk := filepath.Join(t.TempDir(), "junk.safetensors")
	if err := checkpoint.WriteFileAtomic(junk, func(w io.Writer) error {
		return checkpoint.Encode(w, state.Tensors("", trained.Trainer.G.Tensors(), "F32"), map[string]string{})
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(cfg, data, Options{Dir: filepath.Join(t.TempDir(), "junk"), From: junk}); err == nil || !strings.Contains(err.Error(), "not an avatargan") {
		t.Errorf("a file without format metadata: %v", err)
	}
}

// TestFromGeneratorWiden checks a run started from a generator file narrower than its
// own GF: its G draws the file's images (the EMA's too), a rerun widens it to the same
// bits, it trains, and its config records the source.
func TestFromGeneratorWiden(t *testing.T) {
	data := tinyData(t)
	cfg := tinyConfig()
	gen, trained := trainedGenerator(t, cfg, data)
	wide := cfg
	wide.Model.GF = 6
	dir := filepath.Join(t.TempDir(), "wide")
	r := open(t, wide, data, Options{Dir: dir, From: gen, MaxSteps: 2})
	z := make([]float32, 5*cfg.Model.ZDim)
	for i := range z {
		z[i] = float32(i%7)/4 - 0.75
	}
	var want []float64
	for _, v := range trained.Trainer.G.Forward(z, 5, false) {
		want = append(want, float64(v))
	}
	ema := dcgan.NewGenerator(wide.Model.Size, wide.Model.ZDim, wide.Model.GF)
	live := r.Trainer.G.Tensors()
	for i, tn := range ema.Tensors() {
		copy(tn.Data, live[i].Data) // the buffers
	}
	r.Trainer.EMA.CopyTo(ema)
	for name, g := range map[string]*dcgan.Generator{"G": r.Trainer.G, "EMA": ema} {
		testutil.AllClose(t, name+": widened images", g.Forward(z, 5, false), want, 1e-5, 0)
	}
	if r.Trainer.G.GF != 6 {
		t.Fatalf("G has width %d, want 6", r.Trainer.G.GF)
	}
	// The new channels come from the run's seed: a rerun widens to the same bits.
	again := open(t, wide, data, Options{Dir: filepath.Join(t.TempDir(), "again"), From: gen})
	if !sameTensors(again.Trainer.G.Tensors(), r.Trainer.G.Tensors()) {
		t.Error("two runs of one config widen the generator differently")
	}
	again.Close()
	if err := r.Train(context.Background()); err != nil || r.Step != 2 {
		t.Fatalf("training the widened generator: step %d, %v", r.Step, err)
	}
	r.Close()
	c, err := LoadConfig(dir)
	if err != nil || c.From != gen+"@generator" || c.Model.GF != 6 {
		t.Fatalf("config: from %q, gf %d (%v)", c.From, c.Model.GF, err)
	}
}

// TestFromGeneratorRefine checks runs with a refinement head started from a generator
// file without one, of the run's width and narrower (widened first): G and the EMA draw
// the file's images, the log says the head was added (and the generator widened), a
// rerun adds it to the same bits, the head starts at zero and grows in with training,
// and the config records the source. A file with a head is taken as it is by a run
// with the same head, and refused, naming --refine, by a run with another head, none,
// or a wider --gf.
func TestFromGeneratorRefine(t *testing.T) {
	data := tinyData(t)
	cfg := tinyConfig()
	gen, trained := trainedGenerator(t, cfg, data)
	const n = 5
	z := make([]float32, n*cfg.Model.ZDim)
	for i := range z {
		z[i] = float32(i%7)/4 - 0.75
	}
	want := testutil.Float64s(trained.Trainer.G.Forward(z, n, false))
	for _, gf := range []int{4, 6} {
		rc := cfg
		rc.Model.GF, rc.Model.Refine = gf, 3
		var log strings.Builder
		dir := filepath.Join(t.TempDir(), "refine")
		r := open(t, rc, data, Options{Dir: dir, From: gen, MaxSteps: 2, Log: &log})
		if r.Trainer.G.Refine != 3 || r.Trainer.G.GF != gf {
			t.Fatalf("gf %d: G has width %d, refine %d", gf, r.Trainer.G.GF, r.Trainer.G.Refine)
		}
		if !strings.Contains(log.String(), "added a refinement head of 3 channels") ||
			(gf != cfg.Model.GF) != strings.Contains(log.String(), "widened the generator from 4 to 6") {
			t.Errorf("gf %d: log %q", gf, log.String())
		}
		ema := dcgan.NewGeneratorRefine(rc.Model.Size, rc.Model.ZDim, gf, 3)
		live := r.Trainer.G.Tensors()
		for i, tn := range ema.Tensors() {
			copy(tn.Data, live[i].Data) // the buffers
		}
		r.Trainer.EMA.CopyTo(ema)
		for name, g := range map[string]*dcgan.Generator{"G": r.Trainer.G, "EMA": ema} {
			got := g.Forward(z, n, false)
			if gf == cfg.Model.GF {
				// Only the head is new, and it adds exact zeros.
				testutil.AllClose(t, fmt.Sprintf("gf %d: %s with a head added", gf, name), got, want, 0, 0)
			} else {
				testutil.AllClose(t, fmt.Sprintf("gf %d: %s widened, with a head added", gf, name), got, want, 1e-5, 0)
			}
		}
		if maxAbs(r.Trainer.G.RefineConv.Weight.Data) != 0 || maxAbs(r.Trainer.G.RefineDeconv.Weight.Data) == 0 {
			t.Errorf("gf %d: the head does not start with refine_conv zero and refine_deconv drawn", gf)
		}
		again := open(t, rc, data, Options{Dir: filepath.Join(t.TempDir(), "again"), From: gen})
		if !sameTensors(again.Trainer.G.Tensors(), r.Trainer.G.Tensors()) {
			t.Errorf("gf %d: two runs of one config add the head differently", gf)
		}
		again.Close()
		if err := r.Train(context.Background()); err != nil || r.Step != 2 {
			t.Fatalf("gf %d: training with the head: step %d, %v", gf, r.Step, err)
		}
		if maxAbs(r.Trainer.G.RefineConv.Weight.Data) == 0 {
			t.Errorf("gf %d: refine_conv is still zero after training", gf)
		}
		r.Close()
		if c, err := LoadConfig(dir); err != nil || c.From != gen+"@generator" || c.Model.Refine != 3 || c.Model.GF != gf {
			t.Fatalf("gf %d: config: from %q, refine %d, gf %d (%v)", gf, c.From, c.Model.Refine, c.Model.GF, err)
		}
	}

	// A file with a head.
	headed := cfg
	headed.Model.Refine = 3
	g := dcgan.NewGeneratorRefine(cfg.Model.Size, cfg.Model.ZDim, cfg.Model.GF, 3)
	g.Init(rand.New(rand.NewPCG(1, 2)))
	withHead := filepath.Join(t.TempDir(), "head.safetensors")
	writeGenerator(t, withHead, g, headed.Model)
	same := open(t, headed, data, Options{Dir: filepath.Join(t.TempDir(), "same"), From: withHead})
	if !sameTensors(same.Trainer.G.Tensors(), g.Tensors()) {
		t.Error("a run with the file's head does not start from the file's generator")
	}
	for _, tc := range []struct{ gf, refine int }{{4, 0}, {4, 2}, {6, 3}} {
		other := cfg
		other.Model.GF, other.Model.Refine = tc.gf, tc.refine
		_, err := Open(other, data, Options{Dir: filepath.Join(t.TempDir(), "other"), From: withHead})
		if err == nil || !strings.Contains(err.Error(), "refine 3") || !strings.Contains(err.Error(), "--refine") {
			t.Errorf("a generator with a head of 3 into a run of gf %d, refine %d: %v", tc.gf, tc.refine, err)
		}
	}
}

// maxAbs is the largest |v| of x.
func maxAbs(x []float32) float64 {
	m := 0.0
	for _, v := range x {
		m = max(m, math.Abs(float64(v)))
	}
	return m
}

// trainedEMAOf is the EMA tensors a new average of g holds: g's trainable weights.
func trainedEMAOf(g *dcgan.Generator) []nn.NamedTensor { return dcgan.NewEMA(g, 0.5).Tensors() }

// TestFromGeneratorEMA checks the EMA of a run started from a generator file: it starts
// at the file's trained weights, so its first update already uses the full decay (no
// warm-up), the config records that and a resume keeps it; Options.EMAWarmup restores
// the warm-up (the behaviour of runs from before the option).
func TestFromGeneratorEMA(t *testing.T) {
	data := tinyData(t)
	cfg := tinyConfig()
	cfg.Model.DWarmup = 2
	gen, trained := trainedGenerator(t, cfg, data)
	start := trainedEMAOf(trained.Trainer.G)

	for _, tc := range []struct {
		warmup bool
		decay  float64 // of the first G update, at iteration 3
	}{{false, cfg.EMA}, {true, 4.0 / 13}} {
		dir := filepath.Join(t.TempDir(), "ft")
		r := open(t, cfg, data, Options{Dir: dir, From: gen, MaxSteps: 3, EMAWarmup: tc.warmup})
		if r.Cfg.EMANoWarmup == tc.warmup || r.Trainer.EMA.NoWarmup == tc.warmup {
			t.Fatalf("warm-up %v: config ema_no_warmup %v, EMA.NoWarmup %v", tc.warmup, r.Cfg.EMANoWarmup, r.Trainer.EMA.NoWarmup)
		}
		if err := r.Train(context.Background()); err != nil {
			t.Fatal(err)
		}
		live := trainedEMAOf(r.Trainer.G)
		avg := r.Trainer.EMA.Tensors()
		moved := 0
		for i := range avg {
			for j, a := range avg[i].Data {
				s, w := float64(start[i].Data[j]), float64(live[i].Data[j])
				if s != w {
					moved++
				}
				if want := tc.decay*s + (1-tc.decay)*w; math.Abs(float64(a)-want) > 1e-6*(1+math.Abs(want)) {
					t.Fatalf("warm-up %v: %s[%d] = %v, want %v (decay %v)", tc.warmup, avg[i].Name, j, a, want, tc.decay)
				}
			}
		}
		if moved == 0 {
			t.Fatal("G did not move in its first update")
		}
		r.Close()
		c, err := LoadConfig(dir)
		if err != nil || c.EMANoWarmup == tc.warmup {
			t.Fatalf("warm-up %v: stored ema_no_warmup %v (%v)", tc.warmup, c.EMANoWarmup, err)
		}
		resumed := open(t, cfg, data, Options{Dir: dir})
		if resumed.Trainer.EMA.NoWarmup == tc.warmup {
			t.Errorf("warm-up %v: lost on resume", tc.warmup)
		}
		resumed.Close()
	}
}

// TestFromGeneratorPhaseBalance checks that a new run with PhaseBalance starts balanced:
// from a generator file, G's output layer and its EMA hold the file's weights projected
// by nn.BalancePhases (the other layers the file's own), the config records the
// setting, and training keeps the layer balanced.
func TestFromGeneratorPhaseBalance(t *testing.T) {
	data := tinyData(t)
	cfg := tinyConfig()
	gen, trained := trainedGenerator(t, cfg, data)
	bal := cfg
	bal.Model.PhaseBalance = 1
	dir := filepath.Join(t.TempDir(), "bal")
	r := open(t, bal, data, Options{Dir: dir, From: gen, MaxSteps: 2})
	src := trained.Trainer.G.Deconv[3]
	want := slices.Clone(src.Weight.Data)
	nn.BalancePhases(want, src.InC*src.OutC, src.K, src.Stride)
	if slices.Equal(want, src.Weight.Data) {
		t.Fatal("the file's output layer is balanced already: the check would pass anyway")
	}
	ema := r.Trainer.EMA.Tensors()
	for i, nt := range r.Trainer.G.Tensors() {
		wantT := trained.Trainer.G.Tensors()[i].Data
		if nt.Name == src.Weight.Name {
			wantT = want
		}
		if !slices.Equal(nt.Data, wantT) {
			t.Errorf("G's %s differs from the file's (balanced for the output layer)", nt.Name)
		}
		for _, e := range ema {
			if e.Name == nt.Name && !slices.Equal(e.Data, wantT) {
				t.Errorf("the EMA's %s differs from the file's (balanced for the output layer)", nt.Name)
			}
		}
	}
	if err := r.Train(context.Background()); err != nil || r.Step != 2 {
		t.Fatalf("training: step %d, %v", r.Step, err)
	}
	got := slices.Clone(r.Trainer.G.Deconv[3].Weight.Data)
	nn.BalancePhases(got, src.InC*src.OutC, src.K, src.Stride)
	testutil.AllClose(t, "output layer after training, balanced again", got, testutil.Float64s(r.Trainer.G.Deconv[3].Weight.Data), 1e-6, 0)
	r.Close()
	if c, err := LoadConfig(dir); err != nil || c.Model.PhaseBalance != 1 {
		t.Fatalf("config: phase_balance %d (%v)", c.Model.PhaseBalance, err)
	}
}
