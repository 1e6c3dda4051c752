package metrics

import (
	"math"
	"math/rand/v2"
	"testing"
)

var gauss2D = func() [5][5]float64 {
	k := [5]float64{1, 4, 6, 4, 1}
	var g [5][5]float64
	for i := range g {
		for j := range g[i] {
			g[i][j] = k[i] * k[j] / 256
		}
	}
	return g
}()

// naivePyrDown is the original's pyr_down written out: full 5x5 convolution with mirror
// (reflect-101) borders, then every second sample.
func naivePyrDown(src []float32, h, w, c int) []float32 {
	oh, ow := (h+1)/2, (w+1)/2
	out := make([]float32, oh*ow*c)
	for y := 0; y < oh; y++ {
		for x := 0; x < ow; x++ {
			for ch := 0; ch < c; ch++ {
				var s float64
				for i := -2; i <= 2; i++ {
					for j := -2; j <= 2; j++ {
						yy, xx := reflect101(2*y+i, h), reflect101(2*x+j, w)
						s += gauss2D[i+2][j+2] * float64(src[(yy*w+xx)*c+ch])
					}
				}
				out[(y*ow+x)*c+ch] = float32(s)
			}
		}
	}
	return out
}

// naivePyrUp is the original's pyr_up: zero-stuff into dh x dw, convolve with 4x the 5x5
// kernel under reflect-101 borders.
func naivePyrUp(src []float32, h, w, c, dh, dw int) []float32 {
	z := make([]float64, dh*dw*c)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			for ch := 0; ch < c; ch++ {
				z[((2*y)*dw+2*x)*c+ch] = float64(src[(y*w+x)*c+ch])
			}
		}
	}
	out := make([]float32, dh*dw*c)
	for y := 0; y < dh; y++ {
		for x := 0; x < dw; x++ {
			for ch := 0; ch < c; ch++ {
				var s float64
				for i := -2; i <= 2; i++ {
					for j := -2; j <= 2; j++ {
						yy, xx := reflect101(y+i, dh), reflect101(x+j, dw)
						s += 4 * gauss2D[i+2][j+2] * z[(yy*dw+xx)*c+ch]
					}
				}
				out[(y*dw+x)*c+ch] = float32(s)
			}
		}
	}
	return out
}

func randPlane(r *rand.Rand, n int) []float32 {
	p := make([]float32, n)
	for i := range p {
		p[i] = float32(r.IntN(256))
	}
	return p
}

func maxAbsDiff(t *testing.T, got, want []float32) float64 {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("length %d, want %d", len(got), len(want))
	}
	var m float64
	for i := range got {
		m = math.Max(m, math.Abs(float64(got[i])-float64(want[i])))
	}
	return m
}

func TestReflect101(t *testing.T) {
	// dcb|abcd|cba on n=4.
	for _, c := range [][2]int{{-1, 1}, {-2, 2}, {-3, 3}, {0, 0}, {3, 3}, {4, 2}, {5, 1}, {6, 0}} {
		if got := reflect101(c[0], 4); got != c[1] {
			t.Errorf("reflect101(%d, 4) = %d, want %d", c[0], got, c[1])
		}
	}
	if got := reflect101(-2, 2); got != 0 { // -2 -> 2 -> 2n-2-2 = 0
		t.Errorf("reflect101(-2, 2) = %d, want 0", got)
	}
}

func TestPyrConstant(t *testing.T) {
	for _, sz := range [][2]int{{4, 4}, {6, 6}, {7, 5}, {48, 48}} {
		h, w := sz[0], sz[1]
		src := make([]float32, h*w*3)
		for i := range src {
			src[i] = 37.5
		}
		d, dh, dw := PyrDown(src, h, w, 3)
		if dh != (h+1)/2 || dw != (w+1)/2 {
			t.Fatalf("PyrDown size %dx%d from %dx%d", dh, dw, h, w)
		}
		for _, v := range d {
			if math.Abs(float64(v)-37.5) > 1e-4 {
				t.Fatalf("PyrDown of constant %dx%d gave %v", h, w, v)
			}
		}
		for _, v := range PyrUp(d, dh, dw, 3, h, w) {
			if math.Abs(float64(v)-37.5) > 1e-4 {
				t.Fatalf("PyrUp of constant to %dx%d gave %v", h, w, v)
			}
		}
	}
}

func TestPyrHandComputed(t *testing.T) {
	// 4x4, one channel, every row [0 1 2 3]. Output column 0 sees x = 2 1 0 1 2 (reflect-101):
	// (2+4+0+4+2)/16 = 0.75; column 1 sees x = 0 1 2 3 2: (0+4+12+12+2)/16 = 1.875.
	src := []float32{0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3}
	d, _, _ := PyrDown(src, 4, 4, 1)
	if m := maxAbsDiff(t, d, []float32{0.75, 1.875, 0.75, 1.875}); m > 1e-6 {
		t.Errorf("PyrDown = %v", d)
	}
	// 2x2 rows [0 8] up to 4x4. Zero-stuffed row 0 _ 8 _, kernel 2*[1 4 6 4 1]/16:
	// o=0 taps 8@-2(->2), 0@0, 8@2: (2*8 + 12*0 + 2*8)/16 = 2; o=1: (8*0+8*8)/16 = 4;
	// o=2: (2*0 + 12*8 + 2*8@4->2)/16 = 7; o=3: (8*8 + 8*8@4->2)/16 = 8.
	u := PyrUp([]float32{0, 8, 0, 8}, 2, 2, 1, 4, 4)
	want := []float32{2, 4, 7, 8, 2, 4, 7, 8, 2, 4, 7, 8, 2, 4, 7, 8}
	if m := maxAbsDiff(t, u, want); m > 1e-6 {
		t.Errorf("PyrUp = %v", u)
	}
}

func TestPyrAgainstNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, sz := range [][3]int{{4, 4, 1}, {6, 6, 3}, {7, 5, 3}, {5, 9, 2}, {48, 48, 3}, {25, 24, 3}} {
		h, w, c := sz[0], sz[1], sz[2]
		src := randPlane(r, h*w*c)
		d, dh, dw := PyrDown(src, h, w, c)
		if m := maxAbsDiff(t, d, naivePyrDown(src, h, w, c)); m > 1e-3 {
			t.Errorf("PyrDown %v: max diff %g", sz, m)
		}
		for _, uh := range []int{2 * dh, 2*dh - 1} {
			for _, uw := range []int{2 * dw, 2*dw - 1} {
				u := PyrUp(d, dh, dw, c, uh, uw)
				if m := maxAbsDiff(t, u, naivePyrUp(d, dh, dw, c, uh, uw)); m > 1e-3 {
					t.Errorf("PyrUp %v -> %dx%d: max diff %g", sz, uh, uw, m)
				}
			}
		}
	}
}

func TestResolutions(t *testing.T) {
	for _, c := range []struct {
		size int
		want []int
	}{{48, []int{48, 24}}, {64, []int{64, 32, 16}}, {96, []int{96, 48, 24}}, {16, []int{16}}, {50, []int{50, 25}}} {
		got := Resolutions(c.size, 16)
		if len(got) != len(c.want) {
			t.Errorf("Resolutions(%d) = %v, want %v", c.size, got, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("Resolutions(%d) = %v, want %v", c.size, got, c.want)
			}
		}
	}
}

func TestLaplacianPyramid(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, size := range []int{48, 64, 50} {
		img := randPlane(r, size*size*3)
		res := Resolutions(size, 16)
		pyr := LaplacianPyramid(img, size, 3, len(res))
		if len(pyr) != len(res) {
			t.Fatalf("%d levels, want %d", len(pyr), len(res))
		}
		// The last level is the low-pass image: the Gaussian level itself.
		g, s := img, size
		for i := 1; i < len(res); i++ {
			g, s, _ = PyrDown(g, s, s, 3)
		}
		if m := maxAbsDiff(t, pyr[len(res)-1], g); m > 0 {
			t.Errorf("size %d: last level is not the low-pass image (diff %g)", size, m)
		}
		// Reconstruction: fold back up, as reconstruct_laplacian_pyramid.
		rec := pyr[len(res)-1]
		for i := len(res) - 2; i >= 0; i-- {
			up := PyrUp(rec, res[i+1], res[i+1], 3, res[i], res[i])
			for j := range up {
				up[j] += pyr[i][j]
			}
			rec = up
		}
		if m := maxAbsDiff(t, rec, img); m > 1e-3 {
			t.Errorf("size %d: reconstruction error %g", size, m)
		}
		// levelImage (used by SWD) agrees with LaplacianPyramid on every level.
		u8 := make([]uint8, len(img))
		for i, v := range img {
			u8[i] = uint8(v)
		}
		full := LaplacianPyramid(img, size, 3, len(res))
		for lv := range res {
			li, ls := levelImage(u8, size, lv, len(res))
			if ls != res[lv] {
				t.Fatalf("levelImage size %d, want %d", ls, res[lv])
			}
			if m := maxAbsDiff(t, li, full[lv]); m > 1e-4 {
				t.Errorf("size %d level %d: levelImage differs by %g", size, lv, m)
			}
		}
	}
}
