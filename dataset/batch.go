package dataset

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
)

// BatchOptions configures a Batcher.
type BatchOptions struct {
	Batch int    // images per batch (required, > 0)
	Seed  uint64 // shuffle and flip seed
	// Shuffle reorders the images every epoch. Without it every epoch is in
	// sorted path order, as the original program read them.
	Shuffle  bool
	Flip     bool // mirror each image horizontally with probability 1/2
	KeepLast bool // also yield the final partial batch of an epoch
}

// Batcher yields batches from a Set. The order and flips of epoch e depend
// only on (Seed, e), never on what was produced before, which is what makes
// Seek exact. A Batcher is not safe for concurrent use; create one per
// goroutine if needed (they are cheap: one []int32 of Len).
type Batcher struct {
	set   *Set
	o     BatchOptions
	per   int // batches per epoch
	epoch int // position of the next batch
	batch int
	// perm and flip describe permEpoch; rebuilt in place when the epoch
	// changes, so Next never allocates.
	perm      []int32
	flip      []uint64 // bitset over positions in the epoch
	permEpoch int
	lut       [256]float32
}

// Batches returns a Batcher positioned at epoch 0, batch 0. It fails if the
// options are invalid or the Set cannot fill even one batch.
func (s *Set) Batches(o BatchOptions) (*Batcher, error) {
	if o.Batch <= 0 {
		return nil, fmt.Errorf("dataset: batch size must be positive, got %d", o.Batch)
	}
	n := s.Len()
	per := n / o.Batch
	if o.KeepLast {
		per = (n + o.Batch - 1) / o.Batch
	}
	if per == 0 {
		return nil, fmt.Errorf("dataset: %d images cannot fill one batch of %d", n, o.Batch)
	}
	b := &Batcher{set: s, o: o, per: per, perm: make([]int32, n), flip: make([]uint64, (n+63)/64), permEpoch: -1}
	for v := range b.lut {
		// Same arithmetic as the original: x/127.5 - 1, in float32.
		b.lut[v] = float32(v)/127.5 - 1
	}
	return b, nil
}

// BatchesPerEpoch is the number of batches Next yields per epoch.
func (b *Batcher) BatchesPerEpoch() int { return b.per }

// BatchLen is the float32 length dst must have for Next: Batch*3*Size*Size.
func (b *Batcher) BatchLen() int { return b.o.Batch * b.set.stride }

// Seek positions the Batcher so the next call to Next yields (epoch, batch),
// exactly as an uninterrupted run would have. batch may be
// BatchesPerEpoch(), meaning the start of the next epoch. It panics on a
// negative position or batch > BatchesPerEpoch(): a checkpoint from a run
// with other batch settings is a caller bug, not a recoverable condition.
func (b *Batcher) Seek(epoch, batch int) {
	if epoch < 0 || batch < 0 || batch > b.per {
		panic(fmt.Sprintf("dataset: Seek(%d, %d) out of range (%d batches per epoch)", epoch, batch, b.per))
	}
	if batch == b.per {
		epoch, batch = epoch+1, 0
	}
	b.epoch, b.batch = epoch, batch
}

// Next fills dst (len BatchLen(), NCHW float32 in [-1, 1]; it panics on
// another length) with the next
// batch and returns its position and image count n; n is Batch except for
// a KeepLast final partial batch, where dst beyond n images is untouched.
// It then advances, rolling over to the next epoch. It does not allocate.
func (b *Batcher) Next(dst []float32) (epoch, batch, n int) {
	if len(dst) != b.BatchLen() {
		panic(fmt.Sprintf("dataset: Next: dst has %d floats, want %d", len(dst), b.BatchLen()))
	}
	epoch, batch = b.epoch, b.batch
	if b.permEpoch != epoch {
		b.plan(epoch)
	}
	lo := batch * b.o.Batch
	hi := min(lo+b.o.Batch, len(b.perm))
	stride := b.set.stride
	for k := lo; k < hi; k++ {
		i := int(b.perm[k])
		b.fill(dst[(k-lo)*stride:(k-lo+1)*stride], b.set.pix[i*stride:(i+1)*stride], b.flip[k>>6]>>(k&63)&1 != 0)
	}
	b.batch++
	if b.batch == b.per {
		b.epoch, b.batch = b.epoch+1, 0
	}
	return epoch, batch, hi - lo
}

// Epoch returns the image order and flips of an epoch, as Next uses them
// (order[k] is the Set index at position k), for inspection and tests.
func (b *Batcher) Epoch(epoch int) (order []int, flipped []bool) {
	b.plan(epoch)
	order, flipped = make([]int, len(b.perm)), make([]bool, len(b.perm))
	for k, i := range b.perm {
		order[k], flipped[k] = int(i), b.flip[k>>6]>>(k&63)&1 != 0
	}
	return order, flipped
}

// plan computes perm and flip for an epoch from (Seed, epoch) alone. The
// generator is PCG (a fixed, documented algorithm) and the shuffle and
// bounded draws are implemented here rather than via rand.Shuffle, so the
// order cannot change with a Go release.
func (b *Batcher) plan(epoch int) {
	for i := range b.perm {
		b.perm[i] = int32(i)
	}
	if b.o.Shuffle {
		var r rand.PCG
		r.Seed(b.o.Seed, uint64(epoch)<<1)
		for i := len(b.perm) - 1; i > 0; i-- {
			j := bounded(&r, uint64(i+1))
			b.perm[i], b.perm[j] = b.perm[j], b.perm[i]
		}
	}
	clear(b.flip)
	if b.o.Flip {
		// A separate stream (odd sequence), so enabling flips does not
		// change the order and vice versa.
		var r rand.PCG
		r.Seed(b.o.Seed, uint64(epoch)<<1|1)
		for w := range b.flip {
			b.flip[w] = r.Uint64()
		}
		if tail := len(b.perm) & 63; tail != 0 {
			b.flip[len(b.flip)-1] &= 1<<tail - 1
		}
	}
	b.permEpoch = epoch
}

// bounded returns a uniform value in [0, n) (Lemire's multiply-shift with
// rejection, so there is no modulo bias).
func bounded(r *rand.PCG, n uint64) uint64 {
	hi, lo := bits.Mul64(r.Uint64(), n)
	if lo < n {
		thresh := -n % n
		for lo < thresh {
			hi, lo = bits.Mul64(r.Uint64(), n)
		}
	}
	return hi
}

// fill converts one HWC uint8 image to CHW float32 via the lookup table,
// mirrored horizontally if flip. One pass over the source, three output
// planes written sequentially; ~2 ns per pixel.
func (b *Batcher) fill(dst []float32, src []uint8, flip bool) {
	s := b.set.size
	plane := s * s
	r, g, bl := dst[:plane:plane], dst[plane:2*plane:2*plane], dst[2*plane:3*plane:3*plane]
	lut := &b.lut
	for y := 0; y < s; y++ {
		row := src[y*s*3 : (y+1)*s*3 : (y+1)*s*3]
		o := y * s
		if !flip {
			for x := 0; x < s; x++ {
				p := row[x*3 : x*3+3 : x*3+3]
				r[o+x] = lut[p[0]]
				g[o+x] = lut[p[1]]
				bl[o+x] = lut[p[2]]
			}
		} else {
			for x := 0; x < s; x++ {
				p := row[(s-1-x)*3 : (s-1-x)*3+3 : (s-1-x)*3+3]
				r[o+x] = lut[p[0]]
				g[o+x] = lut[p[1]]
				bl[o+x] = lut[p[2]]
			}
		}
	}
}
