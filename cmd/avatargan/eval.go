package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"time"

	"avatargan/avatar"
	"avatargan/dataset"
	"avatargan/internal/evalset"
	"avatargan/metrics"
)

// evalReport is what eval prints with --json: snake_case names, like config.json.
type evalReport struct {
	Source      string          `json:"source"`
	N           int             `json:"n"`
	Seed        uint64          `json:"seed"`
	Resolutions []int           `json:"resolutions"`
	Fake        metrics.Result  `json:"fake"`
	Floor       metrics.Result  `json:"real_vs_real"`
	Untrained   *metrics.Result `json:"untrained,omitempty"`
	Ratio       float64         `json:"ratio_to_floor"`
	// Draws, with --repeat K > 1: each draw's scores (seeds Seed..Seed+K-1); Fake, Floor
	// and Ratio are then their means (Ratio: mean over mean) and Spread the standard
	// deviation of the draws' Fake.Average. The faces, nearest and untrained figures are
	// the first draw's.
	Draws   []evalset.Draw   `json:"draws,omitempty"`
	Spread  float64          `json:"spread,omitempty"`
	Faces   *facesReport     `json:"faces,omitempty"`
	Nearest *evalset.Nearest `json:"nearest,omitempty"`
	Seconds float64          `json:"seconds"`
}

// facesReport is how often the anime-face detector finds a face (facedetect.HasFace) in
// the avatars eval scored and in the real set they were compared with, and how many
// avatars the face check replaced to get there.
type facesReport struct {
	FaceCheck int     `json:"face_check"` // --face-check: draws per seed (0 or 1: none)
	Replaced  int     `json:"replaced"`   // seeds whose own avatar failed and a later draw passed
	Fake      float64 `json:"fake"`       // fraction of the scored avatars with a face found
	Real      float64 `json:"real"`       // the same for the real set
}

// maxRepeat bounds eval --repeat: each draw costs a full evaluation.
const maxRepeat = 16

// maxEvalN bounds eval -n before anything is computed from it (2n real images are
// drawn); 8192, the paper's n, takes about a minute on two cores.
const maxEvalN = 1 << 20

// evalOptions are eval's flags.
type evalOptions struct {
	data, cache, ckpt, fake string
	live, untrained, asJSON bool
	n, nearest, size        int
	nGiven                  bool // -n was given: refuse to lower it
	seed                    uint64
	precision               string // --precision: auto, f32 or bf16
	faceCheck               int    // --face-check: draws per seed
	faces                   bool   // --faces: report the face detector's rates
	repeat                  int    // --repeat: score this many draws, seeds seed.. seed+repeat-1
}

func parseEval(o stdio, args []string) (evalOptions, error) {
	var e evalOptions
	fs := newFlags(o, "eval")
	fs.StringVar(&e.data, "data", "", "(required) folder `DIR` of real images (the training set)")
	fs.StringVar(&e.cache, "cache", "", "dataset cache directory `DIR` (default: the user cache dir)")
	fs.StringVar(&e.ckpt, "checkpoint", "", "run directory, training checkpoint or generator file `PATH` (default: the embedded generator)")
	fs.BoolVar(&e.live, "live", false, "with a training checkpoint, evaluate the live generator instead of its EMA")
	fs.StringVar(&e.fake, "fake", "", "evaluate a folder `DIR` of images instead of a generator")
	fs.IntVar(&e.n, "n", 8192, "images per set; when not given, lowered to what the folders hold, with a note")
	fs.Uint64Var(&e.seed, "seed", 1, "seed of the real-image draw, the generated avatars and the metric's randomness")
	fs.BoolVar(&e.untrained, "untrained", false, "also measure an untrained generator of the same shape (the starting point)")
	fs.IntVar(&e.nearest, "nearest", 0, "check this many generated images against the whole training set for copies")
	fs.BoolVar(&e.asJSON, "json", false, "print JSON instead of a table")
	fs.StringVar(&e.precision, "precision", "auto", precisionUsage)
	faceCheckFlag(fs, &e.faceCheck)
	fs.IntVar(&e.repeat, "repeat", 1, fmt.Sprintf("score this many independent draws (seeds S, S+1, ...; 1..%d) and report their mean and spread: one draw's SWD varies by several percent", maxRepeat))
	fs.BoolVar(&e.faces, "faces", true, "report how often the anime-face detector finds a face in the avatars and in the real set (a few seconds per thousand images)")
	fs.IntVar(&e.size, "size", 0, "image side for the comparison (default: the model's; with --fake, the first fake image's side, at least 16)")
	if err := parse(fs, args); err != nil {
		return e, err
	}
	fs.Visit(func(f *flag.Flag) { e.nGiven = e.nGiven || f.Name == "n" })
	switch {
	case e.data == "":
		return e, fmt.Errorf("--data is required (the real images)")
	case e.n < 16 || e.n > maxEvalN:
		return e, fmt.Errorf("-n %d: want 16..%d", e.n, maxEvalN)
	case e.size != 0 && (e.size < 16 || e.size > 1024):
		return e, fmt.Errorf("--size %d: want 16..1024", e.size)
	case e.repeat < 1 || e.repeat > maxRepeat:
		return e, fmt.Errorf("--repeat %d: want 1..%d", e.repeat, maxRepeat)
	case e.repeat > 1 && uint64(e.repeat-1) > math.MaxUint32-e.seed:
		return e, fmt.Errorf("--seed %d --repeat %d: the seeds would pass 2^32-1", e.seed, e.repeat)
	case e.nearest < 0:
		return e, fmt.Errorf("--nearest %d: want 0 or more", e.nearest)
	case e.fake != "" && (e.ckpt != "" || e.live || e.untrained):
		return e, fmt.Errorf("--fake and --checkpoint (or --live, --untrained) are exclusive")
	}
	if err := checkPrecision(e.precision); err != nil {
		return e, err
	}
	if err := checkFaceCheck(e.faceCheck); err != nil {
		return e, err
	}
	return e, nil
}

func cmdEval(ctx context.Context, o stdio, args []string) error {
	e, err := parseEval(o, args)
	if err != nil {
		return err
	}
	start := time.Now()
	var model *avatar.Model
	var fakes [][]uint8
	source, size := e.fake, e.size
	if e.fake == "" {
		if model, source, err = evalModel(ctx, e); err != nil {
			return err
		}
		if err := usePrecision(o.err, e.precision, model); err != nil {
			return err
		}
		model.SetFaceCheck(e.faceCheck) // score the avatars generate draws
		size = model.Size()
	} else if fakes, size, err = loadFakes(ctx, o, e); err != nil {
		return err
	}
	set, rep, err := dataset.LoadContext(ctx, dataset.Options{Dir: e.data, Size: size, CacheDir: e.cache})
	if err != nil {
		return err
	}
	if !e.asJSON {
		fmt.Fprintln(o.err, rep.String())
	}
	n, err := evalN(o, e, set.Len(), fakes)
	if err != nil {
		return err
	}
	r := evalReport{Source: source, N: n, Seed: e.seed}
	var realA, fakes0 [][]uint8
	replaced := 0
	for k := range e.repeat {
		seed := e.seed + uint64(k)
		d, ra, fk, rep, err := evalset.Score(ctx, model, set, fakes, n, size, seed)
		if err != nil {
			return err
		}
		if k == 0 {
			realA, fakes0, replaced = ra, fk, rep
		}
		r.Draws = append(r.Draws, d)
	}
	fakes = fakes0
	r.Fake, r.Floor = evalset.Mean(r.Draws, false), evalset.Mean(r.Draws, true)
	r.Resolutions, r.Ratio = r.Fake.Resolutions, r.Fake.Average/r.Floor.Average
	if e.repeat == 1 {
		r.Draws = nil
	} else {
		r.Spread = evalset.Spread(r.Draws)
	}
	if e.untrained {
		if r.Untrained, err = evalset.Untrained(ctx, model, n, e.seed, realA); err != nil {
			return err
		}
	}
	if e.faces {
		f := &facesReport{Replaced: replaced}
		if model != nil {
			f.FaceCheck = model.FaceCheck()
		}
		if f.Fake, err = evalset.FaceRate(ctx, fakes, size); err != nil {
			return err
		}
		if f.Real, err = evalset.FaceRate(ctx, realA, size); err != nil {
			return err
		}
		r.Faces = f
	}
	if e.nearest > 0 {
		if r.Nearest, err = evalset.NearestReal(ctx, fakes[:min(e.nearest, n)], set, e.data); err != nil {
			return err
		}
	}
	r.Seconds = time.Since(start).Seconds()
	if e.asJSON {
		enc := json.NewEncoder(o.out)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	r.table(o.out)
	return nil
}

// evalModel loads the generator eval measures and names its source.
func evalModel(ctx context.Context, e evalOptions) (*avatar.Model, string, error) {
	if e.ckpt == "" {
		m, err := loadModelContext(ctx, "")
		return m, "embedded", err
	}
	m, err := interruptible(ctx, func() (*avatar.Model, error) { return avatar.LoadWith(e.ckpt, e.live) })
	if err == nil && e.size != 0 && e.size != m.Size() {
		err = fmt.Errorf("--size %d: the generator makes %d px images", e.size, m.Size())
	}
	return m, e.ckpt, err
}

// loadFakes loads the --fake folder at --size or, by default, the side of its first
// image (its images are usually all the same), at least 16.
func loadFakes(ctx context.Context, o stdio, e evalOptions) ([][]uint8, int, error) {
	size := e.size
	if size == 0 {
		side, err := firstImageSide(e.fake)
		if err != nil {
			return nil, 0, err
		}
		size = min(max(side, 16), 1024)
	}
	set, rep, err := dataset.LoadContext(ctx, dataset.Options{Dir: e.fake, Size: size, NoCache: true})
	if err != nil {
		return nil, 0, err
	}
	if rep.Skipped > 0 {
		fmt.Fprintln(o.err, rep.String())
	}
	fakes := make([][]uint8, set.Len())
	for i := range fakes {
		fakes[i] = set.Image(i)
	}
	return fakes, size, nil
}

// evalN returns the set size: -n when the folders allow it. An explicit -n they cannot
// meet is refused; the default is lowered to what they hold, with a note, since SWD
// values compare only at equal n.
func evalN(o stdio, e evalOptions, reals int, fakes [][]uint8) (int, error) {
	n := min(e.n, reals/2)
	why := fmt.Sprintf("%s has %d images (two disjoint real sets of n)", e.data, reals)
	if e.fake != "" && len(fakes) < n {
		n = len(fakes)
		why = fmt.Sprintf("%s has %d usable images", e.fake, len(fakes))
	}
	switch {
	case n == e.n:
		return n, nil
	case e.nGiven:
		return 0, fmt.Errorf("-n %d: %s; give a smaller -n", e.n, why)
	case n < 16:
		return 0, fmt.Errorf("%s; eval needs n of at least 16", why)
	}
	fmt.Fprintf(o.err, "note: %s; using n = %d (SWD figures compare only at equal n)\n", why, n)
	return n, nil
}

// table prints r for people.
func (r evalReport) table(w io.Writer) {
	fmt.Fprintf(w, "sliced Wasserstein distance x1e3 (n = %d, seed %d; lower is better)\n", r.N, r.Seed)
	fmt.Fprintf(w, "%-22s", "level")
	for _, res := range r.Resolutions {
		fmt.Fprintf(w, "%10s", fmt.Sprintf("%dpx", res))
	}
	fmt.Fprintf(w, "%10s\n", "average")
	row := func(name string, x metrics.Result) {
		fmt.Fprintf(w, "%-22s", name)
		for _, v := range x.PerLevel {
			fmt.Fprintf(w, "%10.2f", v)
		}
		fmt.Fprintf(w, "%10.2f\n", x.Average)
	}
	for _, d := range r.Draws {
		row(fmt.Sprintf("seed %d: generated", d.Seed), d.Fake)
		row(fmt.Sprintf("seed %d: floor", d.Seed), d.Floor)
	}
	if len(r.Draws) > 1 {
		fmt.Fprintf(w, "mean of %d draws (generated: sd %.2f):\n", len(r.Draws), r.Spread)
	}
	row("generated vs real", r.Fake)
	row("real vs real (floor)", r.Floor)
	if r.Untrained != nil {
		row("untrained vs real", *r.Untrained)
	}
	fmt.Fprintf(w, "ratio to floor: %.2f   (%s, %.1f s)\n", r.Ratio, r.Source, r.Seconds)
	if f := r.Faces; f != nil {
		check := "face check off"
		if f.FaceCheck > 1 {
			check = fmt.Sprintf("face check: %d of %d seeds took a later draw (up to %d)", f.Replaced, r.N, f.FaceCheck)
		}
		fmt.Fprintf(w, "anime face found: generated %.1f%%, real %.1f%% (%s)\n", 100*f.Fake, 100*f.Real, check)
	}
	if r.Nearest != nil {
		fmt.Fprintf(w, "nearest training image of %d generated: min RMS %.1f, median %.1f (of 255); closest: %s\n",
			r.Nearest.Checked, r.Nearest.MinRMS, r.Nearest.MedianRMS, r.Nearest.Closest)
	}
}

// firstImageSide returns the shorter side of the first decodable image in dir (walked in
// lexical order, as dataset.Load scans).
func firstImageSide(dir string) (int, error) {
	side := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return dataset.SkipUnreadable(dir, path, d, err) // as dataset.Load skips them
		}
		if !d.Type().IsRegular() {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return nil
		}
		cfg, _, err := image.DecodeConfig(f)
		f.Close()
		if err == nil && cfg.Width > 0 && cfg.Height > 0 {
			side = min(cfg.Width, cfg.Height)
			return filepath.SkipAll
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("--fake %s: %w", dir, err)
	}
	if side == 0 {
		return 0, fmt.Errorf("--fake %s: no image found", dir)
	}
	return side, nil
}
