package checkpoint

import "math"

// Float32ToHalf converts f to IEEE 754 binary16 bits, rounding to nearest
// with ties to even (the rounding PyTorch's .half() uses), so that weights we
// save as F16 match what PyTorch itself would have stored. Values beyond the
// half range become ±Inf, tiny values become subnormals or signed zero, and
// NaN stays NaN (quieted, keeping the top payload bits).
func Float32ToHalf(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	mant := b & 0x7fffff

	if exp == 0xff { // Inf or NaN
		if mant == 0 {
			return sign | 0x7c00
		}
		// Force the quiet bit: truncating the payload could otherwise
		// turn a NaN into Inf.
		return sign | 0x7c00 | 0x0200 | uint16(mant>>13)
	}

	e := exp - 127 + 15 // rebias
	if e >= 0x1f {
		return sign | 0x7c00 // overflow
	}
	if e <= 0 {
		// Result is subnormal (or rounds up to the smallest normal).
		// Below half of the smallest subnormal (2^-25) everything rounds
		// to zero; exactly 2^-25 is handled by the tie rule below.
		if e < -10 {
			return sign
		}
		m := mant | 0x800000 // implicit leading 1 (float32 subnormals land in e < -10)
		shift := uint(14 - e)
		hm := m >> shift
		rem := m & (1<<shift - 1)
		halfway := uint32(1) << (shift - 1)
		if rem > halfway || (rem == halfway && hm&1 == 1) {
			hm++ // may carry into the exponent field: that is the correct smallest normal
		}
		return sign | uint16(hm)
	}

	h := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && h&1 == 1) {
		h++ // a carry into the exponent is correct, including overflow to Inf (0x7c00)
	}
	return sign | uint16(h)
}

// HalfToFloat32 converts IEEE 754 binary16 bits to float32. Every half value
// is exactly representable in float32, so this is exact (NaN payloads kept).
func HalfToFloat32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp == 0 && mant == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal: normalise into float32's wider exponent range
		e := uint32(127 - 15 + 1)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		mant &= 0x3ff
		return math.Float32frombits(sign | e<<23 | mant<<13)
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	default:
		return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
	}
}

// Float32ToBF16 converts f to bfloat16 bits with round-to-nearest-even,
// matching PyTorch's float32 -> bfloat16 cast. NaN stays a quiet NaN.
func Float32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7f800000 == 0x7f800000 && b&0x7fffff != 0 {
		return uint16(b>>16) | 0x0040
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// BF16ToFloat32 converts bfloat16 bits to float32; exact, since bfloat16 is
// the top half of a float32.
func BF16ToFloat32(h uint16) float32 {
	return math.Float32frombits(uint32(h) << 16)
}
