package server

import (
	"avatargan/render"
	"bytes"
	"image"
	"image/draw"
	"image/gif"
	"image/png"
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

// Get returns a recycled encoder buffer, or nil (png.EncoderBufferPool).
func (p *pngPool) Get() *png.EncoderBuffer { b, _ := p.p.Get().(*png.EncoderBuffer); return b }

// Put recycles an encoder buffer (png.EncoderBufferPool).
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
func gridCols(n int) int { return render.SquareCols(n) }

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

// encodeGIF encodes a looping animation of frames (render.GIF: Plan 9 palette, no
// dithering).
func encodeGIF(buf *bytes.Buffer, frames []*image.RGBA, delay int) error {
	return gif.EncodeAll(buf, render.GIF(frames, delay))
}
