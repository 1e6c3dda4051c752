package metrics

import "math"

// sortFloat32 sorts a (no NaNs) ascending with an LSD radix sort on order-preserving
// uint32 keys, 3 passes of 11 bits; s1 and s2 are scratch of at least len(a). SWD sorts
// thousands of 1M-element projections, where this is several times faster than a
// comparison sort.
func sortFloat32(a []float32, s1, s2 []uint32) {
	n := len(a)
	if n < 2 {
		return
	}
	k, t := s1[:n], s2[:n]
	var h [3][2048]uint32
	for i, v := range a {
		u := math.Float32bits(v)
		if u&0x80000000 != 0 {
			u = ^u
		} else {
			u |= 0x80000000
		}
		k[i] = u
		h[0][u&2047]++
		h[1][(u>>11)&2047]++
		h[2][u>>22]++
	}
	for p := range h {
		var sum uint32
		for i, c := range h[p] {
			h[p][i] = sum
			sum += c
		}
	}
	for _, u := range k {
		d := u & 2047
		t[h[0][d]] = u
		h[0][d]++
	}
	for _, u := range t {
		d := (u >> 11) & 2047
		k[h[1][d]] = u
		h[1][d]++
	}
	for _, u := range k {
		d := u >> 22
		if u&0x80000000 != 0 {
			u &^= 0x80000000
		} else {
			u = ^u
		}
		a[h[2][d]] = math.Float32frombits(u)
		h[2][d]++
	}
}

// w1Sorted is the Wasserstein-1 distance between the empirical distributions of two sorted
// samples: the integral over t in (0,1] of |A^-1(t) - B^-1(t)|. For equal sizes it is the
// original's mean |a_i - b_i|; unequal sizes walk the merged quantile breakpoints.
func w1Sorted(a, b []float32) float64 {
	n, m := len(a), len(b)
	var s float64
	if n == m {
		for i := range a {
			s += math.Abs(float64(a[i]) - float64(b[i]))
		}
		return s / float64(n)
	}
	var cur int64 // position in units of 1/(n*m)
	i, j := 0, 0
	for i < n && j < m {
		ea, eb := int64(i+1)*int64(m), int64(j+1)*int64(n)
		e := min(ea, eb)
		s += float64(e-cur) * math.Abs(float64(a[i])-float64(b[j]))
		cur = e
		if ea == e {
			i++
		}
		if eb == e {
			j++
		}
	}
	return s / (float64(n) * float64(m))
}
