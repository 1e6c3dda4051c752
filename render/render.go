// Package render turns generator output into pictures: float32 NCHW tensors in [-1, 1]
// become RGBA images, images become grids, upscaled copies and animated GIFs.
package render

import (
	"image"
	"image/color"
	"image/color/palette"
	"image/draw"
	"image/gif"
	"math"
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

// Upscale enlarges img by an integer factor with nearest-neighbour sampling, which keeps
// the crisp pixel-art look of small avatars instead of blurring them.
func Upscale(img *image.RGBA, factor int) *image.RGBA {
	if factor <= 1 {
		return img
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	out := image.NewRGBA(image.Rect(0, 0, w*factor, h*factor))
	for y := 0; y < h*factor; y++ {
		src := img.Pix[(y/factor)*img.Stride:]
		dst := out.Pix[y*out.Stride:]
		for x := 0; x < w*factor; x++ {
			copy(dst[4*x:4*x+4], src[4*(x/factor):4*(x/factor)+4])
		}
	}
	return out
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

// SquareCols returns the column count of the most square grid for n images.
func SquareCols(n int) int {
	c := int(math.Ceil(math.Sqrt(float64(n))))
	if c < 1 {
		c = 1
	}
	return c
}

// GIF builds a looping animation of the frames, delay in hundredths of a second. Frames
// are mapped to the Plan 9 palette without dithering: dithering small pixel-art avatars
// adds noise that shimmers from frame to frame.
func GIF(frames []*image.RGBA, delay int) *gif.GIF {
	g := &gif.GIF{LoopCount: 0}
	for _, f := range frames {
		p := image.NewPaletted(f.Bounds(), palette.Plan9)
		draw.Draw(p, p.Rect, f, f.Bounds().Min, draw.Src)
		g.Image = append(g.Image, p)
		g.Delay = append(g.Delay, delay)
	}
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
