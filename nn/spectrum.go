package nn

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/dsp/fourier"
)

// SpectrumEps is added to every power before its logarithm in SpectrumLoss, relative to
// the number of pixels: a constant channel (zero power off DC) then has a finite loss.
const SpectrumEps = 1e-6

// yccMatrix maps RGB to luma and the two colour differences (JPEG's YCbCr without the
// offsets, which only move the DC term the loss leaves out). Matching Y, Cb and Cr
// separately weighs the grain in colour on its own, where RGB would mix it into luma.
var yccMatrix = [3][3]float64{
	{0.299, 0.587, 0.114},
	{-0.168736, -0.331264, 0.5},
	{0.5, -0.418688, -0.081312},
}

// SpectrumLoss matches the mean Fourier power spectrum of a batch of images to that of a
// target batch: for each of Y, Cb and Cr and every 2-D frequency k but DC,
//
//	L = mean over (channel, k) of (ln(P(k) + eps) - ln(T(k) + eps))^2
//
// where P(k) is the mean over the batch of |DFT(image channel)(k)|^2 (unnormalised DFT,
// periodic boundary), T(k) the same of the target batch and eps = SpectrumEps * H*W.
// A generator's excess power at its strides' periods (a checkerboard) and its missing
// power in fine detail are what the discriminator did not remove; the log makes a 2x
// excess cost what a 2x shortfall does at every frequency. Images are CNHW (3 channels).
//
// With Window, every image channel is multiplied by a 2-D Hann window before its
// transform (both batches, so the target is windowed too). Without it an isolated spike
// adds power at every frequency, and the loss, which sees only power per frequency, takes
// it for fine detail: a generator trained with it meets its shortfall of fine-detail power
// with spikes in its corner pixels, which its zero-padded borders make easy to draw and
// the discriminator looks at least (measured on the embedded model: its corner pixels
// stand out from their neighbours 3x as much as real faces', and smoothing them triples
// its loss). The window gives the border pixels no weight, so power has to come from the
// face.
//
// The transforms are gonum's FFTs in float64: a real FFT along each row, then complex
// FFTs down the W/2+1 columns it leaves; the other half of the spectrum is the mirror
// image (P(-k) = P(k) for real images), so it is counted, not computed.
type SpectrumLoss struct {
	H, W   int
	Window bool // multiply each image channel by a 2-D Hann window (HannWindow) first

	rows   *fourier.FFT
	cols   *fourier.CmplxFFT
	half   int          // W/2 + 1 columns of the half spectrum
	mult   []float64    // [half]: how many frequencies of the full grid each column stands for
	winY   []float64    // [H] Hann window down the rows
	winX   []float64    // [W] Hann window along a row
	target []float64    // [3][H*half] mean power of the target batch
	spec   []complex128 // [3][n][H*half] half spectra of the last Forward's images
	grad   []float64    // [3][H*half] dL/dP of the last Forward
	n      int

	// Buffers reused across calls (a training run makes these once per iteration).
	tspec []complex128 // SetTarget's spectra
	pow   []float64    // Forward's mean power
	z     []complex128 // [H*half] Backward's spectrum of one image channel
	gy    []float64    // [3][H*W] Backward's gradient in Y, Cb, Cr
	row   []float64
	col   []complex128
}

// NewSpectrumLoss returns a SpectrumLoss for h x w images.
func NewSpectrumLoss(h, w int) *SpectrumLoss {
	half := w/2 + 1
	mult := make([]float64, half)
	for kx := range mult {
		mult[kx] = 2 // kx and its mirror w-kx
		if kx == 0 || 2*kx == w {
			mult[kx] = 1 // its own mirror (the pair in ky is in the same column)
		}
	}
	return &SpectrumLoss{H: h, W: w, rows: fourier.NewFFT(w), cols: fourier.NewCmplxFFT(h), half: half,
		mult: mult, winY: HannWindow(h), winX: HannWindow(w), row: make([]float64, w), col: make([]complex128, h)}
}

// HannWindow returns the symmetric Hann window of n points, 0.5 - 0.5 cos(2 pi i / (n-1)),
// zero at both ends (PyTorch's torch.hann_window(n, periodic=False)); [1] for n = 1.
func HannWindow(n int) []float64 {
	w := make([]float64, n)
	if n == 1 {
		w[0] = 1
		return w
	}
	for i := range w {
		w[i] = 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(n-1))
	}
	return w
}

// weight returns the window's weight at pixel (y, x): 1 without Window.
func (s *SpectrumLoss) weight(y, x int) float64 {
	if !s.Window {
		return 1
	}
	return s.winY[y] * s.winX[x]
}

// spectra writes the half spectra of x's n images (CNHW, 3 channels), converted to Y,
// Cb, Cr, into dst ([3][n][H*half]).
func (s *SpectrumLoss) spectra(dst []complex128, x []float32, n int) {
	hw, hh := s.H*s.W, s.H*s.half
	if len(x) != 3*n*hw {
		panic(fmt.Sprintf("nn: SpectrumLoss: len(x) = %d, want 3*%d*%d", len(x), n, hw))
	}
	for c := 0; c < 3; c++ {
		m := yccMatrix[c]
		for b := 0; b < n; b++ {
			out := dst[(c*n+b)*hh : (c*n+b+1)*hh]
			r, g, bl := x[b*hw:(b+1)*hw], x[(n+b)*hw:(n+b+1)*hw], x[(2*n+b)*hw:(2*n+b+1)*hw]
			for y := 0; y < s.H; y++ {
				for px := range s.row {
					p := y*s.W + px
					s.row[px] = s.weight(y, px) * (m[0]*float64(r[p]) + m[1]*float64(g[p]) + m[2]*float64(bl[p]))
				}
				s.rows.Coefficients(out[y*s.half:(y+1)*s.half], s.row)
			}
			s.columns(out, false)
		}
	}
}

// columns transforms every column of the H x half array a in place (inverse: the
// unnormalised inverse transform).
func (s *SpectrumLoss) columns(a []complex128, inverse bool) {
	for kx := 0; kx < s.half; kx++ {
		for y := range s.col {
			s.col[y] = a[y*s.half+kx]
		}
		if inverse {
			s.cols.Sequence(s.col, s.col)
		} else {
			s.cols.Coefficients(s.col, s.col)
		}
		for y, v := range s.col {
			a[y*s.half+kx] = v
		}
	}
}

// power returns the mean power over the n images of spec ([3][n][H*half]) as [3][H*half].
func (s *SpectrumLoss) power(dst []float64, spec []complex128, n int) []float64 {
	hh := s.H * s.half
	dst = Grow(dst, 3*hh)
	clear(dst)
	for c := 0; c < 3; c++ {
		acc := dst[c*hh : (c+1)*hh]
		for b := 0; b < n; b++ {
			for k, v := range spec[(c*n+b)*hh : (c*n+b+1)*hh] {
				acc[k] += real(v)*real(v) + imag(v)*imag(v)
			}
		}
		for k := range acc {
			acc[k] /= float64(n)
		}
	}
	return dst
}

// SetTarget sets T to the mean power spectrum of the n target images x (CNHW).
func (s *SpectrumLoss) SetTarget(x []float32, n int) {
	s.tspec = Grow(s.tspec, 3*n*s.H*s.half)
	s.spectra(s.tspec, x, n)
	s.target = s.power(s.target, s.tspec, n)
}

// Forward returns the loss of the n images x (CNHW) against the target and keeps what
// Backward needs. It panics without a target.
func (s *SpectrumLoss) Forward(x []float32, n int) float64 {
	if s.target == nil {
		panic("nn: SpectrumLoss.Forward before SetTarget")
	}
	hh := s.H * s.half
	s.n = n
	s.spec = Grow(s.spec, 3*n*hh)
	s.spectra(s.spec, x, n)
	s.pow = s.power(s.pow, s.spec, n)
	p := s.pow
	s.grad = Grow(s.grad, 3*hh)
	eps := SpectrumEps * float64(s.H*s.W)
	terms := float64(3 * (s.H*s.W - 1))
	var loss float64
	for i := range p {
		if i%hh == 0 { // DC: each image's mean, not its texture
			s.grad[i] = 0
			continue
		}
		d := math.Log(p[i]+eps) - math.Log(s.target[i]+eps)
		loss += s.mult[i%s.half] * d * d
		s.grad[i] = 2 * d / (p[i] + eps) / terms
	}
	return loss / terms
}

// Backward adds scale * dL/dx of the last Forward to dx (CNHW, as x). With a = dL/dP
// over the full grid, dL/dy_b = (2/n) Re(IDFT(a * DFT(y_b))), IDFT unnormalised; a * DFT
// is Hermitian, so the inverse is the column transforms of its half followed by real
// inverse FFTs of the rows, times the window (y_b is the windowed image). Then RGB
// through the transpose of the YCbCr matrix.
func (s *SpectrumLoss) Backward(dx []float32, scale float64) {
	n, hw, hh := s.n, s.H*s.W, s.H*s.half
	if len(dx) != 3*n*hw {
		panic(fmt.Sprintf("nn: SpectrumLoss.Backward: len(dx) = %d, want 3*%d*%d", len(dx), n, hw))
	}
	s.z, s.gy = Grow(s.z, hh), Grow(s.gy, 3*hw)
	z, gy := s.z, s.gy
	for b := 0; b < n; b++ {
		for c := 0; c < 3; c++ {
			a := s.grad[c*hh : (c+1)*hh]
			for k, v := range s.spec[(c*n+b)*hh : (c*n+b+1)*hh] {
				z[k] = v * complex(a[k], 0)
			}
			s.columns(z, true)
			for y := 0; y < s.H; y++ {
				s.rows.Sequence(s.row, z[y*s.half:(y+1)*s.half])
				for px, v := range s.row {
					gy[c*hw+y*s.W+px] = 2 / float64(n) * v * s.weight(y, px)
				}
			}
		}
		for ch := 0; ch < 3; ch++ {
			d := dx[(ch*n+b)*hw : (ch*n+b+1)*hw]
			for p := range d {
				g := yccMatrix[0][ch]*gy[p] + yccMatrix[1][ch]*gy[hw+p] + yccMatrix[2][ch]*gy[2*hw+p]
				d[p] += float32(scale * g)
			}
		}
	}
}
