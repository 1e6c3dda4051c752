package nn

// Scratch is memory for the temporaries that live only inside one layer call: a
// transposed convolution's column matrix (forward and backward), the tap-split path's
// GEMM-order copies and its tap-major weight gradient. Layers of one network run one
// after another, so they can all draw on one Scratch sized for the largest call instead
// of each holding its own buffers, which for the reference nets are several times larger
// (deconv3's column matrix alone is 59 MB at batch 64).
//
// A layer whose Scratch field is nil uses a private one. Layers sharing a Scratch must
// not run concurrently, and nothing a layer returns or keeps for Backward lives in it.
// The contents are undefined at the start of every call.
type Scratch struct {
	buf []float32
	off int
}

// Reserve makes s hold at least n floats, so that calls needing up to n allocate
// nothing. A network reserves its largest call's need (see the layers' ScratchLen)
// before its first layer runs, so the buffer is allocated once at its final size
// rather than grown layer by layer, leaving the smaller buffers behind as garbage.
func (s *Scratch) Reserve(n int) {
	if cap(s.buf) < n {
		s.buf = make([]float32, n)
	}
}

// Len returns the number of floats s holds.
func (s *Scratch) Len() int { return cap(s.buf) }

// begin starts a layer call that needs n floats in all.
func (s *Scratch) begin(n int) {
	s.Reserve(n)
	s.off = 0
}

// alloc returns the next n floats of the current call (contents undefined).
func (s *Scratch) alloc(n int) []float32 {
	b := s.buf[s.off : s.off+n : s.off+n]
	s.off += n
	return b
}
