package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"avatargan/dataset"
	"avatargan/dcgan"
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
	fs.IntVar(&m.DF, "df", m.DF, "discriminator base width")
	fs.IntVar(&m.Batch, "batch", m.Batch, "batch size")
	fs.Float64Var(&m.LRG, "lr-g", m.LRG, "generator Adam learning rate")
	fs.Float64Var(&m.LRD, "lr-d", m.LRD, "discriminator Adam learning rate")
	fs.Float64Var(&m.Beta1, "beta1", m.Beta1, "Adam beta1")
	fs.IntVar(&m.GSteps, "g-steps", m.GSteps, "generator steps per discriminator step")
	dist := fs.String("z-dist", "uniform", "latent distribution: uniform (U(-1,1)) or normal")
	fs.Uint64Var(&m.Seed, "seed", m.Seed, "seed of the initialisation, the data order and the latents")
	fs.IntVar(&cfg.Epochs, "epochs", cfg.Epochs, "epochs to train (on resume, only when given: the new total, to extend or shorten the run)")
	noShuffle := fs.Bool("no-shuffle", false, "keep the original's fixed file order instead of shuffling each epoch")
	fs.BoolVar(&cfg.Flip, "flip", false, "augment with random horizontal flips")
	fs.Float64Var(&cfg.EMA, "ema", 0, "decay of an exponential moving average of G's weights used for samples and export (e.g. 0.999; 0: off)")
	fs.IntVar(&cfg.SampleEvery, "sample-every", cfg.SampleEvery, "write a sample grid every N steps (and at each epoch end)")
	fs.IntVar(&cfg.CheckpointEvery, "checkpoint-every", cfg.CheckpointEvery, "write a checkpoint every N steps (and at each epoch end)")
	fs.IntVar(&cfg.Keep, "keep", cfg.Keep, "checkpoints to keep")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch *dist {
	case "uniform":
		m.Dist = dcgan.Uniform
	case "normal":
		m.Dist = dcgan.Normal
	default:
		return fmt.Errorf("--z-dist %q: want uniform or normal", *dist)
	}
	cfg.Shuffle = !*noShuffle
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
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
	if dir == "" {
		dir = filepath.Join("runs", time.Now().Format("20060102-150405"))
	}
	if train.Exists(dir) {
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
	}
	if *data == "" {
		return fmt.Errorf("--data is required (a folder of images)")
	}
	if err := m.Validate(); err != nil {
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
	opts := dataset.Options{Dir: absData, Size: m.Size, CacheDir: *cacheDir}
	if tty {
		bar := progressbar.NewOptions(-1, progressbar.OptionSetDescription("decoding"), progressbar.OptionShowCount(), progressbar.OptionClearOnFinish())
		opts.Progress = func(done, total int) { bar.ChangeMax(total); bar.Set(done) }
		defer bar.Finish()
	}
	set, rep, err := dataset.Load(opts)
	if err != nil {
		return err
	}
	fmt.Fprintln(o.out, rep.String())
	topts := train.Options{Dir: dir, CacheDir: *cacheDir, MaxSteps: *maxSteps, Log: o.out}
	if tty {
		topts.Progress = &barProgress{}
	}
	run, err := train.Open(cfg, set, topts)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.out, "run %s: %d epochs x %d steps of %d images; samples in %s\n", dir, run.Cfg.Epochs, run.BatchesPerEpoch(), run.Cfg.Model.Batch, filepath.Join(dir, train.SamplesDir))
	if err := run.Train(ctx); err != nil {
		return err
	}
	fmt.Fprintf(o.out, "done: step %d; latest checkpoint in %s\n", run.Step, dir)
	return nil
}

// barProgress draws one terminal progress bar per epoch with ETA, images/s and losses.
type barProgress struct {
	bar *progressbar.ProgressBar
}

// Epoch starts a new bar for the epoch (train.Progress).
func (p *barProgress) Epoch(epoch, epochs, total, done int) {
	p.bar = progressbar.NewOptions(total,
		progressbar.OptionSetDescription(fmt.Sprintf("epoch %d/%d", epoch, epochs)),
		progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetWidth(30), progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionOnCompletion(func() { fmt.Println() }))
	p.bar.Set(done)
}

// Step advances the bar and shows the latest losses and speed (train.Progress).
func (p *barProgress) Step(r train.Record) {
	p.bar.Describe(fmt.Sprintf("epoch %d  D %.3f G %.3f  %.0f img/s", r.Epoch, r.DLoss, r.GLoss, r.ImagesPS))
	p.bar.Add(1)
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
	"size":    func(c train.Config) any { return c.Model.Size },
	"z":       func(c train.Config) any { return c.Model.ZDim },
	"gf":      func(c train.Config) any { return c.Model.GF },
	"df":      func(c train.Config) any { return c.Model.DF },
	"batch":   func(c train.Config) any { return c.Model.Batch },
	"lr-g":    func(c train.Config) any { return c.Model.LRG },
	"lr-d":    func(c train.Config) any { return c.Model.LRD },
	"beta1":   func(c train.Config) any { return c.Model.Beta1 },
	"g-steps": func(c train.Config) any { return c.Model.GSteps },
	"z-dist": func(c train.Config) any {
		if c.Model.Dist == dcgan.Normal {
			return "normal"
		}
		return "uniform"
	},
	"seed":             func(c train.Config) any { return c.Model.Seed },
	"no-shuffle":       func(c train.Config) any { return !c.Shuffle },
	"flip":             func(c train.Config) any { return c.Flip },
	"ema":              func(c train.Config) any { return c.EMA },
	"sample-every":     func(c train.Config) any { return c.SampleEvery },
	"checkpoint-every": func(c train.Config) any { return c.CheckpointEvery },
	"keep":             func(c train.Config) any { return c.Keep },
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
