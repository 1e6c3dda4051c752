package server

import (
	"bytes"
	"image"
	"image/color/palette"
	"image/draw"
	"image/gif"
	"image/png"
	"math"
	"sync"
)

// scaleNearest returns src resized to size x size by nearest-neighbour (see the
// package doc for why), or src itself when it already has that size.
func scaleNearest(src *image.RGBA, size int) *image.RGBA {
	b := src.Bounds()
	sw, sh := b.Dx(), b.Dy()
	if sw == size && sh == size {
		return src
	}
	dst := image.NewRGBA(image.Rect(0, 0, size, size))
	// Precompute source columns once per image instead of once per pixel.
	xs := make([]int, size)
	for x := range xs {
		xs[x] = (x*sw/size)*4 + (b.Min.X-src.Rect.Min.X)*4
	}
	for y := 0; y < size; y++ {
		sy := y*sh/size + b.Min.Y - src.Rect.Min.Y
		srow := src.Pix[sy*src.Stride:]
		drow := dst.Pix[y*dst.Stride : y*dst.Stride+size*4]
		for x, sx := range xs {
			copy(drow[x*4:x*4+4], srow[sx:sx+4])
		}
	}
	return dst
}

// pngPool recycles the encoder's zlib state and buffers: allocating them per image
// costs more than encoding a 48 px avatar.
type pngPool struct{ p sync.Pool }

func (p *pngPool) Get() *png.EncoderBuffer  { b, _ := p.p.Get().(*png.EncoderBuffer); return b }
func (p *pngPool) Put(b *png.EncoderBuffer) { p.p.Put(b) }

// pngEnc uses BestSpeed: avatars are small and mostly served once per client
// (then cached), so encode CPU matters more than a few hundred bytes.
var pngEnc = png.Encoder{CompressionLevel: png.BestSpeed, BufferPool: &pngPool{}}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func getBuf() *bytes.Buffer { b := bufPool.Get().(*bytes.Buffer); b.Reset(); return b }

func putBuf(b *bytes.Buffer) {
	if b.Cap() <= 4<<20 { // don't pin the occasional huge grid
		bufPool.Put(b)
	}
}

// gridGap is the transparent gap between grid cells, in pixels.
const gridGap = 2

// gridCols is the column count of a square-ish grid of n cells (at least as
// wide as tall).
func gridCols(n int) int {
	c := int(math.Ceil(math.Sqrt(float64(n))))
	return max(c, 1)
}

// tile lays imgs (all cell x cell) out row-major, gridGap px apart.
func tile(imgs []*image.RGBA, cell int) *image.RGBA {
	n := len(imgs)
	cols := gridCols(n)
	rows := (n + cols - 1) / cols
	w := cols*cell + (cols-1)*gridGap
	h := rows*cell + (rows-1)*gridGap
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	for i, im := range imgs {
		x, y := (i%cols)*(cell+gridGap), (i/cols)*(cell+gridGap)
		draw.Draw(dst, image.Rect(x, y, x+cell, y+cell), im, im.Bounds().Min, draw.Src)
	}
	return dst
}

// encodeGIF builds a looping animation from frames. Frames are mapped to the
// Plan 9 palette without dithering: dithering 48 px pixel art adds noise that
// shimmers between frames.
func encodeGIF(buf *bytes.Buffer, frames []*image.RGBA, delay int) error {
	g := &gif.GIF{LoopCount: 0}
	for _, f := range frames {
		p := image.NewPaletted(f.Bounds(), palette.Plan9)
		draw.Draw(p, p.Rect, f, f.Rect.Min, draw.Src)
		g.Image = append(g.Image, p)
		g.Delay = append(g.Delay, delay)
	}
	return gif.EncodeAll(buf, g)
}

// slerp writes into dst the spherical interpolation between a and b at t in
// [0, 1]. Latents are (near-)Gaussian or uniform, so their norm concentrates on a
// shell; a straight lerp passes through the low-norm interior and renders washed
// out mid-frames, slerp stays on the shell.
func slerp(dst, a, b []float32, t float64) {
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	cos := dot / math.Sqrt(na*nb)
	if na == 0 || nb == 0 || math.IsNaN(cos) || cos > 0.9995 {
		// Nearly parallel (or zero): lerp is indistinguishable and avoids 0/0.
		for i := range dst {
			dst[i] = float32((1-t)*float64(a[i]) + t*float64(b[i]))
		}
		return
	}
	omega := math.Acos(max(-1, cos))
	so := math.Sin(omega)
	if so < 1e-6 { // antiparallel: any great circle works; fall back to lerp
		for i := range dst {
			dst[i] = float32((1-t)*float64(a[i]) + t*float64(b[i]))
		}
		return
	}
	wa, wb := math.Sin((1-t)*omega)/so, math.Sin(t*omega)/so
	for i := range dst {
		dst[i] = float32(wa*float64(a[i]) + wb*float64(b[i]))
	}
}
