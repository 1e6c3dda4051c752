package evalset

import (
	"math"
	"testing"

	"avatargan/metrics"
)

// Mean averages level by level and Spread is the sample standard deviation of the
// fake averages, checked against values worked by hand.
func TestMeanAndSpread(t *testing.T) {
	res := func(a, b float64) metrics.Result {
		return metrics.Result{Resolutions: []int{48, 24}, PerLevel: []float64{a, b}, Average: (a + b) / 2}
	}
	draws := []Draw{
		{Seed: 1, Fake: res(10, 20), Floor: res(2, 3)},
		{Seed: 2, Fake: res(12, 22), Floor: res(2, 5)},
		{Seed: 3, Fake: res(14, 24), Floor: res(2, 4)},
	}
	f, r := Mean(draws, false), Mean(draws, true)
	near := func(x, y float64) bool { return math.Abs(x-y) < 1e-12 }
	if !near(f.PerLevel[0], 12) || !near(f.PerLevel[1], 22) || !near(f.Average, 17) || f.Resolutions[1] != 24 {
		t.Errorf("Mean of the fakes %+v, want 12, 22, average 17", f)
	}
	if !near(r.PerLevel[0], 2) || !near(r.PerLevel[1], 4) || !near(r.Average, 3) {
		t.Errorf("Mean of the floors %+v, want 2, 4, average 3", r)
	}
	// Fake averages 15, 17, 19: deviations -2, 0, 2, sample variance 8/2.
	if s := Spread(draws); !near(s, 2) {
		t.Errorf("Spread = %v, want 2", s)
	}
	if s := Spread(draws[:1]); s != 0 {
		t.Errorf("Spread of one draw = %v, want 0", s)
	}
	if m := median([]float64{3, 1, 2, 5}); m != 3 {
		t.Errorf("median = %v, want the upper median 3", m)
	}
}
