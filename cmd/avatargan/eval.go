package main

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"

	"avatargan/avatar"
	"avatargan/dataset"
	"avatargan/metrics"
	"avatargan/render"
)

// evalReport is what eval prints with --json.
type evalReport struct {
	Source      string          `json:"source"`
	N           int             `json:"n"`
	Seed        uint64          `json:"seed"`
	Resolutions []int           `json:"resolutions"`
	Fake        metrics.Result  `json:"fake"`
	Floor       metrics.Result  `json:"real_vs_real"`
	Untrained   *metrics.Result `json:"untrained,omitempty"`
	Ratio       float64         `json:"ratio_to_floor"`
	Nearest     *nearestReport  `json:"nearest,omitempty"`
	Seconds     float64         `json:"seconds"`
}

type nearestReport struct {
	Checked   int     `json:"checked"`
	MinRMS    float64 `json:"min_rms"`
	MedianRMS float64 `json:"median_rms"`
	Closest   string  `json:"closest_real"`
}

func cmdEval(ctx context.Context, o stdio, args []string) error {
	fs := newFlags(o, "eval", "--data DIR [--checkpoint PATH | --fake DIR] [-n 8192] [--seed S] [--json]")
	data := fs.String("data", "", "folder of real images (the training set)")
	cacheDir := fs.String("cache", "", "dataset cache directory (default: the user cache dir)")
	ckpt := fs.String("checkpoint", "", "run directory, training checkpoint or generator file (default: the embedded generator)")
	live := fs.Bool("live", false, "with a training checkpoint, evaluate the live generator instead of its EMA")
	fake := fs.String("fake", "", "evaluate a folder of images instead of a generator")
	n := fs.Int("n", 8192, "images per set")
	seed := fs.Uint64("seed", 1, "seed of the real-image draw, the generated avatars and the metric's randomness")
	untrained := fs.Bool("untrained", false, "also measure an untrained generator of the same shape (the starting point)")
	nearest := fs.Int("nearest", 0, "check this many generated images against the whole training set for copies")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	prec := precisionFlag(fs)
	sizeFlag := fs.Int("size", 0, "image side for the comparison (default: the model's; with --fake, the first fake image's side, at least 16)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *data == "" {
		return fmt.Errorf("--data is required (the real images)")
	}
	if *n < 16 {
		return fmt.Errorf("-n %d: want at least 16", *n)
	}
	if *sizeFlag != 0 && *sizeFlag < 16 {
		return fmt.Errorf("--size %d: want at least 16", *sizeFlag)
	}
	start := time.Now()
	var model *avatar.Model
	var fakes [][]uint8
	var err error
	size := 0
	source := *fake
	if *fake != "" {
		if *ckpt != "" {
			return fmt.Errorf("--fake and --checkpoint are exclusive")
		}
	} else {
		if *ckpt != "" {
			model, err = avatar.LoadWith(*ckpt, *live)
			source = *ckpt
		} else {
			model, err = loadModel("")
			source = "embedded"
		}
		if err != nil {
			return err
		}
		if err := usePrecision(*prec, model); err != nil {
			return err
		}
		size = model.Size()
		if *sizeFlag != 0 && *sizeFlag != size {
			return fmt.Errorf("--size %d: the generator makes %d px images", *sizeFlag, size)
		}
	}
	if *fake != "" {
		// Without a model the fake folder decides the size (its images are usually all
		// the same): the first image's shorter side, unless --size says otherwise.
		size = *sizeFlag
		if size == 0 {
			if size, err = firstImageSide(*fake); err != nil {
				return err
			}
			size = max(size, 16)
		}
		set, rep, err := dataset.Load(dataset.Options{Dir: *fake, Size: size, NoCache: true})
		if err != nil {
			return err
		}
		if rep.Skipped > 0 {
			fmt.Fprintln(o.err, rep.String())
		}
		for i := 0; i < set.Len() && len(fakes) < *n; i++ {
			fakes = append(fakes, set.Image(i))
		}
		if len(fakes) < *n {
			fmt.Fprintf(o.err, "note: %s has %d usable images; using n = %d\n", *fake, len(fakes), len(fakes))
			*n = len(fakes)
		}
	}
	set, rep, err := dataset.Load(dataset.Options{Dir: *data, Size: size, CacheDir: *cacheDir})
	if err != nil {
		return err
	}
	if !*asJSON {
		fmt.Fprintln(o.err, rep.String())
	}
	if set.Len() < 2**n {
		return fmt.Errorf("%s has %d images; -n %d needs %d (two disjoint real sets)", *data, set.Len(), *n, 2**n)
	}
	// Two disjoint real sets: one compared with the fakes, one with the first (the floor).
	perm := rand.New(rand.NewPCG(*seed, 0xe7a1)).Perm(set.Len())
	realA := make([][]uint8, *n)
	realB := make([][]uint8, *n)
	for i := 0; i < *n; i++ {
		realA[i] = set.Image(perm[i])
		realB[i] = set.Image(perm[*n+i])
	}
	gen := func(m *avatar.Model) ([][]uint8, error) {
		out := make([][]uint8, 0, *n)
		for lo := 0; lo < *n; lo += 256 {
			seeds := make([]uint64, 0, 256)
			for i := lo; i < min(*n, lo+256); i++ {
				seeds = append(seeds, *seed<<32+uint64(i))
			}
			imgs, err := m.Generate(m.Seeds(seeds...))
			if err != nil {
				return nil, err
			}
			for _, img := range imgs {
				out = append(out, render.RGB(img))
			}
		}
		return out, nil
	}
	if model != nil {
		if fakes, err = gen(model); err != nil {
			return err
		}
	}
	mo := metrics.DefaultOptions()
	mo.Seed = *seed
	rf, err := metrics.SWD(realA, fakes, size, mo)
	if err != nil {
		return err
	}
	floor, err := metrics.SWD(realA, realB, size, mo)
	if err != nil {
		return err
	}
	r := evalReport{Source: source, N: *n, Seed: *seed, Resolutions: rf.Resolutions, Fake: rf, Floor: floor, Ratio: rf.Average / floor.Average}
	if *untrained && model != nil {
		um, err := avatar.Untrained(model.Spec(), 1)
		if err != nil {
			return err
		}
		um.Generator().SetPrecision(model.Generator().Precision())
		uf, err := gen(um)
		if err != nil {
			return err
		}
		ur, err := metrics.SWD(realA, uf, size, mo)
		if err != nil {
			return err
		}
		r.Untrained = &ur
	}
	if *nearest > 0 {
		k := min(*nearest, len(fakes))
		all := make([][]uint8, set.Len())
		for i := range all {
			all[i] = set.Image(i)
		}
		ms, err := metrics.NearestReal(fakes[:k], all, size)
		if err != nil {
			return err
		}
		nr := &nearestReport{Checked: k, MinRMS: 1e9}
		rms := make([]float64, len(ms))
		for i, m := range ms {
			rms[i] = m.RMS
			if m.RMS < nr.MinRMS {
				nr.MinRMS, nr.Closest = m.RMS, filepath.Join(*data, set.Path(m.Real))
			}
		}
		nr.MedianRMS = median(rms)
		r.Nearest = nr
	}
	r.Seconds = time.Since(start).Seconds()
	if *asJSON {
		enc := json.NewEncoder(o.out)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	fmt.Fprintf(o.out, "sliced Wasserstein distance x1e3 (n = %d, seed %d; lower is better)\n", *n, *seed)
	fmt.Fprintf(o.out, "%-22s", "level")
	for _, res := range r.Resolutions {
		fmt.Fprintf(o.out, "%10s", fmt.Sprintf("%dpx", res))
	}
	fmt.Fprintf(o.out, "%10s\n", "average")
	row := func(name string, x metrics.Result) {
		fmt.Fprintf(o.out, "%-22s", name)
		for _, v := range x.PerLevel {
			fmt.Fprintf(o.out, "%10.2f", v)
		}
		fmt.Fprintf(o.out, "%10.2f\n", x.Average)
	}
	row("generated vs real", rf)
	row("real vs real (floor)", floor)
	if r.Untrained != nil {
		row("untrained vs real", *r.Untrained)
	}
	fmt.Fprintf(o.out, "ratio to floor: %.2f   (%s, %.1f s)\n", r.Ratio, source, r.Seconds)
	if r.Nearest != nil {
		fmt.Fprintf(o.out, "nearest training image of %d generated: min RMS %.1f, median %.1f (of 255); closest: %s\n",
			r.Nearest.Checked, r.Nearest.MinRMS, r.Nearest.MedianRMS, r.Nearest.Closest)
	}
	return nil
}

func median(x []float64) float64 {
	if len(x) == 0 {
		return 0
	}
	s := slices.Clone(x)
	slices.Sort(s)
	return s[len(s)/2]
}

// firstImageSide returns the shorter side of the first decodable image in dir (walked in
// lexical order, as dataset.Load scans).
func firstImageSide(dir string) (int, error) {
	side := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
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
