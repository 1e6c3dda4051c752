package dcgan

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
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

// TestWidenErrors checks that Widen refuses a narrower target, another shape, and
// generators with a refinement head on either side (widen first, then add the head).
func TestWidenErrors(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	src := NewGenerator(32, 10, 4)
	for _, c := range []struct {
		dst, src *Generator
		want     string
	}{
		{NewGenerator(32, 10, 2), src, "narrower"},
		{NewGenerator(16, 10, 8), src, "16 px"},
		{NewGenerator(32, 12, 8), src, "z 12"},
		{NewGeneratorRefine(32, 10, 8, 3), src, "refinement head"},
		{NewGenerator(32, 10, 8), NewGeneratorRefine(32, 10, 4, 3), "refinement head"},
		{NewGeneratorRefine(32, 10, 8, 3), NewGeneratorRefine(32, 10, 4, 3), "refinement head"},
	} {
		if err := Widen(c.dst, c.src, r); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("widen a %d px, z %d, width %d, refine %d generator from %d px, z %d, width %d, refine %d: %v, want an error mentioning %q",
				c.dst.Size, c.dst.ZDim, c.dst.GF, c.dst.Refine, c.src.Size, c.src.ZDim, c.src.GF, c.src.Refine, err, c.want)
		}
	}
}

// TestAddRefine checks that a generator given a refinement head by AddRefine draws its
// source's images exactly (eval mode, and train mode with the same batch statistics and
// running-statistics updates), holds every tensor of the source under the same name,
// keeps its own fresh init in the head except the last convolution, which is zero,
// and that the head is live: its last convolution gets gradients at once, while the
// source's layers get the source's own gradients (the head adds nothing yet).
func TestAddRefine(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const size, zdim, gf, refine, n = 32, 10, 4, 3, 6
	src := trainedLike(size, zdim, gf, r)
	src.BN[2].NumBatchesTracked = 7
	dst := NewGeneratorRefine(size, zdim, gf, refine)
	dst.Init(rand.New(rand.NewPCG(7, 8)))
	initDeconv := append([]float32(nil), dst.RefineDeconv.Weight.Data...)
	if err := AddRefine(dst, src); err != nil {
		t.Fatal(err)
	}
	from := map[string]nn.NamedTensor{}
	for _, x := range src.Tensors() {
		from[x.Name] = x
	}
	for _, x := range dst.Tensors() {
		f, ok := from[x.Name]
		switch {
		case !ok:
			continue
		case x.Count != nil:
			if *x.Count != *f.Count {
				t.Errorf("%s = %d, the source has %d", x.Name, *x.Count, *f.Count)
			}
		case !slices.Equal(x.Data, f.Data):
			t.Errorf("%s differs from the source's", x.Name)
		}
		delete(from, x.Name)
	}
	if len(from) != 0 {
		t.Errorf("the source's tensors %v are not in the generator with a head", slices.Sorted(maps.Keys(from)))
	}
	if maxAbs(testutil.Float64s(dst.RefineConv.Weight.Data)) != 0 || maxAbs(testutil.Float64s(dst.RefineConv.Bias.Data)) != 0 {
		t.Error("refine_conv is not zero: the head changes the images")
	}
	if !slices.Equal(dst.RefineDeconv.Weight.Data, initDeconv) || maxAbs(testutil.Float64s(initDeconv)) == 0 {
		t.Error("refine_deconv does not keep its fresh (non-zero) init")
	}

	z := randZ(r, n*zdim)
	for _, train := range []bool{false, true} {
		want := append([]float32(nil), src.Forward(z, n, train)...)
		got := dst.Forward(z, n, train)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("train=%v: image value %d is %v with the head, %v without", train, i, got[i], want[i])
			}
		}
	}
	for i := range src.BN {
		if !slices.Equal(dst.BN[i].RunningMean.Data, src.BN[i].RunningMean.Data) || !slices.Equal(dst.BN[i].RunningVar.Data, src.BN[i].RunningVar.Data) {
			t.Errorf("bn%d: running statistics after a training-mode pass differ from the source's", i)
		}
	}

	dimg := randZ(r, n*3*size*size)
	for _, g := range []*Generator{src, dst} {
		g.ZeroGrad()
		g.Forward(z, n, true)
		g.Backward(dimg)
	}
	if maxAbs(testutil.Float64s(dst.RefineConv.Weight.Grad)) == 0 {
		t.Error("refine_conv's weights get no gradient: the head would never grow in")
	}
	for i, p := range src.Params() {
		if !p.Buffer && !slices.Equal(dst.Params()[i].Grad, p.Grad) {
			t.Errorf("%s: gradient differs from the source's while the head is zero", p.Name)
		}
	}
}

// TestAddRefineErrors checks that AddRefine refuses a destination without a head, a
// source with one, and shapes that differ, and leaves the destination untouched then.
func TestAddRefineErrors(t *testing.T) {
	src := trainedLike(32, 10, 4, rand.New(rand.NewPCG(1, 2)))
	for _, c := range []struct{ dst, src *Generator }{
		{NewGenerator(32, 10, 4), src},
		{NewGeneratorRefine(32, 10, 4, 3), NewGeneratorRefine(32, 10, 4, 3)},
		{NewGeneratorRefine(32, 10, 4, 3), NewGeneratorRefine(32, 10, 4, 2)},
		{NewGeneratorRefine(16, 10, 4, 3), src},
		{NewGeneratorRefine(32, 12, 4, 3), src},
		{NewGeneratorRefine(32, 10, 6, 3), src},
		{NewGeneratorRefine(32, 10, 2, 3), src},
	} {
		c.dst.Init(rand.New(rand.NewPCG(3, 4)))
		before := snapshot(c.dst.Tensors())
		err := AddRefine(c.dst, c.src)
		if err == nil || !strings.Contains(err.Error(), "add refine") {
			t.Errorf("AddRefine to %d px, z %d, gf %d, refine %d from %d px, z %d, gf %d, refine %d: %v, want a refusal",
				c.dst.Size, c.dst.ZDim, c.dst.GF, c.dst.Refine, c.src.Size, c.src.ZDim, c.src.GF, c.src.Refine, err)
		}
		if !equalSnap(before, snapshot(c.dst.Tensors())) {
			t.Errorf("a refused AddRefine to refine %d from refine %d changed the destination", c.dst.Refine, c.src.Refine)
		}
	}
}
