package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"avatargan/checkpoint"
	"avatargan/dcgan"
	"avatargan/internal/gemm"
	"avatargan/train"
)

// TestTrainRefusals checks the train command's refusals that must come before any data
// is loaded: a run directory in use, sizes that need absurd memory, non-finite rates,
// and resuming on other images.
func TestTrainRefusals(t *testing.T) {
	fixture(t)
	tmp := t.TempDir()
	busy := filepath.Join(tmp, "busy")
	l, err := train.LockDir(busy)
	if err != nil {
		t.Fatal(err)
	}
	// The data folder does not exist: the lock must be what refuses.
	fails(t, "in use by another training run", cmdTrain, "--data", filepath.Join(tmp, "nonexistent"), "--out", busy)
	l.Unlock()

	// The checks below need no data either: with --data missing, a refusal made only
	// after loading would say "no such file" instead.
	missing := filepath.Join(tmp, "nonexistent")
	for _, args := range [][]string{
		{"--size", "4096"}, {"--gf", "100000"}, {"--z", "1000000000"}, {"--batch", "1099511627776"},
	} {
		fails(t, "would need about", cmdTrain, append([]string{"--data", missing, "--out", filepath.Join(tmp, "big")}, args...)...)
	}
	fails(t, "finite", cmdTrain, "--data", missing, "--out", filepath.Join(tmp, "inf"), "--lr-g", "Inf")
	// A run refused before it starts leaves no directory of its own behind.
	fails(t, "no such file", cmdTrain, "--data", filepath.Join(tmp, "nonexistent"), "--out", filepath.Join(tmp, "new"), "--cache", cacheDir)
	if _, err := os.Stat(filepath.Join(tmp, "new")); err == nil {
		t.Error("a refused run left its new directory behind")
	}
	fails(t, "ema", cmdTrain, "--data", missing, "--out", filepath.Join(tmp, "nan"), "--ema", "NaN")
	fails(t, "--threads", cmdTrain, "--data", missing, "--threads", "-1")

	// Resuming the fixture's run on other images is refused; --allow-data-change
	// overrides.
	other := filepath.Join(tmp, "other")
	os.MkdirAll(other, 0o755)
	ents, _ := os.ReadDir(facesDir)
	for _, e := range ents[:12] {
		b, _ := os.ReadFile(filepath.Join(facesDir, e.Name()))
		os.WriteFile(filepath.Join(other, e.Name()), b, 0o644)
	}
	dir := filepath.Join(tmp, "run")
	threads := gemm.Threads()
	run(t, cmdTrain, tinyTrainArgs("--data", facesDir, "--out", dir, "--max-steps", "1", "--epochs", "1")...)
	fails(t, "other images", cmdTrain, "--resume", dir, "--data", other, "--max-steps", "2", "--cache", cacheDir)
	out := run(t, cmdTrain, "--resume", dir, "--data", other, "--max-steps", "2", "--cache", cacheDir, "--allow-data-change", "--threads", "1")
	if !strings.Contains(out, "done: step 2") {
		t.Fatalf("--allow-data-change: %s", out)
	}
	if c, _ := train.LoadConfig(dir); c.Images != 12 {
		t.Fatalf("config after the data change: %+v", c)
	}
	if latest, _ := checkpoint.Latest(dir); filepath.Base(latest) != checkpoint.Name(2) {
		t.Fatalf("latest %s", latest)
	}
	if gemm.Threads() != threads {
		t.Fatalf("--threads 1 left %d GEMM threads, was %d", gemm.Threads(), threads)
	}
}

// TestTrainDefaultDir checks that runs without --out get distinct runs/<date-time>
// directories, and that a run refused before loading leaves no empty one behind.
func TestTrainDefaultDir(t *testing.T) {
	fixture(t)
	wd, _ := os.Getwd()
	tmp := t.TempDir()
	if err := os.Chdir(tmp); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)
	args := tinyTrainArgs("--data", facesDir, "--max-steps", "1", "--epochs", "1")
	run(t, cmdTrain, args...)
	run(t, cmdTrain, args...)
	fails(t, "no such file", cmdTrain, "--data", filepath.Join(tmp, "nonexistent"), "--cache", cacheDir)
	ents, _ := os.ReadDir(filepath.Join(tmp, "runs"))
	if len(ents) != 2 {
		t.Fatalf("runs/ holds %v, want 2 runs", ents)
	}
	for _, e := range ents {
		if !train.Exists(filepath.Join(tmp, "runs", e.Name())) {
			t.Errorf("runs/%s holds no run", e.Name())
		}
	}
}

// TestBarText checks the progress bar's text: epoch k/N and the whole run's ETA.
func TestBarText(t *testing.T) {
	p := &barProgress{epochs: 5, total: 100, first: 10}
	got := p.describe(train.Record{Step: 20, Epoch: 2, DLoss: 1, GLoss: new(2.0), ImagesPS: 64}, 10*time.Second)
	// 10 steps in 10 s, 80 to go.
	if !strings.Contains(got, "epoch 2/5") || !strings.Contains(got, "run ETA 1m20s") {
		t.Fatalf("bar text %q", got)
	}
	if got := p.describe(train.Record{Step: 100, Epoch: 5}, time.Minute); strings.Contains(got, "ETA") {
		t.Fatalf("finished bar text %q", got)
	}
}

// TestTrainR1 checks that --r1 and --r1-every reach the run's configuration and its
// metrics (the penalty on every second D step only), that a resume keeps them, and that
// R1 with a BatchNorm discriminator is refused.
func TestTrainR1(t *testing.T) {
	fixture(t)
	dir := filepath.Join(t.TempDir(), "r1")
	run(t, cmdTrain, tinyTrainArgs("--data", facesDir, "--out", dir, "--recipe", "sngan", "--r1", "0.5", "--r1-every", "2", "--max-steps", "3", "--epochs", "1")...)
	c, err := train.LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	if c.Model.R1 != 0.5 || c.Model.R1Every != 2 {
		t.Fatalf("config r1 %v every %d", c.Model.R1, c.Model.R1Every)
	}
	recs, err := train.ReadRecords(filepath.Join(dir, "metrics.jsonl"), 100)
	if err != nil || len(recs) != 3 {
		t.Fatalf("%d records, %v", len(recs), err)
	}
	for _, r := range recs {
		if (r.R1 > 0) != (r.Step%2 == 0) {
			t.Errorf("step %d: r1 %v", r.Step, r.R1)
		}
	}
	fails(t, "--r1 0.7 (the run has 0.5)", cmdTrain, "--resume", dir, "--r1", "0.7", "--cache", cacheDir)
	fails(t, "without BatchNorm", cmdTrain, tinyTrainArgs("--data", facesDir, "--out", filepath.Join(t.TempDir(), "bn"), "--r1", "1")...)
}

// TestTrainSpectralReg checks that --spectral-reg reaches the run's configuration, that
// a resume with another value is refused, and that it is refused without spectral norm.
func TestTrainSpectralReg(t *testing.T) {
	fixture(t)
	dir := filepath.Join(t.TempDir(), "sr")
	run(t, cmdTrain, tinyTrainArgs("--data", facesDir, "--out", dir, "--recipe", "sngan", "--spectral-reg", "2", "--max-steps", "2", "--epochs", "1")...)
	c, err := train.LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	if c.Model.SpectralReg != 2 {
		t.Fatalf("config spectral_reg %d", c.Model.SpectralReg)
	}
	fails(t, "--spectral-reg 3 (the run has 2)", cmdTrain, "--resume", dir, "--spectral-reg", "3", "--cache", cacheDir)
	fails(t, "needs spectral norm", cmdTrain, tinyTrainArgs("--data", facesDir, "--out", filepath.Join(t.TempDir(), "nosn"), "--spectral-reg", "5")...)
}

// TestTrainPhaseBalance checks that --phase-balance reaches the run's configuration and
// survives a recipe, that a resume with another value is refused, and that values
// beyond the generator's four transposed convolutions are refused.
func TestTrainPhaseBalance(t *testing.T) {
	fixture(t)
	dir := filepath.Join(t.TempDir(), "pb")
	run(t, cmdTrain, tinyTrainArgs("--data", facesDir, "--out", dir, "--phase-balance", "1", "--recipe", "sngan", "--max-steps", "2", "--epochs", "1")...)
	c, err := train.LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	if c.Model.PhaseBalance != 1 {
		t.Fatalf("config phase_balance %d", c.Model.PhaseBalance)
	}
	fails(t, "--phase-balance 2 (the run has 1)", cmdTrain, "--resume", dir, "--phase-balance", "2", "--cache", cacheDir)
	fails(t, "want 0..4", cmdTrain, tinyTrainArgs("--data", facesDir, "--out", filepath.Join(t.TempDir(), "bad"), "--phase-balance", "5")...)
}

// TestTrainGLosses checks --spectrum-loss and --patch-loss through the CLI: the
// weight reaches config.json, every iteration's record carries the loss, a resume with
// another weight is refused and a negative one is refused.
func TestTrainGLosses(t *testing.T) {
	fixture(t)
	for _, c := range []struct {
		flag, key, weight string
		config            func(train.Config) float64
		record            func(train.Record) float64
	}{
		{"--spectrum-loss", "spectrum_loss", "0.5", func(c train.Config) float64 { return c.Model.SpectrumLoss }, func(r train.Record) float64 { return r.Spectrum }},
		{"--patch-loss", "patch_loss", "0.25", func(c train.Config) float64 { return c.Model.PatchLoss }, func(r train.Record) float64 { return r.Patch }},
	} {
		t.Run(c.flag, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "run")
			run(t, cmdTrain, tinyTrainArgs("--data", facesDir, "--out", dir, c.flag, c.weight, "--recipe", "sngan", "--max-steps", "2", "--epochs", "1")...)
			cfg, err := train.LoadConfig(dir)
			if err != nil {
				t.Fatal(err)
			}
			if got := strconv.FormatFloat(c.config(cfg), 'g', -1, 64); got != c.weight {
				t.Fatalf("config has %s %s, want %s", c.flag, got, c.weight)
			}
			recs, err := train.ReadRecords(filepath.Join(dir, "metrics.jsonl"), 100)
			if err != nil || len(recs) != 2 {
				t.Fatalf("%d records, %v", len(recs), err)
			}
			for _, r := range recs {
				if !(c.record(r) > 0) {
					t.Errorf("step %d: %s loss %v in the metrics", r.Step, c.flag, c.record(r))
				}
			}
			fails(t, c.flag+" 1 (the run has "+c.weight+")", cmdTrain, "--resume", dir, c.flag, "1", "--cache", cacheDir)
			fails(t, c.key+" -1", cmdTrain, tinyTrainArgs("--data", facesDir, "--out", filepath.Join(t.TempDir(), "bad"), c.flag, "-1")...)
		})
	}
}

// TestTrainLossModifiers checks --patch-lowpass and --spectrum-window through the CLI:
// each reaches config.json, a resume without it is refused, and it is refused without
// the loss it modifies.
func TestTrainLossModifiers(t *testing.T) {
	fixture(t)
	for _, c := range []struct {
		flag, loss, key, needs string
		get                    func(dcgan.Config) bool
	}{
		{"--patch-lowpass", "--patch-loss", "patch_lowpass", "patch_loss", func(m dcgan.Config) bool { return m.PatchLowPass }},
		{"--spectrum-window", "--spectrum-loss", "spectrum_window", "spectrum_loss", func(m dcgan.Config) bool { return m.SpectrumWindow }},
	} {
		t.Run(c.key, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "run")
			run(t, cmdTrain, tinyTrainArgs("--data", facesDir, "--out", dir, c.loss, "0.25", c.flag, "--recipe", "sngan", "--max-steps", "1", "--epochs", "1")...)
			cfg, err := train.LoadConfig(dir)
			if err != nil || !c.get(cfg.Model) {
				t.Fatalf("config %s %v (%v)", c.key, c.get(cfg.Model), err)
			}
			fails(t, c.flag+" false (the run has true)", cmdTrain, "--resume", dir, c.flag+"=false", "--cache", cacheDir)
			fails(t, c.key+" needs "+c.needs, cmdTrain, tinyTrainArgs("--data", facesDir, "--out", filepath.Join(t.TempDir(), "bad"), c.flag)...)
		})
	}
}

// TestTrainKeepEvery checks --keep-every through the CLI: recorded in config.json,
// milestones kept beside --keep 1, a value that is no multiple of --checkpoint-every
// refused, and a resume with another value refused.
func TestTrainKeepEvery(t *testing.T) {
	fixture(t)
	dir := filepath.Join(t.TempDir(), "run")
	run(t, cmdTrain, tinyTrainArgs("--data", facesDir, "--out", dir, "--checkpoint-every", "1", "--keep", "1", "--keep-every", "2", "--max-steps", "5", "--epochs", "1")...)
	cfg, err := train.LoadConfig(dir)
	if err != nil || cfg.KeepEvery != 2 {
		t.Fatalf("config keep_every %d (%v)", cfg.KeepEvery, err)
	}
	cks, err := checkpoint.List(dir)
	if err != nil || len(cks) != 3 || cks[0].Step != 2 || cks[1].Step != 4 || cks[2].Step != 5 {
		t.Fatalf("checkpoints %v (%v), want steps 2, 4 and 5", cks, err)
	}
	fails(t, "--keep-every 3 (the run has 2)", cmdTrain, "--resume", dir, "--keep-every", "3", "--cache", cacheDir)
	fails(t, "keep-every 3 must be 0 (off) or a positive multiple of checkpoint-every 2", cmdTrain,
		tinyTrainArgs("--data", facesDir, "--out", filepath.Join(t.TempDir(), "bad"), "--checkpoint-every", "2", "--keep-every", "3")...)
}

// TestTrainRefine checks --refine through the CLI: config.json records "refine", a
// resume with another value is refused and one with the same value goes on, export's
// PyTorch hint names the head, and a negative width is refused.
func TestTrainRefine(t *testing.T) {
	fixture(t)
	dir := filepath.Join(t.TempDir(), "run")
	run(t, cmdTrain, tinyTrainArgs("--data", facesDir, "--out", dir, "--refine", "3", "--max-steps", "1", "--epochs", "1")...)
	b, err := os.ReadFile(filepath.Join(dir, train.ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Model map[string]any `json:"model"`
	}
	if err := json.Unmarshal(b, &raw); err != nil || raw.Model["refine"] != 3.0 {
		t.Fatalf("config.json model.refine %v (%v)", raw.Model["refine"], err)
	}
	fails(t, "--refine 2 (the run has 3)", cmdTrain, "--resume", dir, "--refine", "2", "--cache", cacheDir)
	fails(t, "--refine 0 (the run has 3)", cmdTrain, "--resume", dir, "--refine", "0", "--cache", cacheDir)
	if out := run(t, cmdTrain, "--resume", dir, "--refine", "3", "--max-steps", "2", "--cache", cacheDir); !strings.Contains(out, "done: step 2") {
		t.Fatalf("resume with the run's --refine: %s", out)
	}
	out := run(t, cmdExport, "--checkpoint", dir, "--out", filepath.Join(t.TempDir(), "g.safetensors"))
	if !strings.Contains(out, "Generator(size=16, z=8, gf=4, refine=3)") {
		t.Fatalf("export of a run with a head: %q", out)
	}
	fails(t, "refine -1", cmdTrain, tinyTrainArgs("--data", facesDir, "--out", filepath.Join(t.TempDir(), "bad"), "--refine", "-1")...)
}

// TestTrainFromGenerator checks fine-tuning through the CLI: an exported generator
// given to --from starts a new run at step 0 whose config records the file and
// --d-warmup and no EMA warm-up (unless --ema-warmup), whose first --d-warmup
// iterations take no G step (no G loss in the metrics) and the later ones do; a resume
// with another --d-warmup or --ema-warmup is refused; without --size, -z and --gf
// the run takes the generator's; a narrower --gf than the generator's is refused naming
// --gf, a wider one widens it.
func TestTrainFromGenerator(t *testing.T) {
	fixture(t)
	tmp := t.TempDir()
	src := filepath.Join(tmp, "src")
	run(t, cmdTrain, tinyTrainArgs("--data", facesDir, "--out", src, "--recipe", "sngan", "--max-steps", "2", "--epochs", "1")...)
	gen := filepath.Join(tmp, "g.safetensors")
	run(t, cmdExport, "--checkpoint", src, "--out", gen)
	dir := filepath.Join(tmp, "ft")
	out := run(t, cmdTrain, tinyTrainArgs("--data", facesDir, "--out", dir, "--from", gen, "--recipe", "sngan", "--d-warmup", "2", "--max-steps", "4", "--epochs", "1")...)
	if !strings.Contains(out, "starting from the generator") {
		t.Fatalf("train --from a generator: %s", out)
	}
	c, err := train.LoadConfig(dir)
	if err != nil || c.From != gen+"@generator" || c.Model.DWarmup != 2 || !c.EMANoWarmup {
		t.Fatalf("config: from %q, d_warmup %d, ema_no_warmup %v (%v)", c.From, c.Model.DWarmup, c.EMANoWarmup, err)
	}
	recs, err := train.ReadRecords(filepath.Join(dir, "metrics.jsonl"), 100)
	if err != nil || len(recs) != 4 || recs[0].Step != 1 {
		t.Fatalf("%d records from step %d, %v; want steps 1..4", len(recs), recs[0].Step, err)
	}
	for _, r := range recs {
		if (r.GLoss != nil) != (r.Step > 2) {
			t.Errorf("step %d: G loss %v, want one only after the warm-up", r.Step, r.GLoss)
		}
	}
	fails(t, "--d-warmup 3 (the run has 2)", cmdTrain, "--resume", dir, "--d-warmup", "3", "--cache", cacheDir)
	fails(t, "--ema-warmup true (the run has false)", cmdTrain, "--resume", dir, "--ema-warmup", "--cache", cacheDir)
	// --ema-warmup keeps the warm-up of runs from before the option.
	old := filepath.Join(tmp, "old")
	run(t, cmdTrain, tinyTrainArgs("--data", facesDir, "--out", old, "--from", gen, "--recipe", "sngan", "--ema-warmup", "--max-steps", "1", "--epochs", "1")...)
	if c, err := train.LoadConfig(old); err != nil || c.EMANoWarmup {
		t.Errorf("--ema-warmup: config ema_no_warmup %v (%v)", c.EMANoWarmup, err)
	}
	// Sizes not given come from the file (16 px, z 8, gf 4 here; the defaults are 48,
	// 100 and 64): fine-tuning the embedded model needs no --gf.
	plain := filepath.Join(tmp, "plain")
	run(t, cmdTrain, "--data", facesDir, "--cache", cacheDir, "--df", "4", "--batch", "4", "--out", plain, "--from", gen, "--recipe", "sngan", "--max-steps", "1", "--epochs", "1")
	if c, err := train.LoadConfig(plain); err != nil || c.Model.Size != 16 || c.Model.ZDim != 8 || c.Model.GF != 4 || c.Model.Refine != 0 {
		t.Errorf("--from a generator without sizes: size %d, z %d, gf %d, refine %d (%v); want the file's 16, 8, 4, 0", c.Model.Size, c.Model.ZDim, c.Model.GF, c.Model.Refine, err)
	}
	fails(t, "--gf", cmdTrain, tinyTrainArgs("--data", facesDir, "--out", filepath.Join(tmp, "narrow"), "--from", gen, "--recipe", "sngan", "--max-steps", "1", "--epochs", "1", "--gf", "2")...)
	// A wider --gf widens the generator (dcgan.TestWiden checks its images).
	wide := filepath.Join(tmp, "wide")
	if out := run(t, cmdTrain, tinyTrainArgs("--data", facesDir, "--out", wide, "--from", gen, "--recipe", "sngan", "--max-steps", "1", "--epochs", "1", "--gf", "8")...); !strings.Contains(out, "widened the generator from 4 to 8") {
		t.Errorf("train --from a narrower generator with --gf 8: %s", out)
	}
	if c, err := train.LoadConfig(wide); err != nil || c.Model.GF != 8 {
		t.Errorf("widened run: gf %d (%v)", c.Model.GF, err)
	}
}
