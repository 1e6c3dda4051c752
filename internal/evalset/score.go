package evalset

import (
	"context"
	"math"
	"path/filepath"
	"slices"

	"avatargan/avatar"
	"avatargan/dataset"
	"avatargan/metrics"
)

// Draw is the score of one draw (eval --repeat scores several, seeds S, S+1, ...).
type Draw struct {
	Seed  uint64         `json:"seed"`
	Fake  metrics.Result `json:"fake"`
	Floor metrics.Result `json:"real_vs_real"`
	Ratio float64        `json:"ratio_to_floor"`
}

// Score scores one draw of seed: two disjoint real sets (one compared with the
// avatars, one with the first: the floor), the model's avatars of that seed (or, with
// model nil, the first n of fakes), and the metric's randomness. It returns the first
// real set and the avatars scored, and how many the face check replaced.
func Score(ctx context.Context, model *avatar.Model, set *dataset.Set, fakes [][]uint8, n, size int, seed uint64) (d Draw, realA, fk [][]uint8, replaced int, err error) {
	realA, realB, err := Real(set, n, seed)
	if err != nil {
		return d, nil, nil, 0, err
	}
	if model != nil {
		if fakes, replaced, err = Avatars(ctx, model, n, seed); err != nil {
			return d, nil, nil, 0, err
		}
	}
	fakes = fakes[:n]
	mo := swdOptions(seed)
	d.Seed = seed
	if d.Fake, err = metrics.SWDContext(ctx, realA, fakes, size, mo); err != nil {
		return d, nil, nil, 0, err
	}
	if d.Floor, err = metrics.SWDContext(ctx, realA, realB, size, mo); err != nil {
		return d, nil, nil, 0, err
	}
	d.Ratio = d.Fake.Average / d.Floor.Average
	return d, realA, fakes, replaced, nil
}

// swdOptions are the metric's settings for a draw of seed: the defaults, with the
// metric's randomness drawn from seed, the same for every score of one draw.
func swdOptions(seed uint64) metrics.Options {
	mo := metrics.DefaultOptions()
	mo.Seed = seed
	return mo
}

// Mean averages the draws' fake (or, with floor, real-vs-real) results level by level.
func Mean(draws []Draw, floor bool) metrics.Result {
	var m metrics.Result
	for i, d := range draws {
		x := d.Fake
		if floor {
			x = d.Floor
		}
		if i == 0 {
			m.Resolutions = x.Resolutions
			m.PerLevel = make([]float64, len(x.PerLevel))
		}
		for l, v := range x.PerLevel {
			m.PerLevel[l] += v / float64(len(draws))
		}
		m.Average += x.Average / float64(len(draws))
	}
	return m
}

// Spread is the sample standard deviation of the draws' fake averages: how much one
// draw's figure can be trusted (0 for fewer than two draws).
func Spread(draws []Draw) float64 {
	if len(draws) < 2 {
		return 0
	}
	mean := Mean(draws, false).Average
	var ss float64
	for _, d := range draws {
		ss += (d.Fake.Average - mean) * (d.Fake.Average - mean)
	}
	return math.Sqrt(ss / float64(len(draws)-1))
}

// Untrained scores an untrained generator of m's shape and precision (no face check:
// the starting point as it is) against real, with the metric's randomness of seed: the
// distance training starts from.
func Untrained(ctx context.Context, m *avatar.Model, n int, seed uint64, real [][]uint8) (*metrics.Result, error) {
	um, err := avatar.Untrained(m.Spec(), 1)
	if err != nil {
		return nil, err
	}
	um.Generator().SetPrecision(m.Generator().Precision())
	uf, _, err := Avatars(ctx, um, n, seed)
	if err != nil {
		return nil, err
	}
	r, err := metrics.SWDContext(ctx, real, uf, m.Size(), swdOptions(seed))
	return &r, err
}

// Nearest is how close generated images come to the training set: a copy of a
// training image would show as an RMS distance near 0.
type Nearest struct {
	Checked   int     `json:"checked"`
	MinRMS    float64 `json:"min_rms"`    // of 255
	MedianRMS float64 `json:"median_rms"` // of 255
	Closest   string  `json:"closest_real"`
}

// NearestReal finds each fake's nearest image in the whole of set (loaded from the
// folder data, which names the closest one).
func NearestReal(ctx context.Context, fakes [][]uint8, set *dataset.Set, data string) (*Nearest, error) {
	all := make([][]uint8, set.Len())
	for i := range all {
		all[i] = set.Image(i)
	}
	ms, err := metrics.NearestRealContext(ctx, fakes, all, set.Size())
	if err != nil {
		return nil, err
	}
	nr := &Nearest{Checked: len(fakes)}
	rms := make([]float64, len(ms))
	for i, m := range ms {
		rms[i] = m.RMS
		if i == 0 || m.RMS < nr.MinRMS {
			nr.MinRMS, nr.Closest = m.RMS, filepath.Join(data, set.Path(m.Real))
		}
	}
	nr.MedianRMS = median(rms)
	return nr, nil
}

// median is the upper median of x (0 for none).
func median(x []float64) float64 {
	if len(x) == 0 {
		return 0
	}
	s := slices.Clone(x)
	slices.Sort(s)
	return s[len(s)/2]
}
