package testutil

import (
	"math"
	"testing"
)

func TestWithin(t *testing.T) {
	for _, c := range []struct {
		got, want, atol, rtol float64
		ok                    bool
	}{
		{1, 1, 0, 0, true},
		{1.001, 1, 0, 1e-3, true},
		{1.0011, 1, 0, 1e-3, false},
		// A small element is judged by atol, not by the largest element.
		{2e-6, 1e-6, 1e-7, 1e-3, false},
		{1.05e-6, 1e-6, 1e-7, 1e-3, true},
		{math.NaN(), math.NaN(), 1, 1, false},
		{math.Inf(1), math.Inf(1), 0, 0, true},
		{math.Inf(1), 1, 1e300, 1, false},
	} {
		if Within(c.got, c.want, c.atol, c.rtol) != c.ok {
			t.Errorf("Within(%v, %v, %v, %v) != %v", c.got, c.want, c.atol, c.rtol, c.ok)
		}
	}
}

func TestAllClose(t *testing.T) {
	ft := &testing.T{}
	// got is within 1e-3 of max|want| everywhere, but its small element is 2x off: a
	// tolerance relative to max|want| would pass it, the per-element one must not.
	if AllClose(ft, "x", []float32{1000, 0.002}, []float64{1000, 0.001}, 1e-6, 1e-4) {
		t.Error("AllClose passed a small element that is 2x off")
	}
	if !AllClose(t, "y", []float64{1, 2.0000001}, []float64{1, 2}, 0, 1e-6) {
		t.Error("AllClose failed close values")
	}
}
