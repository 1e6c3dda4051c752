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
// The transforms are gonum's FFTs, in float64.
type SpectrumLoss struct {
	H, W int

	rows, cols *fourier.CmplxFFT
	target     []float64    // [3][H*W] mean power of the target batch
	spec       []complex128 // [3][n][H*W] spectra of the last Forward's images
	grad       []float64    // [3][H*W] dL/dP of the last Forward
	n          int
	line       []complex128
}

// NewSpectrumLoss returns a SpectrumLoss for h x w images.
func NewSpectrumLoss(h, w int) *SpectrumLoss {
	return &SpectrumLoss{H: h, W: w, rows: fourier.NewCmplxFFT(w), cols: fourier.NewCmplxFFT(h),
		line: make([]complex128, max(h, w))}
}

// spectra writes the 2-D DFTs of x's n images (CNHW, 3 channels), converted to Y, Cb, Cr,
// into dst ([3][n][H*W]).
func (s *SpectrumLoss) spectra(dst []complex128, x []float32, n int) {
	hw := s.H * s.W
	if len(x) != 3*n*hw {
		panic(fmt.Sprintf("nn: SpectrumLoss: len(x) = %d, want 3*%d*%d", len(x), n, hw))
	}
	for c := 0; c < 3; c++ {
		m := yccMatrix[c]
		for b := 0; b < n; b++ {
			img := dst[(c*n+b)*hw : (c*n+b+1)*hw]
			for p := range img {
				img[p] = complex(m[0]*float64(x[b*hw+p])+m[1]*float64(x[(n+b)*hw+p])+m[2]*float64(x[(2*n+b)*hw+p]), 0)
			}
			s.dft2(img, false)
		}
	}
}

// dft2 transforms the H x W image in place: rows, then columns; inverse uses the
// unnormalised inverse transform.
func (s *SpectrumLoss) dft2(img []complex128, inverse bool) {
	for y := 0; y < s.H; y++ {
		r := img[y*s.W : (y+1)*s.W]
		if inverse {
			s.rows.Sequence(r, r)
		} else {
			s.rows.Coefficients(r, r)
		}
	}
	col := s.line[:s.H]
	for x := 0; x < s.W; x++ {
		for y := range col {
			col[y] = img[y*s.W+x]
		}
		if inverse {
			s.cols.Sequence(col, col)
		} else {
			s.cols.Coefficients(col, col)
		}
		for y, v := range col {
			img[y*s.W+x] = v
		}
	}
}

// power returns the mean power over the n images of spec ([3][n][H*W]) as [3][H*W].
func (s *SpectrumLoss) power(dst []float64, spec []complex128, n int) []float64 {
	hw := s.H * s.W
	if cap(dst) < 3*hw {
		dst = make([]float64, 3*hw)
	}
	dst = dst[:3*hw]
	clear(dst)
	for c := 0; c < 3; c++ {
		acc := dst[c*hw : (c+1)*hw]
		for b := 0; b < n; b++ {
			for k, v := range spec[(c*n+b)*hw : (c*n+b+1)*hw] {
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
	spec := make([]complex128, 3*n*s.H*s.W)
	s.spectra(spec, x, n)
	s.target = s.power(s.target, spec, n)
}

// Forward returns the loss of the n images x (CNHW) against the target and keeps what
// Backward needs. It panics without a target.
func (s *SpectrumLoss) Forward(x []float32, n int) float64 {
	if s.target == nil {
		panic("nn: SpectrumLoss.Forward before SetTarget")
	}
	hw := s.H * s.W
	s.n = n
	if cap(s.spec) < 3*n*hw {
		s.spec = make([]complex128, 3*n*hw)
	}
	s.spec = s.spec[:3*n*hw]
	s.spectra(s.spec, x, n)
	p := s.power(nil, s.spec, n)
	if cap(s.grad) < 3*hw {
		s.grad = make([]float64, 3*hw)
	}
	s.grad = s.grad[:3*hw]
	eps := SpectrumEps * float64(hw)
	terms := float64(3 * (hw - 1))
	var loss float64
	for i := range p {
		if i%hw == 0 { // DC: each image's mean, not its texture
			s.grad[i] = 0
			continue
		}
		d := math.Log(p[i]+eps) - math.Log(s.target[i]+eps)
		loss += d * d
		s.grad[i] = 2 * d / (p[i] + eps) / terms
	}
	return loss / terms
}

// Backward adds scale * dL/dx of the last Forward to dx (CNHW, as x). With a = dL/dP,
// dL/dy_b = (2/n) Re(IDFT(a * DFT(y_b))), IDFT unnormalised; then RGB through the
// transpose of the YCbCr matrix.
func (s *SpectrumLoss) Backward(dx []float32, scale float64) {
	n, hw := s.n, s.H*s.W
	if len(dx) != 3*n*hw {
		panic(fmt.Sprintf("nn: SpectrumLoss.Backward: len(dx) = %d, want 3*%d*%d", len(dx), n, hw))
	}
	img := make([]complex128, hw)
	gy := make([]float64, 3*hw)
	for b := 0; b < n; b++ {
		for c := 0; c < 3; c++ {
			a := s.grad[c*hw : (c+1)*hw]
			for k, v := range s.spec[(c*n+b)*hw : (c*n+b+1)*hw] {
				img[k] = v * complex(a[k], 0)
			}
			s.dft2(img, true)
			for p, v := range img {
				gy[c*hw+p] = 2 / float64(n) * real(v)
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
