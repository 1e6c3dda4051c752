package dcgan

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"avatargan/nn"
)

// TestSpectrumLossInGLoss checks Config.SpectrumLoss in the trainer, with and without
// Config.SpectrumWindow: G's gradient with the loss on is the adversarial gradient (a
// trainer without it, same state) plus the weighted spectrum loss gradient (the same
// window) backpropagated through G alone; a Step reports the loss; bad weights and the
// window without the loss are refused and a recipe resets both.
func TestSpectrumLossInGLoss(t *testing.T) {
	for _, win := range []bool{false, true} {
		t.Run(fmt.Sprintf("window=%v", win), func(t *testing.T) { testSpectrumLossInGLoss(t, win) })
	}
}

func testSpectrumLossInGLoss(t *testing.T, window bool) {
	c, err := Recipe("sngan-da", tinyConfig())
	if err != nil {
		t.Fatal(err)
	}
	const lambda = 0.7
	on := c
	on.SpectrumLoss, on.SpectrumWindow = lambda, window
	ta, err := NewTrainer(on)
	if err != nil {
		t.Fatal(err)
	}
	tb, err := NewTrainer(c)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(21, 22))
	n, size := 4, c.Size
	real, z := randZ(r, n*3*size*size), randZ(r, n*c.ZDim)
	realC := make([]float32, len(real))
	nn.NCHWToCNHW(realC, real, n, 3, size*size)
	ta.spec.SetTarget(realC, n)
	ta.generatorGrads(z, n, 0)
	tb.generatorGrads(z, n, 0)
	ga, gb := genGrads(ta.G), genGrads(tb.G)
	// The spectrum loss's part alone, through tb's G (unchanged by its G-gradient pass).
	s := nn.NewSpectrumLoss(size, size)
	s.Window = window
	s.SetTarget(realC, n)
	fake := tb.G.forwardCNHW(z, n, true)
	if l := s.Forward(fake, n); l <= 0 || l != ta.spec.Forward(fake, n) {
		t.Fatalf("spectrum loss %v, the trainer's %v: want the same, above 0", l, ta.spec.Forward(fake, n))
	}
	dx := make([]float32, len(fake))
	s.Backward(dx, lambda)
	checkAddedLoss(t, "spectrum", tb.G, ga, gb, dx)

	st, err := ta.Step(real, z)
	if err != nil {
		t.Fatal(err)
	}
	if !(st.Spectrum > 0) {
		t.Errorf("Step reported spectrum loss %v", st.Spectrum)
	}
	if st, _ := tb.Step(real, z); st.Spectrum != 0 {
		t.Errorf("Step without the loss reported %v", st.Spectrum)
	}
	for _, bad := range []float64{-1, math.NaN(), math.Inf(1)} {
		b := c
		b.SpectrumLoss = bad
		if b.Validate() == nil {
			t.Errorf("Validate accepted SpectrumLoss %v", bad)
		}
	}
	if rc, _ := Recipe("sngan", on); rc.SpectrumLoss != 0 || rc.SpectrumWindow {
		t.Errorf("Recipe kept SpectrumLoss %v, SpectrumWindow %v", rc.SpectrumLoss, rc.SpectrumWindow)
	}
	b := c
	b.SpectrumWindow = true
	if err := b.Validate(); err == nil || !strings.Contains(err.Error(), "spectrum_loss") {
		t.Errorf("Validate of SpectrumWindow without SpectrumLoss: %v", err)
	}
}
