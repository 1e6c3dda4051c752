package nn

import (
	"encoding/json"
	"math"
	"math/cmplx"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// naiveSpectrumLoss is SpectrumLoss's definition spelled out: YCbCr per pixel, a direct
// O((HW)^2) DFT of every image channel, mean power over the batch, squared log ratio
// over every frequency but DC. No FFT, no shared code.
func naiveSpectrumLoss(x, target []float32, n, nt, h, w int) float64 {
	hw := h * w
	pow := func(x []float32, n int) [3][]float64 {
		var p [3][]float64
		for c := range p {
			p[c] = make([]float64, hw)
			for b := 0; b < n; b++ {
				y := make([]float64, hw)
				for q := range y {
					for ch := 0; ch < 3; ch++ {
						y[q] += yccMatrix[c][ch] * float64(x[(ch*n+b)*hw+q])
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
// non-square images (rows and columns transformed the right way round) and checks that
// a batch against itself costs nothing and gets no gradient.
func TestSpectrumLossNaive(t *testing.T) {
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
	s.SetTarget(tg, nt)
	got, want := s.Forward(x, n), naiveSpectrumLoss(x, tg, n, nt, h, w)
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
// float32 inputs, so the tolerance can be tight.
func TestSpectrumLossFiniteDifferences(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	h, w, n := 4, 6, 2
	x, tg := randImages(r, n, h, w), randImages(r, 3, h, w)
	s := NewSpectrumLoss(h, w)
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
// (torch.fft.fft2 and autograd), nn/testdata/spectrum_loss.json, written by
// scripts/golden_spectrum.py.
func TestSpectrumLossGolden(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "spectrum_loss.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		N, NT, H, W int
		X, Target   []float32
		Loss        float64
		Grad        []float64
	}
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatal("no cases")
	}
	for _, c := range cases {
		s := NewSpectrumLoss(c.H, c.W)
		s.SetTarget(c.Target, c.NT)
		l := s.Forward(c.X, c.N)
		if math.Abs(l-c.Loss) > 1e-9*c.Loss {
			t.Errorf("%dx%d n=%d: loss %.12g, PyTorch %.12g", c.H, c.W, c.N, l, c.Loss)
		}
		dx := make([]float32, len(c.X))
		s.Backward(dx, 1)
		var worst, big float64
		for i := range dx {
			worst = math.Max(worst, math.Abs(float64(dx[i])-c.Grad[i]))
			big = math.Max(big, math.Abs(c.Grad[i]))
		}
		if worst > 1e-6*big {
			t.Errorf("%dx%d n=%d: gradient max error %.3g of %.3g", c.H, c.W, c.N, worst, big)
		}
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
