package dcgan

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"avatargan/internal/testutil"
	"avatargan/nn"
)

// newR1Tiny returns the spectral-normed, BatchNorm-free D of testdata/r1_tiny.json
// with its state loaded, and its batch x in CNHW.
func newR1Tiny(t *testing.T) (*Discriminator, []float32, map[string]goldenTensor) {
	t.Helper()
	g := testutil.LoadGolden(t, "testdata/r1_tiny.json")
	d := NewDiscriminatorWith(16, 4, DOptions{SpectralNorm: true, Norm: DNoNorm})
	load(t, g, "D.", d.Tensors())
	x := make([]float32, 4*3*16*16)
	nn.NCHWToCNHW(x, f32(g["x"].Data), 4, 3, 16*16)
	return d, x, g
}

// r1Penalty is gamma/2 * mean |dD(x_i)/dx_i|^2 from D's first-order passes alone: the
// quantity r1Grads differentiates.
func r1Penalty(d *Discriminator, x []float32, n int, gamma float64) float64 {
	_, ss := d.inputGrads(x, n)
	return gamma / 2 * ss / float64(n)
}

// TestR1Golden checks the R1 penalty and its exact gradient (every weight_orig and
// bias of a spectral-normed D) against PyTorch float64 double backprop
// (scripts/golden_recipe.py), and that the pass leaves spectral norm's u and v alone
// (eval mode).
func TestR1Golden(t *testing.T) {
	d, x, g := newR1Tiny(t)
	u0 := slices.Clone(d.SN[2].U.Data)
	d.ZeroGrad()
	pen := d.r1Grads(x, 4, 0.7)
	checkClose(t, "penalty", []float32{float32(pen)}, g["penalty"].Data, 1e-5)
	n := 0
	for _, p := range d.Params() {
		if p.Buffer {
			continue
		}
		n++
		want := g["grad."+p.Name].Data
		if len(want) != len(p.Grad) {
			t.Fatalf("grad.%s: %d values, want %d", p.Name, len(p.Grad), len(want))
		}
		// Relative to the tensor's largest gradient: single entries near zero carry
		// float32 cancellation from sums of O(1) terms.
		var scale float64
		for _, w := range want {
			scale = max(scale, math.Abs(w))
		}
		for i, w := range want {
			if diff := math.Abs(float64(p.Grad[i]) - w); diff > 1e-9+2e-4*scale {
				t.Errorf("grad.%s[%d] = %g, want %g", p.Name, i, p.Grad[i], w)
				break
			}
		}
	}
	if n != 10 {
		t.Fatalf("checked %d params, want 5 weight_orig and 5 biases", n)
	}
	if !slices.Equal(u0, d.SN[2].U.Data) {
		t.Error("R1 pass moved spectral norm's u: it must run in eval mode")
	}
}

// TestR1FiniteDifferences checks r1Grads against central differences of the penalty
// itself (computed from D's first-order backward), independently of PyTorch, on
// entries of every layer's weight_orig and bias.
func TestR1FiniteDifferences(t *testing.T) {
	d, x, _ := newR1Tiny(t)
	const gamma = 1.3
	d.ZeroGrad()
	d.r1Grads(x, 4, gamma)
	grads := map[*nn.Param][]float32{}
	for _, p := range d.Params() {
		grads[p] = slices.Clone(p.Grad)
	}
	r := rand.New(rand.NewPCG(5, 6))
	checked := 0
	for _, p := range d.Params() {
		if p.Buffer {
			continue
		}
		for k := 0; k < 4; k++ {
			i := r.IntN(len(p.Data))
			num := centralDiff(p, i, 1e-3, func() float64 { return r1Penalty(d, x, 4, gamma) })
			got := float64(grads[p][i])
			if math.Abs(got-num) > 2e-3+3e-2*math.Abs(num) {
				t.Errorf("%s[%d]: r1Grads %g, finite differences %g", p.Name, i, got, num)
			}
			checked++
		}
	}
	if checked != 40 {
		t.Fatalf("checked %d entries", checked)
	}
}

// TestR1Schedule checks that Step takes the penalty on every R1Every-th D step only
// (StepStats.R1 non-zero exactly then), that the penalty changes D's update, and the
// configuration refusals.
func TestR1Schedule(t *testing.T) {
	c, err := Recipe("sngan", tinyConfig())
	if err != nil {
		t.Fatal(err)
	}
	withR1 := c
	withR1.R1, withR1.R1Every = 0.5, 2
	a, err := NewTrainer(withR1)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewTrainer(c)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for step := 1; step <= 4; step++ {
		real, z := randZ(r, 4*3*16*16), randZ(r, 4*8)
		sa, err := a.Step(real, z)
		if err != nil {
			t.Fatal(err)
		}
		sb, err := b.Step(real, z)
		if err != nil {
			t.Fatal(err)
		}
		if due := step%2 == 0; (sa.R1 > 0) != due {
			t.Errorf("step %d: R1 %g, due %v", step, sa.R1, due)
		}
		if sb.R1 != 0 {
			t.Errorf("step %d: R1 %g without the option", step, sb.R1)
		}
		same := slices.Equal(a.D.FC.Bias.Data, b.D.FC.Bias.Data) && slices.Equal(a.D.SN[0].Orig.Data, b.D.SN[0].Orig.Data)
		if step == 1 && !same {
			t.Error("step 1 (no penalty due) changed D")
		}
		if step == 2 && same {
			t.Error("step 2: the penalty did not change D's weights")
		}
	}
	for _, bad := range []func(*Config){
		func(c *Config) { c.R1 = -1 },
		func(c *Config) { c.R1 = math.NaN() },
		func(c *Config) { c.R1 = math.Inf(1) },
		func(c *Config) { c.R1Every = -1 },
		func(c *Config) { c.DNorm = DBatchNorm; c.R1 = 1 },
	} {
		x := withR1
		bad(&x)
		if x.Validate() == nil {
			t.Errorf("Validate accepted %+v", x)
		}
	}
}

// centralDiff returns (loss(w+h) - loss(w-h)) / 2h for entry i of p, restoring it after;
// Touch after each change invalidates the layers' cached weight layouts.
func centralDiff(p *nn.Param, i int, h float32, loss func() float64) float64 {
	old := p.Data[i]
	p.Data[i] = old + h
	nn.Touch([]*nn.Param{p})
	up := loss()
	p.Data[i] = old - h
	nn.Touch([]*nn.Param{p})
	down := loss()
	p.Data[i] = old
	nn.Touch([]*nn.Param{p})
	return (up - down) / (2 * float64(h))
}
