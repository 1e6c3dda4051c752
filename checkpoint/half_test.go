package checkpoint

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
)

func TestHalfRoundTripAll(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		f := HalfToFloat32(h)
		got := Float32ToHalf(f)
		isNaN := h&0x7c00 == 0x7c00 && h&0x3ff != 0
		if isNaN {
			if !math.IsNaN(float64(f)) {
				t.Fatalf("half %#04x: want NaN, got %v", h, f)
			}
			if got&0x7c00 != 0x7c00 || got&0x3ff == 0 || got&0x8000 != h&0x8000 {
				t.Fatalf("half NaN %#04x -> %#04x is not a NaN of the same sign", h, got)
			}
			if h&0x200 != 0 && got != h { // quiet NaNs keep their payload
				t.Fatalf("quiet NaN %#04x -> %#04x", h, got)
			}
			continue
		}
		if got != h {
			t.Fatalf("half %#04x -> %v -> %#04x", h, f, got)
		}
		if want := naiveHalfValue(h); float64(f) != want {
			t.Fatalf("half %#04x decodes to %v, want %v", h, f, want)
		}
	}
}

// naiveHalfValue computes the value of half bits from the definition.
func naiveHalfValue(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	e := int(h>>10) & 0x1f
	m := float64(h & 0x3ff)
	switch e {
	case 0:
		return sign * m * math.Pow(2, -24)
	case 31:
		if m == 0 {
			return math.Inf(int(sign))
		}
		return math.NaN()
	}
	return sign * (1 + m/1024) * math.Pow(2, float64(e-15))
}

// positiveHalves lists all non-negative finite halves by value plus +Inf
// standing in as 65536 (the next value in the 2^15 binade), which makes
// IEEE overflow-to-infinity fall out of plain nearest/ties-to-even.
var positiveHalves = func() []float64 {
	v := make([]float64, 0x7c01)
	for h := 0; h < 0x7c00; h++ {
		v[h] = naiveHalfValue(uint16(h))
	}
	v[0x7c00] = 65536
	return v
}()

// naiveToHalf rounds f to the nearest half, ties to the even code, by search.
func naiveToHalf(f float32) uint16 {
	x := float64(f)
	if math.IsNaN(x) {
		panic("NaN")
	}
	var sign uint16
	if math.Signbit(x) {
		sign, x = 0x8000, -x
	}
	if x >= 65536 {
		return sign | 0x7c00
	}
	i := sort.SearchFloat64s(positiveHalves, x) // first >= x
	if positiveHalves[i] == x {
		return sign | uint16(i)
	}
	lo, hi := i-1, i
	dlo, dhi := x-positiveHalves[lo], positiveHalves[hi]-x
	switch {
	case dlo < dhi:
		return sign | uint16(lo)
	case dhi < dlo:
		return sign | uint16(hi)
	case lo%2 == 0:
		return sign | uint16(lo)
	default:
		return sign | uint16(hi)
	}
}

// halfRoundingCases returns float32s around every rounding decision: each
// half value, each midpoint between neighbours (exact in float32) and their
// float32 neighbours, plus far out-of-range and tiny values.
func halfRoundingCases() []float32 {
	var out []float32
	add := func(f float32) {
		out = append(out, f, -f, math.Nextafter32(f, 0), math.Nextafter32(f, float32(math.Inf(1))))
	}
	for h := 0; h < 0x7c00; h++ {
		a := float32(positiveHalves[h])
		b := float32(positiveHalves[h+1])
		add(a)
		add(a + (b-a)/2)
	}
	for _, f := range []float32{65504, 65519.998, 65520, 65536, 1e10, math.MaxFloat32,
		float32(math.Inf(1)), 1e-45, 1e-30, float32(math.Pow(2, -25)), float32(math.Pow(2, -26)),
		float32(math.Pow(2, -24)), float32(math.Pow(2, -14))} {
		add(f)
	}
	return out
}

func TestFloat32ToHalfRounding(t *testing.T) {
	check := func(f float32) {
		t.Helper()
		if got, want := Float32ToHalf(f), naiveToHalf(f); got != want {
			t.Fatalf("Float32ToHalf(%g [%#08x]) = %#04x, want %#04x", f, math.Float32bits(f), got, want)
		}
	}
	for _, f := range halfRoundingCases() {
		check(f)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2_000_000; i++ {
		f := math.Float32frombits(r.Uint32())
		if f != f {
			continue
		}
		check(f)
	}
	// Values concentrated in the half range, where rounding matters most.
	for i := 0; i < 1_000_000; i++ {
		f := float32(math.Ldexp(r.Float64()*2-1, r.IntN(48)-32))
		check(f)
	}
	// Named cases, so a regression reads clearly.
	cases := []struct {
		f    float32
		want uint16
	}{
		{1 + 1.0/2048, 0x3c00},         // tie, 1.0 is even: round down
		{1 + 3.0/2048, 0x3c02},         // tie, round up to even
		{65520, 0x7c00},                // tie at the top: overflows to Inf
		{65519, 0x7bff},                // below the tie: max half
		{float32(math.Pow(2, -25)), 0}, // tie between 0 and min subnormal: even 0
		{float32(math.Pow(2, -25)) * 1.5, 0x0001},
		{float32(math.Pow(2, -24)) * 1.5, 0x0002},            // tie 1 vs 2 subnormal: even 2
		{float32(math.Pow(2, -14)) * (1 - 1.0/4096), 0x0400}, // subnormal rounds up into the normals
		{float32(math.Inf(-1)), 0xfc00},
		{float32(math.Copysign(0, -1)), 0x8000},
	}
	for _, c := range cases {
		if got := Float32ToHalf(c.f); got != c.want {
			t.Errorf("Float32ToHalf(%g) = %#04x, want %#04x", c.f, got, c.want)
		}
	}
	if h := Float32ToHalf(float32(math.NaN())); h&0x7c00 != 0x7c00 || h&0x3ff == 0 {
		t.Errorf("NaN -> %#04x", h)
	}
	// A NaN whose payload lives only in the low bits must not become Inf.
	if h := Float32ToHalf(math.Float32frombits(0x7f800001)); h&0x3ff == 0 {
		t.Errorf("low-payload NaN -> %#04x", h)
	}
}

func TestBF16(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		f := BF16ToFloat32(h)
		if f != f {
			if g := Float32ToBF16(f); g&0x7f80 != 0x7f80 || g&0x7f == 0 {
				t.Fatalf("bf16 NaN %#04x -> %#04x", h, g)
			}
			continue
		}
		if g := Float32ToBF16(f); g != h {
			t.Fatalf("bf16 %#04x -> %v -> %#04x", h, f, g)
		}
	}
	// Ties to even: 1 + 2^-8 lies halfway between bf16 1.0 and 1+2^-7.
	if g := Float32ToBF16(1 + 1.0/256); g != 0x3f80 {
		t.Errorf("tie: got %#04x", g)
	}
	if g := Float32ToBF16(1 + 3.0/256); g != 0x3f82 {
		t.Errorf("tie up: got %#04x", g)
	}
}
