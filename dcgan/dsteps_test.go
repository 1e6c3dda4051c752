package dcgan

import (
	"math/rand/v2"
	"slices"
	"testing"

	"avatargan/nn"
)

// trainable copies the values of the trainable parameters ps.
func trainable(ps []*nn.Param) [][]float32 {
	var out [][]float32
	for _, p := range nn.Trainable(ps) {
		out = append(out, slices.Clone(p.Data))
	}
	return out
}

// checkGMoved fails unless G's trainable weights and tr's EMA moved since g and ema
// were taken exactly when due (the iteration took G steps), and returns their values
// now for the next iteration's check.
func checkGMoved(t *testing.T, step int, tr *Trainer, g, ema [][]float32, due bool) ([][]float32, [][]float32) {
	t.Helper()
	gNow, emaNow := trainable(tr.G.Params()), snapshot(tr.EMA.Tensors())
	if moved := !equalSnap(g, gNow); moved != due {
		t.Errorf("step %d: G moved %v, want %v", step, moved, due)
	}
	if moved := !equalSnap(ema, emaNow); moved != due {
		t.Errorf("step %d: EMA moved %v, want %v", step, moved, due)
	}
	return gNow, emaNow
}

// TestDSteps checks the DSteps schedule: with DSteps 3, iterations 1 and 2 take only
// their D step (G, G's Adam state and the EMA untouched, no G loss reported) and
// iteration 3 takes GSteps G steps; the first D step is the same as with DSteps 1 (the
// schedule changes nothing before G's first update); bad values are refused.
func TestDSteps(t *testing.T) {
	c, err := Recipe("sngan", tinyConfig())
	if err != nil {
		t.Fatal(err)
	}
	c.GSteps = 2
	three := c
	three.DSteps = 3
	a, err := NewTrainer(three)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewTrainer(c)
	if err != nil {
		t.Fatal(err)
	}
	a.EMA = NewEMA(a.G, 0.9)
	// G's trainable weights (its BatchNorm running statistics move in every training
	// forward, the D step's included) and their average.
	g, ema := trainable(a.G.Params()), snapshot(a.EMA.Tensors())
	r := rand.New(rand.NewPCG(3, 4))
	for step := 1; step <= 6; step++ {
		real, z := randZ(r, 4*3*16*16), randZ(r, 4*8)
		sa, err := a.Step(real, z)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Step(real, z); err != nil {
			t.Fatal(err)
		}
		due := step%3 == 0
		if sa.GStepped != due || (len(sa.Losses) == 3) != due || (sa.LossG != 0) != due {
			t.Errorf("step %d: GStepped %v, losses %v, LossG %v; want G steps %v", step, sa.GStepped, sa.Losses, sa.LossG, due)
		}
		if want := int64(step / 3 * c.GSteps); a.OptG.T != want || a.OptD.T != int64(step) {
			t.Errorf("step %d: %d G and %d D Adam steps, want %d and %d", step, a.OptG.T, a.OptD.T, want, step)
		}
		// D's weights, not its spectral-norm vectors: b's G steps run D forwards too.
		if step == 1 && !equalSnap(trainable(b.D.Params()), trainable(a.D.Params())) {
			t.Error("step 1: D differs from the DSteps 1 trainer's")
		}
		g, ema = checkGMoved(t, step, a, g, ema, due)
	}
	bad := three
	bad.DSteps = -1
	if bad.Validate() == nil {
		t.Error("Validate accepted DSteps -1")
	}
}

// TestDWarmup checks the D-only warm-up: with DWarmup 3 and DSteps 2, iterations 1..3
// take only their D step (G and the EMA untouched), after which G steps follow the
// DSteps rhythm counted from the warm-up's end (iterations 5 and 7); a negative
// warm-up is refused.
func TestDWarmup(t *testing.T) {
	c, err := Recipe("sngan", tinyConfig())
	if err != nil {
		t.Fatal(err)
	}
	c.DWarmup, c.DSteps = 3, 2
	a, err := NewTrainer(c)
	if err != nil {
		t.Fatal(err)
	}
	a.EMA = NewEMA(a.G, 0.9)
	g, ema := trainable(a.G.Params()), snapshot(a.EMA.Tensors())
	r := rand.New(rand.NewPCG(5, 6))
	for step := 1; step <= 7; step++ {
		real, z := randZ(r, 4*3*16*16), randZ(r, 4*8)
		st, err := a.Step(real, z)
		if err != nil {
			t.Fatal(err)
		}
		due := step == 5 || step == 7
		if st.GStepped != due {
			t.Errorf("step %d: GStepped %v, want %v", step, st.GStepped, due)
		}
		g, ema = checkGMoved(t, step, a, g, ema, due)
	}
	if a.OptG.T != int64(2*c.GSteps) {
		t.Errorf("%d G Adam steps after 7 iterations, want %d", a.OptG.T, 2*c.GSteps)
	}
	bad := c
	bad.DWarmup = -1
	if bad.Validate() == nil {
		t.Error("Validate accepted DWarmup -1")
	}
}
