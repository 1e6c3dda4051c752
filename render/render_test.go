package render

import (
	"bytes"
	"image"
	"image/color"
	"image/color/palette"
	"image/draw"
	"image/gif"
	"math"
	"slices"
	"testing"
)

func TestToImagesScalingAndLayout(t *testing.T) {
	const size = 2
	// One image, NCHW: R plane, G plane, B plane.
	x := []float32{
		-1, 1, 0, 2, // R: -1 -> 0, 1 -> 255, 0 -> 128 (127.5 rounds half away), 2 clamps
		-2, 0.5, -0.5, 1, // G
		0, 0, 0, float32(math.NaN()), // B
	}
	img := ToImages(x, 1, size)[0]
	want := [][4]uint8{{0, 0, 128, 255}, {255, 191, 128, 255}, {128, 64, 128, 255}, {255, 255, 0, 255}}
	for p, w := range want {
		got := [4]uint8(img.Pix[4*p : 4*p+4])
		if got != w {
			t.Errorf("pixel %d = %v, want %v", p, got, w)
		}
	}
	rgb := RGB(img)
	if len(rgb) != 12 || rgb[3] != 255 || rgb[4] != 191 || rgb[5] != 128 {
		t.Errorf("RGB = %v", rgb)
	}
}

func TestGridAndUpscale(t *testing.T) {
	imgs := ToImages(make([]float32, 5*3*4*4), 5, 4)
	g := Grid(imgs, GridCols(5), 2)
	if g.Bounds().Dx() != 3*6+2 || g.Bounds().Dy() != 2*6+2 {
		t.Fatalf("grid bounds %v", g.Bounds())
	}
	// A gap pixel is white, an image pixel is mid-grey.
	if g.Pix[0] != 255 || g.Pix[(2*g.Stride)+4*2] != 128 {
		t.Errorf("grid pixels wrong")
	}
	u := Upscale(imgs[0], 3, Nearest)
	if u.Bounds().Dx() != 12 {
		t.Fatalf("upscale bounds %v", u.Bounds())
	}
	if len(GIF(imgs, 10).Image) != 5 {
		t.Errorf("gif frames")
	}
}

func TestSlerp(t *testing.T) {
	a := []float32{1, 0}
	b := []float32{0, 1}
	d := make([]float32, 2)
	Slerp(d, a, b, 0.5)
	if math.Abs(float64(d[0])-math.Sqrt2/2) > 1e-6 || math.Abs(float64(d[1])-math.Sqrt2/2) > 1e-6 {
		t.Errorf("slerp midpoint %v", d)
	}
	Slerp(d, a, b, 0)
	if d[0] != 1 || d[1] != 0 {
		t.Errorf("slerp t=0 %v", d)
	}
	Slerp(d, a, a, 0.3)
	if d[0] != 1 {
		t.Errorf("slerp parallel %v", d)
	}
}

// pinkFrames returns n frames of smooth pink-to-skin gradients (thousands of distinct
// colours, the hues a fixed palette renders grey), each a little shifted.
func pinkFrames(n, size int) []*image.RGBA {
	frames := make([]*image.RGBA, n)
	for i := range frames {
		img := image.NewRGBA(image.Rect(0, 0, size, size))
		for y := range size {
			for x := range size {
				u, v := float64(x)/float64(size-1), float64(y+i)/float64(size+n)
				img.SetRGBA(x, y, color.RGBA{
					uint8(200 + 55*u), uint8(120 + 80*v), uint8(150 + 40*u*v), 255})
			}
		}
		frames[i] = img
	}
	return frames
}

// meanAbsErr is the mean absolute per-channel difference between the frames and the
// decoded GIF frames.
func meanAbsErr(t *testing.T, frames []*image.RGBA, g *gif.GIF) float64 {
	t.Helper()
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, g); err != nil {
		t.Fatal(err)
	}
	dec, err := gif.DecodeAll(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(dec.Image) != len(frames) {
		t.Fatalf("%d frames decoded, want %d", len(dec.Image), len(frames))
	}
	var sum, n float64
	for i, f := range frames {
		for y := range f.Rect.Dy() {
			for x := range f.Rect.Dx() {
				a := f.RGBAAt(x, y)
				r, g, b, _ := dec.Image[i].At(x, y).RGBA()
				sum += math.Abs(float64(a.R)-float64(r>>8)) + math.Abs(float64(a.G)-float64(g>>8)) + math.Abs(float64(a.B)-float64(b>>8))
				n += 3
			}
		}
	}
	return sum / n
}

// TestGIFPalette checks the per-animation palette: lossless when the frames have at most
// 256 colours, and on smooth pinks (thousands of colours) within a few levels and far
// better than the fixed Plan 9 palette the GIFs used before.
func TestGIFPalette(t *testing.T) {
	few := ToImages(make([]float32, 3*3*8*8), 3, 8)
	for i, f := range few {
		for p := 0; p < len(f.Pix); p += 4 {
			f.Pix[p], f.Pix[p+1] = uint8(p+40*i), uint8(7*p) // 3*64 = 192 distinct colours
		}
	}
	if e := meanAbsErr(t, few, GIF(few, 5)); e != 0 {
		t.Errorf("192 colours: mean error %.3f, want lossless", e)
	}

	frames := pinkFrames(8, 48)
	g := GIF(PingPong(frames), 5)
	if len(g.Image) != 14 || g.Image[1] != g.Image[13] {
		t.Errorf("ping-pong frames not shared: %d frames", len(g.Image))
	}
	if _, ok := g.Config.ColorModel.(color.Palette); !ok {
		t.Error("no global palette")
	}
	got := meanAbsErr(t, frames, GIF(frames, 5))
	plan9 := &gif.GIF{}
	for _, f := range frames {
		p := image.NewPaletted(f.Rect, palette.Plan9)
		draw.Draw(p, p.Rect, f, image.Point{}, draw.Src)
		plan9.Image, plan9.Delay = append(plan9.Image, p), append(plan9.Delay, 5)
	}
	fixed := meanAbsErr(t, frames, plan9)
	t.Logf("mean abs error per channel: median cut %.2f, Plan 9 %.2f", got, fixed)
	if got > 2 || got > fixed/3 {
		t.Errorf("median cut error %.2f levels (Plan 9: %.2f): want <= 2 and < a third of Plan 9's", got, fixed)
	}
}

func TestResize(t *testing.T) {
	// A 2x2 checkerboard of black and white.
	src := image.NewRGBA(image.Rect(0, 0, 2, 2))
	for i, v := range []uint8{0, 255, 255, 0} {
		src.Pix[4*i], src.Pix[4*i+1], src.Pix[4*i+2], src.Pix[4*i+3] = v, v, v, 255
	}
	if Resize(src, 2, 2, Smooth) != src {
		t.Error("same size should return the image itself")
	}
	near := Resize(src, 8, 8, Nearest)
	smooth := Resize(src, 8, 8, Smooth)
	grey := func(img *image.RGBA) map[uint8]bool {
		s := map[uint8]bool{}
		for p := 0; p < len(img.Pix); p += 4 {
			s[img.Pix[p]] = true
		}
		return s
	}
	if g := grey(near); len(g) != 2 || near.Pix[0] != 0 || near.RGBAAt(7, 0).R != 255 {
		t.Errorf("nearest: levels %v, want only the two source values in their blocks", g)
	}
	if g := grey(smooth); len(g) < 4 {
		t.Errorf("smooth: only %d levels, want a gradient", len(g))
	}
	for _, s := range []string{"nearest", "smooth"} {
		if f, ok := ParseFilter(s); !ok || f.String() != s {
			t.Errorf("ParseFilter(%q) = %v, %v", s, f, ok)
		}
	}
	if _, ok := ParseFilter("bicubic"); ok {
		t.Error("unknown filter accepted")
	}
}

func TestWalkPingPong(t *testing.T) {
	a, b := []float32{1, 0}, []float32{0, 1}
	z := Walk(a, b, 3)
	want := []float32{1, 0, float32(math.Sqrt2 / 2), float32(math.Sqrt2 / 2), 0, 1}
	for i := range want {
		if math.Abs(float64(z[i]-want[i])) > 1e-6 {
			t.Fatalf("Walk = %v, want %v", z, want)
		}
	}
	if got := PingPong([]int{1, 2, 3, 4}); !slices.Equal(got, []int{1, 2, 3, 4, 3, 2}) {
		t.Errorf("PingPong = %v", got)
	}
	if got := PingPong([]int{1, 2}); !slices.Equal(got, []int{1, 2}) {
		t.Errorf("PingPong of two = %v", got)
	}
}

// TestFromRGB: FromRGB inverts RGB and makes every pixel opaque.
func TestFromRGB(t *testing.T) {
	px := make([]uint8, 3*3*3)
	for i := range px {
		px[i] = uint8(7 * i)
	}
	img := FromRGB(px, 3)
	if got := RGB(img); !slices.Equal(got, px) {
		t.Errorf("RGB(FromRGB(px)) = %v, want %v", got, px)
	}
	for i := 3; i < len(img.Pix); i += 4 {
		if img.Pix[i] != 255 {
			t.Fatalf("alpha %d at byte %d", img.Pix[i], i)
		}
	}
}

// One layout for every grid: no hole where a near-square one exists.
func TestGridCols(t *testing.T) {
	for n, want := range map[int]int{1: 1, 2: 2, 3: 3, 4: 2, 5: 3, 6: 3, 7: 3, 8: 4, 9: 3, 10: 5, 12: 4, 16: 4, 24: 6, 64: 8, 100: 10} {
		if c := GridCols(n); c != want {
			t.Errorf("GridCols(%d) = %d, want %d", n, c, want)
		}
	}
}
