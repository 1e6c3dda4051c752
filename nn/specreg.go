package nn

import (
	"math"

	"gonum.org/v1/gonum/mat"
)

// CompensateSpectrum rewrites w, a rows x cols matrix W = U diag(s) V^T (row-major),
// with the static spectral compensation of SR-GAN (Liu et al. 2019, "Spectral
// Regularization for Combating Mode Collapse in GANs"): the largest min(rows, cols)/2
// singular values are raised to the largest one, s_1; U, V and the other singular
// values are kept; then the whole matrix is scaled back to W's Frobenius norm.
//
// Why: a spectrally normalised layer computes with W / s_1, so when training grows one
// direction of W (s_1) faster than the rest, every other direction shrinks and the
// discriminator's outputs collapse towards a constant (spectral collapse). After the
// compensation, half of the normalised layer's singular values are 1 again.
//
// The final scale changes nothing in the normalised layer (W / s_1 is scale-free); it
// keeps the size of the weights, and with it the relative size of Adam's fixed-size
// steps, as it was. (The authors' code rescales to s_1 = 1 instead, which for weights
// with s_1 ~ 5-15 would multiply the optimiser's relative step by as much.)
//
// It returns false, leaving w unchanged, when there is nothing to compensate (a vector,
// a zero matrix) or the eigendecomposition fails. Singular values below s_1 * 1e-6 in
// the top half stay as they are: raising a numerically null direction would only
// amplify rounding noise. The work is in float64 (gonum): the Gram matrix of the short
// side, its eigendecomposition, and one product M W (or W M) with
// M = Q diag(c s'/s) Q^T.
func CompensateSpectrum(w []float32, rows, cols int) bool {
	n := min(rows, cols)
	k := n / 2
	if k == 0 || len(w) != rows*cols {
		return false
	}
	a64 := make([]float64, len(w))
	var frob2 float64
	for i, x := range w {
		a64[i] = float64(x)
		frob2 += float64(x) * float64(x)
	}
	if frob2 == 0 {
		return false
	}
	a := mat.NewDense(rows, cols, a64)
	// The singular values of W are the square roots of the eigenvalues of W W^T
	// (rows <= cols) or W^T W, whichever is n x n; its eigenvectors are U (or V).
	left := rows <= cols
	var g mat.SymDense
	if left {
		g.SymOuterK(1, a)
	} else {
		g.SymOuterK(1, a.T())
	}
	var eig mat.EigenSym
	if !eig.Factorize(&g, true) {
		return false
	}
	vals := eig.Values(nil) // ascending
	var q mat.Dense
	eig.VectorsTo(&q)
	s1 := math.Sqrt(math.Max(vals[n-1], 0))
	if s1 == 0 {
		return false
	}
	// ratio[j] = s'_j / s_j for eigenvalue j (ascending: rank n-1-j).
	ratio := make([]float64, n)
	var new2 float64
	for j, v := range vals {
		sj := math.Sqrt(math.Max(v, 0))
		ratio[j] = 1
		if n-1-j < k && sj > s1*1e-6 {
			ratio[j] = s1 / sj
			sj = s1
		}
		new2 += sj * sj
	}
	// frob2 is the sum of the old squared singular values, new2 of the new ones.
	c := math.Sqrt(frob2 / new2)
	var qs mat.Dense
	qs.CloneFrom(&q)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			qs.Set(i, j, qs.At(i, j)*c*ratio[j])
		}
	}
	var m, out mat.Dense
	m.Mul(&qs, q.T())
	if left {
		out.Mul(&m, a)
	} else {
		out.Mul(a, &m)
	}
	raw := out.RawMatrix()
	for i := 0; i < rows; i++ {
		row := raw.Data[i*raw.Stride : i*raw.Stride+cols]
		for j, x := range row {
			w[i*cols+j] = float32(x)
		}
	}
	return true
}

// Compensate applies CompensateSpectrum to WOrig (the optimiser's weight), so that the
// next Forward normalises a weight whose top half of singular values are equal. The
// power-iteration vectors u, v are kept: they still lie in the (now wider) top singular
// subspace, where sigma = u . (WOrig v) is the new largest singular value.
func (s *SpectralNorm) Compensate() bool {
	if !CompensateSpectrum(s.Orig.Data, s.rows, s.cols) {
		return false
	}
	Touch([]*Param{s.Orig})
	return true
}
