package nn

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// svdOf returns the thin SVD of the rows x cols matrix w by gonum's Golub-Kahan SVD, an
// algorithm independent of CompensateSpectrum's Gram-matrix eigendecomposition.
func svdOf(t *testing.T, w []float32, rows, cols int) (u, v *mat.Dense, s []float64) {
	t.Helper()
	a := mat.NewDense(rows, cols, nil)
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			a.Set(i, j, float64(w[i*cols+j]))
		}
	}
	var svd mat.SVD
	if !svd.Factorize(a, mat.SVDThin) {
		t.Fatal("SVD failed")
	}
	u, v = new(mat.Dense), new(mat.Dense)
	svd.UTo(u)
	svd.VTo(v)
	return u, v, svd.Values(nil)
}

// TestCompensateSpectrumAgainstSVD checks the compensation against its definition built
// from an independent SVD: the result must be c * U diag(s') V^T with s'_i = s_1 for the
// top min(rows, cols)/2 singular values and s_i otherwise, c restoring the Frobenius
// norm; its own SVD must show the top half equal.
func TestCompensateSpectrumAgainstSVD(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, sh := range [][2]int{{6, 10}, {10, 6}, {5, 5}, {2, 9}, {16, 75}} {
		rows, cols := sh[0], sh[1]
		w := make([]float32, rows*cols)
		for i := range w {
			w[i] = float32(r.NormFloat64() * 0.02)
		}
		// Make the spectrum lopsided, as a collapsed layer's is: grow one direction.
		for j := 0; j < cols; j++ {
			w[j] += float32(0.1 * math.Sin(float64(j)))
		}
		u, v, s := svdOf(t, w, rows, cols)
		n, k := len(s), len(s)/2
		sp := append([]float64(nil), s...)
		var old2, new2 float64
		for i := range sp {
			old2 += s[i] * s[i]
			if i < k {
				sp[i] = s[0]
			}
			new2 += sp[i] * sp[i]
		}
		c := math.Sqrt(old2 / new2)
		var want mat.Dense
		us := mat.NewDense(rows, n, nil)
		for i := 0; i < rows; i++ {
			for j := 0; j < n; j++ {
				us.Set(i, j, u.At(i, j)*c*sp[j])
			}
		}
		want.Mul(us, v.T())

		got := append([]float32(nil), w...)
		if !CompensateSpectrum(got, rows, cols) {
			t.Fatalf("%dx%d: not compensated", rows, cols)
		}
		var maxErr, maxAbs float64
		for i := 0; i < rows; i++ {
			for j := 0; j < cols; j++ {
				maxErr = math.Max(maxErr, math.Abs(float64(got[i*cols+j])-want.At(i, j)))
				maxAbs = math.Max(maxAbs, math.Abs(want.At(i, j)))
			}
		}
		if maxErr > 1e-5*maxAbs {
			t.Errorf("%dx%d: max error %.3g (max |W| %.3g)", rows, cols, maxErr, maxAbs)
		}
		_, _, gs := svdOf(t, got, rows, cols)
		var got2 float64
		for i, x := range gs {
			got2 += x * x
			if i < k && math.Abs(x-gs[0]) > 1e-5*gs[0] {
				t.Errorf("%dx%d: singular value %d is %.6g, want the largest %.6g", rows, cols, i, x, gs[0])
			}
			if i >= k && math.Abs(x-c*s[i]) > 1e-5*gs[0] {
				t.Errorf("%dx%d: singular value %d is %.6g, want %.6g", rows, cols, i, x, c*s[i])
			}
		}
		if math.Abs(got2-old2) > 1e-5*old2 {
			t.Errorf("%dx%d: squared Frobenius norm %.6g, want %.6g", rows, cols, got2, old2)
		}
	}
}

// TestCompensateSpectrumNoop checks the cases with nothing to compensate: a single row
// or column (one singular value), a zero matrix, a wrong length. w must be untouched.
func TestCompensateSpectrumNoop(t *testing.T) {
	for _, c := range []struct {
		w          []float32
		rows, cols int
	}{
		{[]float32{1, 2, 3, 4}, 1, 4},
		{[]float32{1, 2, 3, 4}, 4, 1},
		{make([]float32, 6), 2, 3},
		{[]float32{1, 2, 3}, 2, 2},
	} {
		w := append([]float32(nil), c.w...)
		if CompensateSpectrum(w, c.rows, c.cols) {
			t.Errorf("%v (%dx%d): reported a change", c.w, c.rows, c.cols)
		}
		for i := range w {
			if w[i] != c.w[i] {
				t.Errorf("%v (%dx%d): changed to %v", c.w, c.rows, c.cols, w)
				break
			}
		}
	}
}

// TestCompensateSpectrumGolden compares with nn/testdata/spectral_reg.json, written by
// scripts/golden_specreg.py: the authors' SR step in PyTorch float64 (SVD, s / max(s),
// top half set to 1, recomposed), scaled to the input's Frobenius norm.
func TestCompensateSpectrumGolden(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "spectral_reg.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Rows, Cols int
		W, Out     []float64
	}
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatal("no cases")
	}
	for _, c := range cases {
		w := make([]float32, len(c.W))
		var maxAbs float64
		for i, x := range c.W {
			w[i] = float32(x)
		}
		for _, x := range c.Out {
			maxAbs = math.Max(maxAbs, math.Abs(x))
		}
		if !CompensateSpectrum(w, c.Rows, c.Cols) {
			t.Fatalf("%dx%d: not compensated", c.Rows, c.Cols)
		}
		for i, x := range c.Out {
			if d := math.Abs(float64(w[i]) - x); d > 1e-5*maxAbs {
				t.Fatalf("%dx%d: element %d is %.8g, PyTorch %.8g", c.Rows, c.Cols, i, w[i], x)
			}
		}
	}
}

// TestSpectralNormCompensate checks the layer method: after Compensate, the next
// training forward's sigma is WOrig's largest singular value (the power-iteration
// vectors stay in the widened top subspace), and the normalised weight has its top half
// of singular values at 1.
func TestSpectralNormCompensate(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	w := newParam("conv.weight", 8, 3, 2, 2)
	for i := range w.Data {
		w.Data[i] = float32(r.NormFloat64())
	}
	sn := NewSpectralNorm(w)
	sn.Init(r)
	for i := 0; i < 50; i++ { // converge u, v
		sn.Forward(true)
	}
	v0 := sn.Orig.Version
	if !sn.Compensate() {
		t.Fatal("not compensated")
	}
	if sn.Orig.Version == v0 {
		t.Error("WOrig's version not bumped")
	}
	sn.Forward(true)
	_, _, s := svdOf(t, sn.Orig.Data, 8, 12)
	if math.Abs(sn.Sigma-s[0]) > 1e-5*s[0] {
		t.Errorf("sigma %.7g after compensation, largest singular value %.7g", sn.Sigma, s[0])
	}
	_, _, sw := svdOf(t, sn.W.Data, 8, 12)
	for i := 0; i < 4; i++ {
		if math.Abs(sw[i]-1) > 1e-5 {
			t.Errorf("normalised weight's singular value %d is %.7g, want 1", i, sw[i])
		}
	}
}

// BenchmarkCompensateSpectrum times one compensation of the largest weight of the
// reference discriminator (conv3: 512 x 256*5*5); training runs it every
// Config.SpectralReg D updates for each of D's convolutions.
func BenchmarkCompensateSpectrum(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	w := make([]float32, 512*6400)
	for i := range w {
		w[i] = float32(r.NormFloat64() * 0.02)
	}
	for b.Loop() {
		CompensateSpectrum(w, 512, 6400)
	}
}
