package nn

import (
	"encoding/json"
	"fmt"
	"math"
	"math/cmplx"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// naiveSpectrumLoss is SpectrumLoss's definition spelled out: YCbCr per pixel (times the
// symmetric Hann window with window), a direct O((HW)^2) DFT of every image channel,
// mean power over the batch, squared log ratio over every frequency but DC. No FFT, no
// shared code.
func naiveSpectrumLoss(x, target []float32, n, nt, h, w int, window bool) float64 {
	hw := h * w
	hann := func(i, n int) float64 {
		if !window {
			return 1
		}
		return math.Pow(math.Sin(math.Pi*float64(i)/float64(n-1)), 2) // = 0.5 - 0.5 cos(2 pi i/(n-1))
	}
	pow := func(x []float32, n int) [3][]float64 {
		var p [3][]float64
		for c := range p {
			p[c] = make([]float64, hw)
			for b := 0; b < n; b++ {
				y := make([]float64, hw)
				for q := range y {
					for ch := 0; ch < 3; ch++ {
						y[q] += yccMatrix[c][ch] * float64(x[(ch*n+b)*hw+q]) * hann(q/w, h) * hann(q%w, w)
					}
				}
				for ky := 0; ky < h; ky++ {
					for kx := 0; kx < w; kx++ {
						var s complex128
						for py := 0; py < h; py++ {
							for px := 0; px < w; px++ {
								ang := -2 * math.Pi * (float64(ky*py)/float64(h) + float64(kx*px)/float64(w))
								s += complex(y[py*w+px], 0) * cmplx.Exp(complex(0, ang))
							}
						}
						p[c][ky*w+kx] += (real(s)*real(s) + imag(s)*imag(s)) / float64(n)
					}
				}
			}
		}
		return p
	}
	pf, pt := pow(x, n), pow(target, nt)
	eps := SpectrumEps * float64(hw)
	var l float64
	for c := 0; c < 3; c++ {
		for k := 1; k < hw; k++ {
			d := math.Log(pf[c][k]+eps) - math.Log(pt[c][k]+eps)
			l += d * d
		}
	}
	return l / float64(3*(hw-1))
}

func randImages(r *rand.Rand, n, h, w int) []float32 {
	x := make([]float32, 3*n*h*w)
	for i := range x {
		x[i] = float32(r.Float64()*2 - 1)
	}
	return x
}

// TestSpectrumLossNaive compares the loss with the direct DFT of naiveSpectrumLoss on
// non-square images (rows and columns transformed the right way round), with and
// without the window, and checks that a batch against itself costs nothing and gets no
// gradient.
func TestSpectrumLossNaive(t *testing.T) {
	for _, win := range []bool{false, true} {
		t.Run(fmt.Sprintf("window=%v", win), func(t *testing.T) { testSpectrumLossNaive(t, win) })
	}
}

func testSpectrumLossNaive(t *testing.T, window bool) {
	r := rand.New(rand.NewPCG(7, 8))
	h, w, n, nt := 6, 5, 3, 4
	x, tg := randImages(r, n, h, w), randImages(r, nt, h, w)
	// Give the batch a stripe pattern so that the two spectra differ a lot somewhere.
	for i := range x {
		if (i%w)%2 == 0 {
			x[i] *= 0.2
		}
	}
	s := NewSpectrumLoss(h, w)
	s.Window = window
	s.SetTarget(tg, nt)
	got, want := s.Forward(x, n), naiveSpectrumLoss(x, tg, n, nt, h, w, window)
	if math.Abs(got-want) > 1e-9*math.Abs(want) || want < 0.1 {
		t.Errorf("loss %.12g, naive DFT %.12g", got, want)
	}
	s.SetTarget(x, n)
	if l := s.Forward(x, n); l > 1e-20 {
		t.Errorf("a batch against itself: loss %g, want 0", l)
	}
	dx := make([]float32, len(x))
	s.Backward(dx, 1)
	for i, v := range dx {
		if math.Abs(float64(v)) > 1e-9 {
			t.Fatalf("a batch against itself: dx[%d] = %g, want 0", i, v)
		}
	}
}

// TestSpectrumLossFiniteDifferences checks Backward (with a scale, added to what dx
// held) against central differences of Forward, which computes in float64 from the
// float32 inputs, so the tolerance can be tight; with and without the window.
func TestSpectrumLossFiniteDifferences(t *testing.T) {
	for _, win := range []bool{false, true} {
		t.Run(fmt.Sprintf("window=%v", win), func(t *testing.T) { testSpectrumLossFiniteDifferences(t, win) })
	}
}

func testSpectrumLossFiniteDifferences(t *testing.T, window bool) {
	r := rand.New(rand.NewPCG(9, 10))
	h, w, n := 5, 6, 2
	x, tg := randImages(r, n, h, w), randImages(r, 3, h, w)
	s := NewSpectrumLoss(h, w)
	s.Window = window
	s.SetTarget(tg, 3)
	s.Forward(x, n)
	const scale = 2.5
	dx := make([]float32, len(x))
	for i := range dx {
		dx[i] = 1 // Backward adds
	}
	s.Backward(dx, scale)
	var worst, big float64
	for i := range x {
		old := x[i]
		x[i] = old + 1e-3
		hi := float64(x[i])
		lp := s.Forward(x, n)
		x[i] = old - 1e-3
		lo := float64(x[i])
		lm := s.Forward(x, n)
		x[i] = old
		want := scale * (lp - lm) / (hi - lo)
		got := float64(dx[i]) - 1
		worst = math.Max(worst, math.Abs(got-want))
		big = math.Max(big, math.Abs(want))
	}
	if worst > 1e-4*big || big == 0 {
		t.Errorf("finite differences: max error %.3g of gradients up to %.3g", worst, big)
	}
}

// TestSpectrumLossGolden compares the loss and its gradient with PyTorch float64
// (torch.fft.fft2, torch.hann_window and autograd), nn/testdata/spectrum_loss.json,
// written by scripts/golden_spectrum.py, with and without the window.
func TestSpectrumLossGolden(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "spectrum_loss.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		N, NT, H, W int
		Window      bool
		X, Target   []float32
		Loss        float64
		Grad        []float64
	}
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	windowed := 0
	for _, c := range cases {
		if c.Window {
			windowed++
		}
	}
	if windowed == 0 || windowed == len(cases) {
		t.Fatalf("%d of %d cases windowed: want cases with and without the window", windowed, len(cases))
	}
	for _, c := range cases {
		s := NewSpectrumLoss(c.H, c.W)
		s.Window = c.Window
		s.SetTarget(c.Target, c.NT)
		l := s.Forward(c.X, c.N)
		if math.Abs(l-c.Loss) > 1e-9*c.Loss {
			t.Errorf("%dx%d n=%d window=%v: loss %.12g, PyTorch %.12g", c.H, c.W, c.N, c.Window, l, c.Loss)
		}
		dx := make([]float32, len(c.X))
		s.Backward(dx, 1)
		var worst, big float64
		for i := range dx {
			worst = math.Max(worst, math.Abs(float64(dx[i])-c.Grad[i]))
			big = math.Max(big, math.Abs(c.Grad[i]))
		}
		if worst > 1e-6*big {
			t.Errorf("%dx%d n=%d window=%v: gradient max error %.3g of %.3g", c.H, c.W, c.N, c.Window, worst, big)
		}
	}
}

// TestSpectrumLossWindowBorder checks what the window is for: with it, a spike in a
// corner pixel (or any border pixel) changes neither the loss nor gets a gradient, so
// the loss cannot be met with border spikes; without it, the same spike lowers the loss
// of a batch short of fine-detail power (the exploit the window removes).
func TestSpectrumLossWindowBorder(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	h, w, n := 12, 12, 4
	tg := randImages(r, n, h, w)
	// The batch: the target blurred along rows, so it lacks power at high frequencies.
	x := make([]float32, len(tg))
	for i := range x {
		j := i - i%w + (i%w+1)%w
		x[i] = (tg[i] + tg[j]) / 2
	}
	spiked := append([]float32(nil), x...)
	for p := 0; p < 3*n; p++ { // every image channel, top-left and bottom-right corners
		spiked[p*h*w] += 0.8
		spiked[p*h*w+h*w-1] -= 0.8
	}
	for _, window := range []bool{false, true} {
		s := NewSpectrumLoss(h, w)
		s.Window = window
		s.SetTarget(tg, n)
		plain, spike := s.Forward(x, n), s.Forward(spiked, n)
		if window {
			if plain != spike {
				t.Errorf("window: corner spikes changed the loss %.12g -> %.12g", plain, spike)
			}
			dx := make([]float32, len(x))
			s.Backward(dx, 1)
			for p := 0; p < 3*n; p++ {
				for q := 0; q < h*w; q++ {
					y, xx := q/w, q%w
					border := y == 0 || xx == 0 || y == h-1 || xx == w-1
					if g := dx[p*h*w+q]; border && g != 0 {
						t.Fatalf("window: border pixel (%d, %d) has gradient %g, want 0", y, xx, g)
					}
				}
			}
			if dx[h/2*w+w/2] == 0 {
				t.Fatal("window: the centre pixel has no gradient")
			}
		} else if !(spike < plain) {
			t.Errorf("no window: corner spikes should lower a blurred batch's loss: %.6g -> %.6g", plain, spike)
		}
	}
}

// TestHannWindow checks the window's values against its closed form at 5 points and
// the one-point case.
func TestHannWindow(t *testing.T) {
	got := HannWindow(5)
	want := []float64{0, 0.5, 1, 0.5, 0}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-15 {
			t.Errorf("HannWindow(5)[%d] = %v, want %v", i, got[i], want[i])
		}
	}
	if w := HannWindow(1); len(w) != 1 || w[0] != 1 {
		t.Errorf("HannWindow(1) = %v, want [1]", w)
	}
}

// BenchmarkSpectrumLoss times one G step's spectrum loss at the reference shape (64
// images of 48 x 48): Forward and Backward, with the target set once.
func BenchmarkSpectrumLoss(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	x, tg := randImages(r, 64, 48, 48), randImages(r, 64, 48, 48)
	s := NewSpectrumLoss(48, 48)
	s.SetTarget(tg, 64)
	dx := make([]float32, len(x))
	for b.Loop() {
		s.Forward(x, 64)
		s.Backward(dx, 1)
	}
}
