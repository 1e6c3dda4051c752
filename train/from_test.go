package train

import (
	"context"
	"path/filepath"
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
