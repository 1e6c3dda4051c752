package dataset

import (
	"bytes"
	_ "embed"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/color/palette"
	stddraw "image/draw"
	"image/gif"
	"image/jpeg"
	"image/png"

	"golang.org/x/image/draw"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// webp1x1 is a 1x1 lossless (VP8L) WebP with one fully transparent pixel, a
// widely used feature-detection sample; Go has no WebP encoder.
var webp1x1 = []byte("RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00\x2f\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00")

// webpLossy is a 150x103 lossy (VP8) WebP from golang.org/x/image's
// testdata (BSD licence, The Go Authors).
//
//go:embed testdata/video-001.lossy.webp
var webpLossy []byte

func encPNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encJPEG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encGIF(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := gif.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// bombPNG is a PNG header claiming w x h pixels, with no pixel data: what a
// decompression bomb looks like to DecodeConfig.
func bombPNG(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		c := append([]byte(typ), data...)
		b.Write(c)
		binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(c))
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2 // 8-bit RGB
	chunk("IHDR", ihdr)
	chunk("IEND", nil)
	return b.Bytes()
}

// solid returns an opaque w x h NRGBA image of one colour.
func solid(w, h int, c color.NRGBA) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

func decodeT(t *testing.T, b []byte, size, minSide int) ([]byte, error) {
	t.Helper()
	dst := make([]byte, size*size*3)
	err := decodeBytes(dst, b, size, minSide, DefaultMaxPixels)
	return dst, err
}

// allNear checks every pixel of an RGB image is within tol of c.
func allNear(t *testing.T, name string, pix []byte, c [3]int, tol int) {
	t.Helper()
	for i := 0; i < len(pix); i += 3 {
		for k := 0; k < 3; k++ {
			if d := int(pix[i+k]) - c[k]; d > tol || d < -tol {
				t.Fatalf("%s: pixel %d = %v, want %v ±%d", name, i/3, pix[i:i+3], c, tol)
			}
		}
	}
}

func TestDecodeFormatsAndColorModels(t *testing.T) {
	pal := image.NewPaletted(image.Rect(0, 0, 20, 20), palette.Plan9)
	for i := range pal.Pix {
		pal.Pix[i] = uint8(pal.Palette.Index(color.RGBA{0, 0, 255, 255}))
	}
	gray := image.NewGray(image.Rect(0, 0, 30, 30))
	for i := range gray.Pix {
		gray.Pix[i] = 100
	}
	gray16 := image.NewGray16(image.Rect(0, 0, 16, 16))
	for i := 0; i < len(gray16.Pix); i += 2 {
		gray16.Pix[i], gray16.Pix[i+1] = 200, 0
	}
	half := solid(16, 16, color.NRGBA{255, 0, 0, 128}) // 50% red over white
	clear := solid(16, 16, color.NRGBA{0, 0, 0, 0})

	cases := []struct {
		name string
		data []byte
		want [3]int
		tol  int
	}{
		{"png rgb", encPNG(t, solid(24, 24, color.NRGBA{10, 200, 30, 255})), [3]int{10, 200, 30}, 0},
		{"png gray", encPNG(t, gray), [3]int{100, 100, 100}, 0},
		{"png gray16", encPNG(t, gray16), [3]int{200, 200, 200}, 0},
		{"png paletted", encPNG(t, pal), [3]int{0, 0, 255}, 0},
		{"png half alpha", encPNG(t, half), [3]int{255, 127, 127}, 1},
		{"png transparent", encPNG(t, clear), [3]int{255, 255, 255}, 0},
		{"gif", encGIF(t, pal), [3]int{0, 0, 255}, 0},
		{"jpeg", encJPEG(t, solid(32, 32, color.NRGBA{200, 100, 50, 255})), [3]int{200, 100, 50}, 4},
		{"jpeg gray", encJPEG(t, gray), [3]int{100, 100, 100}, 2},
		{"webp lossless transparent", webp1x1, [3]int{255, 255, 255}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, size := range []int{1, 8, 12} {
				pix, err := decodeT(t, c.data, size, 1)
				if err != nil {
					t.Fatal(err)
				}
				allNear(t, c.name, pix, c.want, c.tol)
			}
		})
	}

	// CMYK has no encoder in Go; exercise the conversion on the in-memory
	// image, which is what the JPEG decoder returns for CMYK files.
	cmyk := image.NewCMYK(image.Rect(0, 0, 10, 10))
	for i := 0; i < len(cmyk.Pix); i += 4 {
		copy(cmyk.Pix[i:], []byte{0, 255, 255, 0}) // pure red
	}
	dst := make([]byte, 5*5*3)
	cropResize(dst, cmyk, 5)
	allNear(t, "cmyk", dst, [3]int{255, 0, 0}, 0)
}

func TestDecodeWebPLossy(t *testing.T) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(webpLossy))
	if err != nil || format != "webp" || cfg.Width != 150 || cfg.Height != 103 {
		t.Fatalf("testdata: %v %s %v", cfg, format, err)
	}
	pix, err := decodeT(t, webpLossy, 48, DefaultMinSide)
	if err != nil {
		t.Fatal(err)
	}
	// The output must equal cropping the centre 103x103 square ourselves.
	img, _, _ := image.Decode(bytes.NewReader(webpLossy))
	sq := img.(interface {
		SubImage(image.Rectangle) image.Image
	}).SubImage(image.Rect(23, 0, 126, 103))
	want := make([]byte, len(pix))
	cropResize(want, sq, 48)
	if !bytes.Equal(pix, want) {
		t.Fatal("webp crop differs from explicit centre crop")
	}
}

func TestCropKeepsCentre(t *testing.T) {
	// Wide and tall images whose centre square is green and whose margins are
	// red: any margin leaking in would show as red.
	for _, wh := range [][2]int{{40, 20}, {41, 20}, {20, 40}, {20, 41}, {100, 30}} {
		w, h := wh[0], wh[1]
		img := solid(w, h, color.NRGBA{255, 0, 0, 255})
		s := min(w, h)
		x0, y0 := (w-s)/2, (h-s)/2
		for y := y0; y < y0+s; y++ {
			for x := x0; x < x0+s; x++ {
				img.SetNRGBA(x, y, color.NRGBA{0, 255, 0, 255})
			}
		}
		for _, size := range []int{5, 10, 16, 48} {
			pix, err := decodeT(t, encPNG(t, img), size, 1)
			if err != nil {
				t.Fatal(err)
			}
			tol := 0
			if size > s {
				tol = 0 // CatmullRom of a flat field stays flat
			}
			allNear(t, "crop", pix, [3]int{0, 255, 0}, tol)
		}
	}
}

func TestResizeFilters(t *testing.T) {
	checker := func(s int) *image.NRGBA {
		img := solid(s, s, color.NRGBA{0, 0, 0, 255})
		for y := 0; y < s; y++ {
			for x := 0; x < s; x++ {
				if (x+y)%2 == 0 {
					img.SetNRGBA(x, y, color.NRGBA{255, 255, 255, 255})
				}
			}
		}
		return img
	}
	// Exact 2x box: every output pixel averages two white and two black.
	pix := make([]byte, 48*48*3)
	cropResize(pix, checker(96), 48)
	allNear(t, "96->48", pix, [3]int{128, 128, 128}, 0)

	// Non-integer shrinks go through the area kernel: compare with a direct
	// float64 integration of each output pixel's footprint.
	for _, s := range []int{90, 100, 61, 50, 200} {
		img := checker(s)
		for i := range img.Pix {
			if i%4 != 3 && i%3 == 0 {
				img.Pix[i] = uint8(i / 4 % 251) // not just black/white
			}
		}
		cropResize(pix, img, 48)
		want := refArea(img, 48)
		for i := range pix {
			if d := float64(pix[i]) - want[i]; d > 1 || d < -1 {
				t.Fatalf("%d->48: byte %d = %d, exact area average %.2f", s, i, pix[i], want[i])
			}
		}
	}

	// The area kernel agrees with the exact box path on integer ratios.
	src := image.NewRGBA(image.Rect(0, 0, 96, 96))
	for i := range src.Pix {
		src.Pix[i] = uint8(i*7 + i/384*13)
		if i%4 == 3 {
			src.Pix[i] = 255
		}
	}
	box := make([]byte, 48*48*3)
	boxShrink(box, src, 2, 48)
	out := image.NewRGBA(image.Rect(0, 0, 48, 48))
	areaKernel(2).Scale(out, out.Bounds(), src, src.Bounds(), draw.Src, nil)
	area := make([]byte, 48*48*3)
	packRGB(area, out.Pix, 48*48)
	for i := range box {
		if d := int(box[i]) - int(area[i]); d > 1 || d < -1 {
			t.Fatalf("box and area kernel differ at %d: %d vs %d", i, box[i], area[i])
		}
	}

	// Enlarging works too (min side permitting).
	cropResize(pix, solid(10, 12, color.NRGBA{1, 2, 3, 255}), 48)
	allNear(t, "upscale", pix, [3]int{1, 2, 3}, 0)
}

func TestDecodeRejects(t *testing.T) {
	good := encJPEG(t, solid(32, 32, color.NRGBA{1, 2, 3, 255}))
	cases := []struct {
		name   string
		data   []byte
		reason string
	}{
		{"empty", nil, ReasonEmpty},
		{"text", []byte("hello, this is not an image\n"), ReasonNotImage},
		{"truncated jpeg", good[:len(good)/2], ReasonCorrupt},
		{"truncated png", encPNG(t, solid(32, 32, color.NRGBA{1, 2, 3, 255}))[:60], ReasonCorrupt},
		{"header only", good[:20], ReasonCorrupt},
		{"too small", encPNG(t, solid(7, 100, color.NRGBA{1, 2, 3, 255})), ReasonTooSmall},
		{"bomb", bombPNG(100000, 100000), ReasonTooLarge},
		{"bomb wide", bombPNG(1<<31-1, 1), ReasonTooLarge},
	}
	for _, c := range cases {
		_, err := decodeT(t, c.data, 8, DefaultMinSide)
		if err == nil || reasonOf(err) != c.reason {
			t.Errorf("%s: got %v, want reason %q", c.name, err, c.reason)
		}
	}
	// Pixel budget below the image size.
	dst := make([]byte, 8*8*3)
	if err := decodeBytes(dst, good, 8, 1, 32*32-1); reasonOf(err) != ReasonTooLarge {
		t.Errorf("budget: %v", err)
	}
}

func TestLoadImage(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.png")
	os.WriteFile(p, encPNG(t, solid(64, 32, color.NRGBA{9, 8, 7, 255})), 0o644)
	pix, err := LoadImage(p, 16)
	if err != nil || len(pix) != 16*16*3 {
		t.Fatal(err, len(pix))
	}
	allNear(t, "LoadImage", pix, [3]int{9, 8, 7}, 0)
	os.WriteFile(p, []byte("nope"), 0o644)
	if _, err := LoadImage(p, 16); err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("want error naming %s, got %v", p, err)
	}
	if _, err := LoadImage(filepath.Join(dir, "missing.png"), 16); err == nil {
		t.Fatal("missing file: no error")
	}
}

// FuzzDecode feeds arbitrary bytes through the full decode path: it must
// never panic, and on success the output must be a whole image.
func FuzzDecode(f *testing.F) {
	f.Add(encPNG(f, solid(9, 9, color.NRGBA{1, 2, 3, 200})))
	f.Add(encJPEG(f, solid(16, 8, color.NRGBA{200, 2, 3, 255})))
	pal := image.NewPaletted(image.Rect(0, 0, 8, 8), palette.WebSafe)
	f.Add(encGIF(f, pal))
	f.Add(webp1x1)
	f.Add(bombPNG(9, 9))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		const size = 8
		dst := make([]byte, size*size*3+1)
		dst[len(dst)-1] = 0xAB
		// A small budget keeps the fuzzer from spending its time on giant
		// allocations, which is exactly what the budget is for.
		err := decodeBytes(dst[:size*size*3], b, size, 1, 1<<20)
		if err != nil && reasonOf(err) == "" {
			t.Fatal("error without reason")
		}
		if dst[len(dst)-1] != 0xAB {
			t.Fatal("wrote past the image")
		}
	})
}

// refArea is the textbook area resample of a square opaque image: each
// output pixel is the mean of the source over its footprint, weighting
// partially covered source pixels by the covered area.
func refArea(img *image.NRGBA, size int) []float64 {
	s := img.Bounds().Dx()
	scale := float64(s) / float64(size)
	cover := func(o, p int) float64 { // overlap of source p with output o, 1-D
		lo := max(float64(p), float64(o)*scale)
		hi := min(float64(p+1), float64(o+1)*scale)
		return max(0, hi-lo)
	}
	out := make([]float64, size*size*3)
	for oy := 0; oy < size; oy++ {
		for ox := 0; ox < size; ox++ {
			var sum [3]float64
			var wt float64
			for y := int(float64(oy) * scale); y < s && float64(y) < float64(oy+1)*scale; y++ {
				for x := int(float64(ox) * scale); x < s && float64(x) < float64(ox+1)*scale; x++ {
					w := cover(oy, y) * cover(ox, x)
					p := img.Pix[y*img.Stride+x*4:]
					for k := 0; k < 3; k++ {
						sum[k] += w * float64(p[k])
					}
					wt += w
				}
			}
			for k := 0; k < 3; k++ {
				out[(oy*size+ox)*3+k] = sum[k] / wt
			}
		}
	}
	return out
}

// TestYCbCrFastPathsMatchGeneric checks the fused JPEG paths against the
// standard library's YCbCr -> RGBA conversion followed by boxShrink, for
// every subsampling ratio, crop offset and a sub-image origin.
func TestYCbCrFastPathsMatchGeneric(t *testing.T) {
	ratios := []image.YCbCrSubsampleRatio{
		image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio420,
		image.YCbCrSubsampleRatio440, image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410,
	}
	seed := uint32(1)
	rnd := func() uint8 { seed = seed*1664525 + 1013904223; return uint8(seed >> 24) }
	subs := 0 // sub-image cases compared
	for _, ratio := range ratios {
		for _, wh := range [][2]int{{96, 96}, {97, 96}, {99, 96}, {96, 101}, {48, 50}, {144, 150}} {
			yc := image.NewYCbCr(image.Rect(0, 0, wh[0], wh[1]), ratio)
			for _, p := range [][]byte{yc.Y, yc.Cb, yc.Cr} {
				for i := range p {
					p[i] = rnd()
				}
			}
			// Sub-images at an odd origin whose squares are multiples of 24 and 48
			// (the sizes below), cropped across their width.
			imgs := []image.Image{yc}
			for _, m := range []int{24, 48} {
				if s0 := (min(wh[0], wh[1]) - 1) / m * m; s0 > 0 {
					imgs = append(imgs, yc.SubImage(image.Rect(1, 1, wh[0], 1+s0)))
				}
			}
			for i, img := range imgs {
				for _, size := range []int{48, 24} {
					r := img.Bounds()
					s := min(r.Dx(), r.Dy())
					if s%size != 0 {
						continue
					}
					got := make([]byte, size*size*3)
					cropResize(got, img, size)
					sq := image.NewRGBA(image.Rect(0, 0, s, s))
					stddraw.Draw(sq, sq.Bounds(), img, image.Pt(r.Min.X+(r.Dx()-s)/2, r.Min.Y+(r.Dy()-s)/2), stddraw.Src)
					want := make([]byte, size*size*3)
					boxShrink(want, sq, s/size, size)
					if !bytes.Equal(got, want) {
						t.Fatalf("%v %v %v -> %d: fused path differs from generic", ratio, wh, r, size)
					}
					if i > 0 {
						subs++
					}
				}
			}
		}
	}
	if subs < len(ratios)*6 {
		t.Errorf("only %d sub-image cases compared", subs)
	}
}
