package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"avatargan/dataset"
	"avatargan/dcgan"
	"avatargan/internal/gemm"
	"avatargan/train"
)

func cmdTrain(ctx context.Context, o stdio, args []string) error {
	fs := newFlags(o, "train", "--data DIR [--out RUN_DIR] [flags]")
	cfg := train.DefaultConfig()
	m := &cfg.Model
	data := fs.String("data", "", "folder of training images (JPEG, PNG, GIF, WebP; scanned recursively)")
	out := fs.String("out", "", "run directory (default runs/<date-time>); an existing run there is resumed")
	resume := fs.String("resume", "", "resume the run in this directory (same as --out on an existing run, but an error if there is none)")
	cacheDir := fs.String("cache", "", "dataset cache directory (default: the user cache dir)")
	maxSteps := fs.Int("max-steps", 0, "stop after this many steps in total (0: run all epochs)")
	fs.IntVar(&m.Size, "size", m.Size, "image size, a multiple of 16 (32, 48, 64, 96, 128)")
	fs.IntVar(&m.ZDim, "z", m.ZDim, "latent size")
	fs.IntVar(&m.GF, "gf", m.GF, "generator base width")
	fs.IntVar(&m.Refine, "refine", 0, "width of a refinement head on the generator: a second transposed convolution to N channels at the full size, BatchNorm, ReLU, and a 3x3 convolution to RGB added to the output layer's (fine detail gets a nonlinearity of its own; 0: none, the original network; from a generator without one, the head starts at zero)")
	fs.IntVar(&m.DF, "df", m.DF, "discriminator base width")
	fs.IntVar(&m.Batch, "batch", m.Batch, "batch size")
	recipe := fs.String("recipe", "original", "training recipe: "+strings.Join(dcgan.Recipes(), ", ")+" (see README); the flags below override its settings")
	fs.Float64Var(&m.LRG, "lr-g", m.LRG, "generator Adam learning rate")
	fs.Float64Var(&m.LRD, "lr-d", m.LRD, "discriminator Adam learning rate")
	beta1 := fs.Float64("beta1", m.Beta1, "Adam beta1 of both networks")
	beta2 := fs.Float64("beta2", m.Beta2, "Adam beta2 of both networks")
	betasG := fs.String("betas-g", "", "the generator's Adam betas as beta1,beta2 (overrides --beta1/--beta2)")
	betasD := fs.String("betas-d", "", "the discriminator's Adam betas as beta1,beta2 (overrides --beta1/--beta2)")
	fs.IntVar(&m.GSteps, "g-steps", m.GSteps, "generator steps per discriminator step")
	fs.IntVar(&m.DSteps, "d-steps", 1, "discriminator steps per generator update: G's steps run on every N-th iteration only")
	fs.IntVar(&m.DWarmup, "d-warmup", 0, "train D alone for the run's first N iterations (for a new discriminator against a trained generator: --from a generator file)")
	loss := fs.String("loss", "bce", "adversarial loss: bce (the original) or hinge")
	fs.BoolVar(&m.SpectralNorm, "spectral-norm", false, "spectral normalisation of every discriminator weight")
	dnorm := fs.String("d-norm", "batch", "normalisation after the discriminator's conv1..3: batch or none")
	fs.StringVar(&m.Augment, "augment", "", "DiffAugment policy for every image D sees: any of color,translation,cutout (comma-separated)")
	fs.Float64Var(&m.R1, "r1", 0, "weight gamma of the R1 penalty gamma/2 E|dD(x)/dx|^2 on real images (needs --d-norm none; 0: off)")
	fs.IntVar(&m.R1Every, "r1-every", 1, "take the R1 penalty every N discriminator steps, scaled by N (lazy regularisation)")
	fs.IntVar(&m.SpectralReg, "spectral-reg", 0, "every N discriminator updates, raise the top half of each spectral-normed D weight's singular values to its largest (SR-GAN's spectral compensation, against D's spectral collapse; needs spectral norm; 0: off)")
	fs.IntVar(&m.PhaseBalance, "phase-balance", 0, "keep the generator's last N transposed convolutions phase-balanced (equal tap sums per stride phase: no checkerboard from a smooth input), from the start and after every G update (1: the output layer and a refinement head's; 0: off)")
	fs.Float64Var(&m.PatchLoss, "patch-loss", 0, "weight of a loss on G that matches the distribution of its images' 5x5 patches (Laplacian bands at full and half size) to the real batch's: sliced Wasserstein distance on random projections (0: off)")
	fs.BoolVar(&m.PatchLowPass, "patch-lowpass", false, "the patch loss's half-size level compares the half-size images themselves (colours, layout) instead of their Laplacian band (needs --patch-loss)")
	fs.Float64Var(&m.SpectrumLoss, "spectrum-loss", 0, "weight of a loss on G that matches the mean Fourier power spectrum (Y, Cb, Cr) of its images to the real batch's: squared log ratio per frequency (0: off)")
	fs.BoolVar(&m.SpectrumWindow, "spectrum-window", false, "multiply the images by a 2-D Hann window before the spectrum loss's transform, so that the loss cannot be met with spikes in the corner pixels (needs --spectrum-loss)")
	dist := fs.String("z-dist", "uniform", "latent distribution: uniform (U(-1,1)) or normal")
	fs.Uint64Var(&m.Seed, "seed", m.Seed, "seed of the initialisation, the data order and the latents")
	fs.IntVar(&cfg.Epochs, "epochs", cfg.Epochs, "epochs to train (on resume, only when given: the new total, to extend or shorten the run)")
	noShuffle := fs.Bool("no-shuffle", false, "keep the original's fixed file order instead of shuffling each epoch")
	fs.BoolVar(&cfg.Flip, "flip", false, "augment with random horizontal flips")
	fs.IntVar(&cfg.LRWarmupG, "lr-warmup-g", 0, "G's rate rises linearly from 0 over the first N updates of a fresh G optimiser (a run from scratch or --from a generator file), so that a trained G does not overshoot its discriminator with Adam's first full-rate sign steps")
	fs.StringVar(&cfg.LRDecay, "lr-decay", "none", "learning-rate schedule: none, or linear (both rates fall linearly to zero at the last epoch, from the run's first step or its --from step)")
	fs.Float64Var(&cfg.EMA, "ema", cfg.EMA, "decay of an exponential moving average of G's weights used for samples, eval and export (0: off)")
	fs.IntVar(&cfg.EvalEvery, "eval-every", 0, "score the sampling generator (SWD) every N steps, plot quality.png, keep ckpt-best.safetensors (0: off)")
	fs.IntVar(&cfg.EvalN, "eval-n", cfg.EvalN, "avatars and real images per --eval-every score")
	fs.IntVar(&cfg.SampleEvery, "sample-every", cfg.SampleEvery, "write a sample grid every N steps (and at each epoch end)")
	fs.IntVar(&cfg.CheckpointEvery, "checkpoint-every", cfg.CheckpointEvery, "write a checkpoint every N steps (and at each epoch end)")
	fs.IntVar(&cfg.Keep, "keep", cfg.Keep, "checkpoints to keep (each holds weights, Adam moments and G's EMA: ~128 MB at the default sizes)")
	fs.IntVar(&cfg.KeepEvery, "keep-every", 0, "also keep every checkpoint whose step is a multiple of N, beside the last --keep (0: off; a multiple of --checkpoint-every): milestones to rescore later with eval at a larger -n")
	allowData := fs.Bool("allow-data-change", false, "resume even though --data holds other images than the run trained on")
	from := fs.String("from", "", "start this new run from another run's training checkpoint (file, or run directory for its latest): its weights, optimiser state and step; give the same network shape (recipe), other rates, betas, loss or augmentation may differ. A generator file (export; the embedded model: avatargan export --out FILE) gives G's weights only, with a new D from step 0 (see --d-warmup), and the sizes not given (--size, -z, --gf, --refine, --z-dist); a --gf wider than its own widens it without changing its images")
	emaWarmup := fs.Bool("ema-warmup", true, "warm the EMA's decay up as (1+t)/(10+t) over the first iterations, for an average that starts at random weights; off by default --from a generator file, whose trained weights the average starts at")
	threads := fs.Int("threads", 0, "worker threads for training and decoding (0: all CPUs)")
	fs.StringVar(&cfg.Precision, "precision", "", "operand precision of the GEMMs: f32, or bf16 for mixed precision (fast with AVX512_BF16 on AMD Zen 4/5 or AMX on Intel Xeons); default f32, or on resume the run's, which this may change")
	if err := parse(fs, args); err != nil {
		return err
	}
	if cfg.Precision != "" {
		p, err := gemm.ParsePrecision(cfg.Precision)
		if err != nil {
			return usageError{fmt.Errorf("--precision: %w", err)}
		}
		warnSlowBF16(o.err, p)
	}
	if *threads < 0 || *threads > 4096 {
		return fmt.Errorf("--threads %d: want 0 (all CPUs) to 4096", *threads)
	}
	if *threads > 0 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(*threads))
		defer gemm.SetThreads(gemm.SetThreads(*threads))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if err := applyRecipe(m, *recipe, given, recipeFlags{*beta1, *beta2, *betasG, *betasD, *loss, *dnorm}); err != nil {
		return err
	}
	var err error
	if m.Dist, err = dcgan.ParseDist(*dist); err != nil {
		return fmt.Errorf("--z-dist: %w", err)
	}
	if *from != "" {
		// A generator file (the embedded model, an export) sets the sizes not given,
		// so fine-tuning it needs no --gf; given ones must match (or widen it).
		s, ok, err := train.FromGenerator(*from)
		if err != nil {
			return err
		}
		if ok {
			for _, f := range []struct {
				name string
				dst  *int
				v    int
			}{{"size", &m.Size, s.Size}, {"z", &m.ZDim, s.ZDim}, {"gf", &m.GF, s.GF}, {"refine", &m.Refine, s.Refine}} {
				if !given[f.name] {
					*f.dst = f.v
				}
			}
			if !given["z-dist"] {
				m.Dist = s.Dist
			}
		}
	}
	cfg.Shuffle = !*noShuffle
	cfg.EMANoWarmup = !*emaWarmup
	dir := *out
	if *resume != "" {
		if !train.Exists(*resume) {
			return fmt.Errorf("--resume %s: no run with a checkpoint there", *resume)
		}
		if *out != "" && filepath.Clean(*out) != filepath.Clean(*resume) {
			return fmt.Errorf("--out %s and --resume %s name different runs; give one", *out, *resume)
		}
		dir = *resume
	}
	created := false
	if dir == "" {
		if *data == "" {
			return fmt.Errorf("--data is required (a folder of images)")
		}
		d, err := train.NewRunDir("runs", time.Now())
		if err != nil {
			return err
		}
		dir, created = d, true
	}
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		created = true
	}
	// Lock the run directory before the (possibly long) data load, so a second run on
	// it is refused at once; the run owns the lock from train.Open on.
	lock, err := train.LockDir(dir)
	if err != nil {
		return err
	}
	defer func() {
		if lock != nil {
			// Failed before train.Open: a run directory made by this command is empty.
			lock.Unlock()
			if created {
				os.RemoveAll(dir)
			}
		}
	}()
	if train.Exists(dir) {
		if *from != "" {
			return fmt.Errorf("--from %s: %s is an existing run; --from starts a new one (choose another --out)", *from, dir)
		}
		stored, err := train.LoadConfig(dir)
		if err != nil {
			return err
		}
		if err := resumeConflicts(dir, given, cfg, stored); err != nil {
			return err
		}
		if *data == "" {
			*data = stored.Data
		}
		// The run keeps its configuration; only an explicit --epochs changes it (0 tells
		// train.Open to keep the stored number).
		cfg.Model = stored.Model
		if !given["epochs"] {
			cfg.Epochs = 0
		}
		// Quality tracking changes nothing in training: it may be turned on, off or
		// retuned on resume; without the flags the run keeps its settings.
		if !given["eval-every"] {
			cfg.EvalEvery = -1
		}
		if !given["eval-n"] {
			cfg.EvalN = 0
		}
	}
	if *data == "" {
		return fmt.Errorf("--data is required (a folder of images)")
	}
	// Bound every setting before the data is loaded (one line each; train.Open checks
	// again). On resume Epochs 0 means "keep the run's".
	check := cfg
	check.Epochs = cmp.Or(check.Epochs, 1)
	if err := check.Validate(); err != nil {
		return err
	}
	absData, err := filepath.Abs(*data)
	if err != nil {
		return err
	}
	cfg.Data = absData
	f, ok := o.out.(*os.File)
	tty := ok && term.IsTerminal(int(f.Fd()))
	fmt.Fprintf(o.out, "loading %s at %d px...\n", absData, m.Size)
	opts := dataset.Options{Dir: absData, Size: m.Size, CacheDir: *cacheDir, Workers: *threads,
		Waiting: func(err error) {
			fmt.Fprintf(o.err, "waiting for another process that builds the same dataset cache (%v)\n", err)
		}}
	if tty {
		bar := progressbar.NewOptions(-1, progressbar.OptionSetDescription("decoding"), progressbar.OptionShowCount(), progressbar.OptionClearOnFinish())
		opts.Progress = func(done, total int) { bar.ChangeMax(total); bar.Set(done) }
		defer bar.Finish()
	}
	set, rep, err := dataset.LoadContext(ctx, opts)
	if err != nil {
		return err
	}
	fmt.Fprintln(o.out, rep.String())
	topts := train.Options{Dir: dir, CacheDir: *cacheDir, MaxSteps: *maxSteps, Log: o.out, Lock: lock, AllowDataChange: *allowData, From: *from,
		EMAWarmup: given["ema-warmup"] && *emaWarmup}
	bar := &barProgress{}
	if tty {
		topts.Progress = bar
	}
	lock = nil // train.Open owns it now
	run, err := train.Open(cfg, set, topts)
	if err != nil {
		return err
	}
	defer run.Close()
	bar.total = min(run.TotalSteps(), cmp.Or(*maxSteps, run.TotalSteps()))
	fmt.Fprintf(o.out, "run %s: %d epochs x %d steps of %d images; samples in %s\n", dir, run.Cfg.Epochs, run.BatchesPerEpoch(), run.Cfg.Model.Batch, filepath.Join(dir, train.SamplesDir))
	if err := run.Train(ctx); err != nil {
		return err
	}
	fmt.Fprintf(o.out, "done: step %d; latest checkpoint in %s\n", run.Step, dir)
	return nil
}

// barProgress draws one terminal progress bar per epoch: "epoch k/N", the epoch's
// steps with its ETA, and the whole run's ETA with images/s and the latest losses.
type barProgress struct {
	bar    *progressbar.ProgressBar
	epochs int
	// total is the step the run stops at; first is the first step this process
	// reported, at time started.
	total, first int
	started      time.Time
}

// Epoch starts a new bar for the epoch (train.Progress).
func (p *barProgress) Epoch(epoch, epochs, total, done int) {
	p.epochs = epochs
	p.bar = progressbar.NewOptions(total,
		progressbar.OptionSetDescription(fmt.Sprintf("epoch %d/%d", epoch, epochs)),
		progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetWidth(30), progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionOnCompletion(func() { fmt.Println() }))
	p.bar.Set(done)
}

// Step advances the bar and shows the latest losses and speed (train.Progress).
func (p *barProgress) Step(r train.Record) {
	if p.started.IsZero() {
		// The clock of the total ETA starts at the first step, not at start-up.
		p.started = time.Now()
		p.first = r.Step
	}
	p.bar.Describe(p.describe(r, time.Since(p.started)))
	p.bar.Add(1)
}

// describe is the bar's text after record r, elapsed since this process's first step
// was reported: the ETA of the whole run assumes the rate of the steps since then.
func (p *barProgress) describe(r train.Record, elapsed time.Duration) string {
	eta := ""
	if done := r.Step - p.first; done > 0 && p.total > r.Step {
		left := time.Duration(float64(elapsed) / float64(done) * float64(p.total-r.Step))
		eta = fmt.Sprintf("  run ETA %s", left.Round(time.Second))
	}
	return fmt.Sprintf("epoch %d/%d  D %.3f G %s  %.0f img/s%s", r.Epoch, p.epochs, r.DLoss, train.FormatLoss(r.GLoss, 3), r.ImagesPS, eta)
}

// Finish ends the current bar (train.Progress).
func (p *barProgress) Finish() {
	if p.bar != nil {
		// Exit, not Finish: a run stopped mid-epoch (Ctrl-C, --max-steps) must not show
		// the epoch as complete.
		if !p.bar.IsFinished() {
			p.bar.Exit()
			fmt.Println()
		}
		p.bar = nil
	}
}

// resumeFlags are the train flags that define a run, with how to read each from a
// Config; on resume, giving one with a value other than the run's is an error.
var resumeFlags = map[string]func(c train.Config) any{
	"size":             func(c train.Config) any { return c.Model.Size },
	"z":                func(c train.Config) any { return c.Model.ZDim },
	"gf":               func(c train.Config) any { return c.Model.GF },
	"df":               func(c train.Config) any { return c.Model.DF },
	"refine":           func(c train.Config) any { return c.Model.Refine },
	"batch":            func(c train.Config) any { return c.Model.Batch },
	"lr-g":             func(c train.Config) any { return c.Model.LRG },
	"lr-d":             func(c train.Config) any { return c.Model.LRD },
	"beta1":            func(c train.Config) any { return [2]float64{c.Model.Beta1, c.Model.Beta1D} },
	"beta2":            func(c train.Config) any { return [2]float64{c.Model.Beta2, c.Model.Beta2D} },
	"betas-g":          func(c train.Config) any { return [2]float64{c.Model.Beta1, c.Model.Beta2} },
	"betas-d":          func(c train.Config) any { return [2]float64{c.Model.Beta1D, c.Model.Beta2D} },
	"g-steps":          func(c train.Config) any { return c.Model.GSteps },
	"d-steps":          func(c train.Config) any { return max(c.Model.DSteps, 1) },
	"d-warmup":         func(c train.Config) any { return c.Model.DWarmup },
	"loss":             func(c train.Config) any { return c.Model.Loss },
	"spectral-norm":    func(c train.Config) any { return c.Model.SpectralNorm },
	"d-norm":           func(c train.Config) any { return c.Model.DNorm },
	"augment":          func(c train.Config) any { return c.Model.Augment },
	"r1":               func(c train.Config) any { return c.Model.R1 },
	"r1-every":         func(c train.Config) any { return max(c.Model.R1Every, 1) },
	"spectral-reg":     func(c train.Config) any { return c.Model.SpectralReg },
	"phase-balance":    func(c train.Config) any { return c.Model.PhaseBalance },
	"spectrum-loss":    func(c train.Config) any { return c.Model.SpectrumLoss },
	"spectrum-window":  func(c train.Config) any { return c.Model.SpectrumWindow },
	"patch-loss":       func(c train.Config) any { return c.Model.PatchLoss },
	"patch-lowpass":    func(c train.Config) any { return c.Model.PatchLowPass },
	"ema-warmup":       func(c train.Config) any { return !c.EMANoWarmup },
	"eval-every":       func(c train.Config) any { return c.EvalEvery },
	"eval-n":           func(c train.Config) any { return c.EvalN },
	"z-dist":           func(c train.Config) any { return c.Model.Dist },
	"seed":             func(c train.Config) any { return c.Model.Seed },
	"no-shuffle":       func(c train.Config) any { return !c.Shuffle },
	"flip":             func(c train.Config) any { return c.Flip },
	"ema":              func(c train.Config) any { return c.EMA },
	"lr-decay":         func(c train.Config) any { return cmp.Or(c.LRDecay, "none") },
	"lr-warmup-g":      func(c train.Config) any { return c.LRWarmupG },
	"sample-every":     func(c train.Config) any { return c.SampleEvery },
	"checkpoint-every": func(c train.Config) any { return c.CheckpointEvery },
	"keep":             func(c train.Config) any { return c.Keep },
	"keep-every":       func(c train.Config) any { return c.KeepEvery },
}

// resumeConflicts reports the flags given explicitly (given) whose value differs from
// the stored configuration of the run being resumed: a resumed run continues exactly as
// it started, so silently ignoring them would be a surprise.
func resumeConflicts(dir string, given map[string]bool, cfg, stored train.Config) error {
	var bad []string
	for name := range given {
		get, ok := resumeFlags[name]
		if !ok {
			continue
		}
		if v, sv := get(cfg), get(stored); v != sv {
			bad = append(bad, fmt.Sprintf("--%s %v (the run has %v)", name, v, sv))
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	return fmt.Errorf("resuming %s: %s: a resumed run keeps its settings (only --epochs may change); start a new run with another --out to change them",
		dir, strings.Join(bad, ", "))
}

// recipeFlags are the train flags whose parsed form is not a Config field.
type recipeFlags struct {
	beta1, beta2   float64
	betasG, betasD string
	loss, dnorm    string
}

// applyRecipe sets m's recipe fields to the named recipe's, then re-applies the recipe
// flags given explicitly (given), so "--recipe sngan --lr-g 2e-4" is sngan with
// another generator rate. Sizes, batch, seed and latents come from m as parsed.
func applyRecipe(m *dcgan.Config, name string, given map[string]bool, f recipeFlags) error {
	parsed := *m
	if given["beta1"] {
		parsed.Beta1, parsed.Beta1D = f.beta1, f.beta1
	}
	if given["beta2"] {
		parsed.Beta2, parsed.Beta2D = f.beta2, f.beta2
	}
	for _, b := range []struct {
		flag, v  string
		dst1, d2 *float64
	}{{"betas-g", f.betasG, &parsed.Beta1, &parsed.Beta2}, {"betas-d", f.betasD, &parsed.Beta1D, &parsed.Beta2D}} {
		if !given[b.flag] {
			continue
		}
		parts := strings.Split(b.v, ",")
		var x [2]float64
		if len(parts) != 2 {
			return fmt.Errorf("--%s %q: want beta1,beta2 (e.g. 0.5,0.999)", b.flag, b.v)
		}
		for i, p := range parts {
			v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
			if err != nil {
				return fmt.Errorf("--%s %q: %v", b.flag, b.v, err)
			}
			x[i] = v
		}
		*b.dst1, *b.d2 = x[0], x[1]
	}
	var err error
	if parsed.Loss, err = dcgan.ParseLoss(f.loss); err != nil {
		return fmt.Errorf("--loss: %w", err)
	}
	if parsed.DNorm, err = dcgan.ParseDNorm(f.dnorm); err != nil {
		return fmt.Errorf("--d-norm: %w", err)
	}
	r, err := dcgan.Recipe(name, *m)
	if err != nil {
		return fmt.Errorf("--recipe: %w", err)
	}
	set := map[string]func(){
		"lr-g":            func() { r.LRG = parsed.LRG },
		"lr-d":            func() { r.LRD = parsed.LRD },
		"beta1":           func() { r.Beta1, r.Beta1D = parsed.Beta1, parsed.Beta1D },
		"beta2":           func() { r.Beta2, r.Beta2D = parsed.Beta2, parsed.Beta2D },
		"betas-g":         func() { r.Beta1, r.Beta2 = parsed.Beta1, parsed.Beta2 },
		"betas-d":         func() { r.Beta1D, r.Beta2D = parsed.Beta1D, parsed.Beta2D },
		"g-steps":         func() { r.GSteps = parsed.GSteps },
		"d-steps":         func() { r.DSteps = parsed.DSteps },
		"d-warmup":        func() { r.DWarmup = parsed.DWarmup },
		"loss":            func() { r.Loss = parsed.Loss },
		"spectral-norm":   func() { r.SpectralNorm = parsed.SpectralNorm },
		"d-norm":          func() { r.DNorm = parsed.DNorm },
		"augment":         func() { r.Augment = parsed.Augment },
		"r1":              func() { r.R1 = parsed.R1 },
		"r1-every":        func() { r.R1Every = parsed.R1Every },
		"spectral-reg":    func() { r.SpectralReg = parsed.SpectralReg },
		"phase-balance":   func() { r.PhaseBalance = parsed.PhaseBalance },
		"spectrum-loss":   func() { r.SpectrumLoss = parsed.SpectrumLoss },
		"spectrum-window": func() { r.SpectrumWindow = parsed.SpectrumWindow },
		"patch-loss":      func() { r.PatchLoss = parsed.PatchLoss },
		"patch-lowpass":   func() { r.PatchLowPass = parsed.PatchLowPass },
	}
	// In flag order of precedence: the single betas first, the pairs after them.
	for _, k := range []string{"lr-g", "lr-d", "beta1", "beta2", "betas-g", "betas-d", "g-steps", "d-steps", "d-warmup", "loss", "spectral-norm", "d-norm", "augment", "r1", "r1-every", "spectral-reg", "phase-balance", "spectrum-loss", "spectrum-window", "patch-loss", "patch-lowpass"} {
		if given[k] {
			set[k]()
		}
	}
	*m = r
	return nil
}
