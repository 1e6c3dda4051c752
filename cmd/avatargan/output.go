package main

import (
	"context"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"

	"avatargan/internal/atomicfile"
	"avatargan/render"
)

// Output formats an --out name can select by its extension.
const (
	formatPNG  = "PNG"
	formatJPEG = "JPEG"
	formatGIF  = "GIF"
)

// imageExts maps file extensions to image formats.
var imageExts = map[string]string{".png": formatPNG, ".jpg": formatJPEG, ".jpeg": formatJPEG, ".gif": formatGIF}

// imageFormat returns the format an output file name asks for by its extension, or an
// error naming the allowed ones: a name is honoured or refused, never written in another
// format than it says.
func imageFormat(flagName, path string, allowed ...string) (string, error) {
	ext := strings.ToLower(filepath.Ext(path))
	f, ok := imageExts[ext]
	for _, a := range allowed {
		if ok && f == a {
			return f, nil
		}
	}
	var exts []string
	for _, a := range allowed {
		switch a {
		case formatPNG:
			exts = append(exts, ".png")
		case formatJPEG:
			exts = append(exts, ".jpg")
		case formatGIF:
			exts = append(exts, ".gif")
		}
	}
	return "", fmt.Errorf("%s %s: want a %s file", flagName, path, strings.Join(exts, ", "))
}

// isDirName reports whether --out names a directory: an existing one, a name ending in a
// separator or a name without an extension.
func isDirName(path string) bool {
	if fi, err := os.Stat(path); err == nil {
		return fi.IsDir()
	}
	return strings.HasSuffix(path, "/") || strings.HasSuffix(path, string(filepath.Separator)) || filepath.Ext(path) == ""
}

// jpegQuality is high because avatars are small and their edges are what one sees.
const jpegQuality = 95

// writeImage writes img to path atomically in format (PNG, JPEG or, for an
// *image.Paletted animation, GIF), creating the folder if needed. It stops and leaves no
// file behind once ctx is done.
func writeImage(ctx context.Context, path, format string, img image.Image) error {
	return writeFile(ctx, path, func(w io.Writer) error {
		switch format {
		case formatJPEG:
			return jpeg.Encode(w, img, &jpeg.Options{Quality: jpegQuality})
		case formatPNG:
			return png.Encode(w, img)
		}
		return fmt.Errorf("cannot write %s as %s", path, format)
	})
}

// writeGIF writes an animation like writeImage.
func writeGIF(ctx context.Context, path string, g *gif.GIF) error {
	return writeFile(ctx, path, func(w io.Writer) error { return gif.EncodeAll(w, g) })
}

// writeFile creates path's folder if needed and writes path atomically with write,
// whose writes fail once ctx is done (the temporary file is then removed).
func writeFile(ctx context.Context, path string, write func(io.Writer) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := mkdirFor(path); err != nil {
		return err
	}
	return atomicfile.WriteContext(ctx, path, write)
}

// mkdirFor creates the folder of an output file.
func mkdirFor(path string) error {
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	return nil
}

// maxImageBytes bounds one output image (a grid, a strip, an upscaled avatar) or the
// frames of one animation in memory: 1 GiB, a 16k x 16k RGBA picture.
const maxImageBytes = 1 << 30

// checkGrid returns an error when a grid of n side x side images in cols columns would
// exceed maxImageBytes, before anything is generated.
func checkGrid(what string, n, cols, side int) error {
	rows := (n + cols - 1) / cols
	w, h := int64(cols)*int64(side+render.GridGap)+render.GridGap, int64(rows)*int64(side+render.GridGap)+render.GridGap
	if w*h*4 > maxImageBytes || int64(n)*int64(side)*int64(side)*4 > maxImageBytes {
		return fmt.Errorf("%s of %d images %d px wide would need %d MiB, over the %d MiB limit: use fewer images or a smaller --upscale",
			what, n, side, (max(w*h, int64(n)*int64(side)*int64(side))*4)>>20, maxImageBytes>>20)
	}
	return nil
}

// interruptible runs f, which takes no context (loading a model, converting GIF frames),
// and returns its error, or ctx's error as soon as ctx is done: the command then ends
// while f's goroutine is abandoned with the process. f must not write files. With ctx
// already done, f is not started: an abandoned f may still change process state (bench
// sets the GEMM thread count and restores it when it ends), which a caller that goes on
// running, such as a test, would see change under it.
func interruptible[T any](ctx context.Context, f func() (T, error)) (T, error) {
	if err := ctx.Err(); err != nil {
		var zero T
		return zero, err
	}
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := f()
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}
