package server

import (
	"bytes"
	"image/png"
	"sync"
)

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
