// Package render turns generator output into pictures: float32 NCHW tensors in [-1, 1]
// become RGBA images, images become grids, upscaled copies and animated GIFs.
package render

import (
	"image"
	"image/color"
	"image/draw"
	"image/gif"
	"math"

	xdraw "golang.org/x/image/draw"
)

// ToImages converts n images stored NCHW (3 channels, size x size, values in [-1, 1])
// to RGBA. Pixels are (x+1)*127.5 rounded and clamped, not min-max normalised per image as
// the original did, so that an image's colours do not depend on its own extremes.
func ToImages(x []float32, n, size int) []*image.RGBA {
	out := make([]*image.RGBA, n)
	plane := size * size
	for i := range out {
		img := image.NewRGBA(image.Rect(0, 0, size, size))
		base := x[i*3*plane:]
		for p := 0; p < plane; p++ {
			o := 4 * p
			img.Pix[o+0] = toByte(base[p])
			img.Pix[o+1] = toByte(base[plane+p])
			img.Pix[o+2] = toByte(base[2*plane+p])
			img.Pix[o+3] = 255
		}
		out[i] = img
	}
	return out
}

func toByte(v float32) uint8 {
	f := math.Round(float64(v+1) * 127.5)
	if f < 0 || f != f {
		return 0
	}
	if f > 255 {
		return 255
	}
	return uint8(f)
}

// RGB returns the pixels of img as packed HWC RGB bytes, the layout the metrics and
// dataset packages use.
func RGB(img *image.RGBA) []uint8 {
	b := img.Bounds()
	out := make([]uint8, 0, b.Dx()*b.Dy()*3)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		row := img.Pix[(y-b.Min.Y)*img.Stride:]
		for x := 0; x < b.Dx(); x++ {
			out = append(out, row[4*x], row[4*x+1], row[4*x+2])
		}
	}
	return out
}

// FromRGB is RGB's inverse: packed HWC RGB bytes of a size x size image as an opaque
// RGBA image.
func FromRGB(px []uint8, size int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	for i := range size * size {
		copy(img.Pix[4*i:4*i+3], px[3*i:3*i+3])
		img.Pix[4*i+3] = 255
	}
	return img
}

// Filter is how Resize fills in pixels when it enlarges an image.
type Filter int

const (
	// Nearest copies the nearest source pixel: the crisp pixel-art look of small
	// avatars, and the cheapest.
	Nearest Filter = iota
	// Smooth is Catmull-Rom (golang.org/x/image/draw): a smooth photo-like
	// enlargement without the blockiness of Nearest, at the price of some blur.
	Smooth
)

// ParseFilter maps "nearest" and "smooth" to a Filter.
func ParseFilter(s string) (Filter, bool) {
	switch s {
	case "nearest":
		return Nearest, true
	case "smooth":
		return Smooth, true
	}
	return 0, false
}

// String returns the name ParseFilter accepts.
func (f Filter) String() string {
	if f == Smooth {
		return "smooth"
	}
	return "nearest"
}

// Resize returns img scaled to w x h with filter f, or img itself when it already has
// that size.
func Resize(img *image.RGBA, w, h int, f Filter) *image.RGBA {
	b := img.Bounds()
	if b.Dx() == w && b.Dy() == h {
		return img
	}
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	var s xdraw.Scaler = xdraw.NearestNeighbor
	if f == Smooth {
		s = xdraw.CatmullRom
	}
	s.Scale(out, out.Rect, img, b, xdraw.Src, nil)
	return out
}

// Upscale enlarges img by an integer factor with filter f: Nearest keeps the crisp
// pixel-art look of small avatars, Smooth hides their pixels at display sizes.
func Upscale(img *image.RGBA, factor int, f Filter) *image.RGBA {
	if factor <= 1 {
		return img
	}
	b := img.Bounds()
	return Resize(img, b.Dx()*factor, b.Dy()*factor, f)
}

// Grid lays the images out in rows of cols with gap pixels of white between and around
// them. All images must have the same size.
func Grid(imgs []*image.RGBA, cols, gap int) *image.RGBA {
	if len(imgs) == 0 {
		return image.NewRGBA(image.Rect(0, 0, 0, 0))
	}
	if cols < 1 {
		cols = 1
	}
	if cols > len(imgs) {
		cols = len(imgs)
	}
	rows := (len(imgs) + cols - 1) / cols
	w, h := imgs[0].Bounds().Dx(), imgs[0].Bounds().Dy()
	out := image.NewRGBA(image.Rect(0, 0, cols*(w+gap)+gap, rows*(h+gap)+gap))
	draw.Draw(out, out.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	for i, img := range imgs {
		x := gap + (i%cols)*(w+gap)
		y := gap + (i/cols)*(h+gap)
		draw.Draw(out, image.Rect(x, y, x+w, y+h), img, img.Bounds().Min, draw.Src)
	}
	return out
}

// GridGap is the white border between and around the images of every grid
// (generate --grid, the server's /grid.png), in pixels.
const GridGap = 2

// GridCols returns the column count for a grid of n images, the one layout of every
// grid (generate --grid, the server's /grid.png, training's sample grids): the divisor
// of n that makes the most square grid without holes when one exists with at most 2.5
// columns per row (8 -> 4x2, 12 -> 4x3, 10 -> 5x2; 3 -> 3x1), else the most square grid
// (5 -> 3x2 with a hole).
func GridCols(n int) int {
	for c := 1; c <= n; c++ {
		if n%c == 0 && c*c >= n {
			if rows := n / c; 2*c <= 5*rows || n <= 3 {
				return c
			}
			break
		}
	}
	c := 1
	for c*c < n {
		c++
	}
	return c
}

// GIF builds a looping animation of the frames, delay in hundredths of a second. All
// frames share one palette of up to 256 colours made by median cut from all their pixels
// (Palette), so an animation keeps its own pinks and skin tones where a fixed palette
// would turn them grey and blotchy, and no colour flickers between frames. There is no
// dithering: on small pixel-art avatars it adds noise that shimmers from frame to frame.
// A frame that appears several times (a ping-pong loop) is quantised once.
func GIF(frames []*image.RGBA, delay int) *gif.GIF {
	g := &gif.GIF{LoopCount: 0}
	if len(frames) == 0 {
		return g
	}
	pal := Palette(frames, 256)
	m := newMapper(pal)
	done := make(map[*image.RGBA]*image.Paletted, len(frames))
	for _, f := range frames {
		p, ok := done[f]
		if !ok {
			p = m.paletted(f)
			done[f] = p
		}
		g.Image = append(g.Image, p)
		g.Delay = append(g.Delay, delay)
	}
	b := frames[0].Bounds()
	// A global colour table: written once instead of once per frame.
	g.Config = image.Config{ColorModel: pal, Width: b.Dx(), Height: b.Dy()}
	return g
}

// Slerp interpolates spherically between latent vectors a and b at t in [0, 1], writing
// into dst. Spherical interpolation keeps intermediate vectors at the typical norm of the
// latent distribution, where linear interpolation would pass through low-norm, washed-out
// images. Falls back to linear interpolation when a and b are (anti)parallel.
func Slerp(dst, a, b []float32, t float64) {
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	cos := dot / math.Sqrt(na*nb)
	if na == 0 || nb == 0 || math.IsNaN(cos) || math.Abs(cos) > 0.9995 {
		for i := range dst {
			dst[i] = float32((1-t)*float64(a[i]) + t*float64(b[i]))
		}
		return
	}
	omega := math.Acos(cos)
	s := math.Sin(omega)
	wa, wb := math.Sin((1-t)*omega)/s, math.Sin(t*omega)/s
	for i := range dst {
		dst[i] = float32(wa*float64(a[i]) + wb*float64(b[i]))
	}
}

// Walk returns the latents of a slerp walk from a to b in steps steps, ends included,
// concatenated (steps*len(a) values). The CLI's interpolate and the server's
// /interpolate.gif both walk this way, so the same seeds give the same frames.
func Walk(a, b []float32, steps int) []float32 {
	n := len(a)
	z := make([]float32, steps*n)
	for i := range steps {
		t := 0.0
		if steps > 1 {
			t = float64(i) / float64(steps-1)
		}
		Slerp(z[i*n:(i+1)*n], a, b, t)
	}
	return z
}

// PingPong returns frames followed by the inner ones in reverse, A..B..A without
// repeating the end frames: 2*(len-1) frames that loop seamlessly, which makes a morph
// easy to follow. The result shares the elements of frames.
func PingPong[T any](frames []T) []T {
	out := append(make([]T, 0, 2*len(frames)), frames...)
	for i := len(frames) - 2; i >= 1; i-- {
		out = append(out, frames[i])
	}
	return out
}
