package main

import (
	"math"
	"testing"
)

// TestPowerPeriods checks power on patterns with known spectra: a grey checkerboard of
// amplitude a puts all its luma power, (a*size*size)^2, at (size/2, size/2) and none in
// Cb, Cr; alternating columns put it at (0, size/2); a constant image has none (its mean
// is removed); a checkerboard in blue alone has 0.5^2 of that power in Cb at
// (size/2, size/2).
func TestPowerPeriods(t *testing.T) {
	const size, a = 8, 10.0
	img := func(f func(y, x int) float64, grey bool) []uint8 {
		out := make([]uint8, size*size*3)
		for y := 0; y < size; y++ {
			for x := 0; x < size; x++ {
				v := uint8(100 + f(y, x))
				out[3*(y*size+x)], out[3*(y*size+x)+1], out[3*(y*size+x)+2] = 100, 100, v
				if grey {
					out[3*(y*size+x)], out[3*(y*size+x)+1] = v, v
				}
			}
		}
		return out
	}
	sign := func(k int) float64 { return float64(1 - 2*(k%2)) }
	for _, tc := range []struct {
		name   string
		f      func(y, x int) float64
		grey   bool
		ch     int
		gain   float64
		ky, kx int
	}{
		{"checkerboard", func(y, x int) float64 { return a * sign(x+y) }, true, 0, 1, size / 2, size / 2},
		{"checkerboard Cb", func(y, x int) float64 { return a * sign(x+y) }, true, 1, 0, -1, -1},
		{"columns", func(y, x int) float64 { return a * sign(x) }, true, 0, 1, 0, size / 2},
		{"constant", func(y, x int) float64 { return 0 }, true, 0, 1, -1, -1},
		{"blue checkerboard Cb", func(y, x int) float64 { return a * sign(x+y) }, false, 1, 0.5, size / 2, size / 2},
	} {
		p := power([][]uint8{img(tc.f, tc.grey)}, size, tc.ch)
		want := (tc.gain * a * size * size) * (tc.gain * a * size * size)
		for ky := 0; ky < size; ky++ {
			for kx := 0; kx < size; kx++ {
				w := 0.0
				if ky == tc.ky && kx == tc.kx {
					w = want
				}
				// Luma of equal channels is the value itself (weights sum to 1).
				if got := p[ky*size+kx]; math.Abs(got-w) > 1e-6*(a*size*size)*(a*size*size) {
					t.Errorf("%s: power at (%d, %d) = %g, want %g", tc.name, ky, kx, got, w)
				}
			}
		}
	}
}
