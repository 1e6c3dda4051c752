package main

import (
	"context"
	"fmt"
	"image"
	"image/gif"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"

	"avatargan/avatar"
	"avatargan/internal/atomicfile"
	"avatargan/models"
	"avatargan/render"
)

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

// writePNG writes img to path atomically.
func writePNG(path string, img image.Image) error {
	return atomicfile.Write(path, func(w io.Writer) error { return png.Encode(w, img) })
}

func cmdGenerate(ctx context.Context, o stdio, args []string) error {
	fs := newFlags(o, "generate", "[-n 64] [--seed S] [--grid] [--out avatars.png|DIR] [--checkpoint PATH]")
	n := fs.Int("n", 64, "number of avatars")
	seed := fs.Uint64("seed", 0, "first seed: avatar i uses seed S+i (the same seed is the same avatar everywhere)")
	grid := fs.Bool("grid", false, "write one grid image instead of one file per avatar")
	out := fs.String("out", "", "output: a .png file (a grid, or a single avatar when -n 1) or a directory for one PNG per avatar (default avatars.png with --grid, else avatars/)")
	ckpt := fs.String("checkpoint", "", "run directory, training checkpoint or generator file (default: the embedded generator)")
	upscale := fs.Int("upscale", 1, "enlarge each avatar by this integer factor (nearest neighbour)")
	trunc := fs.Float64("truncation", 1, "scale the latent vectors (below 1: safer, less varied avatars)")
	prec := precisionFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *n < 1 || *n > 100000 {
		return fmt.Errorf("-n %d: want 1..100000", *n)
	}
	if *upscale < 1 || *upscale > 32 {
		return fmt.Errorf("--upscale %d: want 1..32", *upscale)
	}
	if !(*trunc > 0 && *trunc <= 2) {
		return fmt.Errorf("--truncation %v: want (0, 2]", *trunc)
	}
	m, err := loadModel(*ckpt)
	if err != nil {
		return err
	}
	if err := usePrecision(*prec, m); err != nil {
		return err
	}
	seeds := make([]uint64, *n)
	for i := range seeds {
		seeds[i] = *seed + uint64(i)
	}
	z := m.Seeds(seeds...)
	for i := range z {
		z[i] *= float32(*trunc)
	}
	imgs, err := m.Generate(z)
	if err != nil {
		return err
	}
	for i := range imgs {
		imgs[i] = render.Upscale(imgs[i], *upscale)
	}
	dst := *out
	single := *grid || (*n == 1 && strings.HasSuffix(strings.ToLower(dst), ".png"))
	if dst == "" {
		dst = "avatars"
		if single {
			dst = "avatars.png"
		}
	}
	if single {
		var img image.Image = imgs[0]
		if *grid {
			img = render.Grid(imgs, render.SquareCols(len(imgs)), 2)
		}
		if err := writePNG(dst, img); err != nil {
			return err
		}
		fmt.Fprintf(o.out, "wrote %s (%d avatars, seeds %d..%d)\n", dst, *n, *seed, *seed+uint64(*n)-1)
		return nil
	}
	if strings.HasSuffix(strings.ToLower(dst), ".png") {
		return fmt.Errorf("--out %s: %d avatars need --grid or a directory", dst, *n)
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	for i, img := range imgs {
		if err := writePNG(filepath.Join(dst, fmt.Sprintf("avatar-%d.png", seeds[i])), img); err != nil {
			return err
		}
	}
	fmt.Fprintf(o.out, "wrote %d avatars to %s (seeds %d..%d)\n", *n, dst, *seed, *seed+uint64(*n)-1)
	return nil
}

func cmdInterpolate(ctx context.Context, o stdio, args []string) error {
	fs := newFlags(o, "interpolate", "--from A --to B [--steps 10] [--out walk.gif|strip.png]")
	from := fs.Uint64("from", 0, "seed of the first avatar")
	to := fs.Uint64("to", 1, "seed of the last avatar")
	steps := fs.Int("steps", 10, "number of images, ends included (2..256)")
	out := fs.String("out", "walk.gif", "output: .gif (animation, there and back) or .png (a strip)")
	ckpt := fs.String("checkpoint", "", "run directory, training checkpoint or generator file (default: the embedded generator)")
	upscale := fs.Int("upscale", 4, "enlarge each frame by this integer factor")
	delay := fs.Int("delay", 12, "GIF frame delay in hundredths of a second")
	prec := precisionFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *steps < 2 || *steps > 256 {
		return fmt.Errorf("--steps %d: want 2..256", *steps)
	}
	if *upscale < 1 || *upscale > 32 {
		return fmt.Errorf("--upscale %d: want 1..32", *upscale)
	}
	ext := strings.ToLower(filepath.Ext(*out))
	if ext != ".gif" && ext != ".png" {
		return fmt.Errorf("--out %s: want a .gif or .png file", *out)
	}
	m, err := loadModel(*ckpt)
	if err != nil {
		return err
	}
	if err := usePrecision(*prec, m); err != nil {
		return err
	}
	imgs, err := m.Generate(render.Walk(m.Seeds(*from), m.Seeds(*to), *steps))
	if err != nil {
		return err
	}
	for i := range imgs {
		imgs[i] = render.Upscale(imgs[i], *upscale)
	}
	if ext == ".png" {
		err = writePNG(*out, render.Grid(imgs, len(imgs), 2))
	} else {
		g := render.GIF(render.PingPong(imgs), *delay)
		err = atomicfile.Write(*out, func(w io.Writer) error { return gif.EncodeAll(w, g) })
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(o.out, "wrote %s (%d steps from seed %d to %d)\n", *out, *steps, *from, *to)
	return nil
}

func cmdExport(ctx context.Context, o stdio, args []string) error {
	fs := newFlags(o, "export", "--checkpoint PATH --out generator.safetensors [--dtype F32|F16]")
	ckpt := fs.String("checkpoint", "", "run directory or training checkpoint (EMA weights are exported when the run kept them)")
	out := fs.String("out", "generator.safetensors", "output file")
	dtype := fs.String("dtype", "F32", "F32 (loads into the PyTorch reference unchanged) or F16 (half the size)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *ckpt == "" {
		return fmt.Errorf("--checkpoint is required")
	}
	if *dtype != "F32" && *dtype != "F16" {
		return fmt.Errorf("--dtype %s: want F32 or F16", *dtype)
	}
	m, err := avatar.Load(*ckpt)
	if err != nil {
		return err
	}
	if err := m.Save(*out, *dtype); err != nil {
		return err
	}
	s := m.Spec()
	fmt.Fprintf(o.out, "wrote %s: generator only, %s, reference names without prefix;\nload in PyTorch with Generator(size=%d, z=%d, gf=%d).load_state_dict(safetensors.torch.load_file(%q))\n", *out, *dtype, s.Size, s.ZDim, s.GF, *out)
	return nil
}
