package facedetect

import (
	"image"
	"image/draw"
	"math"
)

// This file reproduces, bit for bit, the OpenCV 4.x image operations that
// the cascade sees: cvtColor(BGR2GRAY), equalizeHist and the
// resize(INTER_LINEAR_EXACT) that detectMultiScale builds its pyramid with. testdata/opencv_layers.json holds OpenCV's results on the
// test scenes, and the tests compare them byte for byte.

// Gray converts img to 8-bit greyscale with OpenCV 4's fixed-point BT.601
// weights (cvtColor COLOR_BGR2GRAY: 9798 R + 19235 G + 3735 B, 15 fractional
// bits, rounded). Translucent pixels are first composited onto white, as
// the train command does; an *image.Gray is returned as is.
func Gray(img image.Image) *image.Gray {
	if g, ok := img.(*image.Gray); ok {
		return g
	}
	r := img.Bounds()
	g := image.NewGray(image.Rect(0, 0, r.Dx(), r.Dy()))
	switch src := img.(type) {
	case *image.YCbCr:
		// JPEG: colour conversion as color.YCbCrToRGB, without an RGBA copy.
		for y := 0; y < r.Dy(); y++ {
			row := g.Pix[y*g.Stride : y*g.Stride+r.Dx()]
			for x := range row {
				yi := src.YOffset(r.Min.X+x, r.Min.Y+y)
				ci := src.COffset(r.Min.X+x, r.Min.Y+y)
				yy1 := int32(src.Y[yi]) * 0x10101
				cb1 := int32(src.Cb[ci]) - 128
				cr1 := int32(src.Cr[ci]) - 128
				row[x] = grey(clamp16(yy1+91881*cr1), clamp16(yy1-22554*cb1-46802*cr1), clamp16(yy1+116130*cb1))
			}
		}
		return g
	}
	rgba, ok := img.(*image.RGBA)
	if !ok || !opaque(rgba) {
		// Flatten anything else onto white through the standard library,
		// which handles every colour model.
		rgba = image.NewRGBA(image.Rect(0, 0, r.Dx(), r.Dy()))
		for i := range rgba.Pix {
			rgba.Pix[i] = 0xff
		}
		draw.Draw(rgba, rgba.Bounds(), img, r.Min, draw.Over)
	}
	rb := rgba.Bounds()
	for y := 0; y < r.Dy(); y++ {
		src := rgba.Pix[rgba.PixOffset(rb.Min.X, rb.Min.Y+y):]
		row := g.Pix[y*g.Stride : y*g.Stride+r.Dx()]
		for x := range row {
			p := src[4*x : 4*x+3 : 4*x+3]
			row[x] = grey(uint32(p[0]), uint32(p[1]), uint32(p[2]))
		}
	}
	return g
}

// opaque reports whether every pixel of m is fully opaque.
func opaque(m *image.RGBA) bool {
	return m.Opaque()
}

// grey is OpenCV's RGB -> Y for 8-bit data.
func grey(r, g, b uint32) uint8 {
	return uint8((r*9798 + g*19235 + b*3735 + 1<<14) >> 15)
}

// clamp16 turns a 16.16 fixed-point colour value into 0..255 as
// color.YCbCrToRGB does.
func clamp16(v int32) uint32 {
	if uint32(v)&0xff000000 == 0 {
		return uint32(v >> 16)
	}
	return uint32(uint8(^(v >> 31)))
}

// EqualizeHist returns a histogram-equalised copy of g, as OpenCV's
// equalizeHist computes it (float scale, rounding half to even).
func EqualizeHist(g *image.Gray) *image.Gray {
	r := g.Bounds()
	w, h := r.Dx(), r.Dy()
	out := image.NewGray(image.Rect(0, 0, w, h))
	if w == 0 || h == 0 {
		return out
	}
	var hist [256]int
	for y := 0; y < h; y++ {
		for _, v := range g.Pix[g.PixOffset(r.Min.X, r.Min.Y+y):][:w] {
			hist[v]++
		}
	}
	i := 0
	for hist[i] == 0 {
		i++
	}
	total := w * h
	var lut [256]uint8
	if hist[i] == total {
		for k := range lut {
			lut[k] = uint8(i)
		}
	} else {
		scale := float32(255) / float32(total-hist[i])
		sum := 0
		for lut[i], i = 0, i+1; i < 256; i++ {
			sum += hist[i]
			lut[i] = satU8(float32(sum) * scale)
		}
	}
	for y := 0; y < h; y++ {
		src := g.Pix[g.PixOffset(r.Min.X, r.Min.Y+y):][:w]
		dst := out.Pix[y*out.Stride:][:w]
		for x, v := range src {
			dst[x] = lut[v]
		}
	}
	return out
}

// satU8 is OpenCV's saturate_cast<uchar>(float): round half to even, clamp.
func satU8(v float32) uint8 {
	r := math.RoundToEven(float64(v))
	if r <= 0 {
		return 0
	}
	if r >= 255 {
		return 255
	}
	return uint8(r)
}

// axisMap is OpenCV's bit-exact bilinear mapping along one axis
// (interpolationLinear in resize.cpp): output d reads source samples off[d]
// and off[d]+1 with 8-bit fixed-point weights w0, w1 (w0 + w1 = 256).
// Outputs before lo fall left of the first sample centre and copy sample 0;
// outputs from hi on copy the last sample.
type axisMap struct {
	off    []int
	w0, w1 []uint32
	lo, hi int
}

// newAxisMap computes the mapping for dn outputs from sn samples like
// interpolationLinear::getCoeffs: f = scale*(d+0.5) - 0.5 in float64 with
// scale = 1/(dn/sn), i = floor(f), w1 = round-half-even((f-i)*256).
func newAxisMap(dn, sn int) axisMap {
	m := axisMap{off: make([]int, dn), w0: make([]uint32, dn), w1: make([]uint32, dn), hi: dn}
	scale := 1 / (float64(dn) / float64(sn))
	for d := 0; d < dn; d++ {
		// The conversions keep each step rounded (no FMA), as softdouble is.
		f := float64(scale*(float64(d)+0.5)) - 0.5
		i := int(math.Floor(f))
		switch {
		case i < 0 || sn <= 1:
			m.lo = max(m.lo, d+1)
		case i < sn-1:
			m.off[d] = i
			w1 := uint32(math.RoundToEven(float64(f-float64(i)) * 256))
			m.w0[d], m.w1[d] = 256-w1, w1
		default:
			m.off[d] = sn - 1
			m.hi = min(m.hi, d)
		}
	}
	return m
}

// resizer resizes 8-bit greyscale images exactly as OpenCV 4's resize with
// INTER_LINEAR_EXACT, which CascadeClassifier uses to build its pyramid
// (resize_bitExact with interpolationLinear: 8.8 fixed-point horizontal
// pass, 16-bit fractional vertical pass, round half up). It reuses its
// row buffers across calls.
type resizer struct {
	rows [2][]uint16 // horizontally resized source rows
	rowY [2]int      // which source row each holds, -1 for none
}

// hline resizes one source row s into out (8.8 fixed point).
func hline(out []uint16, s []uint8, xm *axisMap) {
	for x := 0; x < xm.lo; x++ {
		out[x] = uint16(s[0]) << 8
	}
	for x := xm.lo; x < xm.hi; x++ {
		o := xm.off[x]
		out[x] = uint16(xm.w0[x]*uint32(s[o]) + xm.w1[x]*uint32(s[o+1]))
	}
	for x := xm.hi; x < len(out); x++ {
		out[x] = uint16(s[len(s)-1]) << 8
	}
}

// resize writes src (w x h, stride sw) resized to dw x dh into dst (stride dw).
func (rz *resizer) resize(dst []uint8, dw, dh int, src []uint8, w, h, sw int) {
	xm, ym := newAxisMap(dw, w), newAxisMap(dh, h)
	for i := range rz.rows {
		if cap(rz.rows[i]) < dw {
			rz.rows[i] = make([]uint16, dw)
		}
		rz.rows[i] = rz.rows[i][:dw]
		rz.rowY[i] = -1
	}
	get := func(sy, keep int) []uint16 {
		for i := range rz.rowY {
			if rz.rowY[i] == sy {
				return rz.rows[i]
			}
		}
		i := 0
		if rz.rowY[0] == keep {
			i = 1
		}
		hline(rz.rows[i], src[sy*sw:sy*sw+w], &xm)
		rz.rowY[i] = sy
		return rz.rows[i]
	}
	for y := 0; y < dh; y++ {
		d := dst[y*dw : y*dw+dw]
		if y < ym.lo || y >= ym.hi {
			// Above the first or below the last row centre: one row, rounded.
			sy := 0
			if y >= ym.hi {
				sy = h - 1
			}
			r := get(sy, -1)
			for x := range d {
				d[x] = uint8((uint32(r[x]) + 128) >> 8)
			}
			continue
		}
		sy := ym.off[y]
		r0 := get(sy, -1)
		r1 := get(sy+1, sy)
		b0, b1 := ym.w0[y], ym.w1[y]
		for x := range d {
			d[x] = uint8((uint32(r0[x])*b0 + uint32(r1[x])*b1 + 1<<15) >> 16)
		}
	}
}

// integral writes the (w+1) x (h+1) summed-area table of src (w x h, stride
// w) into sum: sum[y][x] is the sum of src over [0,x) x [0,y).
func integral(sum []int32, src []uint8, w, h int) {
	st := w + 1
	clear(sum[:st])
	for y := 0; y < h; y++ {
		prev := sum[y*st : y*st+st]
		cur := sum[(y+1)*st : (y+1)*st+st]
		row := src[y*w : y*w+w]
		cur[0] = 0
		var acc int32
		for x, v := range row {
			acc += int32(v)
			cur[x+1] = prev[x+1] + acc
		}
	}
}
