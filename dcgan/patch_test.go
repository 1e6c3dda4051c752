package dcgan

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"avatargan/nn"
)

// TestPatchLossInGLoss checks Config.PatchLoss in the trainer, with its bands and with
// Config.PatchLowPass: G's gradient with the loss on is the adversarial gradient (a
// trainer without it, same state) plus the weighted patch loss gradient, with the draw
// of (seed, iteration, G step) and the same LowPass, through G alone; a Step reports
// the loss; bad weights and PatchLowPass without the loss are refused and a recipe
// resets both.
func TestPatchLossInGLoss(t *testing.T) {
	for _, low := range []bool{false, true} {
		t.Run(fmt.Sprintf("lowpass=%v", low), func(t *testing.T) { testPatchLossInGLoss(t, low) })
	}
}

func testPatchLossInGLoss(t *testing.T, lowPass bool) {
	c, err := Recipe("sngan-da", tinyConfig())
	if err != nil {
		t.Fatal(err)
	}
	const lambda = 0.3
	on := c
	on.PatchLoss, on.PatchLowPass = lambda, lowPass
	ta, err := NewTrainer(on)
	if err != nil {
		t.Fatal(err)
	}
	tb, err := NewTrainer(c)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(23, 24))
	n, size := 4, c.Size
	real, z := randZ(r, n*3*size*size), randZ(r, n*c.ZDim)
	realC := make([]float32, len(real))
	nn.NCHWToCNHW(realC, real, n, 3, size*size)
	ta.realC = realC
	_, _, pl := ta.generatorGrads(z, n, 1)
	tb.generatorGrads(z, n, 1)
	ga, gb := genGrads(ta.G), genGrads(tb.G)
	// The patch loss's part alone, through tb's G, with the draw the trainer makes for
	// G step 1 of iteration 0.
	s, err := nn.NewPatchSWD(size, size)
	if err != nil {
		t.Fatal(err)
	}
	s.LowPass = lowPass
	s.Draw(rand.New(rand.NewPCG(c.Seed^0x8c6d2b1e4f3a5970, 0<<8|1)), n, n)
	s.SetTarget(realC, n)
	fake := tb.G.forwardCNHW(z, n, true)
	if l := s.Forward(fake, n); l <= 0 || l != pl {
		t.Fatalf("patch loss %v, the trainer's %v: want the same, above 0", l, pl)
	}
	dx := make([]float32, len(fake))
	s.Backward(dx, lambda)
	checkAddedLoss(t, "patch", tb.G, ga, gb, dx)

	st, err := ta.Step(real, z)
	if err != nil {
		t.Fatal(err)
	}
	if !(st.Patch > 0) {
		t.Errorf("Step reported patch loss %v", st.Patch)
	}
	if st, _ := tb.Step(real, z); st.Patch != 0 {
		t.Errorf("Step without the loss reported %v", st.Patch)
	}
	for _, bad := range []float64{-1, math.NaN(), math.Inf(1)} {
		b := c
		b.PatchLoss = bad
		if b.Validate() == nil {
			t.Errorf("Validate accepted PatchLoss %v", bad)
		}
	}
	if rc, _ := Recipe("sngan", on); rc.PatchLoss != 0 || rc.PatchLowPass {
		t.Errorf("Recipe kept PatchLoss %v, PatchLowPass %v", rc.PatchLoss, rc.PatchLowPass)
	}
	b := c
	b.PatchLowPass = true
	if err := b.Validate(); err == nil || !strings.Contains(err.Error(), "patch_loss") {
		t.Errorf("Validate of PatchLowPass without PatchLoss: %v", err)
	}
}

// genGrads returns G's param grads, concatenated.
func genGrads(g *Generator) []float32 {
	var out []float32
	for _, p := range g.Params() {
		out = append(out, p.Grad...)
	}
	return out
}

// checkAddedLoss checks that the trainer's G gradient with an extra loss on (with) is
// the one without it (without) plus that loss's part backpropagated alone through G
// with the weight applied (dx), within 1e-4 of the largest, and that the part is not
// negligible (at least 1e-2 of the largest), so the check could fail.
func checkAddedLoss(t *testing.T, name string, tb *Generator, with, without, dx []float32) {
	t.Helper()
	tb.ZeroGrad()
	tb.backwardCNHW(dx)
	part := genGrads(tb)
	var worst, scale, big float64
	for i := range with {
		want := float64(without[i]) + float64(part[i])
		worst = math.Max(worst, math.Abs(float64(with[i])-want))
		scale = math.Max(scale, math.Abs(want))
		big = math.Max(big, math.Abs(float64(part[i])))
	}
	if worst > 1e-4*scale || big < 1e-2*scale {
		t.Errorf("G's gradient: max error %.3g against adversarial + %s (scale %.3g, %s part %.3g)", worst, name, scale, name, big)
	}
}
