package nn

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// naivePatchSWD is PatchSWD's definition spelled out with its own code: band values
// from the 2^l x 2^l block means of the image (with LowPass, the coarsest level's block
// means themselves), one patch at a time, sorted projections.
func naivePatchSWD(s *PatchSWD, x, target []float32, n int) float64 {
	h, w := s.H, s.W
	pix := func(img []float32, b, c, y, xx int) float64 { return float64(img[((c*n+b)*h+y)*w+xx]) }
	block := func(img []float32, b, c, l, y, xx int) float64 { // G_l at (y, xx)
		f := 1 << l
		var sum float64
		for dy := range f {
			for dx := range f {
				sum += pix(img, b, c, y*f+dy, xx*f+dx)
			}
		}
		return sum / float64(f*f)
	}
	band := func(img []float32, b, c, l, y, xx int) float64 {
		if s.LowPass && l == PatchSWDLevels-1 {
			return block(img, b, c, l, y, xx)
		}
		return block(img, b, c, l, y, xx) - block(img, b, c, l+1, y/2, xx/2)
	}
	var total float64
	for l := range PatchSWDLevels {
		d := s.dim()
		proj := func(img []float32, pos [][3]int, k int) []float64 {
			out := make([]float64, len(pos))
			for i, p := range pos {
				j := 0
				for c := range 3 {
					for dy := range PatchSWDSide {
						for dx := range PatchSWDSide {
							out[i] += s.dirs[l][k*d+j] * band(img, p[0], c, l, p[1]+dy, p[2]+dx)
							j++
						}
					}
				}
			}
			return out
		}
		var sw, v float64
		for k := range s.Dirs {
			f, t := proj(x, s.pos[l], k), proj(target, s.tpos[l], k)
			var mean, sq float64
			for _, u := range t {
				mean += u
				sq += u * u
			}
			mean /= float64(len(t))
			v += sq/float64(len(t)) - mean*mean
			slices.Sort(f)
			slices.Sort(t)
			for j := range f {
				sw += (f[j] - t[j]) * (f[j] - t[j])
			}
		}
		total += sw / float64(s.Dirs*len(s.pos[l])) / (v / float64(s.Dirs))
	}
	return total / PatchSWDLevels
}

func newTestPatchSWD(t *testing.T, h, w, patches, dirs int) *PatchSWD {
	t.Helper()
	s, err := NewPatchSWD(h, w)
	if err != nil {
		t.Fatal(err)
	}
	s.Patches, s.Dirs = patches, dirs
	return s
}

// TestPatchSWDNaive compares the loss with naivePatchSWD (float64 throughout; the
// projections here are float32 products, hence the tolerance) on non-square images and
// checks that a batch against itself (same patches) costs nothing and gets no gradient.
func TestPatchSWDNaive(t *testing.T) {
	for _, low := range []bool{false, true} {
		t.Run(fmt.Sprintf("lowpass=%v", low), func(t *testing.T) { testPatchSWDNaive(t, low) })
	}
}

func testPatchSWDNaive(t *testing.T, lowPass bool) {
	r := rand.New(rand.NewPCG(3, 4))
	h, w, n := 12, 16, 3
	x, tg := randImages(r, n, h, w), randImages(r, n, h, w)
	for i := range x {
		if (i%w)%2 == 0 {
			x[i] *= 0.3
		}
	}
	s := newTestPatchSWD(t, h, w, 7, 5)
	s.LowPass = lowPass
	s.Draw(r, n, n)
	s.SetTarget(tg, n)
	got, want := s.Forward(x, n), naivePatchSWD(s, x, tg, n)
	if math.Abs(got-want) > 1e-6*want || want < 0.05 {
		t.Errorf("loss %.15g, naive %.15g", got, want)
	}
	copy(s.tpos[0], s.pos[0])
	copy(s.tpos[1], s.pos[1])
	s.SetTarget(x, n)
	if l := s.Forward(x, n); l != 0 {
		t.Errorf("a batch against itself: loss %g, want 0", l)
	}
	dx := make([]float32, len(x))
	s.Backward(dx, 1)
	for i, v := range dx {
		if v != 0 {
			t.Fatalf("a batch against itself: dx[%d] = %g, want 0", i, v)
		}
	}
}

// TestPatchSWDFiniteDifferences checks Backward (with a scale, added to what dx held)
// against central differences of Forward; the steps are small enough that few pairs of
// projections swap rank (the loss is smooth between swaps) and large enough that the
// float32 projections' rounding stays well below the differences.
func TestPatchSWDFiniteDifferences(t *testing.T) {
	for _, low := range []bool{false, true} {
		t.Run(fmt.Sprintf("lowpass=%v", low), func(t *testing.T) { testPatchSWDFiniteDifferences(t, low) })
	}
}

func testPatchSWDFiniteDifferences(t *testing.T, lowPass bool) {
	r := rand.New(rand.NewPCG(5, 6))
	h, w, n := 12, 12, 2
	x, tg := randImages(r, n, h, w), randImages(r, n, h, w)
	s := newTestPatchSWD(t, h, w, 6, 4)
	s.LowPass = lowPass
	s.Draw(r, n, n)
	s.SetTarget(tg, n)
	s.Forward(x, n)
	const scale = 1.5
	dx := make([]float32, len(x))
	for i := range dx {
		dx[i] = 1 // Backward adds
	}
	s.Backward(dx, scale)
	var worst, big float64
	for i := range x {
		old := x[i]
		x[i] = old + 5e-4
		hi := float64(x[i])
		lp := s.Forward(x, n)
		x[i] = old - 5e-4
		lo := float64(x[i])
		lm := s.Forward(x, n)
		x[i] = old
		want := scale * (lp - lm) / (hi - lo)
		got := float64(dx[i]) - 1
		worst = math.Max(worst, math.Abs(got-want))
		big = math.Max(big, math.Abs(want))
	}
	if worst > 2e-3*big || big == 0 {
		t.Errorf("finite differences: max error %.3g of gradients up to %.3g", worst, big)
	}
}

// TestPatchSWDGolden compares the loss and its gradient with PyTorch float64 (autograd
// through torch.sort), nn/testdata/patch_swd.json, written by scripts/golden_patchswd.py
// with the directions and positions it drew.
func TestPatchSWDGolden(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "patch_swd.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		N, H, W   int
		Patches   int
		DirsN     int `json:"dirs_n"`
		LowPass   bool
		X, Target []float32
		Dirs      [PatchSWDLevels][]float64
		Pos, TPos [PatchSWDLevels][][3]int
		Loss      float64
		Grad      []float64
	}
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	low := 0
	for _, c := range cases {
		if c.LowPass {
			low++
		}
	}
	if low == 0 || low == len(cases) {
		t.Fatal("want cases with and without LowPass")
	}
	for _, c := range cases {
		n, h, w := c.N, c.H, c.W
		s := newTestPatchSWD(t, h, w, c.Patches, c.DirsN)
		s.LowPass = c.LowPass
		s.dirs, s.pos, s.tpos = c.Dirs, c.Pos, c.TPos
		s.SetTarget(c.Target, n)
		l := s.Forward(c.X, n)
		if math.Abs(l-c.Loss) > 1e-6*c.Loss {
			t.Errorf("%dx%d n=%d lowpass=%v: loss %.12g, PyTorch %.12g", h, w, n, c.LowPass, l, c.Loss)
		}
		dx := make([]float32, len(c.X))
		s.Backward(dx, 1)
		var worst, big float64
		for i := range dx {
			worst = math.Max(worst, math.Abs(float64(dx[i])-c.Grad[i]))
			big = math.Max(big, math.Abs(c.Grad[i]))
		}
		if worst > 1e-6*big || big == 0 {
			t.Errorf("%dx%d n=%d lowpass=%v: gradient max error %.3g of %.3g", h, w, n, c.LowPass, worst, big)
		}
	}
}

// TestPatchSWDDrawIsDeterministic checks that the same generator state draws the same
// directions and positions (the trainer derives it from the step, for exact resume),
// with unit directions and patches inside their bands.
func TestPatchSWDDrawIsDeterministic(t *testing.T) {
	a, b := newTestPatchSWD(t, 48, 48, 64, 32), newTestPatchSWD(t, 48, 48, 64, 32)
	a.Draw(rand.New(rand.NewPCG(1, 2)), 4, 4)
	b.Draw(rand.New(rand.NewPCG(1, 2)), 4, 4)
	for l := range PatchSWDLevels {
		if !slices.Equal(a.dirs[l], b.dirs[l]) || !slices.Equal(a.pos[l], b.pos[l]) || !slices.Equal(a.tpos[l], b.tpos[l]) {
			t.Fatalf("level %d: two draws from the same state differ", l)
		}
		for k := range a.Dirs {
			var sq float64
			for _, v := range a.dirs[l][k*75 : (k+1)*75] {
				sq += v * v
			}
			if math.Abs(sq-1) > 1e-12 {
				t.Fatalf("level %d direction %d: |theta|^2 = %g", l, k, sq)
			}
		}
		h, w := a.levelSize(l)
		for _, p := range a.pos[l] {
			if p[0] < 0 || p[0] >= 4 || p[1] < 0 || p[1]+PatchSWDSide > h || p[2] < 0 || p[2]+PatchSWDSide > w {
				t.Fatalf("level %d: patch at %v outside %dx%d", l, p, h, w)
			}
		}
	}
	if _, err := NewPatchSWD(18, 20); err == nil {
		t.Error("NewPatchSWD(18, 20): no error for sides not divisible by 4")
	}
	if _, err := NewPatchSWD(8, 8); err == nil {
		t.Error("NewPatchSWD(8, 8): no error for a 4-pixel coarsest band")
	}
}

// BenchmarkPatchSWD times one G step's patch loss at the reference shape (64 images of
// 48 x 48): a draw, the target, Forward and Backward, at 64 and 256 patches per image.
func BenchmarkPatchSWD(b *testing.B) {
	for _, patches := range []int{64, 256} {
		b.Run(fmt.Sprintf("patches=%d", patches), func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 2))
			x, tg := randImages(r, 64, 48, 48), randImages(r, 64, 48, 48)
			s, _ := NewPatchSWD(48, 48)
			s.Patches = patches
			dx := make([]float32, len(x))
			for b.Loop() {
				s.Draw(r, 64, 64)
				s.SetTarget(tg, 64)
				s.Forward(x, 64)
				s.Backward(dx, 1)
			}
		})
	}
}

// TestRadixSortKeys checks that sortKey orders float32s as numbers (negatives, zeros,
// infinities, subnormals), keyValue inverts it, and radixSort sorts by the key alone,
// keeping equal keys in their index order.
func TestRadixSortKeys(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	vals := []float32{0, float32(math.Inf(1)), float32(math.Inf(-1)), -1e-40, 1e-40, -3.5, 3.5, 1, -1, 2, 2, 2, -0.25}
	for range 3000 {
		vals = append(vals, float32(r.NormFloat64()*math.Pow(10, float64(r.IntN(20)-10))))
	}
	keys := make([]uint64, len(vals))
	for i, v := range vals {
		if keyValue(sortKey(v)) != v {
			t.Fatalf("keyValue(sortKey(%g)) = %g", v, keyValue(sortKey(v)))
		}
		keys[i] = sortKey(v)<<32 | uint64(i)
	}
	radixSort(keys, make([]uint64, len(keys)))
	for j := 1; j < len(keys); j++ {
		a, b := keyValue(keys[j-1]>>32), keyValue(keys[j]>>32)
		if a > b || (a == b && uint32(keys[j-1]) > uint32(keys[j])) {
			t.Fatalf("rank %d: %g (index %d) before %g (index %d)", j, a, uint32(keys[j-1]), b, uint32(keys[j]))
		}
	}
	if vals[uint32(keys[0])] != float32(math.Inf(-1)) || vals[uint32(keys[len(keys)-1])] != float32(math.Inf(1)) {
		t.Error("the infinities are not at the ends")
	}
}
