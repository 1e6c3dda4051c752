package main

import (
	"math"
	"testing"
)

// TestDeviationSpike checks deviation and summarise on a flat grey image with one spike
// in its top-left corner: the corner deviates by the spike (its 3 neighbours are flat),
// its neighbours by a fifth of it on the border (5 neighbours there) or an eighth (the
// diagonal one, inside), the other corners and the far interior by nothing.
func TestDeviationSpike(t *testing.T) {
	const size, spike = 6, 90.0
	img := make([]uint8, size*size*3)
	for i := range img {
		img[i] = 100
	}
	img[0], img[1], img[2] = 100+spike, 100+spike, 100+spike
	d := deviation([][]uint8{img}, size)
	for _, c := range []struct {
		y, x int
		want float64
	}{{0, 0, spike}, {0, 1, spike / 5}, {1, 0, spike / 5}, {1, 1, spike / 8}, {0, 5, 0}, {5, 5, 0}, {3, 3, 0}} {
		if got := d[c.y*size+c.x]; math.Abs(got-c.want) > 1e-12 {
			t.Errorf("deviation at (%d, %d) = %v, want %v", c.y, c.x, got, c.want)
		}
	}
	s := summarise(d, size)
	if math.Abs(s[0]-spike/4) > 1e-12 || s[1] != spike || s[2] != 0 || s[3] != 0 || s[4] != 0 {
		t.Errorf("corners %v, want mean %v, top-left %v, others 0", s[:5], spike/4, spike)
	}
	if want := 2 * spike / 5 / float64(4*(size-2)); math.Abs(s[5]-want) > 1e-12 {
		t.Errorf("rest of the border %v, want %v", s[5], want)
	}
	if want := spike / 8 / float64((size-2)*(size-2)); math.Abs(s[6]-want) > 1e-12 {
		t.Errorf("interior %v, want %v", s[6], want)
	}
}

// TestSmoothCorners checks that each corner pixel becomes its three neighbours' rounded
// mean, per channel, and nothing else changes.
func TestSmoothCorners(t *testing.T) {
	const size = 4
	img := make([]uint8, size*size*3)
	for i := range img {
		img[i] = uint8(7 * i)
	}
	out := smoothCorners(img, size)
	px := func(b []uint8, y, x, c int) int { return int(b[3*(y*size+x)+c]) }
	for _, c := range [][4]int{{0, 0, 1, 1}, {0, 3, 1, -1}, {3, 0, -1, 1}, {3, 3, -1, -1}} {
		y, x, dy, dx := c[0], c[1], c[2], c[3]
		for ch := 0; ch < 3; ch++ {
			want := (px(img, y+dy, x, ch) + px(img, y, x+dx, ch) + px(img, y+dy, x+dx, ch) + 1) / 3
			if got := px(out, y, x, ch); got != want {
				t.Errorf("corner (%d, %d) channel %d = %d, want %d", y, x, ch, got, want)
			}
		}
	}
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			if (y == 0 || y == 3) && (x == 0 || x == 3) {
				continue
			}
			for ch := 0; ch < 3; ch++ {
				if px(out, y, x, ch) != px(img, y, x, ch) {
					t.Fatalf("pixel (%d, %d) changed", y, x)
				}
			}
		}
	}
}
