package dcgan

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"avatargan/internal/testutil"
	"avatargan/nn"
)

// refineTiny loads testdata/refine_tiny.json (scripts/golden_refine.py: PyTorch float64,
// the Generator of python/avatargan_torch with refine=3) into a fresh
// NewGeneratorRefine(16, 8, 4, 3). The loading also checks the state_dict names: a
// missing or extra name fails.
func refineTiny(t *testing.T) (*Generator, map[string]goldenTensor) {
	t.Helper()
	g := testutil.LoadGolden(t, "testdata/refine_tiny.json")
	gen := NewGeneratorRefine(16, 8, 4, 3)
	load(t, g, "G.", gen.Tensors())
	return gen, g
}

// maxDev returns the largest |got - want| and the largest |want|, for the log.
func maxDev(got []float32, want []float64) (dev, scale float64) {
	for i, w := range want {
		dev = math.Max(dev, math.Abs(float64(got[i])-w))
		scale = math.Max(scale, math.Abs(w))
	}
	return dev, scale
}

// TestRefineTinyGolden checks the generator with a refinement head against PyTorch
// float64 (scripts/golden_refine.py), on a tiny net whose every tensor, the head's
// included, is random and nonzero: the training-mode images, the gradients of
// sum(img*gimg) for every trainable param (so the head's backward and its gradient
// into bn3 added to deconv4's), the BatchNorm running statistics and counts after
// the forward (refine_bn's among them), and the eval-mode images after it.
func TestRefineTinyGolden(t *testing.T) {
	gen, g := refineTiny(t)
	z := f32(g["z"].Data)
	img := gen.Forward(z, 4, true)
	// The pre-tanh sums reach ~10 here (weights of 0.2): float32 rounding leaves ~1e-6
	// absolute on every pixel, so the near-zero ones need an absolute tolerance.
	testutil.AllClose(t, "img", img, g["img"].Data, 1e-5, 1e-4)
	dev, scale := maxDev(img, g["img"].Data)
	t.Logf("img: max |avatargan - PyTorch| %.3g (values up to %.3g)", dev, scale)

	gen.ZeroGrad()
	gen.Backward(f32(g["gimg"].Data))
	checkGrads(t, g, "grad.", gen.Params())
	worst := 0.0
	for _, p := range gen.Params() {
		if p.Buffer {
			continue
		}
		if want := g["grad."+p.Name].Data; !zeroGrad(want) {
			dev, scale := maxDev(p.Grad, want)
			worst = math.Max(worst, dev/scale)
		}
	}
	// checkGrads' absolute part is on the network's scale (fc's gradients, ~400 here);
	// each tensor must also be close on its own scale (measured ~1e-6).
	if worst > 1e-5 {
		t.Errorf("gradients: a tensor's max|avatargan - PyTorch| is %.3g of its largest value, want <= 1e-5", worst)
	}
	t.Logf("gradients: largest max|avatargan - PyTorch| / max|PyTorch| of a tensor %.3g", worst)
	for _, name := range []string{"fc.weight", "refine_deconv.weight", "refine_bn.weight", "refine_bn.bias", "refine_conv.weight", "refine_conv.bias"} {
		if maxAbs(g["grad."+name].Data) == 0 {
			t.Fatalf("golden grad.%s is zero: the golden file checks nothing there", name)
		}
	}

	stats := 0.0
	for _, x := range gen.Tensors() {
		want, ok := g["after."+x.Name]
		if !ok {
			continue
		}
		if x.Count != nil {
			if float64(*x.Count) != want.Data[0] {
				t.Errorf("%s = %d, want %v", x.Name, *x.Count, want.Data[0])
			}
			continue
		}
		testutil.AllClose(t, "after."+x.Name, x.Data, want.Data, 1e-6, 1e-5)
		dev, _ := maxDev(x.Data, want.Data)
		stats = math.Max(stats, dev)
	}
	t.Logf("running statistics: max |avatargan - PyTorch| %.3g", stats)
	for _, name := range []string{"bn3.running_mean", "bn3.running_var", "refine_bn.running_mean", "refine_bn.running_var", "refine_bn.num_batches_tracked"} {
		if _, ok := g["after."+name]; !ok {
			t.Errorf("golden has no after.%s", name)
		}
	}

	eval := gen.Forward(z, 4, false)
	testutil.AllClose(t, "img_eval", eval, g["img_eval"].Data, 1e-5, 1e-4)
	dev, scale = maxDev(eval, g["img_eval"].Data)
	t.Logf("img_eval: max |avatargan - PyTorch| %.3g (values up to %.3g)", dev, scale)
}

// TestRefineFiniteDifferences checks the generator's backward with a head against
// central differences of sum(img*gimg) (training mode, float32, step 1e-3),
// independently of PyTorch: entries of every head tensor, and of trunk tensors whose
// gradient arrives through both branches (bn3 and before). A step can carry a
// pre-ReLU value across zero (a kink: bn3.bias[0] has one within 1e-4, where even
// float64 differences need steps of 1e-5), so up to a tenth of the entries may miss;
// a wrong backward misses most.
func TestRefineFiniteDifferences(t *testing.T) {
	gen, g := refineTiny(t)
	z, gimg := f32(g["z"].Data), f32(g["gimg"].Data)
	loss := func() float64 {
		var s float64
		for i, v := range gen.Forward(z, 4, true) {
			s += float64(v) * float64(gimg[i])
		}
		return s
	}
	gen.ZeroGrad()
	gen.Forward(z, 4, true)
	gen.Backward(gimg)
	grads := map[string][]float32{}
	for _, p := range gen.Params() {
		grads[p.Name] = slices.Clone(p.Grad)
	}
	check := map[string]bool{
		"refine_deconv.weight": true, "refine_deconv.bias": true, "refine_bn.weight": true,
		"refine_bn.bias": true, "refine_conv.weight": true, "refine_conv.bias": true,
		"bn3.weight": true, "bn3.bias": true, "deconv3.weight": true, "fc.weight": true,
	}
	r := rand.New(rand.NewPCG(7, 8))
	checked, missed, worst := 0, 0, 0.0
	for _, p := range gen.Params() {
		if !check[p.Name] {
			continue
		}
		for k := 0; k < 4; k++ {
			i := r.IntN(len(p.Data))
			num := centralDiff(p, i, 1e-3, loss)
			got := float64(grads[p.Name][i])
			checked++
			if err := math.Abs(got - num); err > 2e-2+2e-2*math.Abs(num) {
				missed++
				t.Logf("%s[%d]: backward %g, finite differences %g", p.Name, i, got, num)
			} else {
				worst = math.Max(worst, err/(1+math.Abs(num)))
			}
		}
	}
	if checked != 4*len(check) {
		t.Fatalf("checked %d entries, want %d", checked, 4*len(check))
	}
	if missed > checked/10 {
		t.Errorf("%d of %d entries disagree with finite differences (at most %d kinks expected)", missed, checked, checked/10)
	}
	t.Logf("%d of %d entries agree; largest |backward - finite differences| / (1 + |fd|) among them: %.3g", checked-missed, checked, worst)
}

// TestRefineInitKeepsReferenceLayers checks that Init draws a head after the reference
// layers: from the same seed, a generator with a head starts with exactly the reference
// layers of one without (so --refine changes nothing else of a run's start), and the
// head's weights are drawn (nonzero), its biases zero and its BatchNorm fresh.
func TestRefineInitKeepsReferenceLayers(t *testing.T) {
	plain, head := NewGenerator(16, 8, 4), NewGeneratorRefine(16, 8, 4, 3)
	plain.Init(rand.New(rand.NewPCG(3, 4)))
	head.Init(rand.New(rand.NewPCG(3, 4)))
	ref := plain.Tensors()
	all := head.Tensors()
	if len(all) != len(ref)+9 {
		t.Fatalf("%d tensors with a head, %d without: want 9 more", len(all), len(ref))
	}
	for i, x := range ref {
		y := all[i]
		if x.Name != y.Name || (x.Count == nil) != (y.Count == nil) {
			t.Fatalf("tensor %d: %s without a head, %s with one", i, x.Name, y.Name)
		}
		if x.Count == nil && !slices.Equal(x.Data, y.Data) {
			t.Errorf("%s differs with a head", x.Name)
		}
	}
	for _, w := range []*nn.Param{head.RefineDeconv.Weight, head.RefineConv.Weight} {
		nonzero := 0
		for _, v := range w.Data {
			if v != 0 {
				nonzero++
			}
		}
		if nonzero < len(w.Data)*9/10 {
			t.Errorf("%s: %d of %d nonzero after Init", w.Name, nonzero, len(w.Data))
		}
		// The TF init: N(0, 0.02) truncated at 2 sigma.
		if m := maxAbs(testutil.Float64s(w.Data)); m > 2*InitStd || m == 0 {
			t.Errorf("%s: max |w| %.3g, want in (0, %g]", w.Name, m, 2*InitStd)
		}
	}
	if slices.Equal(head.RefineDeconv.Weight.Data, plain.Deconv[3].Weight.Data) {
		t.Error("refine_deconv's weights repeat deconv4's draw")
	}
	for _, p := range []*nn.Param{head.RefineDeconv.Bias, head.RefineBN.Bias, head.RefineBN.RunningMean, head.RefineConv.Bias} {
		if slices.ContainsFunc(p.Data, func(v float32) bool { return v != 0 }) {
			t.Errorf("%s: %v after Init, want zeros", p.Name, p.Data)
		}
	}
	for _, p := range []*nn.Param{head.RefineBN.Weight, head.RefineBN.RunningVar} {
		if slices.ContainsFunc(p.Data, func(v float32) bool { return v != 1 }) {
			t.Errorf("%s: %v after Init, want ones", p.Name, p.Data)
		}
	}
}

// TestRefineTensorNames pins the checkpoint layout of a generator with a head: the
// reference state_dict, then the head's tensors, with exactly these names, order and
// shapes, which are also those of the PyTorch twin's state_dict (the golden file's key
// order, written by Generator(16, 8, 4, refine=3).state_dict()).
func TestRefineTensorNames(t *testing.T) {
	bn := func(n string) []string {
		return []string{n + ".weight", n + ".bias", n + ".running_mean", n + ".running_var", n + ".num_batches_tracked"}
	}
	want := []string{"fc.weight", "fc.bias"}
	want = append(want, bn("bn0")...)
	for i := 1; i <= 3; i++ {
		want = append(want, "deconv"+string(rune('0'+i))+".weight", "deconv"+string(rune('0'+i))+".bias")
		want = append(want, bn("bn"+string(rune('0'+i)))...)
	}
	want = append(want, "deconv4.weight", "deconv4.bias", "refine_deconv.weight", "refine_deconv.bias")
	want = append(want, bn("refine_bn")...)
	want = append(want, "refine_conv.weight", "refine_conv.bias")

	gen := NewGeneratorRefine(16, 8, 4, 3)
	var got []string
	shapes := map[string][]int{}
	for _, x := range gen.Tensors() {
		got = append(got, x.Name)
		shapes[x.Name] = x.Shape
	}
	if !slices.Equal(got, want) {
		t.Errorf("tensors of a generator with a head:\n got  %v\n want %v", got, want)
	}
	for name, shape := range map[string][]int{
		"refine_deconv.weight": {4, 3, 5, 5}, "refine_deconv.bias": {3},
		"refine_bn.weight": {3}, "refine_bn.running_var": {3},
		"refine_conv.weight": {3, 3, 3, 3}, "refine_conv.bias": {3},
	} {
		if !slices.Equal(shapes[name], shape) {
			t.Errorf("%s: shape %v, want %v", name, shapes[name], shape)
		}
	}

	// PyTorch's order and shapes.
	g := testutil.LoadGolden(t, "testdata/refine_tiny.json")
	var torch []string
	for _, k := range goldenKeyOrderOf(t, "testdata/refine_tiny.json") {
		if len(k) > 2 && k[:2] == "G." {
			torch = append(torch, k[2:])
		}
	}
	if !slices.Equal(torch, want) {
		t.Errorf("PyTorch twin's state_dict:\n got  %v\n want %v", torch, want)
	}
	for _, x := range gen.Tensors() {
		if x.Count == nil && !slices.Equal(x.Shape, g["G."+x.Name].Shape) {
			t.Errorf("%s: shape %v, PyTorch %v", x.Name, x.Shape, g["G."+x.Name].Shape)
		}
	}

	// Params (the optimizer's list) follow the same order, less the counts.
	var params []string
	for _, p := range gen.Params() {
		params = append(params, p.Name)
	}
	wantParams := slices.DeleteFunc(slices.Clone(want), func(s string) bool { return len(s) > 19 && s[len(s)-19:] == "num_batches_tracked" })
	if !slices.Equal(params, wantParams) {
		t.Errorf("Params:\n got  %v\n want %v", params, wantParams)
	}
}
