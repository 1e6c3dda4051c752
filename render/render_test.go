package render

import (
	"math"
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
	g := Grid(imgs, SquareCols(5), 2)
	if g.Bounds().Dx() != 3*6+2 || g.Bounds().Dy() != 2*6+2 {
		t.Fatalf("grid bounds %v", g.Bounds())
	}
	// A gap pixel is white, an image pixel is mid-grey.
	if g.Pix[0] != 255 || g.Pix[(2*g.Stride)+4*2] != 128 {
		t.Errorf("grid pixels wrong")
	}
	u := Upscale(imgs[0], 3)
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
