package dcgan

import (
	"math"
	"math/rand/v2"
	"testing"
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
// is balanced after every G update (its Adam steps unbalance it) while deconv3 is not;
// the EMA's BalancePhases balances the average; values outside 0..4 are refused.
func TestPhaseBalance(t *testing.T) {
	c, err := Recipe("sngan", tinyConfig())
	if err != nil {
		t.Fatal(err)
	}
	c.PhaseBalance = 1
	tr, err := NewTrainer(c)
	if err != nil {
		t.Fatal(err)
	}
	last, third := tr.G.Deconv[3], tr.G.Deconv[2]
	if balanced(last.Weight.Data, last.InC*last.OutC) {
		t.Fatal("a random init is balanced already: the check would pass anyway")
	}
	ema := NewEMA(tr.G, 0.9)
	ema.BalancePhases(tr.G, 1)
	for _, nt := range ema.Tensors() {
		if nt.Name == last.Weight.Name && !balanced(nt.Data, last.InC*last.OutC) {
			t.Error("EMA.BalancePhases left the average's output layer unbalanced")
		}
	}
	r := rand.New(rand.NewPCG(9, 10))
	for step := 1; step <= 3; step++ {
		real, z := randZ(r, 4*3*16*16), randZ(r, 4*8)
		if _, err := tr.Step(real, z); err != nil {
			t.Fatal(err)
		}
		if !balanced(last.Weight.Data, last.InC*last.OutC) {
			t.Errorf("step %d: the output layer is not balanced", step)
		}
		if balanced(third.Weight.Data, third.InC*third.OutC) {
			t.Errorf("step %d: deconv3 is balanced with PhaseBalance 1", step)
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

// TestPhaseBalanceRefine checks that PhaseBalance 1 also keeps the refinement head's
// transposed convolution balanced (it draws the full size from bn3's output, as the
// output layer does), in G after every update and in the EMA, and leaves deconv3 alone.
func TestPhaseBalanceRefine(t *testing.T) {
	c, err := Recipe("sngan", tinyConfig())
	if err != nil {
		t.Fatal(err)
	}
	c.PhaseBalance, c.Refine = 1, 3
	tr, err := NewTrainer(c)
	if err != nil {
		t.Fatal(err)
	}
	head, third := tr.G.RefineDeconv, tr.G.Deconv[2]
	if balanced(head.Weight.Data, head.InC*head.OutC) {
		t.Fatal("a random init is balanced already: the check would pass anyway")
	}
	ema := NewEMA(tr.G, 0.9)
	ema.BalancePhases(tr.G, 1)
	for _, nt := range ema.Tensors() {
		if nt.Name == head.Weight.Name && !balanced(nt.Data, head.InC*head.OutC) {
			t.Error("EMA.BalancePhases left the average's head unbalanced")
		}
	}
	r := rand.New(rand.NewPCG(9, 10))
	for step := 1; step <= 2; step++ {
		if _, err := tr.Step(randZ(r, 4*3*16*16), randZ(r, 4*8)); err != nil {
			t.Fatal(err)
		}
		if !balanced(head.Weight.Data, head.InC*head.OutC) {
			t.Errorf("step %d: the head's transposed convolution is not balanced", step)
		}
	}
	if balanced(third.Weight.Data, third.InC*third.OutC) {
		t.Error("deconv3 balanced by PhaseBalance 1")
	}
}
