// Package train runs a DCGAN training job in a run directory: it feeds batches from a
// dataset to dcgan.Trainer, logs metrics, draws sample grids and loss plots, writes
// checkpoints atomically, and resumes from them exactly. It keeps all file I/O out of
// package dcgan, which stays pure computation.
package train

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"time"

	"avatargan/checkpoint"
	"avatargan/dataset"
	"avatargan/dcgan"
	"avatargan/internal/atomicfile"
	"avatargan/internal/gemm"
	"avatargan/internal/state"
	"avatargan/nn"
	"avatargan/render"
)

// Version is recorded in config.json and checkpoints.
const Version = "avatargan-0.1"

// Config is everything that defines a run; it is written to RUN_DIR/config.json and into
// every checkpoint, and a resumed run continues with it.
type Config struct {
	Model dcgan.Config `json:"model"`
	// Data is the image folder; DataContent (the decoded images' hash, which
	// survives copying the folder to another machine), DataFingerprint (its
	// file list with sizes and times) and Images identify what was found there.
	Data string `json:"data"`
	// From records the checkpoint a run was started from (Options.From), with
	// its step: "path@step".
	From            string `json:"from,omitempty"`
	DataContent     string `json:"data_content,omitempty"`
	DataFingerprint string `json:"data_fingerprint"`
	Images          int    `json:"images"`
	Epochs          int    `json:"epochs"`
	// Shuffle reorders the data every epoch (the original does not); Flip mirrors half
	// of the images at random.
	Shuffle bool `json:"shuffle"`
	Flip    bool `json:"flip"`
	// EMA is the decay of the generator weight average used for samples and exports
	// (0: off).
	EMA float64 `json:"ema"`
	// EMANoWarmup keeps the EMA's decay at EMA from the first update, without the
	// warm-up meant for an average that starts at random weights (dcgan.EMA.NoWarmup).
	// A run started From a generator file sets it (its average starts at those
	// trained weights) unless Options.EMAWarmup says otherwise. False in runs from
	// before it existed, which resume as they ran.
	EMANoWarmup bool `json:"ema_no_warmup,omitempty"`
	// LRDecay is the learning-rate schedule: "" or "none" keeps both rates constant;
	// "linear" lowers both linearly from the step the run started at (LRDecayStart:
	// 0, or the step of the checkpoint it was started --from) to zero at its last
	// step (Epochs), so they reach zero as training ends. Averaged, decayed iterates
	// are the usual cure for a GAN that wanders once it is good.
	LRDecay      string `json:"lr_decay,omitempty"`
	LRDecayStart int    `json:"lr_decay_start,omitempty"`
	// LRWarmupG > 0 ramps G's rate linearly from 0 over its optimiser's first
	// LRWarmupG updates (the k-th at k/LRWarmupG of the scheduled rate), counted by
	// its Adam step count, so a run whose G optimiser is fresh (from scratch, or
	// --from a generator file) warms up and one resumed or --from a training
	// checkpoint continues. Adam's first updates are sign steps of the full rate on
	// every weight, the weight-space analogue of an adversarial perturbation: a
	// fine-tuned G fools a trained D within a few of them.
	LRWarmupG int `json:"lr_warmup_g,omitempty"`
	// SampleEvery and CheckpointEvery are in steps (iterations); each epoch end also
	// samples and checkpoints. Keep is how many checkpoints stay on disk.
	SampleEvery     int `json:"sample_every"`
	CheckpointEvery int `json:"checkpoint_every"`
	Keep            int `json:"keep"`
	// KeepEvery, when > 0, also keeps every checkpoint whose step is a multiple of it
	// (a multiple of CheckpointEvery): milestones beside the rotation, because the
	// in-training score (EvalN images) is too noisy to pick the best step by itself.
	KeepEvery int `json:"keep_every,omitempty"`
	// EvalEvery, when > 0, scores the sampling generator every EvalEvery steps (SWD of
	// EvalN avatars against EvalN images of the data set), logs it to metrics.jsonl,
	// plots quality.png and keeps the best step's checkpoint as ckpt-best.safetensors.
	EvalEvery int    `json:"eval_every,omitempty"`
	EvalN     int    `json:"eval_n,omitempty"`
	Version   string `json:"version"`
	// Precision is the operand precision of the networks' products, "f32" or
	// "bf16" (mixed precision; "" in runs from before it existed means f32).
	// Checkpoints are float32 either way, so a resumed run may change it.
	Precision string `json:"precision,omitempty"`
}

// DefaultConfig is the reference run: the original network and schedule for 50 epochs,
// shuffled, no flips, with an EMA of G (0.999) for samples and exports, and no quality
// tracking. The EMA changes nothing in training (it only reads the weights after each
// step), costs about 1% of a step, and its averaged weights sample better than the live
// ones (see the README's recipe study), so it is on unless --ema 0.
func DefaultConfig() Config {
	return Config{Model: dcgan.DefaultConfig(), Epochs: 50, Shuffle: true, EMA: 0.999,
		SampleEvery: 500, CheckpointEvery: 500, Keep: 3, EvalN: 1024, Version: Version}
}

// Options are the settings of one invocation that do not define the run.
type Options struct {
	Dir      string // run directory
	CacheDir string // dataset cache directory ("" = the user cache dir)
	// MaxSteps, if > 0, stops after this step (for tests and benchmarks).
	MaxSteps int
	// Log receives human-readable progress; Progress, when non-nil, replaces the
	// periodic log lines with a live display (a terminal progress bar).
	Log      io.Writer
	Progress Progress
	// LogEvery is the period of log lines without a progress display.
	LogEvery time.Duration
	// Lock, when non-nil, is the lock of Dir taken by the caller (LockDir) before
	// loading the data, so that a second run is refused before that work; the Run
	// owns it from Open on. When nil, Open takes it.
	Lock *DirLock
	// AllowDataChange resumes a run on images other than those it trained on (a
	// different fingerprint); without it Open refuses. A moved folder holding the
	// same files (same fingerprint) is always accepted.
	AllowDataChange bool
	// From starts a new run from another run's training checkpoint (a file, or a
	// run directory for its latest checkpoint): its weights, optimiser and EMA
	// state and its step, so the data order continues where it was, under this
	// run's settings. The networks' shapes must match; learning rates, betas,
	// loss, augmentation and steps per iteration may differ. The source is not
	// modified. Ignored on resume. A generator-only file gives G's weights alone,
	// with a new D at step 0; one narrower than the run's GF is widened to it
	// (dcgan.Widen: the same images, room to learn more).
	From string
	// EMAWarmup keeps the EMA's warm-up in a run started From a generator file
	// (which otherwise sets Config.EMANoWarmup): how such runs went before the
	// option existed. Ignored on resume.
	EMAWarmup bool
}

// Progress shows training progress; implemented by the CLI with a progress bar.
type Progress interface {
	// Epoch starts the display of epoch (1-based) with total steps in it, done already.
	Epoch(epoch, epochs, total, done int)
	// Step reports one more step with its statistics.
	Step(r Record)
	// Finish ends the display.
	Finish()
}

// Paths inside a run directory.
const (
	ConfigFile  = "config.json"
	MetricsFile = "metrics.jsonl"
	LossPlot    = "loss.png"
	SamplesDir  = "samples"
)

// LoadConfig reads RUN_DIR/config.json.
func LoadConfig(dir string) (Config, error) {
	var c Config
	b, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("%s: %w", filepath.Join(dir, ConfigFile), err)
	}
	return c, nil
}

// Exists reports whether dir holds a run that can be resumed.
func Exists(dir string) bool {
	_, err := checkpoint.Latest(dir)
	_, cerr := os.Stat(filepath.Join(dir, ConfigFile))
	return err == nil && cerr == nil
}

// Run is a training job in progress.
type Run struct {
	Cfg     Config
	Opts    Options
	Trainer *dcgan.Trainer
	Data    *dataset.Set
	// Step is the number of iterations done.
	Step int

	batcher  *dataset.Batcher
	records  []Record
	quality  *quality // nil until the first evaluation
	sampler  *dcgan.Generator
	fixedZ   []float32
	real, z  []float32
	started  time.Time
	elapsed0 float64
	lock     *DirLock
}

// Open prepares a run in opts.Dir: it resumes the run there when one exists, or starts a
// new one with cfg. data is the loaded dataset. On resume the stored configuration wins:
// cfg is ignored except for Epochs, which when > 0 replaces the stored number (to extend
// or shorten the run; pass 0 to keep it), EvalEvery (>= 0 replaces it; -1 keeps it)
// and EvalN (> 0 replaces it), which change no training, Data, which when non-empty
// records a moved data folder, and Precision, which when non-empty switches the run's
// operand precision (checkpoints are float32 in either); data must hold the images the run trained on (see
// Options.AllowDataChange).
//
// The Run holds the directory's lock (see LockDir) until Close: a second Open of the
// same directory, in this process or another, fails at once. Holding it, Open removes
// temporary files that writes killed mid-way left behind.
func Open(cfg Config, data *dataset.Set, opts Options) (r *Run, err error) {
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if opts.LogEvery == 0 {
		opts.LogEvery = 30 * time.Second
	}
	lock := opts.Lock
	opts.Lock = nil
	if lock == nil {
		if lock, err = LockDir(opts.Dir); err != nil {
			return nil, err
		}
	} else if filepath.Clean(lock.dir) != filepath.Clean(opts.Dir) {
		lock.Unlock()
		return nil, fmt.Errorf("train: lock of %s given for run directory %s", lock.dir, opts.Dir)
	}
	defer func() {
		if err != nil {
			lock.Unlock()
		}
	}()
	if err := os.MkdirAll(filepath.Join(opts.Dir, SamplesDir), 0o755); err != nil {
		return nil, err
	}
	if err := removeStale(opts.Dir, opts.Log); err != nil {
		return nil, err
	}
	resume := Exists(opts.Dir)
	rewrite := !resume
	if resume {
		stored, err := LoadConfig(opts.Dir)
		if err != nil {
			return nil, err
		}
		if cfg.Epochs > 0 && cfg.Epochs != stored.Epochs {
			fmt.Fprintf(opts.Log, "epochs: %d -> %d\n", stored.Epochs, cfg.Epochs)
			stored.Epochs = cfg.Epochs
			rewrite = true
		}
		if cfg.EvalEvery >= 0 && cfg.EvalEvery != stored.EvalEvery {
			fmt.Fprintf(opts.Log, "eval-every: %d -> %d\n", stored.EvalEvery, cfg.EvalEvery)
			stored.EvalEvery = cfg.EvalEvery
			rewrite = true
		}
		if cfg.EvalN > 0 && cfg.EvalN != stored.EvalN {
			fmt.Fprintf(opts.Log, "eval-n: %d -> %d\n", stored.EvalN, cfg.EvalN)
			stored.EvalN = cfg.EvalN
			rewrite = true
		}
		if stored.EvalN == 0 {
			stored.EvalN = DefaultConfig().EvalN // runs from before quality tracking
		}
		folder := cmp.Or(cfg.Data, stored.Data)
		// Same data means the same decoded images. Runs from before
		// DataContent was recorded fall back to the file list once (and
		// record the content from then on).
		fp, content := data.Fingerprint(), data.ContentHash()
		same := content == stored.DataContent
		if stored.DataContent == "" {
			same = fp == stored.DataFingerprint
		}
		if !same {
			if !opts.AllowDataChange {
				return nil, fmt.Errorf("resuming %s: %s holds other images than the run trained on (%d images, content %.12s; the run had %d from %s, %.12s): a resumed run keeps its data; start a new run, or allow the change explicitly (--allow-data-change)",
					opts.Dir, folder, data.Len(), content, stored.Images, stored.Data, cmp.Or(stored.DataContent, stored.DataFingerprint))
			}
			fmt.Fprintf(opts.Log, "warning: training continues on other images (%s, %d images) than the run started with; batches will differ from an uninterrupted run\n", folder, data.Len())
		}
		if fp != stored.DataFingerprint || content != stored.DataContent || data.Len() != stored.Images {
			stored.DataFingerprint, stored.DataContent, stored.Images = fp, content, data.Len()
			rewrite = true
		}
		if cfg.Data != "" && cfg.Data != stored.Data {
			fmt.Fprintf(opts.Log, "data folder: %s -> %s\n", stored.Data, cfg.Data)
			stored.Data = cfg.Data
			rewrite = true
		}
		if cfg.Precision != "" && cfg.Precision != stored.precision() {
			fmt.Fprintf(opts.Log, "precision: %s -> %s\n", stored.precision(), cfg.Precision)
			stored.Precision = cfg.Precision
			rewrite = true
		}
		cfg = stored
	} else {
		cfg.DataFingerprint = data.Fingerprint()
		cfg.DataContent = data.ContentHash()
		cfg.Images = data.Len()
		cfg.Version = Version
		cfg.Precision = cfg.precision()
	}
	if data.Size() != cfg.Model.Size {
		return nil, fmt.Errorf("train: data loaded at %d px but the model is %d px", data.Size(), cfg.Model.Size)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.EvalEvery < 0 || (cfg.EvalEvery > 0 && cfg.EvalN < 2) {
		return nil, errors.New("train: eval-every must be >= 0 and eval-n >= 2")
	}
	prec, err := gemm.ParsePrecision(cfg.precision())
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	tr, err := dcgan.NewTrainer(cfg.Model)
	if err != nil {
		return nil, err
	}
	tr.SetPrecision(prec)
	if cfg.EMA > 0 {
		tr.EMA = dcgan.NewEMA(tr.G, cfg.EMA)
		tr.EMA.NoWarmup = cfg.EMANoWarmup
	}
	b, err := data.Batches(batchOptions(cfg))
	if err != nil {
		return nil, err
	}
	r = &Run{Cfg: cfg, Opts: opts, Trainer: tr, Data: data, batcher: b, lock: lock}
	if resume {
		path, _ := checkpoint.Latest(opts.Dir)
		if err := r.load(path); err != nil {
			return nil, err
		}
		fmt.Fprintf(opts.Log, "resuming %s at step %d (epoch %d)\n", path, r.Step, r.Step/b.BatchesPerEpoch()+1)
		recs, bad, err := readRecords(filepath.Join(opts.Dir, MetricsFile), r.Step)
		if err != nil {
			return nil, err
		}
		if bad > 0 {
			fmt.Fprintf(opts.Log, "warning: %s: dropped %d unreadable line(s)\n", filepath.Join(opts.Dir, MetricsFile), bad)
		}
		if err := r.keepRecords(recs); err != nil {
			return nil, err
		}
	} else if opts.From != "" {
		if cfg, err = r.startFrom(cfg, opts.From); err != nil {
			return nil, err
		}
	} else if err := writeRecords(filepath.Join(opts.Dir, MetricsFile), nil); err != nil {
		return nil, err
	}
	if k := cfg.Model.PhaseBalance; k > 0 && !resume {
		// A new run starts balanced, whatever it starts from (a random init, a
		// generator file, another run's checkpoint), and so does its average; the
		// trainer keeps both so after every G update (a resumed run already is).
		r.Trainer.G.BalancePhases(k)
		if r.Trainer.EMA != nil {
			r.Trainer.EMA.BalancePhases(r.Trainer.G, k)
		}
	}
	if rewrite {
		// A new run, or a resumed one whose epochs or data folder changed: config.json
		// must say so, or the next resume would go back to the old values.
		cj, err := json.MarshalIndent(cfg, "", "  ")
		if err != nil {
			return nil, err
		}
		if err := atomicfile.Write(filepath.Join(opts.Dir, ConfigFile), func(w io.Writer) error {
			_, err := w.Write(append(cj, '\n'))
			return err
		}); err != nil {
			return nil, err
		}
	}
	m := cfg.Model
	r.real = make([]float32, m.Batch*3*m.Size*m.Size)
	r.z = make([]float32, m.Batch*m.ZDim)
	// The sample grid always shows the avatars of seeds 0..63, so grids of different
	// steps (and the served avatars of those seeds) are comparable.
	r.fixedZ = make([]float32, 64*m.ZDim)
	for i := 0; i < 64; i++ {
		dcgan.Latent(uint64(i), m.Dist, r.fixedZ[i*m.ZDim:(i+1)*m.ZDim])
	}
	if _, err := os.Stat(filepath.Join(opts.Dir, RealSamples)); err != nil {
		if err := r.writeRealSamples(); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Close releases the run directory's lock. The Run must not train or save after it.
func (r *Run) Close() error { return r.lock.Unlock() }

// batchOptions are the batcher settings of a run; real_samples.png uses them too, so it
// shows exactly what training sees.
func batchOptions(cfg Config) dataset.BatchOptions {
	return dataset.BatchOptions{Batch: cfg.Model.Batch, Seed: cfg.Model.Seed, Shuffle: cfg.Shuffle, Flip: cfg.Flip}
}

// precision is Precision with runs from before the setting read as "f32".
func (c Config) precision() string {
	if c.Precision == "" {
		return "f32"
	}
	return c.Precision
}

// TotalSteps is the number of iterations of the whole run.
func (r *Run) TotalSteps() int { return r.Cfg.Epochs * r.batcher.BatchesPerEpoch() }

// BatchesPerEpoch is the number of iterations per epoch.
func (r *Run) BatchesPerEpoch() int { return r.batcher.BatchesPerEpoch() }

// latents fills r.z with the latents of iteration step: a pure function of (seed, step),
// so a resumed run draws exactly what an uninterrupted one would without storing RNG
// state.
func (r *Run) latents(step int) {
	m := r.Cfg.Model
	rng := rand.New(rand.NewPCG(m.Seed^0x5851f42d4c957f2d, uint64(step)))
	for i := range r.z {
		if m.Dist == dcgan.Normal {
			r.z[i] = float32(rng.NormFloat64())
		} else {
			r.z[i] = float32(2*rng.Float64() - 1)
		}
	}
}

// Train runs until the last epoch ends, opts.MaxSteps is reached, or ctx is cancelled
// (then it finishes the current step, checkpoints and returns nil). A non-finite loss or
// weight returns an error without writing a checkpoint, so the last good one stays the
// latest.
func (r *Run) Train(ctx context.Context) error {
	total := r.TotalSteps()
	if r.Opts.MaxSteps > 0 && r.Opts.MaxSteps < total {
		total = r.Opts.MaxSteps
	}
	per := r.batcher.BatchesPerEpoch()
	r.batcher.Seek(r.Step/per, r.Step%per)
	r.started = time.Now()
	lastLog := time.Now()
	winStart, winImages := time.Now(), 0
	ips := 0.0
	saved := r.Step
	if r.Opts.Progress != nil && r.Step < total {
		r.Opts.Progress.Epoch(r.Step/per+1, r.Cfg.Epochs, per, r.Step%per)
	}
	for r.Step < total {
		if ctx.Err() != nil {
			break
		}
		epoch, _, n := r.batcher.Next(r.real)
		r.latents(r.Step)
		r.scheduleLR()
		st, err := r.Trainer.Step(r.real[:n*3*r.Cfg.Model.Size*r.Cfg.Model.Size], r.z[:n*r.Cfg.Model.ZDim])
		if err != nil {
			r.finishProgress()
			return fmt.Errorf("step %d: %w; stopping without a checkpoint (%s)", r.Step+1, err, r.lastGood(saved))
		}
		// A NaN can reach the weights while the losses stay finite (a ReLU maps NaN to
		// 0), so the weights themselves are checked after every update.
		if name, v, bad := nonFinite(r.Trainer.G.Tensors(), r.Trainer.D.Tensors()); bad {
			r.finishProgress()
			return fmt.Errorf("step %d: %s holds a non-finite value %v after the update; stopping without a checkpoint (%s)", r.Step+1, name, v, r.lastGood(saved))
		}
		r.Step++
		winImages += n
		if d := time.Since(winStart); d > 2*time.Second {
			ips = float64(winImages) / d.Seconds()
			winStart, winImages = time.Now(), 0
		} else if ips == 0 {
			ips = float64(winImages) / d.Seconds()
		}
		rec := Record{Step: r.Step, Epoch: epoch + 1, DLoss: st.LossD, DReal: st.DReal, DFake: st.DFake,
			R1: st.R1, Spectrum: st.Spectrum, Patch: st.Patch, ImagesPS: ips, ElapsedS: r.elapsed0 + time.Since(r.started).Seconds(), Timestamp: time.Now().UTC().Format(time.RFC3339)}
		if st.GStepped {
			rec.GLoss = &st.LossG
		}
		evalNow := r.Cfg.EvalEvery > 0 && (r.Step%r.Cfg.EvalEvery == 0 || r.Step == r.TotalSteps())
		if evalNow {
			if err := r.trackQuality(&rec); err != nil {
				r.finishProgress()
				return fmt.Errorf("step %d: quality evaluation: %w", r.Step, err)
			}
			// The evaluation's time is not training time: restart the speed window.
			winStart, winImages = time.Now(), 0
		}
		r.records = append(r.records, rec)
		if err := r.appendRecord(rec); err != nil {
			return err
		}
		if r.Opts.Progress != nil {
			r.Opts.Progress.Step(rec)
		} else if time.Since(lastLog) >= r.Opts.LogEvery || r.Step == total {
			lastLog = time.Now()
			fmt.Fprintf(r.Opts.Log, "step %d/%d epoch %d  D %.4f  G %s  D(x) %.3f  D(G(z)) %.3f  %.1f images/s\n",
				r.Step, total, epoch+1, st.LossD, FormatLoss(rec.GLoss, 4), st.DReal, st.DFake, ips)
		}
		epochEnd := r.Step%per == 0
		// Save before sampling: Save refuses non-finite weights, which must stop the run
		// before it draws a grid of them.
		if r.Step%r.Cfg.CheckpointEvery == 0 || epochEnd || r.Step == total {
			if err := r.Save(); err != nil {
				r.finishProgress()
				return fmt.Errorf("%w (%s)", err, r.lastGood(saved))
			}
			saved = r.Step
		}
		if r.Step%r.Cfg.SampleEvery == 0 || epochEnd || r.Step == total {
			if err := r.Sample(); err != nil {
				return err
			}
		}
		if evalNow {
			floor := 0.0
			if r.quality != nil {
				floor = r.quality.floor.Average
			}
			if err := PlotQuality(filepath.Join(r.Opts.Dir, QualityPlot), r.records, floor); err != nil {
				fmt.Fprintf(r.Opts.Log, "warning: quality plot: %v\n", err)
			}
		}
		if epochEnd {
			if err := PlotLosses(filepath.Join(r.Opts.Dir, LossPlot), r.records, 50); err != nil {
				fmt.Fprintf(r.Opts.Log, "warning: loss plot: %v\n", err)
			}
			if r.Opts.Progress != nil && r.Step < total {
				r.Opts.Progress.Finish()
				r.Opts.Progress.Epoch(r.Step/per+1, r.Cfg.Epochs, per, 0)
			}
		}
	}
	r.finishProgress()
	if saved != r.Step {
		if err := r.Save(); err != nil {
			return fmt.Errorf("%w (%s)", err, r.lastGood(saved))
		}
		if err := r.Sample(); err != nil {
			return err
		}
		fmt.Fprintf(r.Opts.Log, "stopped at step %d; checkpoint saved, run again to resume\n", r.Step)
	}
	return PlotLosses(filepath.Join(r.Opts.Dir, LossPlot), r.records, 50)
}

func (r *Run) finishProgress() {
	if r.Opts.Progress != nil {
		r.Opts.Progress.Finish()
	}
}

func (r *Run) appendRecord(rec Record) error {
	f, err := os.OpenFile(filepath.Join(r.Opts.Dir, MetricsFile), os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	err = json.NewEncoder(f).Encode(rec)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// SamplerGenerator returns the generator samples are drawn from: the live one, or with
// EMA on, a copy holding the averaged weights with recalibrated BatchNorm statistics.
// The copy shares the trainer's scratch memory: do not run it during a training step.
func (r *Run) SamplerGenerator() *dcgan.Generator {
	if r.Trainer.EMA == nil {
		return r.Trainer.G
	}
	m := r.Cfg.Model
	if r.sampler == nil {
		r.sampler = dcgan.NewGeneratorRefine(m.Size, m.ZDim, m.GF, m.Refine)
		// Sampling happens between training steps, so the sampler can use the
		// trainer's scratch (the column matrices, ~60 MB) instead of its own.
		r.sampler.SetScratch(r.Trainer.G.Scratch())
		r.sampler.SetPrecision(r.Trainer.G.Precision())
	}
	r.Trainer.EMA.CopyTo(r.sampler)
	dcgan.Recalibrate(r.sampler, m.Dist)
	return r.sampler
}

// Sample writes the 8x8 grid of the fixed latents to samples/step-NNNNNNNNN.png and
// samples/latest.png. It reads the model only (eval mode), so it does not change training.
func (r *Run) Sample() error {
	m := r.Cfg.Model
	g := r.SamplerGenerator()
	x := g.Forward(r.fixedZ, 64, false)
	grid := render.Grid(render.ToImages(x, 64, m.Size), 8, 2)
	for _, name := range []string{fmt.Sprintf("step-%09d.png", r.Step), "latest.png"} {
		err := atomicfile.Write(filepath.Join(r.Opts.Dir, SamplesDir, name), func(w io.Writer) error {
			return (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(w, grid)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Save writes the checkpoint of the current step and prunes old ones. It refuses to
// write a state holding a NaN or an infinity (an update can blow the weights up while
// the loss that caused it was still finite), so the latest checkpoint is always usable.
func (r *Run) Save() error {
	if err := r.saveAs(filepath.Join(r.Opts.Dir, checkpoint.Name(r.Step))); err != nil {
		return err
	}
	return checkpoint.PruneHolding(r.Opts.Dir, r.Cfg.Keep, r.Cfg.KeepEvery)
}

// saveAs writes the whole training state of the current step to path, atomically.
func (r *Run) saveAs(path string) error {
	if name, v, bad := nonFinite(r.Trainer.Tensors()); bad {
		return fmt.Errorf("train: step %d: %s holds a non-finite value %v; not saving a checkpoint of it", r.Step, name, v)
	}
	cj, err := json.Marshal(r.Cfg.Model)
	if err != nil {
		return err
	}
	rj, err := json.Marshal(r.Cfg)
	if err != nil {
		return err
	}
	meta := map[string]string{
		checkpoint.MetaFormat:  checkpoint.FormatTrain,
		checkpoint.MetaConfig:  string(cj),
		checkpoint.MetaRun:     string(rj),
		checkpoint.MetaStep:    strconv.Itoa(r.Step),
		checkpoint.MetaVersion: Version,
	}
	ts := state.Tensors("", r.Trainer.Tensors(), "F32")
	return checkpoint.Save(path, ts, meta)
}

// load restores the whole training state from a checkpoint.
func (r *Run) load(path string) error {
	f, err := checkpoint.Read(path)
	if err != nil {
		return err
	}
	return r.loadFile(path, f)
}

// loadFile is load of f, the file already read from path.
func (r *Run) loadFile(path string, f *checkpoint.File) error {
	if f.Metadata[checkpoint.MetaFormat] != checkpoint.FormatTrain {
		return fmt.Errorf("%s is not a training checkpoint", path)
	}
	step, err := strconv.Atoi(f.Metadata[checkpoint.MetaStep])
	if err != nil {
		return fmt.Errorf("%s: bad step metadata: %v", path, err)
	}
	if step < 0 || step > MaxEpochs*r.batcher.BatchesPerEpoch() {
		return fmt.Errorf("%s: step %d is out of range", path, step)
	}
	if err := state.Load(f, "", r.Trainer.Tensors(), false); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	r.Step = step
	// The decoded file (raw bytes plus float32 copies, ~2x the checkpoint) is garbage
	// now (callers do not use f after this call); hand it back to the OS before
	// training allocates its buffers, or the resumed run's RSS stays that much above
	// a fresh run's.
	f = nil
	debug.FreeOSMemory()
	return nil
}

// LRDecayLinear is Config.LRDecay's linear schedule.
const LRDecayLinear = "linear"

// lrFactor is the learning-rate multiplier of the update that follows step (0-based:
// the first update of the run uses step = its start).
func (c Config) lrFactor(step, total int) float64 {
	if c.LRDecay != LRDecayLinear || total <= c.LRDecayStart {
		return 1
	}
	return min(1, max(0, float64(total-step)/float64(total-c.LRDecayStart)))
}

// warmupG is G's rate multiplier for the update that follows updates G updates
// (Config.LRWarmupG).
func (c Config) warmupG(updates int64) float64 {
	if c.LRWarmupG <= 0 {
		return 1
	}
	return min(1, float64(updates+1)/float64(c.LRWarmupG))
}

// scheduleLR sets both optimisers' rates for the next iteration's updates (every G
// step of an iteration shares G's rate).
func (r *Run) scheduleLR() {
	f := r.Cfg.lrFactor(r.Step, r.TotalSteps())
	r.Trainer.OptG.LR = r.Cfg.Model.LRG * f * r.Cfg.warmupG(r.Trainer.OptG.T)
	r.Trainer.OptD.LR = r.Cfg.Model.LRD * f
}

// keepRecords makes recs (the history up to the run's step: its own on resume, the
// source's with --from) the run's metrics: kept for the plots, the elapsed time
// carried on, and metrics.jsonl rewritten to hold exactly them.
func (r *Run) keepRecords(recs []Record) error {
	r.records = recs
	if len(recs) > 0 {
		r.elapsed0 = recs[len(recs)-1].ElapsedS
	}
	return writeRecords(filepath.Join(r.Opts.Dir, MetricsFile), recs)
}

// startFrom starts the new run r from Options.From (see there): a training
// checkpoint gives both networks, their optimiser and EMA state and its step; a
// generator-only file (an export, such as the embedded model) gives G's weights only,
// with a fresh D and fresh optimisers at step 0. It returns cfg with From (and the
// decay's start) recorded.
func (r *Run) startFrom(cfg Config, from string) (Config, error) {
	path, err := fromCheckpoint(from)
	if err != nil {
		return cfg, err
	}
	// One read serves both formats: a training checkpoint is ~128 MB.
	f, err := checkpoint.Read(path)
	if err != nil {
		return cfg, fmt.Errorf("train: --from: %w", err)
	}
	switch f.Metadata[checkpoint.MetaFormat] {
	case checkpoint.FormatGenerator:
		if err := r.loadGenerator(path, f); err != nil {
			return cfg, err
		}
		cfg.From = path + "@generator"
		if !r.Opts.EMAWarmup {
			cfg.EMANoWarmup = true
		}
		if r.Trainer.EMA != nil {
			r.Trainer.EMA.NoWarmup = cfg.EMANoWarmup
		}
		r.Cfg = cfg
		fmt.Fprintf(r.Opts.Log, "starting from the generator %s with a new discriminator (D alone for its first %d iterations)\n", path, cfg.Model.DWarmup)
		return cfg, r.keepRecords(nil)
	case checkpoint.FormatTrain:
	default:
		return cfg, fmt.Errorf("train: --from %s: not an avatargan checkpoint or generator file", path)
	}
	if err := r.loadFile(path, f); err != nil {
		return cfg, fmt.Errorf("train: starting from %s (the networks' shapes must match this run's): %w", path, err)
	}
	cfg.From = fmt.Sprintf("%s@%d", path, r.Step)
	if cfg.LRDecay == LRDecayLinear {
		cfg.LRDecayStart = r.Step
	}
	r.Cfg = cfg
	fmt.Fprintf(r.Opts.Log, "starting from %s at step %d (epoch %d)\n", path, r.Step, r.Step/r.batcher.BatchesPerEpoch()+1)
	// The source's history up to that step, so the plots show the whole run
	// (none when the checkpoint's folder has no readable metrics).
	recs, _, err := readRecords(filepath.Join(filepath.Dir(path), MetricsFile), r.Step)
	if err != nil {
		recs = nil
	}
	return cfg, r.keepRecords(recs)
}

// loadGenerator loads G's weights from f, the generator-only file at path. Its
// generator must have this run's shape and latent distribution. The EMA, if any,
// starts from the loaded weights.
func (r *Run) loadGenerator(path string, f *checkpoint.File) error {
	spec, err := generatorSpec(path, f.Metadata)
	if err != nil {
		return err
	}
	m := r.Cfg.Model
	if spec.Size != m.Size || spec.ZDim != m.ZDim || spec.GF > m.GF || spec.GF < 1 || spec.Dist != m.Dist ||
		(spec.Refine != m.Refine && spec.Refine != 0) || (spec.Refine != 0 && spec.GF != m.GF) {
		return fmt.Errorf("train: --from %s: its generator is %d px, z %d (%v), width %d, refine %d; this run's is %d px, z %d (%v), width %d, refine %d: give --size, -z, --z-dist, --gf and --refine to match (a wider --gf widens it, a --refine adds a head to one without)",
			path, spec.Size, spec.ZDim, spec.Dist, spec.GF, spec.Refine, m.Size, m.ZDim, m.Dist, m.GF, m.Refine)
	}
	src := r.Trainer.G
	if spec.GF != m.GF || spec.Refine != m.Refine {
		src = dcgan.NewGeneratorRefine(spec.Size, spec.ZDim, spec.GF, spec.Refine)
	}
	if err := state.LoadAll(f, "", src.Tensors()); err != nil {
		return fmt.Errorf("train: --from %s: %w", path, err)
	}
	if spec.GF != m.GF {
		// A wider run: the file's generator, widened so that it computes the same
		// images, with new channels drawn from a stream of their own (the run's
		// seed, so a rerun gives the same bits); into a head-less generator first
		// when a head is added below.
		dst := r.Trainer.G
		if spec.Refine != m.Refine {
			dst = dcgan.NewGenerator(m.Size, m.ZDim, m.GF)
		}
		if err := dcgan.Widen(dst, src, rand.New(rand.NewPCG(m.Seed, widenStream))); err != nil {
			return fmt.Errorf("train: --from %s: %w", path, err)
		}
		fmt.Fprintf(r.Opts.Log, "widened the generator from %d to %d channels per width unit (the same images; new channels start with zero outgoing weights)\n", spec.GF, m.GF)
		src = dst
	}
	if spec.Refine != m.Refine {
		// A head added to a generator without one: it starts at zero, so the run
		// starts from the same images.
		if err := dcgan.AddRefine(r.Trainer.G, src); err != nil {
			return fmt.Errorf("train: --from %s: %w", path, err)
		}
		fmt.Fprintf(r.Opts.Log, "added a refinement head of %d channels to the generator (the same images; its last convolution starts at zero)\n", m.Refine)
	}
	if r.Trainer.EMA != nil {
		r.Trainer.EMA = dcgan.NewEMA(r.Trainer.G, r.Cfg.EMA)
	}
	return nil
}

// widenStream is the PCG stream of a widened generator's new channels.
const widenStream = 0x77696465

// generatorSpec parses a generator file's spec metadata.
func generatorSpec(path string, meta map[string]string) (dcgan.Spec, error) {
	var s dcgan.Spec
	if err := json.Unmarshal([]byte(meta[checkpoint.MetaSpec]), &s); err != nil {
		return s, fmt.Errorf("train: --from %s: no valid %q metadata: %v", path, checkpoint.MetaSpec, err)
	}
	return s, nil
}

// FromGenerator returns the spec (shape and latents) of the generator that from (an
// Options.From) names when it is a generator-only file, reading only the file's header;
// ok is false for a training checkpoint. The CLI takes the sizes a user did not give
// from it, so that fine-tuning the embedded model, wider than the default, needs no --gf.
func FromGenerator(from string) (s dcgan.Spec, ok bool, err error) {
	path, err := fromCheckpoint(from)
	if err != nil {
		return s, false, err
	}
	meta, err := checkpoint.ReadMetadata(path)
	if err != nil {
		return s, false, fmt.Errorf("train: --from: %w", err)
	}
	if meta[checkpoint.MetaFormat] != checkpoint.FormatGenerator {
		return s, false, nil
	}
	s, err = generatorSpec(path, meta)
	return s, err == nil, err
}

// fromCheckpoint resolves Options.From: a checkpoint file, or a run directory's
// latest checkpoint.
func fromCheckpoint(from string) (string, error) {
	fi, err := os.Stat(from)
	if err != nil {
		return "", fmt.Errorf("train: --from: %w", err)
	}
	if !fi.IsDir() {
		return from, nil
	}
	path, err := checkpoint.Latest(from)
	if err != nil {
		return "", fmt.Errorf("train: --from %s: %w", from, err)
	}
	return path, nil
}

// nonFinite returns the name and value of the first NaN or infinity in the tensors.
func nonFinite(sets ...[]nn.NamedTensor) (name string, v float32, bad bool) {
	for _, ts := range sets {
		for _, t := range ts {
			for _, x := range t.Data {
				if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
					return t.Name, x, true
				}
			}
		}
	}
	return "", 0, false
}

// lastGood names the last good state for an error message: the checkpoint of step saved,
// or, when the run has written none yet, says so rather than naming a file that does
// not exist.
func (r *Run) lastGood(saved int) string {
	if _, err := os.Stat(filepath.Join(r.Opts.Dir, checkpoint.Name(saved))); err != nil {
		return "no checkpoint was written yet: the run starts over"
	}
	return fmt.Sprintf("the latest checkpoint, step %d, is the last good state", saved)
}
