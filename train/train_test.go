package train

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"avatargan/avatar"
	"avatargan/checkpoint"
	"avatargan/dataset"
	"avatargan/dcgan"
	"avatargan/internal/gemm"
	"avatargan/internal/testutil"
)

// writeImages writes n random 16x16 PNGs (smooth blobs, so they differ) to dir.
func writeImages(t testing.TB, dir string, n int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 7))
	for i := 0; i < n; i++ {
		img := image.NewRGBA(image.Rect(0, 0, 16, 16))
		cx, cy := r.IntN(16), r.IntN(16)
		base := color.RGBA{uint8(r.IntN(256)), uint8(r.IntN(256)), uint8(r.IntN(256)), 255}
		for y := 0; y < 16; y++ {
			for x := 0; x < 16; x++ {
				d := uint8(min(255, 12*((x-cx)*(x-cx)+(y-cy)*(y-cy))/4))
				img.Set(x, y, color.RGBA{base.R ^ d, base.G, base.B ^ (d / 2), 255})
			}
		}
		f, err := os.Create(filepath.Join(dir, "img-"+string(rune('a'+i/26))+string(rune('a'+i%26))+".png"))
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, img); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
}

// tinyData is 10 images of 16 px: with batch 4, two batches per epoch.
func tinyData(t testing.TB) *dataset.Set {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "faces")
	writeImages(t, dir, 10)
	set, _, err := dataset.Load(dataset.Options{Dir: dir, Size: 16, NoCache: true})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func tinyConfig() Config {
	c := DefaultConfig()
	c.Model = dcgan.Config{Size: 16, ZDim: 8, GF: 4, DF: 4, Batch: 4,
		LRG: 2e-3, LRD: 2e-3, Beta1: 0.5, Beta2: 0.999, Beta1D: 0.5, Beta2D: 0.999, GSteps: 2, Dist: dcgan.Uniform, Seed: 3}
	c.Epochs = 20
	c.Shuffle, c.Flip, c.EMA = true, true, 0.9
	c.SampleEvery, c.CheckpointEvery, c.Keep = 1000, 1000, 3
	return c
}

// trainTo opens (or resumes) the run in dir, trains it to maxSteps and closes it.
func trainTo(t testing.TB, ctx context.Context, cfg Config, data *dataset.Set, dir string, maxSteps int, p Progress) *Run {
	t.Helper()
	r, err := Open(cfg, data, Options{Dir: dir, MaxSteps: maxSteps, Progress: p})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Train(ctx); err != nil {
		t.Fatal(err)
	}
	return r
}

// open opens the run in dir and closes it when the test ends.
func open(t testing.TB, cfg Config, data *dataset.Set, opts Options) *Run {
	t.Helper()
	r, err := Open(cfg, data, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// sameState fails unless every tensor of the two trainers is bit-identical.
func sameState(t *testing.T, a, b *dcgan.Trainer) {
	t.Helper()
	ta, tb := a.Tensors(), b.Tensors()
	if len(ta) != len(tb) {
		t.Fatalf("%d tensors vs %d", len(ta), len(tb))
	}
	hasEMA, hasAdam, hasCount := false, false, false
	for i := range ta {
		x, y := ta[i], tb[i]
		if x.Name != y.Name {
			t.Fatalf("tensor %d: %s vs %s", i, x.Name, y.Name)
		}
		hasEMA = hasEMA || strings.HasPrefix(x.Name, "ema.")
		hasAdam = hasAdam || strings.HasSuffix(x.Name, ".exp_avg_sq")
		if x.Count != nil {
			hasCount = true
			if *x.Count != *y.Count {
				t.Fatalf("%s: %d vs %d", x.Name, *x.Count, *y.Count)
			}
			continue
		}
		for j := range x.Data {
			if math.Float32bits(x.Data[j]) != math.Float32bits(y.Data[j]) {
				t.Fatalf("%s[%d]: %v vs %v", x.Name, j, x.Data[j], y.Data[j])
			}
		}
	}
	if !hasEMA || !hasAdam || !hasCount {
		t.Fatalf("state incomplete: ema %v adam %v counts %v", hasEMA, hasAdam, hasCount)
	}
}

// TestResumeIsExact stops runs and resumes them in a new Open: the final state,
// checkpoint file and metrics equal an uninterrupted run's, also with D-only
// iterations (DSteps 2: stopping after step 3 resumes between two G updates), with
// spectral compensation every second D update (stops after odd steps resume between
// two compensations) and with a refinement head on the generator.
func TestResumeIsExact(t *testing.T) {
	for _, dsteps := range []int{1, 2} {
		t.Run(fmt.Sprintf("dsteps%d", dsteps), func(t *testing.T) {
			cfg := tinyConfig()
			cfg.Model.DSteps = dsteps
			resumeIsExact(t, cfg)
		})
	}
	t.Run("spectralreg2", func(t *testing.T) {
		cfg := tinyConfig()
		m, err := dcgan.Recipe("sngan", cfg.Model)
		if err != nil {
			t.Fatal(err)
		}
		m.SpectralReg = 2
		cfg.Model = m
		resumeIsExact(t, cfg)
	})
	t.Run("refine", func(t *testing.T) {
		cfg := tinyConfig()
		cfg.Model.Refine = 3
		resumeIsExact(t, cfg)
	})
}

func resumeIsExact(t *testing.T, cfg Config) {
	data := tinyData(t)
	dsteps := max(cfg.Model.DSteps, 1)
	// 2 batches per epoch: 3 stops mid-epoch, 4 at an epoch boundary, 5 across one.
	for _, n := range []int{3, 4, 5} {
		ref := trainTo(t, context.Background(), cfg, data, t.TempDir(), 2*n, nil)
		dir := t.TempDir()
		first := trainTo(t, context.Background(), cfg, data, dir, n, nil)
		if first.Step != n {
			t.Fatalf("first part stopped at %d, want %d", first.Step, n)
		}
		// A new Open on the same directory, as a new process would do.
		resumed := trainTo(t, context.Background(), cfg, data, dir, 2*n, nil)
		if resumed.Step != 2*n {
			t.Fatalf("resumed run stopped at %d, want %d", resumed.Step, 2*n)
		}
		sameState(t, ref.Trainer, resumed.Trainer)
		// The checkpoint files on disk agree too.
		a, err := os.ReadFile(filepath.Join(ref.Opts.Dir, checkpoint.Name(2*n)))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, checkpoint.Name(2*n)))
		if err != nil {
			t.Fatal(err)
		}
		if string(a) != string(b) {
			t.Fatalf("n=%d: checkpoint files of step %d differ", n, 2*n)
		}
		recs, err := ReadRecords(filepath.Join(dir, MetricsFile), math.MaxInt)
		if err != nil {
			t.Fatal(err)
		}
		refRecs, _ := ReadRecords(filepath.Join(ref.Opts.Dir, MetricsFile), math.MaxInt)
		if len(recs) != 2*n || len(refRecs) != 2*n {
			t.Fatalf("n=%d: %d and %d metrics lines, want %d", n, len(recs), len(refRecs), 2*n)
		}
		for i := range recs {
			if recs[i].Step != i+1 || recs[i].DLoss != refRecs[i].DLoss || !sameLoss(recs[i].GLoss, refRecs[i].GLoss) || recs[i].Epoch != refRecs[i].Epoch {
				t.Fatalf("n=%d: record %d: %+v vs %+v", n, i, recs[i], refRecs[i])
			}
			if hasG := (i+1)%dsteps == 0; (recs[i].GLoss != nil) != hasG {
				t.Fatalf("n=%d: record %d has a G loss: %v, want %v", n, i, recs[i].GLoss != nil, hasG)
			}
		}
	}
}

// TestLoadRefineRun checks what loads a run with a refinement head: avatar.Load of its
// checkpoint (the EMA with recalibrated BatchNorm statistics) draws the run's samples
// exactly, LoadWith live its trainer's G; both have the head in their Spec, and so
// does the generator file Save exports, which draws the same images again.
func TestLoadRefineRun(t *testing.T) {
	data := tinyData(t)
	cfg := tinyConfig()
	cfg.Model.Refine = 3
	dir := t.TempDir()
	r := trainTo(t, context.Background(), cfg, data, dir, 3, nil)
	ckpt, err := checkpoint.Latest(dir)
	if err != nil || filepath.Base(ckpt) != checkpoint.Name(3) {
		t.Fatalf("latest checkpoint %q (%v), want step 3", ckpt, err)
	}
	spec := avatar.Spec{Size: 16, ZDim: 8, GF: 4, Refine: 3, Dist: dcgan.Uniform}
	const n = 6
	z := make([]float32, n*cfg.Model.ZDim)
	for i := 0; i < n; i++ {
		dcgan.Latent(uint64(i), cfg.Model.Dist, z[i*cfg.Model.ZDim:(i+1)*cfg.Model.ZDim])
	}
	images := func(name string, m *avatar.Model) []float64 {
		t.Helper()
		if m.Spec() != spec {
			t.Fatalf("%s: spec %+v, want %+v", name, m.Spec(), spec)
		}
		x, err := m.Tensor(z)
		if err != nil {
			t.Fatal(err)
		}
		return testutil.Float64s(x)
	}
	for _, c := range []struct {
		live bool
		want *dcgan.Generator
	}{{false, r.SamplerGenerator()}, {true, r.Trainer.G}} {
		m, err := avatar.LoadWith(ckpt, c.live)
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("checkpoint, live %v", c.live)
		got := images(name, m)
		testutil.AllClose(t, name+": images vs the run's", c.want.Forward(z, n, false), got, 0, 0)
		if c.live {
			continue
		}
		gen := filepath.Join(t.TempDir(), "g.safetensors")
		if err := m.Save(gen, "F32"); err != nil {
			t.Fatal(err)
		}
		exported, err := avatar.Load(gen)
		if err != nil {
			t.Fatal(err)
		}
		x := images("exported generator", exported)
		if !slices.Equal(x, got) {
			t.Error("the exported generator's images differ from the checkpoint's")
		}
	}
}

// cancelAt cancels a context once step `at` has been reported.
type cancelAt struct {
	at     int
	cancel context.CancelFunc
	steps  int
}

func (c *cancelAt) Epoch(epoch, epochs, total, done int) {}
func (c *cancelAt) Finish()                              {}
func (c *cancelAt) Step(r Record) {
	c.steps++
	if r.Step == c.at {
		c.cancel()
	}
}

func TestCancelSavesAndResumes(t *testing.T) {
	data := tinyData(t)
	cfg := tinyConfig()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := &cancelAt{at: 3, cancel: cancel}
	r := trainTo(t, ctx, cfg, data, dir, 0, p)
	if r.Step != 3 || p.steps != 3 {
		t.Fatalf("cancelled run stopped at step %d after %d steps, want 3", r.Step, p.steps)
	}
	latest, err := checkpoint.Latest(dir)
	if err != nil || filepath.Base(latest) != checkpoint.Name(3) {
		t.Fatalf("latest checkpoint %q (%v), want %s", latest, err, checkpoint.Name(3))
	}
	resumed := trainTo(t, context.Background(), cfg, data, dir, 6, nil)
	ref := trainTo(t, context.Background(), cfg, data, t.TempDir(), 6, nil)
	sameState(t, ref.Trainer, resumed.Trainer)

	// A context cancelled before the first step: nothing to do, nothing written, no error.
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	dir2 := t.TempDir()
	r2 := trainTo(t, ctx2, cfg, data, dir2, 0, nil)
	if r2.Step != 0 {
		t.Fatalf("step %d", r2.Step)
	}
	if _, err := checkpoint.Latest(dir2); err == nil {
		t.Fatal("a checkpoint was written without any step")
	}
}

// poisonAt sets a discriminator weight to NaN once step `at` has been reported: the
// state is bad before the checkpoint of that step would be written.
type poisonAt struct {
	at int
	tr *dcgan.Trainer
}

func (p *poisonAt) Epoch(epoch, epochs, total, done int) {}
func (p *poisonAt) Finish()                              {}
func (p *poisonAt) Step(r Record) {
	if r.Step == p.at {
		p.tr.D.Params()[0].Data[0] = float32(math.NaN())
	}
}

// allFinite checks every checkpoint in dir holds finite values only.
func allFinite(t *testing.T, dir string) []checkpoint.Checkpoint {
	t.Helper()
	cks, err := checkpoint.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cks {
		f, err := checkpoint.Read(c.Path)
		if err != nil {
			t.Fatal(err)
		}
		for _, ts := range f.Tensors {
			for _, v := range ts.F32 {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					t.Fatalf("%s: %s holds %v", c.Path, ts.Name, v)
				}
			}
		}
	}
	return cks
}

func TestNonFiniteStopsWithoutCheckpoint(t *testing.T) {
	data := tinyData(t)

	t.Run("poisoned weights", func(t *testing.T) {
		cfg := tinyConfig()
		cfg.CheckpointEvery = 1
		dir := t.TempDir()
		r := open(t, cfg, data, Options{Dir: dir})
		r.Opts.Progress = &poisonAt{at: 3, tr: r.Trainer}
		err := r.Train(context.Background())
		if err == nil || !strings.Contains(err.Error(), "non-finite") || !strings.Contains(err.Error(), "step 2") {
			t.Fatalf("Train error %v, want a non-finite error naming the last good step 2", err)
		}
		cks := allFinite(t, dir)
		if len(cks) == 0 || cks[len(cks)-1].Step != 2 {
			t.Fatalf("checkpoints %v, want the latest at step 2", cks)
		}
		// Resuming starts from the last good state.
		r.Close()
		r2 := open(t, cfg, data, Options{Dir: dir})
		if r2.Step != 2 {
			t.Fatalf("resumed at %d", r2.Step)
		}
	})

	t.Run("NaN loss", func(t *testing.T) {
		cfg := tinyConfig()
		cfg.CheckpointEvery = 1
		dir := t.TempDir()
		// Two good steps, then NaN in a weight: the next loss is NaN.
		trainTo(t, context.Background(), cfg, data, dir, 2, nil)
		r := open(t, cfg, data, Options{Dir: dir})
		r.Trainer.G.FC.Params()[0].Data[0] = float32(math.Inf(1))
		err := r.Train(context.Background())
		if err == nil || !strings.Contains(err.Error(), "non-finite") || !strings.Contains(err.Error(), "step 3") {
			t.Fatalf("Train error %v, want a non-finite loss at step 3", err)
		}
		cks := allFinite(t, dir)
		if cks[len(cks)-1].Step != 2 {
			t.Fatalf("checkpoints %v, want the latest at step 2", cks)
		}
		recs, _ := ReadRecords(filepath.Join(dir, MetricsFile), math.MaxInt)
		if len(recs) != 2 {
			t.Fatalf("%d metrics lines after the failure (%v), want 2", len(recs), err)
		}
	})

	t.Run("first step", func(t *testing.T) {
		// A failure before any checkpoint must not name a "step 0" checkpoint that
		// does not exist.
		dir := t.TempDir()
		r := open(t, tinyConfig(), data, Options{Dir: dir})
		r.Trainer.G.FC.Params()[0].Data[0] = float32(math.Inf(1))
		err := r.Train(context.Background())
		if err == nil || strings.Contains(err.Error(), "step 0") || !strings.Contains(err.Error(), "no checkpoint was written yet") {
			t.Fatalf("Train error %v, want one saying that no checkpoint exists yet", err)
		}
	})

	t.Run("huge learning rate", func(t *testing.T) {
		cfg := tinyConfig()
		cfg.Model.LRG, cfg.Model.LRD = 1e30, 1e30
		cfg.CheckpointEvery = 1
		dir := t.TempDir()
		r := open(t, cfg, data, Options{Dir: dir, MaxSteps: 40})
		err := r.Train(context.Background())
		if err == nil || !strings.Contains(err.Error(), "non-finite") {
			t.Fatalf("Train error %v, want a non-finite error", err)
		}
		cks := allFinite(t, dir)
		if len(cks) > 0 && cks[len(cks)-1].Step >= r.Step+1 {
			t.Fatalf("checkpoint %v written after the failure at step %d", cks[len(cks)-1], r.Step+1)
		}
	})
}

func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img
}

func TestRunDirectory(t *testing.T) {
	data := tinyData(t)
	cfg := tinyConfig()
	cfg.SampleEvery, cfg.CheckpointEvery, cfg.Keep = 3, 3, 2
	cfg.Data = "/somewhere/faces"
	dir := t.TempDir()
	r := trainTo(t, context.Background(), cfg, data, dir, 7, nil)
	if r.TotalSteps() != 40 || r.BatchesPerEpoch() != 2 {
		t.Fatalf("total %d per %d", r.TotalSteps(), r.BatchesPerEpoch())
	}

	stored, err := LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := cfg
	want.DataFingerprint, want.DataContent, want.Images, want.Version = data.Fingerprint(), data.ContentHash(), 10, Version
	want.Precision = "f32" // a new run records the default
	if stored != want {
		t.Fatalf("config.json %+v\nwant %+v", stored, want)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, ConfigFile))
	for _, k := range []string{`"model"`, `"data_fingerprint"`, `"version"`, `"epochs"`, `"ema"`, `"flip"`, `"shuffle"`, `"keep"`, `"precision"`} {
		if !strings.Contains(string(raw), k) {
			t.Errorf("config.json lacks %s", k)
		}
	}

	f, err := os.Open(filepath.Join(dir, MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("metrics line %d: %v", n, err)
		}
		for _, k := range []string{"step", "epoch", "d_loss", "g_loss", "d_x", "d_g_z", "images_per_s", "elapsed_s", "time"} {
			if _, ok := m[k]; !ok {
				t.Fatalf("metrics line %d lacks %s: %s", n, k, sc.Text())
			}
		}
		if int(m["step"].(float64)) != n || int(m["epoch"].(float64)) != (n-1)/2+1 {
			t.Fatalf("metrics line %d: %s", n, sc.Text())
		}
		if dx := m["d_x"].(float64); !(dx > 0 && dx < 1) {
			t.Fatalf("D(x) %v", dx)
		}
		if ips := m["images_per_s"].(float64); !(ips > 0) {
			t.Fatalf("images/s %v", ips)
		}
	}
	f.Close()
	if n != 7 {
		t.Fatalf("%d metrics lines, want 7", n)
	}

	// Samples at every 3 steps, every epoch end and the last step.
	side := 8*(16+2) + 2
	for _, s := range []int{2, 3, 4, 6, 7} {
		img := decodePNG(t, filepath.Join(dir, SamplesDir, "step-00000000"+string(rune('0'+s))+".png"))
		if b := img.Bounds(); b.Dx() != side || b.Dy() != side {
			t.Fatalf("sample of step %d is %v, want %dx%d", s, b, side, side)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, SamplesDir, "step-000000001.png")); err == nil {
		t.Fatal("unexpected sample at step 1")
	}
	latest := decodePNG(t, filepath.Join(dir, SamplesDir, "latest.png"))
	if latest.Bounds().Dx() != side {
		t.Fatalf("latest.png %v", latest.Bounds())
	}
	decodePNG(t, filepath.Join(dir, LossPlot))

	// Checkpoints at 2, 3, 4, 6, 7; the last two stay.
	cks, err := checkpoint.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(cks) != 2 || cks[0].Step != 6 || cks[1].Step != 7 {
		t.Fatalf("checkpoints %v, want steps 6 and 7", cks)
	}

	// A crash after step 7's metrics but before its checkpoint: resume from 6 must drop
	// line 7 and rewrite it, with no step twice.
	if err := os.Remove(cks[1].Path); err != nil {
		t.Fatal(err)
	}
	r2 := open(t, cfg, data, Options{Dir: dir, MaxSteps: 9})
	if r2.Step != 6 {
		t.Fatalf("resumed at %d", r2.Step)
	}
	recs, _ := ReadRecords(filepath.Join(dir, MetricsFile), math.MaxInt)
	if len(recs) != 6 {
		t.Fatalf("after Open: %d metrics lines, want 6", len(recs))
	}
	if err := r2.Train(context.Background()); err != nil {
		t.Fatal(err)
	}
	recs, _ = ReadRecords(filepath.Join(dir, MetricsFile), math.MaxInt)
	if len(recs) != 9 {
		t.Fatalf("%d metrics lines, want 9", len(recs))
	}
	for i, rec := range recs {
		if rec.Step != i+1 {
			t.Fatalf("line %d has step %d", i+1, rec.Step)
		}
		if i > 0 && rec.ElapsedS < recs[i-1].ElapsedS {
			t.Fatalf("elapsed goes back at step %d", rec.Step)
		}
	}
}

func TestResumeEpochs(t *testing.T) {
	data := tinyData(t)
	cfg := tinyConfig()
	cfg.Epochs = 3
	dir := t.TempDir()
	trainTo(t, context.Background(), cfg, data, dir, 2, nil)

	// Epochs 0 keeps the stored number; other settings in cfg are ignored.
	other := DefaultConfig()
	other.Epochs = 0
	r := open(t, other, data, Options{Dir: dir})
	if r.Cfg != func() Config { c, _ := LoadConfig(dir); return c }() || r.Cfg.Epochs != 3 || r.Cfg.Model != cfg.Model {
		t.Fatalf("resumed with %+v", r.Cfg)
	}

	// An explicit number replaces it, and config.json follows, so a later resume keeps it.
	other.Epochs = 5
	r.Close()
	r = open(t, other, data, Options{Dir: dir})
	if r.Cfg.Epochs != 5 || r.TotalSteps() != 10 {
		t.Fatalf("epochs %d total %d", r.Cfg.Epochs, r.TotalSteps())
	}
	if c, _ := LoadConfig(dir); c.Epochs != 5 {
		t.Fatalf("config.json epochs %d, want 5", c.Epochs)
	}
	if err := r.Train(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r.Step != 10 {
		t.Fatalf("ran to %d, want 10", r.Step)
	}
	// Shortening below the current step: nothing to do.
	other.Epochs = 1
	r.Close()
	r = open(t, other, data, Options{Dir: dir})
	if err := r.Train(context.Background()); err != nil || r.Step != 10 {
		t.Fatalf("step %d err %v", r.Step, err)
	}
}

func TestOpenErrors(t *testing.T) {
	data := tinyData(t)
	cfg := tinyConfig()
	cfg.Model.Size = 32
	if _, err := Open(cfg, data, Options{Dir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "16 px") {
		t.Fatalf("size mismatch: %v", err)
	}
	cfg = tinyConfig()
	cfg.Keep = 0
	if _, err := Open(cfg, data, Options{Dir: t.TempDir()}); err == nil {
		t.Fatal("keep 0 accepted")
	}
	cfg = tinyConfig()
	cfg.Model.Batch = 11
	if _, err := Open(cfg, data, Options{Dir: t.TempDir()}); err == nil {
		t.Fatal("batch larger than the data accepted")
	}
	// A run whose checkpoint is not a training checkpoint.
	dir := t.TempDir()
	trainTo(t, context.Background(), tinyConfig(), data, dir, 1, nil)
	p, _ := checkpoint.Latest(dir)
	if err := checkpoint.Save(p, []checkpoint.Tensor{{Name: "x", DType: "F32", Shape: []int{1}, F32: []float32{1}}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(tinyConfig(), data, Options{Dir: dir}); err == nil || !strings.Contains(err.Error(), "not a training checkpoint") {
		t.Fatalf("foreign checkpoint: %v", err)
	}
}

// TestResumeIsExactBF16 is TestResumeIsExact for a mixed-precision run, and
// checks that a run may switch precision on resume: an F32 run opened in BF16
// holds its stored float32 state bit for bit at the stored step, continues from it
// (the result differs from the F32 run, is finite, and config.json records the
// switch), and a BF16 checkpoint resumes in F32.
func TestResumeIsExactBF16(t *testing.T) {
	data := tinyData(t)
	cfg := tinyConfig()
	// Wider than tinyConfig's so that the products are large enough for the
	// bf16 path (the small-N path of batch-1-sized products stays float32).
	cfg.Model.GF, cfg.Model.DF, cfg.Model.Batch = 16, 16, 8
	cfg.Precision = "bf16"
	const n = 3
	ref := trainTo(t, context.Background(), cfg, data, t.TempDir(), 2*n, nil)
	dir := t.TempDir()
	trainTo(t, context.Background(), cfg, data, dir, n, nil)
	resumed := trainTo(t, context.Background(), Config{}, data, dir, 2*n, nil)
	if resumed.Cfg.Precision != "bf16" || resumed.Trainer.G.Precision() != gemm.BF16 {
		t.Fatalf("resumed run has precision %q / %v, want bf16", resumed.Cfg.Precision, resumed.Trainer.G.Precision())
	}
	sameState(t, ref.Trainer, resumed.Trainer)

	// Switch on resume: F32 for n steps, then BF16, against F32 throughout.
	f32 := cfg
	f32.Precision = "f32"
	allF32 := trainTo(t, context.Background(), f32, data, t.TempDir(), 2*n, nil)
	dir = t.TempDir()
	atN := trainTo(t, context.Background(), f32, data, dir, n, nil)
	// Opened in bf16, the run holds the stored float32 state bit for bit (nothing
	// rounded to bf16 on load) at the stored step.
	opened, err := Open(Config{Precision: "bf16"}, data, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if opened.Step != n {
		t.Fatalf("opened in bf16 at step %d, want %d", opened.Step, n)
	}
	sameState(t, atN.Trainer, opened.Trainer)
	opened.Close()
	switched := trainTo(t, context.Background(), Config{Precision: "bf16"}, data, dir, 2*n, nil)
	stored, err := LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Precision != "bf16" || switched.Trainer.D.Conv[1].Precision != gemm.BF16 {
		t.Fatalf("after the switch config.json says %q, D's conv1 %v", stored.Precision, switched.Trainer.D.Conv[1].Precision)
	}
	a, b := allF32.Trainer.G.Tensors(), switched.Trainer.G.Tensors()
	same := true
	for i := range a {
		for j := range a[i].Data {
			x, y := float64(a[i].Data[j]), float64(b[i].Data[j])
			if math.IsNaN(y) || math.IsInf(y, 0) {
				t.Fatalf("%s[%d] = %v after the switch", b[i].Name, j, y)
			}
			same = same && x == y
		}
	}
	if same {
		t.Error("steps after the switch to bf16 gave the F32 result bit for bit")
	}
	back := trainTo(t, context.Background(), Config{Precision: "f32"}, data, dir, 2*n+2, nil)
	if back.Trainer.G.Precision() != gemm.F32 || back.Step != 2*n+2 {
		t.Fatalf("switch back: precision %v, step %d", back.Trainer.G.Precision(), back.Step)
	}
}

// sameLoss reports whether two optional losses are both absent or equal.
func sameLoss(a, b *float64) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

// TestKeepEvery checks that checkpoints at multiples of KeepEvery survive the rotation
// (epoch-end ones between them do not), across a resume, and that config.json records it.
func TestKeepEvery(t *testing.T) {
	data := tinyData(t)
	cfg := tinyConfig()
	cfg.CheckpointEvery, cfg.Keep, cfg.KeepEvery = 3, 1, 3
	dir := t.TempDir()
	// Written at 2, 3, 4, 6 (epoch ends and multiples of 3) and 7 (the last step).
	trainTo(t, context.Background(), cfg, data, dir, 7, nil)
	cks, err := checkpoint.List(dir)
	if err != nil || len(cks) != 3 || cks[0].Step != 3 || cks[1].Step != 6 || cks[2].Step != 7 {
		t.Fatalf("checkpoints %v (%v), want steps 3, 6 and 7", cks, err)
	}
	stored, err := LoadConfig(dir)
	if err != nil || stored.KeepEvery != 3 {
		t.Fatalf("config.json keep_every %d (%v)", stored.KeepEvery, err)
	}
	trainTo(t, context.Background(), stored, data, dir, 10, nil)
	cks, err = checkpoint.List(dir)
	if err != nil || len(cks) != 4 || cks[0].Step != 3 || cks[1].Step != 6 || cks[2].Step != 9 || cks[3].Step != 10 {
		t.Fatalf("after the resume: checkpoints %v (%v), want steps 3, 6, 9 and 10", cks, err)
	}
}
