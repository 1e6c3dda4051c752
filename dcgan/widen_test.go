package dcgan

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"avatargan/internal/testutil"
	"avatargan/nn"
)

// trainedLike returns a generator of width gf whose weights and BatchNorm entries are
// all non-trivial (random gammas, betas and running statistics, non-zero biases), so
// that a copy that misplaces any of them changes the images.
func trainedLike(size, zdim, gf int, r *rand.Rand) *Generator {
	g := NewGenerator(size, zdim, gf)
	g.Init(r)
	for _, p := range g.Params() {
		if strings.HasSuffix(p.Name, "bias") || strings.HasSuffix(p.Name, "running_mean") {
			for i := range p.Data {
				p.Data[i] = float32(0.1 * r.NormFloat64())
			}
		}
		if strings.HasPrefix(p.Name, "bn") && (strings.HasSuffix(p.Name, "weight") || strings.HasSuffix(p.Name, "running_var")) {
			for i := range p.Data {
				p.Data[i] = float32(0.5 + r.Float64())
			}
		}
	}
	nn.Touch(g.Params())
	return g
}

// TestWiden checks that a widened generator draws the same images as its source, with
// batch statistics (training mode, also checking the running statistics it then
// updates) and with running statistics (inference), while its new channels are live:
// they have non-zero activations and their outgoing weights get gradients.
func TestWiden(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const size, zdim, n = 32, 10, 6
	src := trainedLike(size, zdim, 4, r)
	dst := NewGenerator(size, zdim, 6)
	if err := Widen(dst, src, rand.New(rand.NewPCG(3, 4))); err != nil {
		t.Fatal(err)
	}
	z := make([]float32, n*zdim)
	for i := range z {
		z[i] = float32(2*r.Float64() - 1)
	}
	for _, train := range []bool{false, true} {
		want := testutil.Float64s(src.Forward(z, n, train))
		testutil.AllClose(t, fmt.Sprintf("train=%v: widened images", train), dst.Forward(z, n, train), want, 1e-5, 0)
	}
	for i := range src.BN {
		old := src.BN[i].C
		testutil.AllClose(t, fmt.Sprintf("bn%d: old channels' running mean", i), dst.BN[i].RunningMean.Data[:old], testutil.Float64s(src.BN[i].RunningMean.Data), 1e-6, 0)
		testutil.AllClose(t, fmt.Sprintf("bn%d: old channels' running var", i), dst.BN[i].RunningVar.Data[:old], testutil.Float64s(src.BN[i].RunningVar.Data), 1e-6, 0)
	}

	dimg := make([]float32, n*3*size*size)
	for i := range dimg {
		dimg[i] = float32(r.NormFloat64())
	}
	dst.ZeroGrad()
	dst.Forward(z, n, true)
	dst.Backward(dimg)
	last := dst.Deconv[3]
	kk := last.K * last.K
	var newGrad float64
	for ic := src.GF; ic < dst.GF; ic++ {
		for _, v := range last.Weight.Grad[ic*last.OutC*kk:][:last.OutC*kk] {
			newGrad += math.Abs(float64(v))
		}
	}
	if newGrad == 0 {
		t.Error("the new channels' outgoing weights get no gradient: they would never grow in")
	}
}

// TestWidenErrors checks that Widen refuses a narrower target and another shape.
func TestWidenErrors(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	src := NewGenerator(32, 10, 4)
	for _, dst := range []*Generator{NewGenerator(32, 10, 2), NewGenerator(16, 10, 8), NewGenerator(32, 12, 8)} {
		if err := Widen(dst, src, r); err == nil {
			t.Errorf("widened a %d px, z %d, width %d generator from %d px, z %d, width %d", dst.Size, dst.ZDim, dst.GF, src.Size, src.ZDim, src.GF)
		}
	}
}
