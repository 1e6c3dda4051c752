package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/gif"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"avatargan/avatar"
	"avatargan/checkpoint"
	"avatargan/dcgan"
	"avatargan/internal/atomicfile"
	"avatargan/models"
	"avatargan/onnx"
	"avatargan/render"
	"avatargan/train"
)

// loadModelContext is loadModel that returns at once when ctx is done (reading and
// decoding a checkpoint and recalibrating its BatchNorms take a second or more).
func loadModelContext(ctx context.Context, path string) (*avatar.Model, error) {
	return interruptible(ctx, func() (*avatar.Model, error) { return loadModel(path) })
}

// loadLiveContext loads a training checkpoint's live generator (not its EMA), honouring ctx.
func loadLiveContext(ctx context.Context, path string) (*avatar.Model, error) {
	return interruptible(ctx, func() (*avatar.Model, error) { return avatar.LoadWith(path, true) })
}

// loadModel loads --checkpoint, or the embedded generator when it is empty.
func loadModel(path string) (*avatar.Model, error) {
	if path == "" {
		m, err := models.Default()
		if err != nil {
			return nil, err
		}
		return m, nil
	}
	return avatar.Load(path)
}

// faceCheckFlag registers --face-check, shared by every command that draws avatars
// from seeds, so that a seed is the same avatar in all of them.
func faceCheckFlag(fs *flag.FlagSet, v *int) {
	fs.IntVar(v, "face-check", avatar.DefaultFaceCheck, fmt.Sprintf("draws per seed, 0..%d: a seed whose avatar holds no face the anime-face detector finds takes the next of up to this many draws (0 or 1: off)", avatar.MaxFaceCheck))
}

func checkFaceCheck(v int) error {
	if v < 0 || v > avatar.MaxFaceCheck {
		return fmt.Errorf("--face-check %d: want 0..%d", v, avatar.MaxFaceCheck)
	}
	return nil
}

// Flag bounds shared by generate and interpolate.
const (
	maxAvatars = 100000 // generate -n
	maxUpscale = 32
)

// filterFlag defines --filter, the enlargement filter of --upscale (the server's filter
// parameter).
func filterFlag(fs *flag.FlagSet) *string {
	return fs.String("filter", "nearest", "how --upscale fills in pixels: nearest (square pixels) or smooth (Catmull-Rom: no blocks, a little blur)")
}

// parseFilter checks --filter's value.
func parseFilter(s string) (render.Filter, error) {
	f, ok := render.ParseFilter(s)
	if !ok {
		return f, fmt.Errorf("--filter %q: want nearest or smooth", s)
	}
	return f, nil
}

// genPiece is the number of avatars generated, upscaled and written at a time, which
// bounds generate's memory whatever -n is.
const genPiece = 256

// genOptions are generate's flags, checked.
type genOptions struct {
	n, upscale  int
	seed        uint64
	grid, toDir bool
	out, format string // the output path and, for a file, its format
	ckpt        string
	trunc       float64
	precision   string        // --precision: auto, f32 or bf16
	faceCheck   int           // --face-check: draws per seed (avatar.SetFaceCheck)
	filter      render.Filter // --filter: how --upscale enlarges
}

func parseGenerate(o stdio, args []string) (g genOptions, err error) {
	fs := newFlags(o, "generate")
	fs.IntVar(&g.n, "n", 64, "number of avatars (1..100000)")
	fs.Uint64Var(&g.seed, "seed", 0, "first seed: avatar i uses seed S+i (the same seed is the same avatar everywhere)")
	fs.BoolVar(&g.grid, "grid", false, "write one grid image instead of one file per avatar")
	fs.StringVar(&g.out, "out", "", "output `PATH`: a .png or .jpg file (a grid, or one avatar when -n 1) or a directory for one PNG per avatar (default avatars.png with --grid, else avatars/)")
	fs.StringVar(&g.ckpt, "checkpoint", "", "run directory, training checkpoint or generator file `PATH` (default: the embedded generator)")
	fs.IntVar(&g.upscale, "upscale", 1, "enlarge each avatar by this integer factor, 1..32")
	filter := filterFlag(fs)
	fs.Float64Var(&g.trunc, "truncation", 1, "scale the latent vectors, in (0, 2] (below 1: less varied, paler avatars, fading toward the generator's average; above 1: more varied, more artefacts)")
	fs.StringVar(&g.precision, "precision", "auto", precisionUsage)
	faceCheckFlag(fs, &g.faceCheck)
	if err := parse(fs, args); err != nil {
		return g, err
	}
	if err := checkFaceCheck(g.faceCheck); err != nil {
		return g, err
	}
	if g.filter, err = parseFilter(*filter); err != nil {
		return g, err
	}
	switch {
	case g.n < 1 || g.n > maxAvatars:
		return g, fmt.Errorf("-n %d: want 1..%d", g.n, maxAvatars)
	case uint64(g.n-1) > math.MaxUint64-g.seed:
		return g, fmt.Errorf("--seed %d -n %d: the seeds would pass 2^64-1; use a smaller --seed", g.seed, g.n)
	case g.upscale < 1 || g.upscale > maxUpscale:
		return g, fmt.Errorf("--upscale %d: want 1..%d", g.upscale, maxUpscale)
	case !(g.trunc > 0 && g.trunc <= 2):
		return g, fmt.Errorf("--truncation %v: want (0, 2]", g.trunc)
	}
	if err := checkPrecision(g.precision); err != nil {
		return g, err
	}
	if g.out == "" {
		g.out = "avatars"
		if g.grid {
			g.out = "avatars.png"
		}
	}
	g.toDir = isDirName(g.out)
	switch {
	case g.toDir && g.grid:
		return g, fmt.Errorf("--out %s: --grid writes one image; name a .png or .jpg file", g.out)
	case g.toDir:
		return g, nil
	case !g.grid && g.n > 1:
		return g, fmt.Errorf("--out %s: %d avatars need --grid or a directory", g.out, g.n)
	}
	g.format, err = imageFormat("--out", g.out, formatPNG, formatJPEG)
	return g, err
}

func cmdGenerate(ctx context.Context, o stdio, args []string) error {
	g, err := parseGenerate(o, args)
	if err != nil {
		return err
	}
	m, err := loadModelContext(ctx, g.ckpt)
	if err != nil {
		return err
	}
	if err := usePrecision(o.err, g.precision, m); err != nil {
		return err
	}
	m.SetFaceCheck(g.faceCheck)
	what, cnt, cols := "a grid", g.n, render.GridCols(g.n)
	if !g.grid {
		what, cnt, cols = "an avatar", 1, 1 // held one at a time
	}
	if err := checkGrid(what, cnt, cols, m.Size()*g.upscale); err != nil {
		return err
	}
	last := g.seed + uint64(g.n-1)
	width := len(strconv.FormatUint(last, 10)) // zero-padded names sort in seed order
	var all []*image.RGBA
	err = eachAvatar(ctx, m, g, func(seed uint64, img *image.RGBA) error {
		if !g.toDir {
			all = append(all, img)
			return nil
		}
		return writeImage(ctx, filepath.Join(g.out, fmt.Sprintf("avatar-%0*d.png", width, seed)), formatPNG, img)
	})
	if err != nil {
		return err
	}
	if g.toDir {
		fmt.Fprintf(o.out, "wrote %d avatars to %s (seeds %d..%d)\n", g.n, g.out, g.seed, last)
		return nil
	}
	var img image.Image = all[0]
	if g.grid {
		img = render.Grid(all, cols, render.GridGap)
	}
	if err := writeImage(ctx, g.out, g.format, img); err != nil {
		return err
	}
	if g.n == 1 {
		fmt.Fprintf(o.out, "wrote %s (%s, the avatar of seed %d)\n", g.out, g.format, g.seed)
	} else {
		fmt.Fprintf(o.out, "wrote %s (%s, %d avatars, seeds %d..%d)\n", g.out, g.format, g.n, g.seed, last)
	}
	return nil
}

// eachAvatar generates the avatars of g's seeds in pieces of genPiece, so that memory
// does not grow with -n, and calls f on each, upscaled, in seed order.
func eachAvatar(ctx context.Context, m *avatar.Model, g genOptions, f func(seed uint64, img *image.RGBA) error) error {
	for lo := 0; lo < g.n; lo += genPiece {
		seeds := make([]uint64, min(genPiece, g.n-lo))
		for i := range seeds {
			seeds[i] = g.seed + uint64(lo+i)
		}
		imgs, err := m.AvatarsAt(ctx, seeds, g.trunc)
		if err != nil {
			return err
		}
		for i, img := range imgs {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := f(seeds[i], render.Upscale(img, g.upscale, g.filter)); err != nil {
				return err
			}
		}
	}
	return nil
}

func cmdInterpolate(ctx context.Context, o stdio, args []string) error {
	fs := newFlags(o, "interpolate")
	from := fs.Uint64("from", 0, "seed of the first avatar")
	to := fs.Uint64("to", 1, "seed of the last avatar")
	steps := fs.Int("steps", 10, "number of images, ends included (2..256)")
	out := fs.String("out", "walk.gif", "output `PATH`: .gif (an animation, there and back) or .png or .jpg (a strip)")
	ckpt := fs.String("checkpoint", "", "run directory, training checkpoint or generator file `PATH` (default: the embedded generator)")
	upscale := fs.Int("upscale", 4, "enlarge each frame by this integer factor, 1..32")
	filterName := filterFlag(fs)
	delay := fs.Int("delay", 12, "GIF frame delay in hundredths of a second, 1..6000")
	prec := precisionFlag(fs)
	var faceCheck int
	faceCheckFlag(fs, &faceCheck)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := checkFaceCheck(faceCheck); err != nil {
		return err
	}
	filter, err := parseFilter(*filterName)
	if err != nil {
		return err
	}
	if *steps < 2 || *steps > 256 {
		return fmt.Errorf("--steps %d: want 2..256", *steps)
	}
	if *upscale < 1 || *upscale > maxUpscale {
		return fmt.Errorf("--upscale %d: want 1..%d", *upscale, maxUpscale)
	}
	if *delay < 1 || *delay > 6000 {
		return fmt.Errorf("--delay %d: want 1..6000 (hundredths of a second)", *delay)
	}
	if err := checkPrecision(*prec); err != nil {
		return err
	}
	format, err := imageFormat("--out", *out, formatGIF, formatPNG, formatJPEG)
	if err != nil {
		return err
	}
	m, err := loadModelContext(ctx, *ckpt)
	if err != nil {
		return err
	}
	if err := usePrecision(o.err, *prec, m); err != nil {
		return err
	}
	side := m.Size() * *upscale
	if format == formatGIF {
		// RGBA frames plus one paletted frame each way.
		err = checkGrid("an animation", 2**steps, 1, side)
	} else {
		err = checkGrid("a strip", *steps, *steps, side)
	}
	if err != nil {
		return err
	}
	m.SetFaceCheck(faceCheck)
	ends, err := m.SeedLatents(ctx, *from, *to) // the avatars generate draws for these seeds
	if err != nil {
		return err
	}
	zd := m.ZDim()
	imgs, err := m.GenerateContext(ctx, render.Walk(ends[:zd], ends[zd:], *steps))
	if err != nil {
		return err
	}
	for i := range imgs {
		if err := ctx.Err(); err != nil { // hundreds of large frames take seconds
			return err
		}
		imgs[i] = render.Upscale(imgs[i], *upscale, filter)
	}
	if format == formatGIF {
		frames := render.PingPong(imgs)
		// Mapping hundreds of large frames to the palette takes seconds.
		var g *gif.GIF
		if g, err = interruptible(ctx, func() (*gif.GIF, error) { return render.GIF(frames, *delay), nil }); err == nil {
			err = writeGIF(ctx, *out, g)
		}
	} else {
		err = writeImage(ctx, *out, format, render.Grid(imgs, len(imgs), render.GridGap))
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(o.out, "wrote %s (%d steps from seed %d to %d)\n", *out, *steps, *from, *to)
	return nil
}

// exportFormat returns the file format an export --out name asks for by its extension
// (safetensors or onnx); other names are refused rather than written under a misleading
// extension.
func exportFormat(out string) (string, error) {
	switch ext := filepath.Ext(out); ext {
	case ".safetensors":
		return "safetensors", nil
	case ".onnx":
		return "onnx", nil
	default:
		return "", fmt.Errorf("--out %s: want a .safetensors or .onnx file", out)
	}
}

// checkExportTarget refuses an export into a training run's directory, where it could
// overwrite a checkpoint, config.json or metrics.jsonl, a name a run would take for its
// checkpoint, and the input file itself.
func checkExportTarget(out, input string) error {
	if _, ok := checkpoint.ParseName(filepath.Base(out)); ok {
		return fmt.Errorf("--out %s: that is a training checkpoint's name; choose another", out)
	}
	if dir := filepath.Dir(out); train.Exists(dir) {
		return fmt.Errorf("--out %s: %s is a training run; write the export outside it", out, dir)
	}
	if outSt, err := os.Stat(out); err == nil {
		if inSt, err := os.Stat(input); err == nil && os.SameFile(inSt, outSt) {
			return fmt.Errorf("--out %s: is the --checkpoint being exported", out)
		}
	}
	return nil
}

func cmdExport(ctx context.Context, o stdio, args []string) error {
	fs := newFlags(o, "export")
	ckpt := fs.String("checkpoint", "", "run directory or training checkpoint `PATH`; a run's EMA weights when it kept them (default: the embedded generator)")
	out := fs.String("out", "generator.safetensors", "output `FILE`: .safetensors (PyTorch) or .onnx (ONNX opset 13, F32, batch dynamic)")
	format := fs.String("format", "", "safetensors or onnx (default: from --out's extension, which must agree)")
	dtype := fs.String("dtype", "F32", "safetensors only: F32 (loads into the PyTorch module unchanged) or F16 (half the size)")
	live := fs.Bool("live", false, "with a training checkpoint, export the live generator instead of its EMA (where eval --live scores it better)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *live && *ckpt == "" {
		return errors.New("--live needs --checkpoint: a training checkpoint or run directory")
	}
	byExt, err := exportFormat(*out)
	if err != nil {
		return err
	}
	if *format == "" {
		*format = byExt
	} else if *format != byExt && (*format == "safetensors" || *format == "onnx") {
		return fmt.Errorf("--format %s but --out %s: name the file .%s", *format, *out, *format)
	}
	switch *format {
	case "safetensors":
		if *dtype != "F32" && *dtype != "F16" {
			return fmt.Errorf("--dtype %s: want F32 or F16", *dtype)
		}
	case "onnx":
		if *dtype != "F32" {
			return fmt.Errorf("--dtype %s: the ONNX export is F32 only", *dtype)
		}
	default:
		return fmt.Errorf("--format %s: want safetensors or onnx", *format)
	}
	if err := checkExportTarget(*out, *ckpt); err != nil {
		return err
	}
	load := loadModelContext
	if *live {
		load = loadLiveContext
	}
	m, err := load(ctx, *ckpt)
	if err != nil {
		return err
	}
	if err := mkdirFor(*out); err != nil {
		return err
	}
	s := m.Spec()
	if *format == "onnx" {
		dist := "uniform U(-1, 1)"
		if s.Dist == dcgan.Normal {
			dist = "normal N(0, 1)"
		}
		spec, err := json.Marshal(s)
		if err != nil {
			return err
		}
		model, err := onnx.Generator(m.Generator(), train.Version, [][2]string{
			{"avatargan.spec", string(spec)}, {"avatargan.latent", dist}, {"avatargan.pixels", "(x+1)*127.5, rounded and clamped to 0..255"}})
		if err != nil {
			return err
		}
		if err := atomicfile.Write(*out, model.Write); err != nil {
			return err
		}
		fmt.Fprintf(o.out, "wrote %s: ONNX opset %d, input %q float32 [batch, %d] (%s), output %q float32 [batch, 3, %d, %d] in [-1, 1]\n",
			*out, onnx.Opset, onnx.Input, s.ZDim, dist, onnx.Output, s.Size, s.Size)
		return nil
	}
	if err := m.SaveContext(ctx, *out, *dtype); err != nil {
		return err
	}
	fmt.Fprintf(o.out, "wrote %s: generator only, %s, reference names without prefix;\nload in PyTorch with Generator(size=%d, z=%d, gf=%d%s).load_state_dict(...) (see python/avatargan_torch)\n", *out, *dtype, s.Size, s.ZDim, s.GF, refineArg(s))
	return nil
}

// refineArg is the PyTorch Generator's refine argument for s, empty without a head.
func refineArg(s avatar.Spec) string {
	if s.Refine == 0 {
		return ""
	}
	return fmt.Sprintf(", refine=%d", s.Refine)
}
