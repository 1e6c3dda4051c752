package train

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"avatargan/avatar"
	"avatargan/checkpoint"
	"avatargan/dataset"
	"avatargan/dcgan"
	"avatargan/internal/state"
	"avatargan/internal/testtool"
	"avatargan/internal/testutil"
)

// torchRun is a small run for the PyTorch interop tests: 40 images of 16 px in a folder
// with its avatargan cache, batch 8 (5 steps per epoch), widths 8, EMA, flips, shuffle.
type torchRun struct {
	py, pythonPath   string
	folder, cacheDir string
	cfg              Config
	data             *dataset.Set
}

func newTorchRun(t *testing.T, recipe string, dist dcgan.Dist) *torchRun {
	t.Helper()
	tr := &torchRun{py: testtool.Python(t, "torch")}
	var err error
	tr.pythonPath = filepath.Join(testutil.ModuleRoot(t), "python")
	tmp := t.TempDir()
	tr.folder, tr.cacheDir = filepath.Join(tmp, "faces"), filepath.Join(tmp, "cache")
	writeImages(t, tr.folder, 40)
	set, _, err := dataset.Load(dataset.Options{Dir: tr.folder, Size: 16, CacheDir: tr.cacheDir})
	if err != nil {
		t.Fatal(err)
	}
	tr.data = set
	c := DefaultConfig()
	m := dcgan.DefaultConfig()
	m.Size, m.ZDim, m.GF, m.DF, m.Batch, m.Dist, m.Seed = 16, 16, 8, 8, 8, dist, 5
	if c.Model, err = dcgan.Recipe(recipe, m); err != nil {
		t.Fatal(err)
	}
	c.Epochs, c.Shuffle, c.Flip, c.EMA = 10, true, true, 0.999
	c.SampleEvery, c.CheckpointEvery, c.Keep = 1000, 1000, 5
	c.Data = tr.folder
	tr.cfg = c
	return tr
}

// command returns the Python command with args, with avatargan_torch on its path and
// one thread.
func (tr *torchRun) command(args ...string) *exec.Cmd {
	cmd := exec.Command(tr.py, args...)
	cmd.Env = append(os.Environ(), "PYTHONPATH="+tr.pythonPath, "OMP_NUM_THREADS=1")
	return cmd
}

// python runs a module of python/avatargan_torch and returns its output.
func (tr *torchRun) python(t *testing.T, args ...string) string {
	t.Helper()
	out, err := tr.command(args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", tr.py, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
}

// nullBiasG and nullBiasD match the biases of layers followed by BatchNorm (and their
// Adam moments, EMA and the running means of that BatchNorm): BatchNorm removes any
// per-channel constant, so their exact gradient is zero and both engines compute
// rounding noise (|g| ~1e-9), which Adam's normalisation turns into steps of order lr in
// either direction.
var (
	nullBiasG = regexp.MustCompile(`^(generator|ema|adam_g)\.(fc|deconv[123])\.bias|^generator\.bn[0-3]\.running_mean`)
	nullBiasD = regexp.MustCompile(`^(discriminator|adam_d)\.conv[123]\.bias|^discriminator\.bn[1-3]\.running_mean`)
)

// TestTorchStepMatches continues one checkpoint (step 6: the second epoch, so the
// shuffle and flips of an epoch > 0 are used; normal latents, so Go's ziggurat is
// replayed) by one iteration in avatargan and in PyTorch (python -m
// avatargan_torch.train, one process) and compares every tensor of the two step-7
// checkpoints:
//   - counters (Adam steps, num_batches_tracked) exactly;
//   - every other tensor within max|a-b| <= 1e-4 * max|b| (FP32 rounding: different
//     summation orders in convolutions and reductions; measured ~1e-5);
//   - the biases before BatchNorm (see nullBias) within twice Adam's largest possible
//     update per step, and their gradient moments at noise level (|exp_avg| < 1e-6).
//
// The losses of the iteration must agree within 1e-5 relative.
//
// Recipes: the original (BCE, BatchNorm in D, normal latents here), sngan (hinge loss,
// spectral norm without BatchNorm in D, Adam (0, 0.9), one G step) and sngan-da (sngan
// with DiffAugment color,translation,cutout), and sngan-da with --lr-decay linear (the
// step-7 update runs at 44/50 of the rates; with PyTorch ignoring the schedule the
// tensors differ by ~0.1 relative, against the 1e-4 below), sngan-da with a lazy R1
// penalty due on step 7 (PyTorch's double backprop against avatargan's pushed-forward
// gradient), with D steps only or a G step at step 7 (dsteps), with the spectral
// compensation due on step 7, with G's last two layers phase-balanced, and with G's
// rate warm-up and an EMA without warm-up (a fine-tune's settings), with the
// spectrum loss in G's loss, and with the patch loss in G's loss (with its bands, and with
// its half-size level low-pass).
func TestTorchStepMatches(t *testing.T) {
	for _, recipe := range []string{"original", "sngan", "sngan-da", "sngan-da+lr-decay", "sngan-da+r1", "sngan-da+dsteps7", "sngan-da+dsteps2", "sngan-da+specreg7", "sngan-da+phasebal2", "sngan-da+warmups", "sngan-da+spectrum", "sngan-da+spectrumwin", "sngan-da+patch", "sngan-da+patchlow"} {
		t.Run(recipe, func(t *testing.T) { torchStepMatches(t, recipe) })
	}
}

func torchStepMatches(t *testing.T, recipe string) {
	recipe, decay, _ := strings.Cut(recipe, "+")
	dist := dcgan.Uniform
	if recipe == "original" {
		dist = dcgan.Normal
	}
	tr := newTorchRun(t, recipe, dist)
	switch decay {
	case "lr-decay":
		tr.cfg.LRDecay = LRDecayLinear
	case "r1":
		// Lazy R1 due on the 7th D step only, so step 7 (the compared one) takes it,
		// with gamma 7 x 0.1.
		tr.cfg.Model.R1, tr.cfg.Model.R1Every = 0.1, 7
	case "dsteps7":
		// Steps 1-6 update D only; step 7, the compared one, takes G's first steps.
		tr.cfg.Model.DSteps = 7
	case "dsteps2":
		// Step 7 updates D only: G and its EMA must stay as at step 6 in both engines.
		tr.cfg.Model.DSteps = 2
	case "specreg7":
		// The spectral compensation is due after step 7's D update: D's weights are
		// compensated (torch.linalg.svd against avatargan's Gram eigendecomposition)
		// before G's step, which then sees the compensated D in both engines.
		tr.cfg.Model.SpectralReg = 7
	case "phasebal2":
		// G's last two transposed convolutions balanced after every G update, in both
		// engines (the run starts balanced in avatargan; PyTorch continues it).
		tr.cfg.Model.PhaseBalance = 2
	case "spectrum":
		// G's loss with the spectrum loss at a weight where its gradient is as large as
		// the adversarial one's (gonum's FFTs against torch.fft, both float64).
		tr.cfg.Model.SpectrumLoss = 1
	case "spectrumwin":
		// The same with the Hann window (--spectrum-window).
		tr.cfg.Model.SpectrumLoss, tr.cfg.Model.SpectrumWindow = 1, true
	case "patch":
		// G's loss with the patch loss (the same draw of directions and positions in
		// both engines, float32 GEMMs and radix sorts against float64 torch.sort).
		tr.cfg.Model.PatchLoss = 1
	case "patchlow":
		// The same with the half-size level low-pass (--patch-lowpass).
		tr.cfg.Model.PatchLoss, tr.cfg.Model.PatchLowPass = 1, true
	case "warmups":
		// G's rate warmed up over 100 updates (step 7's at 7/100) and an EMA without its
		// warm-up (a fine-tune's), in both engines.
		tr.cfg.LRWarmupG, tr.cfg.EMANoWarmup = 100, true
	}
	base := filepath.Join(t.TempDir(), "run")
	trainTo(t, context.Background(), tr.cfg, tr.data, base, 6, nil)
	goDir, ptDir := filepath.Join(t.TempDir(), "go"), filepath.Join(t.TempDir(), "pt")
	copyDir(t, base, goDir)
	copyDir(t, base, ptDir)
	trainTo(t, context.Background(), Config{}, tr.data, goDir, 7, nil)
	out := tr.python(t, "-m", "avatargan_torch.train", "--run", ptDir, "--data", tr.folder, "--cache", tr.cacheDir, "--max-steps", "7")
	t.Logf("pytorch: %s", strings.TrimSpace(out))
	a, err := checkpoint.Read(filepath.Join(goDir, checkpoint.Name(7)))
	if err != nil {
		t.Fatal(err)
	}
	b, err := checkpoint.Read(filepath.Join(ptDir, checkpoint.Name(7)))
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Tensors) != len(b.Tensors) {
		t.Fatalf("%d tensors from avatargan, %d from PyTorch", len(a.Tensors), len(b.Tensors))
	}
	m := tr.cfg.Model
	// Adam's update is at most lr*(1-b1)/sqrt(1-b2) * sqrt(1-b2^t)/(1-b1^t) in size (Kingma
	// & Ba, sec. 2.1, for 1-b1 > sqrt(1-b2)); G takes GSteps Adam steps on the
	// iterations that update it (every DSteps-th), D one. Two engines' steps differ by
	// at most twice that.
	adamBound := func(lr, b1, b2 float64, t int) float64 {
		return lr * (1 - b1) / math.Sqrt(1-b2) * math.Sqrt(1-math.Pow(b2, float64(t))) / (1 - math.Pow(b1, float64(t)))
	}
	var tolG, tolD float64
	if dsteps := max(m.DSteps, 1); 7%dsteps == 0 {
		for k := 1; k <= m.GSteps; k++ {
			tolG += 2 * adamBound(m.LRG, m.Beta1, m.Beta2, 6/dsteps*m.GSteps+k)
		}
	}
	tolD = 2 * adamBound(m.LRD, m.Beta1D, m.Beta2D, 7)
	nullTol := func(name string) (float64, bool) {
		// Without a G step at step 7 (DSteps 2) G's biases are step 6's in both engines,
		// and the running means that take them in are ordinary values.
		if tolG > 0 && nullBiasG.MatchString(name) {
			return tolG, true
		}
		if m.DNorm == dcgan.DBatchNorm && nullBiasD.MatchString(name) {
			return tolD, true
		}
		return 0, false
	}
	worst := 0.0
	for i := range a.Tensors {
		x := &a.Tensors[i]
		y, ok := b.Get(x.Name)
		if !ok {
			t.Fatalf("PyTorch's checkpoint lacks %s", x.Name)
		}
		if x.DType == "I64" {
			u, _ := x.Int64s()
			v, _ := y.Int64s()
			if len(u) != 1 || len(v) != 1 || u[0] != v[0] {
				t.Errorf("%s: %v (avatargan) vs %v (PyTorch)", x.Name, u, v)
			}
			continue
		}
		if y.DType != "F32" || len(x.F32) != len(y.F32) {
			t.Fatalf("%s: %s %v vs %s %v", x.Name, x.DType, x.Shape, y.DType, y.Shape)
		}
		var diff, scale, scaleB float64
		for j := range x.F32 {
			diff = max(diff, math.Abs(float64(x.F32[j])-float64(y.F32[j])))
			scale = max(scale, math.Abs(float64(x.F32[j])))
			scaleB = max(scaleB, math.Abs(float64(y.F32[j])))
		}
		tol, null := nullTol(x.Name)
		switch {
		case null && strings.HasSuffix(x.Name, ".exp_avg"):
			if scale >= 1e-6 || scaleB >= 1e-6 {
				t.Errorf("%s: max |exp_avg| %.3g (avatargan), %.3g (PyTorch), want noise (< 1e-6): is this gradient not zero?", x.Name, scale, scaleB)
			}
		case null && strings.HasSuffix(x.Name, ".exp_avg_sq"):
			if scale >= 1e-12 || scaleB >= 1e-12 {
				t.Errorf("%s: max exp_avg_sq %.3g (avatargan), %.3g (PyTorch), want noise (< 1e-12)", x.Name, scale, scaleB)
			}
		case null:
			if diff > tol {
				t.Errorf("%s: max |avatargan - PyTorch| = %.3g > %.3g (twice Adam's largest steps)", x.Name, diff, tol)
			}
		default:
			if diff > 1e-4*scale {
				t.Errorf("%s: max |avatargan - PyTorch| = %.3g, scale %.3g: relative %.3g > 1e-4", x.Name, diff, scale, diff/scale)
			}
			worst = max(worst, diff/max(scale, 1e-30))
		}
	}
	t.Logf("largest relative difference outside the biases before BatchNorm: %.3g", worst)
	if dsteps := max(m.DSteps, 1); 7%dsteps != 0 {
		// No G step at step 7: G's weights, its EMA and its Adam moments are step 6's
		// bit for bit in both engines (BatchNorm's running statistics move: D's step
		// runs G in training mode).
		c, err := checkpoint.Read(filepath.Join(base, checkpoint.Name(6)))
		if err != nil {
			t.Fatal(err)
		}
		kept := 0
		for _, z := range c.Tensors {
			if z.DType != "F32" || strings.Contains(z.Name, ".running_") ||
				!(strings.HasPrefix(z.Name, "generator.") || strings.HasPrefix(z.Name, "ema.") || strings.HasPrefix(z.Name, "adam_g.")) {
				continue
			}
			kept++
			for _, f := range []*checkpoint.File{a, b} {
				w, ok := f.Get(z.Name)
				if !ok || !slices.EqualFunc(w.F32, z.F32, func(u, v float32) bool { return math.Float32bits(u) == math.Float32bits(v) }) {
					t.Errorf("%s changed at step 7 without a G step (in %s)", z.Name, map[bool]string{true: "avatargan", false: "PyTorch"}[f == a])
				}
			}
		}
		if kept == 0 {
			t.Fatal("no G tensors in step 6's checkpoint")
		}
	}
	for k, v := range a.Metadata {
		if k != "run" && b.Metadata[k] != v {
			t.Errorf("metadata %s: %q vs %q", k, v, b.Metadata[k])
		}
	}
	ra, err := ReadRecords(filepath.Join(goDir, MetricsFile), 7)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := ReadRecords(filepath.Join(ptDir, MetricsFile), 7)
	if err != nil {
		t.Fatal(err)
	}
	if len(ra) != 7 || len(rb) != 7 {
		t.Fatalf("metrics: %d and %d records, want 7", len(ra), len(rb))
	}
	x, y := ra[6], rb[6]
	if (x.GLoss == nil) != (y.GLoss == nil) {
		t.Fatalf("step 7: G loss in avatargan's record %v, in PyTorch's %v", x.GLoss != nil, y.GLoss != nil)
	}
	stats := [][2]float64{{x.DLoss, y.DLoss}, {x.DReal, y.DReal}, {x.DFake, y.DFake}}
	if x.GLoss != nil {
		stats = append(stats, [2]float64{*x.GLoss, *y.GLoss})
	}
	for _, p := range stats {
		if math.Abs(p[0]-p[1]) > 1e-5*math.Abs(p[0]) {
			t.Errorf("step 7 statistics: avatargan %+v, PyTorch %+v", x, y)
			break
		}
	}
}

// freePort returns a TCP port that was free a moment ago, for torchrun's rendezvous.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestTorchDDPContinuesRun runs 2 processes of PyTorch data parallelism (gloo, CPU) on
// an avatargan run from step 3 to step 8 (batch 8: 4 per process), then checks that
// avatargan resumes the run from PyTorch's checkpoint (train.Open and two more steps)
// and that avatargan's loader (generate, serve, export) loads it.
func TestTorchDDPContinuesRun(t *testing.T) {
	tr := newTorchRun(t, "original", dcgan.Uniform)
	tr.cfg.CheckpointEvery = 2
	dir := filepath.Join(t.TempDir(), "run")
	trainTo(t, context.Background(), tr.cfg, tr.data, dir, 3, nil)
	out := tr.python(t, "-m", "avatargan_torch.run", "--nnodes", "1", "--nproc_per_node", "2",
		"--master_addr", "127.0.0.1", "--master_port", strconv.Itoa(freePort(t)),
		"-m", "avatargan_torch.train", "--run", dir, "--data", tr.folder, "--cache", tr.cacheDir, "--max-steps", "8")
	t.Logf("pytorch: %s", strings.TrimSpace(out))
	if !strings.Contains(out, "batch 4 per process, effective batch 8") {
		t.Fatalf("torchrun did not report 2 x 4 images:\n%s", out)
	}
	// The Python reader's content hash must equal the one the run recorded.
	if c, _ := LoadConfig(dir); c.DataContent == "" || strings.Contains(out, "differs from the run's") {
		t.Fatalf("PyTorch saw other data than the run recorded (data_content %q):\n%s", c.DataContent, out)
	}
	latest, err := checkpoint.Latest(dir)
	if err != nil || filepath.Base(latest) != checkpoint.Name(8) {
		t.Fatalf("latest checkpoint %q (%v), want step 8", latest, err)
	}
	recs, err := ReadRecords(filepath.Join(dir, MetricsFile), 100)
	if err != nil || len(recs) != 8 || recs[7].Step != 8 {
		t.Fatalf("metrics after PyTorch: %d records (%v)", len(recs), err)
	}
	// avatargan's loader: the EMA generator with recalibrated BatchNorm, as generate uses it.
	m, err := avatar.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	imgs, err := m.Generate(m.Seeds(0, 1, 2, 3))
	if err != nil || len(imgs) != 4 || imgs[0].Bounds().Dx() != 16 {
		t.Fatalf("generate from PyTorch's checkpoint: %d images, %v", len(imgs), err)
	}
	// avatargan resumes at step 8 and trains on.
	r, err := Open(Config{}, tr.data, Options{Dir: dir, MaxSteps: 10})
	if err != nil {
		t.Fatal(err)
	}
	if r.Step != 8 {
		t.Fatalf("avatargan resumed at step %d, want 8", r.Step)
	}
	if err := r.Train(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r.Step != 10 {
		t.Fatalf("stopped at %d", r.Step)
	}
	recs, _ = ReadRecords(filepath.Join(dir, MetricsFile), 100)
	if len(recs) != 10 {
		t.Fatalf("metrics: %d records, want 10", len(recs))
	}
	for _, rec := range recs {
		if !(rec.DLoss > 0 && rec.GLoss != nil && *rec.GLoss > 0) {
			t.Fatalf("bad record %+v", rec)
		}
	}
}

// TestTorchPruneHolding checks that the PyTorch trainer's rotation (avatargan_torch.
// checkpoint.prune, which it calls with the run's keep and keep_every) leaves the same
// checkpoints as checkpoint.PruneHolding, milestones included, so a run continued in
// PyTorch keeps what --keep-every promised.
func TestTorchPruneHolding(t *testing.T) {
	tr := &torchRun{py: testtool.Python(t, "torch"), pythonPath: filepath.Join(testutil.ModuleRoot(t), "python")}
	for _, c := range []struct{ keep, every int }{{2, 250}, {3, 0}, {1, 125}} {
		var left [2]string
		for i := range left {
			dir := t.TempDir()
			for _, s := range []int{0, 125, 250, 375, 500, 522, 625, 750, 875, 1000, 1044} {
				if err := os.WriteFile(filepath.Join(dir, checkpoint.Name(s)), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if i == 0 {
				if err := checkpoint.PruneHolding(dir, c.keep, c.every); err != nil {
					t.Fatal(err)
				}
			} else {
				tr.python(t, "-c", "import sys; from avatargan_torch import checkpoint; checkpoint.prune(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))",
					dir, strconv.Itoa(c.keep), strconv.Itoa(c.every))
			}
			cks, err := checkpoint.List(dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, ck := range cks {
				left[i] += strconv.Itoa(ck.Step) + " "
			}
		}
		if left[0] != left[1] {
			t.Errorf("keep %d, every %d: Go left %s, PyTorch %s", c.keep, c.every, left[0], left[1])
		}
	}
}

// generate runs avatargan_torch.load_generator on the generator file or training
// checkpoint at path and its eval-mode forward on the latents z, and returns the
// loaded module's state_dict names (in order) and its images (NCHW).
func (tr *torchRun) generate(t *testing.T, path string, z []float32) ([]string, []float32) {
	t.Helper()
	zj, err := json.Marshal(z)
	if err != nil {
		t.Fatal(err)
	}
	const script = `import json, sys, torch
from avatargan_torch import load_generator
g = load_generator(sys.argv[1])
z = torch.tensor(json.loads(sys.argv[2]), dtype=torch.float32).reshape(-1, g.z)
with torch.no_grad():
    y = g(z)
print(json.dumps({"keys": list(g.state_dict()), "img": y.flatten().tolist()}))
`
	cmd := tr.command("-c", script, path, string(zj))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("load_generator(%s) in PyTorch: %v", path, err)
	}
	var res struct {
		Keys []string  `json:"keys"`
		Img  []float32 `json:"img"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("PyTorch's output: %v\n%s", err, out)
	}
	return res.Keys, res.Img
}

// sameImages fails unless PyTorch's state_dict names are gen's tensor names in order
// and its images are within 1e-5 of avatargan's (FP32 rounding in other summation
// orders; measured ~1e-7); it returns the largest difference.
func sameImages(t *testing.T, gen *dcgan.Generator, keys []string, got, want []float32) float64 {
	t.Helper()
	var names []string
	for _, x := range gen.Tensors() {
		names = append(names, x.Name)
	}
	if !slices.Equal(keys, names) {
		t.Errorf("PyTorch's state_dict:\n %v\navatargan's tensors:\n %v", keys, names)
	}
	if len(got) != len(want) {
		t.Fatalf("PyTorch computed %d values, avatargan %d", len(got), len(want))
	}
	worst := 0.0
	for i := range want {
		worst = max(worst, math.Abs(float64(got[i])-float64(want[i])))
	}
	if worst > 1e-5 {
		t.Errorf("images: max |PyTorch - avatargan| = %.3g > 1e-5", worst)
	}
	return worst
}

// TestTorchLoadsRefineExport checks that the PyTorch twin (avatargan_torch.
// load_generator) loads generator files that avatargan exports, with a refinement
// head and without, and computes the same images: a tiny generator (16 px, z 8, gf 4,
// refine 3) with every tensor random (the head's, BatchNorm statistics and counts
// included), saved by avatar's Save, 6 images in eval mode.
func TestTorchLoadsRefineExport(t *testing.T) {
	tr := &torchRun{py: testtool.Python(t, "torch"), pythonPath: filepath.Join(testutil.ModuleRoot(t), "python")}
	for _, refine := range []int{0, 3} {
		gen := dcgan.NewGeneratorRefine(16, 8, 4, refine)
		r := rand.New(rand.NewPCG(11, uint64(refine)))
		for _, x := range gen.Tensors() {
			if x.Count != nil {
				*x.Count = 9
				continue
			}
			for i := range x.Data {
				var v float64
				switch {
				case strings.HasSuffix(x.Name, ".running_var"):
					v = 0.5 + r.Float64()
				case strings.HasSuffix(x.Name, ".running_mean"):
					v = 0.2 * r.NormFloat64()
				case strings.Contains(x.Name, "bn") && strings.HasSuffix(x.Name, ".weight"):
					v = 1 + 0.1*r.NormFloat64()
				case strings.HasSuffix(x.Name, ".bias"):
					v = 0.05 * r.NormFloat64()
				default:
					v = 0.1 * r.NormFloat64()
				}
				x.Data[i] = float32(v)
			}
		}
		m := avatar.New(gen, avatar.Spec{Size: 16, ZDim: 8, GF: 4, Refine: refine, Dist: dcgan.Uniform}, "test")
		path := filepath.Join(t.TempDir(), "g.safetensors")
		if err := m.Save(path, "F32"); err != nil {
			t.Fatal(err)
		}
		z := m.Seeds(0, 1, 2, 3, 4, 5)
		want, err := m.Tensor(z)
		if err != nil {
			t.Fatal(err)
		}
		keys, got := tr.generate(t, path, z)
		worst := sameImages(t, gen, keys, got, want)
		t.Logf("refine %d: max |PyTorch - avatargan| %.3g", refine, worst)
	}
}

// TestTorchRefineRun checks a training run with a refinement head against the PyTorch
// twin: its trainer refuses to continue the run (it does not implement the head) with
// a message naming it, and load_generator loads the run's checkpoint (the
// "avatargan-train" format, its config giving refine) and computes the images that
// avatargan's generator computes from the same checkpoint in eval mode.
func TestTorchRefineRun(t *testing.T) {
	tr := newTorchRun(t, "original", dcgan.Uniform)
	tr.cfg.Model.Refine = 4
	dir := filepath.Join(t.TempDir(), "run")
	trainTo(t, context.Background(), tr.cfg, tr.data, dir, 2, nil)

	out, err := tr.command("-m", "avatargan_torch.train", "--run", dir, "--data", tr.folder, "--cache", tr.cacheDir, "--max-steps", "3").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "refine") || !strings.Contains(string(out), "does not implement") {
		t.Errorf("PyTorch's trainer on a run with a refinement head: %v\n%s\nwant a refusal naming refine", err, out)
	}
	if latest, _ := checkpoint.Latest(dir); filepath.Base(latest) != checkpoint.Name(2) {
		t.Errorf("latest checkpoint %q after the refusal, want step 2's", latest)
	}

	path := filepath.Join(dir, checkpoint.Name(2))
	f, err := checkpoint.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	m := tr.cfg.Model
	gen := dcgan.NewGeneratorRefine(m.Size, m.ZDim, m.GF, m.Refine)
	if err := state.Load(f, "generator.", gen.Tensors(), false); err != nil {
		t.Fatal(err)
	}
	if gen.RefineBN.NumBatchesTracked == 0 {
		t.Fatal("the checkpoint's refine_bn has seen no batch: the run did not train the head")
	}
	z := make([]float32, 6*m.ZDim)
	for i := range 6 {
		dcgan.Latent(uint64(i), m.Dist, z[i*m.ZDim:(i+1)*m.ZDim])
	}
	want := slices.Clone(gen.Forward(z, 6, false))
	keys, got := tr.generate(t, path, z)
	worst := sameImages(t, gen, keys, got, want)
	// The head must matter at this tolerance: without its last convolution the images
	// move by far more than the engines differ.
	clear(gen.RefineConv.Weight.Data)
	clear(gen.RefineConv.Bias.Data)
	plain := gen.Forward(z, 6, false)
	var head, scale float64
	for i := range want {
		head = max(head, math.Abs(float64(plain[i])-float64(want[i])))
		scale = max(scale, math.Abs(float64(want[i])))
	}
	if head < 100*max(worst, 1e-7) {
		t.Errorf("the head moves the images by %.3g only, against a difference of %.3g between the engines", head, worst)
	}
	t.Logf("max |PyTorch - avatargan| %.3g; images up to %.3g, the head's part up to %.3g", worst, scale, head)
}
