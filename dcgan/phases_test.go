package dcgan

import (
	"math"
	"math/rand/v2"
	"testing"

	"avatargan/nn"
)

// balanced reports whether every kernel of the transposed convolution weight w (pairs
// kernels of 5 x 5, stride 2) has equal tap sums in its four stride phases.
func balanced(w []float32, pairs int) bool {
	for pair := 0; pair < pairs; pair++ {
		var sums [4]float64
		for ky := 0; ky < 5; ky++ {
			for kx := 0; kx < 5; kx++ {
				sums[(ky%2)*2+kx%2] += float64(w[pair*25+ky*5+kx])
			}
		}
		for _, v := range sums[1:] {
			if math.Abs(v-sums[0]) > 1e-5 {
				return false
			}
		}
	}
	return true
}

// TestPhaseBalance checks Config.PhaseBalance in the trainer: with 1, G's output layer
// (and, with a refinement head, the head's transposed convolution, which draws the full
// size from bn3's output as the output layer does) is balanced after every G update (its
// Adam steps unbalance it) while deconv3 is not; the EMA's BalancePhases balances the
// average; values outside 0..4 are refused.
func TestPhaseBalance(t *testing.T) {
	for _, refine := range []int{0, 3} {
		c, err := Recipe("sngan", tinyConfig())
		if err != nil {
			t.Fatal(err)
		}
		c.PhaseBalance, c.Refine = 1, refine
		tr, err := NewTrainer(c)
		if err != nil {
			t.Fatal(err)
		}
		layers, third := []*nn.ConvTranspose2d{tr.G.Deconv[3]}, tr.G.Deconv[2]
		if refine > 0 {
			layers = append(layers, tr.G.RefineDeconv)
		}
		for _, l := range layers {
			if balanced(l.Weight.Data, l.InC*l.OutC) {
				t.Fatalf("refine %d: a random init of %s is balanced already: the check would pass anyway", refine, l.Weight.Name)
			}
		}
		ema := NewEMA(tr.G, 0.9)
		ema.BalancePhases(tr.G, 1)
		for _, nt := range ema.Tensors() {
			for _, l := range layers {
				if nt.Name == l.Weight.Name && !balanced(nt.Data, l.InC*l.OutC) {
					t.Errorf("refine %d: EMA.BalancePhases left the average's %s unbalanced", refine, nt.Name)
				}
			}
		}
		r := rand.New(rand.NewPCG(9, 10))
		for step := 1; step <= 3; step++ {
			real, z := randZ(r, 4*3*16*16), randZ(r, 4*8)
			if _, err := tr.Step(real, z); err != nil {
				t.Fatal(err)
			}
			for _, l := range layers {
				if !balanced(l.Weight.Data, l.InC*l.OutC) {
					t.Errorf("refine %d, step %d: %s is not balanced", refine, step, l.Weight.Name)
				}
			}
			if balanced(third.Weight.Data, third.InC*third.OutC) {
				t.Errorf("refine %d, step %d: deconv3 is balanced with PhaseBalance 1", refine, step)
			}
		}
		for _, bad := range []int{-1, 5} {
			b := c
			b.PhaseBalance = bad
			if b.Validate() == nil {
				t.Errorf("Validate accepted PhaseBalance %d", bad)
			}
		}
	}
}
