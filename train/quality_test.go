package train

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"avatargan/checkpoint"
	"avatargan/dcgan"
)

func snganTiny(t *testing.T) Config { return recipeTiny(t, "sngan") }

func recipeTiny(t *testing.T, name string) Config {
	t.Helper()
	cfg := tinyConfig()
	m, err := dcgan.Recipe(name, cfg.Model)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Model = m
	return cfg
}

// TestQualityTracking trains with --eval-every and checks that the scores (SWD and the
// face detector's rate) land in metrics.jsonl on exactly the evaluated steps, that quality.png and
// ckpt-best.safetensors (the lowest-SWD step's state) are written, and that
// evaluating changes nothing in training: the state equals that of a run without it.
func TestQualityTracking(t *testing.T) {
	data := tinyData(t)
	cfg := snganTiny(t)
	plain := trainTo(t, context.Background(), cfg, data, t.TempDir(), 6, nil)
	cfg.EvalEvery, cfg.EvalN = 2, 4
	dir := t.TempDir()
	r := trainTo(t, context.Background(), cfg, data, dir, 6, nil)
	sameState(t, plain.Trainer, r.Trainer)
	recs, err := ReadRecords(filepath.Join(dir, MetricsFile), 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	best, bestStep := math.Inf(1), 0
	for _, rec := range recs {
		if (rec.SWD != nil) != (rec.Step%2 == 0) || (rec.Faces != nil) != (rec.SWD != nil) {
			t.Errorf("step %d: swd %v, faces %v", rec.Step, rec.SWD, rec.Faces)
		}
		if rec.Faces != nil && (*rec.Faces < 0 || *rec.Faces > 1) {
			t.Errorf("step %d: face rate %v", rec.Step, *rec.Faces)
		}
		if rec.SWD != nil {
			if !(*rec.SWD > 0) || len(rec.SWDLevels) != 1 {
				t.Errorf("step %d: swd %v levels %v", rec.Step, *rec.SWD, rec.SWDLevels)
			}
			if *rec.SWD < best {
				best, bestStep = *rec.SWD, rec.Step
			}
		}
	}
	if _, err := os.Stat(filepath.Join(dir, QualityPlot)); err != nil {
		t.Error(err)
	}
	f, err := checkpoint.Read(filepath.Join(dir, BestCheckpoint))
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := strconv.Atoi(f.Metadata["step"]); s != bestStep {
		t.Errorf("ckpt-best is step %s, the best SWD is at step %d", f.Metadata["step"], bestStep)
	}
	// Its tensors are that step's state: the rotation's checkpoint of the same step.
	same, err := checkpoint.Read(filepath.Join(dir, checkpoint.Name(bestStep)))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Tensors) != len(same.Tensors) {
		t.Fatalf("ckpt-best holds %d tensors, step %d's checkpoint %d", len(f.Tensors), bestStep, len(same.Tensors))
	}
	for _, x := range f.Tensors {
		if y, ok := same.Get(x.Name); !ok || !bytes.Equal(x.Raw, y.Raw) {
			t.Errorf("ckpt-best's %s differs from step %d's checkpoint", x.Name, bestStep)
		}
	}
	// The best checkpoint is outside the rotation: never the latest, never pruned.
	if latest, _ := checkpoint.Latest(dir); filepath.Base(latest) == BestCheckpoint {
		t.Error("ckpt-best taken as the latest checkpoint")
	}
}

// TestResumeIsExactRecipes checks exact resume for the recipes beyond the original:
// sngan's state adds spectral-norm vectors (u, v move with every training forward of
// D) and D's own betas; sngan-da draws augmentations from (seed, iteration), which a
// resumed run must reproduce.
func TestResumeIsExactRecipes(t *testing.T) {
	data := tinyData(t)
	for _, name := range []string{"ttur", "sngan", "sngan-da"} {
		t.Run(name, func(t *testing.T) {
			cfg := recipeTiny(t, name)
			ref := trainTo(t, context.Background(), cfg, data, t.TempDir(), 6, nil)
			dir := t.TempDir()
			trainTo(t, context.Background(), cfg, data, dir, 3, nil)
			resumed := trainTo(t, context.Background(), cfg, data, dir, 6, nil)
			sameState(t, ref.Trainer, resumed.Trainer)
		})
	}
}
