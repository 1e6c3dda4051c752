package train

import (
	"context"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestFromCheckpoint checks Options.From: a new run started from another run's
// checkpoint with the same settings continues it bit for bit (weights, optimiser,
// EMA, step and data order), records where it came from and the source's history;
// with other rates it trains on from that step; with another network shape it is
// refused.
func TestFromCheckpoint(t *testing.T) {
	data := tinyData(t)
	cfg := tinyConfig()
	ref := trainTo(t, context.Background(), cfg, data, t.TempDir(), 6, nil)
	src := t.TempDir()
	trainTo(t, context.Background(), cfg, data, src, 3, nil)

	fork := filepath.Join(t.TempDir(), "fork")
	r, err := Open(cfg, data, Options{Dir: fork, MaxSteps: 6, From: src})
	if err != nil {
		t.Fatal(err)
	}
	if r.Step != 3 {
		t.Fatalf("fork starts at step %d, want 3", r.Step)
	}
	if err := r.Train(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.Close()
	sameState(t, ref.Trainer, r.Trainer)
	c, err := LoadConfig(fork)
	if err != nil || !strings.HasPrefix(c.From, src) || !strings.HasSuffix(c.From, "@3") {
		t.Fatalf("fork config: from %q (%v)", c.From, err)
	}
	recs, err := ReadRecords(filepath.Join(fork, MetricsFile), 100)
	if err != nil || len(recs) != 6 || recs[0].Step != 1 || recs[5].Step != 6 {
		t.Fatalf("fork metrics: %d records (%v), want the source's 3 and its own 3", len(recs), err)
	}

	// Other rates: allowed, starts at the source's step, trains on.
	other := cfg
	other.Model.LRG, other.Model.LRD = 1e-3, 4e-3
	r2 := open(t, other, data, Options{Dir: filepath.Join(t.TempDir(), "retuned"), MaxSteps: 5, From: src})
	if r2.Step != 3 {
		t.Fatalf("retuned fork starts at %d", r2.Step)
	}
	if err := r2.Train(context.Background()); err != nil || r2.Step != 5 {
		t.Fatalf("retuned fork: step %d, %v", r2.Step, err)
	}

	// Another shape: refused with a message naming the cause.
	wide := cfg
	wide.Model.GF = 8
	if _, err := Open(wide, data, Options{Dir: filepath.Join(t.TempDir(), "wide"), From: src}); err == nil || !strings.Contains(err.Error(), "shapes must match") {
		t.Fatalf("fork with another shape: %v", err)
	}
	// A missing source.
	if _, err := Open(cfg, data, Options{Dir: filepath.Join(t.TempDir(), "none"), From: filepath.Join(src, "nope")}); err == nil {
		t.Fatal("fork from a missing checkpoint accepted")
	}
}

// TestLRDecayLinear checks the linear schedule: full rates at the first update, falling
// by equal steps to a last update at 1/(steps) of them, zero after; counted from a
// --from step; an interrupted run resumes onto the same schedule bit for bit.
func TestLRDecayLinear(t *testing.T) {
	c := Config{LRDecay: LRDecayLinear}
	for _, tc := range []struct {
		step, total, start int
		want               float64
	}{{0, 10, 0, 1}, {5, 10, 0, 0.5}, {9, 10, 0, 0.1}, {10, 10, 0, 0}, {4, 10, 4, 1}, {7, 10, 4, 0.5}, {3, 10, 4, 1}} {
		c.LRDecayStart = tc.start
		if got := c.lrFactor(tc.step, tc.total); math.Abs(got-tc.want) > 1e-15 {
			t.Errorf("lrFactor(%d, %d) from %d = %v, want %v", tc.step, tc.total, tc.start, got, tc.want)
		}
	}
	if got := (Config{}).lrFactor(9, 10); got != 1 {
		t.Errorf("no schedule: factor %v", got)
	}

	data := tinyData(t)
	cfg := tinyConfig()
	cfg.Epochs = 4 // 2 steps per epoch: 8 steps
	cfg.LRDecay = LRDecayLinear
	ref := trainTo(t, context.Background(), cfg, data, t.TempDir(), 8, nil)
	if want := cfg.Model.LRG / 8; math.Abs(ref.Trainer.OptG.LR-want) > 1e-18 || math.Abs(ref.Trainer.OptD.LR-cfg.Model.LRD/8) > 1e-18 {
		t.Fatalf("last update at lr G %v D %v, want %v and %v", ref.Trainer.OptG.LR, ref.Trainer.OptD.LR, want, cfg.Model.LRD/8)
	}
	constant := cfg
	constant.LRDecay = ""
	flat := trainTo(t, context.Background(), constant, data, t.TempDir(), 8, nil)
	if flat.Trainer.OptG.LR != cfg.Model.LRG {
		t.Fatalf("constant schedule ended at %v", flat.Trainer.OptG.LR)
	}
	dir := t.TempDir()
	trainTo(t, context.Background(), cfg, data, dir, 3, nil)
	resumed := trainTo(t, context.Background(), cfg, data, dir, 8, nil)
	sameState(t, ref.Trainer, resumed.Trainer)

	// Started --from step 3 with 8 steps in all: 5 updates, the first at full rate.
	src := t.TempDir()
	trainTo(t, context.Background(), cfg, data, src, 3, nil)
	fork := filepath.Join(t.TempDir(), "fork")
	r := open(t, cfg, data, Options{Dir: fork, From: src, MaxSteps: 4})
	if err := r.Train(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r.Cfg.LRDecayStart != 3 || r.Trainer.OptG.LR != cfg.Model.LRG {
		t.Fatalf("fork: decay start %d, first update at %v (want 3, %v)", r.Cfg.LRDecayStart, r.Trainer.OptG.LR, cfg.Model.LRG)
	}
	if c, _ := LoadConfig(fork); c.LRDecayStart != 3 {
		t.Fatalf("fork config lr_decay_start %d", c.LRDecayStart)
	}
}

// TestLRWarmupG checks G's rate warm-up: the k-th G update at k/N of the scheduled rate
// (two G steps per iteration share the iteration's rate), D's rate untouched, counted by
// G's own updates (none during a D warm-up), resumed bit for bit, and continued, not
// restarted, by a run --from a training checkpoint (its G optimiser is not fresh).
func TestLRWarmupG(t *testing.T) {
	c := Config{LRWarmupG: 8}
	for _, tc := range []struct {
		updates int64
		want    float64
	}{{0, 1.0 / 8}, {3, 0.5}, {7, 1}, {100, 1}} {
		if got := c.warmupG(tc.updates); got != tc.want {
			t.Errorf("warmupG(%d) = %v, want %v", tc.updates, got, tc.want)
		}
	}
	if got := (Config{}).warmupG(0); got != 1 {
		t.Errorf("no warm-up: factor %v", got)
	}

	data := tinyData(t)
	cfg := tinyConfig() // two G steps per iteration
	cfg.LRWarmupG = 8
	// Iterations 1, 2, 3 start at 0, 2, 4 G updates: rates 1/8, 3/8, 5/8.
	ref := trainTo(t, context.Background(), cfg, data, t.TempDir(), 3, nil)
	if g, d := ref.Trainer.OptG.LR, ref.Trainer.OptD.LR; g != cfg.Model.LRG*5/8 || d != cfg.Model.LRD {
		t.Fatalf("third iteration at lr G %v D %v, want %v and %v", g, d, cfg.Model.LRG*5/8, cfg.Model.LRD)
	}
	plain := cfg
	plain.LRWarmupG = 0
	if p := trainTo(t, context.Background(), plain, data, t.TempDir(), 3, nil); slices.Equal(p.Trainer.G.Params()[0].Data, ref.Trainer.G.Params()[0].Data) {
		t.Fatal("the warm-up left G's weights as without it")
	}
	dir := t.TempDir()
	trainTo(t, context.Background(), cfg, data, dir, 2, nil)
	sameState(t, ref.Trainer, trainTo(t, context.Background(), cfg, data, dir, 3, nil).Trainer)

	// With D alone for two iterations, G's first update (iteration 3) is at 1/8.
	dw := cfg
	dw.Model.DWarmup = 2
	if r := trainTo(t, context.Background(), dw, data, t.TempDir(), 3, nil); r.Trainer.OptG.T != 2 || r.Trainer.OptG.LR != cfg.Model.LRG/8 {
		t.Fatalf("after a D warm-up: %d G updates, last at %v, want 2 at %v", r.Trainer.OptG.T, r.Trainer.OptG.LR, cfg.Model.LRG/8)
	}

	// --from step 3 (6 G updates): the next iterations at 7/8, then the full rate.
	fork := filepath.Join(t.TempDir(), "fork")
	r := open(t, cfg, data, Options{Dir: fork, From: dir, MaxSteps: 4})
	if err := r.Train(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r.Trainer.OptG.LR != cfg.Model.LRG*7/8 {
		t.Fatalf("fork's first update at %v, want %v", r.Trainer.OptG.LR, cfg.Model.LRG*7/8)
	}
	r.Opts.MaxSteps = 5 // iteration 5 starts at 8 G updates: the warm-up is over
	if err := r.Train(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r.Step != 5 || r.Trainer.OptG.LR != cfg.Model.LRG {
		t.Fatalf("fork's step %d at lr G %v, want step 5 at %v", r.Step, r.Trainer.OptG.LR, cfg.Model.LRG)
	}
}
