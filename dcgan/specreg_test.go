package dcgan

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"avatargan/nn"
	"gonum.org/v1/gonum/mat"
)

// singularValues returns the singular values of p's data viewed as a
// [shape[0] x rest] matrix, largest first.
func singularValues(t *testing.T, p *nn.Param) []float64 {
	t.Helper()
	rows := p.Shape[0]
	cols := len(p.Data) / rows
	a := mat.NewDense(rows, cols, nil)
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			a.Set(i, j, float64(p.Data[i*cols+j]))
		}
	}
	var svd mat.SVD
	if !svd.Factorize(a, mat.SVDNone) {
		t.Fatal("SVD failed")
	}
	return svd.Values(nil)
}

// TestSpectralReg checks Config.SpectralReg in the trainer: with 2, D's weights are
// compensated after D updates 2, 4, ... only (after update 1 they equal those of a
// trainer without it), each compensated weight is exactly nn.CompensateSpectrum of what
// the same update gives without the option, and its top half of singular values are
// equal. Without spectral norm, or negative, the option is refused; recipes reset it.
func TestSpectralReg(t *testing.T) {
	c, err := Recipe("sngan", tinyConfig())
	if err != nil {
		t.Fatal(err)
	}
	c.DF = 8 // conv0 8 x 75, conv1 16 x 200, ...: several singular values per layer
	sr := c
	sr.SpectralReg = 2
	a, err := NewTrainer(sr)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 8))
	for step := 1; step <= 4; step++ {
		// b: a copy of a's state before this step, without the option.
		b, err := NewTrainer(c)
		if err != nil {
			t.Fatal(err)
		}
		dsts := b.Tensors()
		for i, src := range a.Tensors() {
			dst := dsts[i]
			copy(dst.Data, src.Data)
			if src.Count != nil {
				*dst.Count = *src.Count // Adam's step counters
			}
		}
		nn.Touch(b.D.Params())
		nn.Touch(b.G.Params())
		real, z := randZ(r, 4*3*16*16), randZ(r, 4*8)
		if _, err := a.Step(real, z); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Step(real, z); err != nil {
			t.Fatal(err)
		}
		for k, sn := range a.D.SN[:4] {
			got, plain := sn.Orig, b.D.SN[k].Orig
			want := slices.Clone(plain.Data)
			if step%2 == 0 {
				if !nn.CompensateSpectrum(want, plain.Shape[0], len(want)/plain.Shape[0]) {
					t.Fatalf("step %d conv%d: nothing to compensate", step, k)
				}
			}
			if !slices.Equal(got.Data, want) {
				t.Errorf("step %d conv%d: weight_orig differs from the expected (compensated %v)", step, k, step%2 == 0)
			}
			s := singularValues(t, got)
			flat := math.Abs(s[len(s)/2-1]-s[0]) <= 1e-4*s[0]
			if flat != (step%2 == 0) {
				t.Errorf("step %d conv%d: top half of the spectrum flat %v (%.5g .. %.5g)", step, k, flat, s[0], s[len(s)/2-1])
			}
		}
	}

	bad := c
	bad.SpectralReg = -1
	if bad.Validate() == nil {
		t.Error("spectral_reg -1 accepted")
	}
	bad = tinyConfig() // the original: no spectral norm
	bad.SpectralReg = 5
	if bad.Validate() == nil {
		t.Error("spectral_reg without spectral norm accepted")
	}
	if got, _ := Recipe("sngan", sr); got.SpectralReg != 0 {
		t.Errorf("recipe kept spectral_reg %d", got.SpectralReg)
	}
}
