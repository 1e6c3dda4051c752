package dataset

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	stddraw "image/draw"
	"io"
	"os"

	// Registered decoders: these are the formats the scanner accepts.
	_ "image/gif"
	_ "image/jpeg"
	_ "image/png"

	"golang.org/x/image/draw"
	_ "golang.org/x/image/webp"
)

// Reasons a file is skipped; they are the keys of Report.Reasons.
const (
	ReasonUnreadable = "unreadable"     // open/read failed
	ReasonEmpty      = "empty file"     // zero bytes
	ReasonNotImage   = "not an image"   // no registered format matches the header
	ReasonCorrupt    = "corrupt"        // header parsed but pixel data did not decode
	ReasonTooSmall   = "too small"      // shorter side below Options.MinSide
	ReasonTooLarge   = "too large"      // over Options.MaxPixels (decompression bomb guard)
	ReasonFileSize   = "file too large" // more bytes than any image within the pixel budget needs
)

// skipError carries a Report reason with the underlying cause.
type skipError struct {
	reason string
	err    error
}

// Error names the skip reason and the underlying error.
func (e *skipError) Error() string {
	if e.err == nil {
		return e.reason
	}
	return e.reason + ": " + e.err.Error()
}

// Unwrap returns the underlying error.
func (e *skipError) Unwrap() error { return e.err }

func skip(reason string, err error) error { return &skipError{reason, err} }

// reasonOf maps any decode error to a Report reason.
func reasonOf(err error) string {
	var se *skipError
	if errors.As(err, &se) {
		return se.reason
	}
	return ReasonCorrupt
}

// maxFileBytes bounds what is read for one file: no sane encoding of an
// image within the pixel budget needs more than ~4 bytes per pixel plus
// metadata, and refusing early avoids reading a multi-GB file into memory.
func maxFileBytes(maxPixels int) int64 {
	return int64(maxPixels)*4 + 16<<20
}

// readFile reads path with the size guard and maps failures to reasons. It
// reads into buf when it is large enough, so a worker can reuse one buffer
// for all its files.
func readFile(path string, maxPixels int, buf []byte) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, skip(ReasonUnreadable, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, skip(ReasonUnreadable, err)
	}
	if fi.Size() > maxFileBytes(maxPixels) {
		return nil, skip(ReasonFileSize, fmt.Errorf("%d bytes", fi.Size()))
	}
	// One byte of slack detects a file that grew since Stat.
	want := int(fi.Size()) + 1
	if cap(buf) < want {
		buf = make([]byte, want)
	}
	buf = buf[:cap(buf)]
	n, err := io.ReadFull(f, buf)
	switch err {
	case nil:
		// Longer than Stat said (growing file): fall back to reading it all.
		rest, err := io.ReadAll(io.LimitReader(f, maxFileBytes(maxPixels)))
		if err != nil {
			return nil, skip(ReasonUnreadable, err)
		}
		return append(buf[:n:n], rest...), nil
	case io.EOF, io.ErrUnexpectedEOF:
		return buf[:n], nil
	default:
		return nil, skip(ReasonUnreadable, err)
	}
}

// safeDecodeConfig and safeDecode turn a panic in a third-party decoder into
// an error, because bad input must never stop a run.
func safeDecodeConfig(b []byte) (cfg image.Config, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decoder panic: %v", r)
		}
	}()
	cfg, _, err = image.DecodeConfig(bytes.NewReader(b))
	return cfg, err
}

func safeDecode(b []byte) (img image.Image, err error) {
	defer func() {
		if r := recover(); r != nil {
			img, err = nil, fmt.Errorf("decoder panic: %v", r)
		}
	}()
	img, _, err = image.Decode(bytes.NewReader(b))
	return img, err
}

// decodeBytes runs one encoded file through the whole pipeline and writes the
// size x size HWC RGB result into dst (len size*size*3).
//
// The dimensions are checked with image.DecodeConfig before decoding so a
// tiny file claiming a huge canvas is refused before any pixel allocation.
func decodeBytes(dst, b []byte, size, minSide, maxPixels int) error {
	img, err := decodeChecked(b, minSide, maxPixels)
	if err != nil {
		return err
	}
	cropResize(dst, img, size)
	return nil
}

// decodeChecked decodes one encoded file after checking its header against
// the pixel budget and minimum side; errors carry a Report reason.
func decodeChecked(b []byte, minSide, maxPixels int) (image.Image, error) {
	if len(b) == 0 {
		return nil, skip(ReasonEmpty, nil)
	}
	cfg, err := safeDecodeConfig(b)
	if err != nil {
		if errors.Is(err, image.ErrFormat) {
			return nil, skip(ReasonNotImage, nil)
		}
		return nil, skip(ReasonCorrupt, err)
	}
	w, h := cfg.Width, cfg.Height
	if w <= 0 || h <= 0 || int64(w)*int64(h) > int64(maxPixels) {
		return nil, skip(ReasonTooLarge, fmt.Errorf("%dx%d", w, h))
	}
	if min(w, h) < minSide {
		return nil, skip(ReasonTooSmall, fmt.Errorf("%dx%d", w, h))
	}
	img, err := safeDecode(b)
	if err != nil {
		return nil, skip(ReasonCorrupt, err)
	}
	// Decoders are trusted for the header above but the decoded bounds are
	// what we index, so re-check them.
	r := img.Bounds()
	if r.Dx() <= 0 || r.Dy() <= 0 || int64(r.Dx())*int64(r.Dy()) > int64(maxPixels) || min(r.Dx(), r.Dy()) < minSide {
		return nil, skip(ReasonCorrupt, fmt.Errorf("decoded bounds %v disagree with header %dx%d", r, w, h))
	}
	return img, nil
}

// cropResize center-crops img to a square, flattens it onto opaque white RGB
// and resamples it to size x size, writing HWC RGB into dst.
func cropResize(dst []byte, img image.Image, size int) {
	r := img.Bounds()
	s := min(r.Dx(), r.Dy())
	x0 := r.Min.X + (r.Dx()-s)/2
	y0 := r.Min.Y + (r.Dy()-s)/2

	if yc, ok := img.(*image.YCbCr); ok && s%size == 0 && r.Min == (image.Point{}) {
		// JPEG fast path (the faces set): convert and box-average in one
		// pass, without the s x s RGBA intermediate. Same integer colour
		// conversion as the standard library, so results are identical to
		// the generic path below.
		ycbcrBox(dst, yc, x0, y0, s/size, size)
		return
	}

	// Flatten: white background, then the source composited Over it. The
	// standard library has fast paths for YCbCr (JPEG), Gray, CMYK, RGBA and
	// NRGBA sources and handles Paletted and anything else generically, so
	// every colour model ends up as opaque 8-bit RGB here.
	sq := image.NewRGBA(image.Rect(0, 0, s, s))
	for i := range sq.Pix {
		sq.Pix[i] = 0xff
	}
	stddraw.Draw(sq, sq.Bounds(), img, image.Pt(x0, y0), stddraw.Over)

	switch {
	case s == size:
		packRGB(dst, sq.Pix, size*size)
	case s%size == 0:
		// Exact integer shrink (the default 96 -> 48): a plain k x k box
		// average, which is area resampling with no fractional overlaps.
		boxShrink(dst, sq, s/size, size)
	case s > size:
		out := image.NewRGBA(image.Rect(0, 0, size, size))
		areaKernel(float64(s)/float64(size)).Scale(out, out.Bounds(), sq, sq.Bounds(), draw.Src, nil)
		packRGB(dst, out.Pix, size*size)
	default:
		// Enlarging: there is nothing to average, so use a smooth
		// interpolating cubic.
		out := image.NewRGBA(image.Rect(0, 0, size, size))
		draw.CatmullRom.Scale(out, out.Bounds(), sq, sq.Bounds(), draw.Src, nil)
		packRGB(dst, out.Pix, size*size)
	}
}

// ycbcrBox converts the s x s square at (x0, y0) of a YCbCr image (JPEGs
// are always opaque) to RGB and averages k x k blocks into size x size HWC
// RGB with the same rounding as boxShrink. img.Rect.Min must be (0, 0) (as
// decoders return it), so chroma indices are plain shifts.
func ycbcrBox(dst []byte, img *image.YCbCr, x0, y0, k, size int) {
	var hs, vs uint // log2 of the chroma subsampling factors
	switch img.SubsampleRatio {
	case image.YCbCrSubsampleRatio422:
		hs = 1
	case image.YCbCrSubsampleRatio420:
		hs, vs = 1, 1
	case image.YCbCrSubsampleRatio440:
		vs = 1
	case image.YCbCrSubsampleRatio411:
		hs = 2
	case image.YCbCrSubsampleRatio410:
		hs, vs = 2, 1
	}
	if k == 2 && hs == 1 && vs == 1 && x0%2 == 0 && y0%2 == 0 {
		ycbcr420Half(dst, img, x0, y0, size)
		return
	}
	n := uint32(k * k)
	half := n / 2
	for oy := 0; oy < size; oy++ {
		o := dst[oy*size*3 : (oy+1)*size*3 : (oy+1)*size*3]
		for ox := 0; ox < size; ox++ {
			var r, g, b uint32
			for y := y0 + oy*k; y < y0+oy*k+k; y++ {
				yrow := img.Y[y*img.YStride:]
				crow := (y >> vs) * img.CStride
				for x := x0 + ox*k; x < x0+ox*k+k; x++ {
					ci := crow + x>>hs
					// color.YCbCrToRGB: JFIF full range, 16.16 fixed point.
					yy1 := int32(yrow[x]) * 0x10101
					cb1 := int32(img.Cb[ci]) - 128
					cr1 := int32(img.Cr[ci]) - 128
					r += clamp16(yy1 + 91881*cr1)
					g += clamp16(yy1 - 22554*cb1 - 46802*cr1)
					b += clamp16(yy1 + 116130*cb1)
				}
			}
			p := o[ox*3 : ox*3+3 : ox*3+3]
			p[0] = uint8((r + half) / n)
			p[1] = uint8((g + half) / n)
			p[2] = uint8((b + half) / n)
		}
	}
}

// ycbcr420Half is ycbcrBox for the common 4:2:0 JPEG halved (96 -> 48):
// each 2x2 output block shares one chroma sample, so the chroma terms are
// computed once per output pixel instead of four times.
func ycbcr420Half(dst []byte, img *image.YCbCr, x0, y0, size int) {
	for oy := 0; oy < size; oy++ {
		y := y0 + 2*oy
		y0row := img.Y[y*img.YStride : y*img.YStride+x0+2*size]
		y1row := img.Y[(y+1)*img.YStride : (y+1)*img.YStride+x0+2*size]
		ci := (y >> 1) * img.CStride
		cbRow := img.Cb[ci : ci+x0/2+size]
		crRow := img.Cr[ci : ci+x0/2+size]
		o := dst[oy*size*3 : (oy+1)*size*3 : (oy+1)*size*3]
		for ox := 0; ox < size; ox++ {
			x := x0 + 2*ox
			cb1 := int32(cbRow[x>>1]) - 128
			cr1 := int32(crRow[x>>1]) - 128
			rt, gt, bt := 91881*cr1, -22554*cb1-46802*cr1, 116130*cb1
			var r, g, b uint32
			for _, yv := range [4]uint8{y0row[x], y0row[x+1], y1row[x], y1row[x+1]} {
				yy1 := int32(yv) * 0x10101
				r += clamp16(yy1 + rt)
				g += clamp16(yy1 + gt)
				b += clamp16(yy1 + bt)
			}
			p := o[ox*3 : ox*3+3 : ox*3+3]
			p[0] = uint8((r + 2) >> 2)
			p[1] = uint8((g + 2) >> 2)
			p[2] = uint8((b + 2) >> 2)
		}
	}
}

// clamp16 turns a 16.16 fixed-point colour value into 0..255 exactly as
// color.YCbCrToRGB does; small enough to be inlined into the hot loop.
func clamp16(v int32) uint32 {
	if uint32(v)&0xff000000 == 0 {
		return uint32(v >> 16)
	}
	return uint32(uint8(^(v >> 31)))
}

// packRGB drops the (opaque) alpha channel of n RGBA pixels.
func packRGB(dst, rgba []byte, n int) {
	for i := 0; i < n; i++ {
		dst[3*i+0] = rgba[4*i+0]
		dst[3*i+1] = rgba[4*i+1]
		dst[3*i+2] = rgba[4*i+2]
	}
}

// boxShrink averages k x k blocks of the square RGBA src into size x size RGB,
// rounding to nearest.
func boxShrink(dst []byte, src *image.RGBA, k, size int) {
	n := uint32(k * k)
	half := n / 2
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			var r, g, b uint32
			for dy := 0; dy < k; dy++ {
				row := src.Pix[(y*k+dy)*src.Stride+x*k*4:]
				for dx := 0; dx < k; dx++ {
					p := row[dx*4 : dx*4+3 : dx*4+3]
					r += uint32(p[0])
					g += uint32(p[1])
					b += uint32(p[2])
				}
			}
			o := dst[(y*size+x)*3 : (y*size+x)*3+3 : (y*size+x)*3+3]
			o[0] = uint8((r + half) / n)
			o[1] = uint8((g + half) / n)
			o[2] = uint8((b + half) / n)
		}
	}
}

// areaKernel returns a draw.Kernel that performs exact area averaging for a
// shrink by factor scale (> 1): each source pixel is weighted by how much of
// it falls inside the destination pixel's footprint. x/image/draw widens a
// kernel's support by the scale when shrinking and passes the distance in
// destination-pixel units, so At converts back to source pixels and returns
// the overlap of [d-0.5, d+0.5] with [-scale/2, scale/2]. Unlike CatmullRom
// or (Approx)BiLinear this is the classic "area" filter: no ringing, and
// every source pixel contributes exactly its share.
func areaKernel(scale float64) *draw.Kernel {
	return &draw.Kernel{
		Support: 0.5 + 0.5/scale,
		At: func(t float64) float64 {
			d := t * scale // distance in source pixels
			lo := max(d-0.5, -scale/2)
			hi := min(d+0.5, scale/2)
			if hi <= lo {
				return 0
			}
			return hi - lo
		},
	}
}

// LoadImage runs one file through the same pipeline as Load (format sniffing,
// pixel-budget check, center crop, flatten onto white, area resize) and
// returns size x size HWC RGB bytes. It uses the default MaxPixels and
// MinSide; the error says why a file was refused.
func LoadImage(path string, size int) ([]uint8, error) {
	if size <= 0 {
		return nil, fmt.Errorf("dataset: size must be positive, got %d", size)
	}
	b, err := readFile(path, DefaultMaxPixels, nil)
	if err == nil {
		dst := make([]uint8, size*size*3)
		if err = decodeBytes(dst, b, size, DefaultMinSide, DefaultMaxPixels); err == nil {
			return dst, nil
		}
	}
	return nil, fmt.Errorf("dataset: %s: %w", path, err)
}
