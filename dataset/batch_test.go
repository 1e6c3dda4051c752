package dataset

import (
	"slices"
	"testing"
	"time"
)

// synthSet makes a Set of n images whose pixels encode (image, y, x, c), so
// any misplaced value is detectable.
func synthSet(n, size int) *Set {
	stride := size * size * 3
	s := &Set{size: size, stride: stride, pix: make([]uint8, n*stride), paths: make([]string, n)}
	for i := range n {
		img := s.pix[i*stride : (i+1)*stride]
		for y := range size {
			for x := range size {
				for c := range 3 {
					img[(y*size+x)*3+c] = uint8(i*7 + y*13 + x*3 + c*85)
				}
			}
		}
		s.paths[i] = string(rune('a' + i%26))
	}
	return s
}

func mustBatches(t testing.TB, s *Set, o BatchOptions) *Batcher {
	t.Helper()
	b, err := s.Batches(o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBatchLayoutScaleFlip(t *testing.T) {
	const n, size = 10, 5
	s := synthSet(n, size)
	s.pix[0], s.pix[1] = 0, 255 // exact ends of the range
	for _, flip := range []bool{false, true} {
		b := mustBatches(t, s, BatchOptions{Batch: 4, Seed: 3, Shuffle: true, Flip: flip})
		order, flips := b.Epoch(0)
		dst := make([]float32, b.BatchLen())
		for bi := 0; bi < b.BatchesPerEpoch(); bi++ {
			e, got, cnt := b.Next(dst)
			if e != 0 || got != bi || cnt != 4 {
				t.Fatalf("position %d,%d,%d", e, got, cnt)
			}
			for j := range 4 {
				k := bi*4 + j
				img := s.Image(order[k])
				for c := range 3 {
					for y := range size {
						for x := range size {
							sx := x
							if flips[k] {
								sx = size - 1 - x
							}
							v := img[(y*size+sx)*3+c]
							want := float32(v)/127.5 - 1
							if got := dst[((j*3+c)*size+y)*size+x]; got != want {
								t.Fatalf("flip=%v batch %d img %d c%d y%d x%d: %v want %v", flip, bi, j, c, y, x, got, want)
							}
						}
					}
				}
			}
		}
		if !flip && slices.Contains(flips, true) {
			t.Fatal("flips without Flip")
		}
		if flip && !slices.Contains(flips, true) {
			t.Fatal("Flip never flipped")
		}
	}
	b := mustBatches(t, s, BatchOptions{Batch: 1})
	dst := make([]float32, b.BatchLen())
	b.Next(dst)
	if dst[0] != -1 || dst[size*size] != 1 {
		t.Fatalf("scaling: 0 -> %v, 255 -> %v", dst[0], dst[size*size])
	}
}

func TestBatchOrder(t *testing.T) {
	const n = 1000
	s := synthSet(n, 2)
	base := BatchOptions{Batch: 64, Seed: 42, Shuffle: true, Flip: true}
	b1, b2 := mustBatches(t, s, base), mustBatches(t, s, base)
	o := base
	o.Seed = 43
	b3 := mustBatches(t, s, o)

	o0, f0 := b1.Epoch(0)
	o1, _ := b1.Epoch(1)
	p0, g0 := b2.Epoch(0)
	q0, _ := b3.Epoch(0)
	if !slices.Equal(o0, p0) || !slices.Equal(f0, g0) {
		t.Fatal("same seed, different epoch 0")
	}
	if slices.Equal(o0, o1) || slices.Equal(o0, q0) {
		t.Fatal("epochs or seeds do not change the order")
	}
	sorted := slices.Clone(o0)
	slices.Sort(sorted)
	for i, v := range sorted {
		if v != i {
			t.Fatal("epoch order is not a permutation")
		}
	}
	nflip := 0
	for _, f := range f0 {
		if f {
			nflip++
		}
	}
	if nflip < n/2-100 || nflip > n/2+100 {
		t.Fatalf("%d of %d flipped", nflip, n)
	}
	// Flip does not perturb the order.
	o = base
	o.Flip = false
	if a, _ := mustBatches(t, s, o).Epoch(0); !slices.Equal(a, o0) {
		t.Fatal("Flip changed the order")
	}
	// Golden values: the order must not change across Go releases or
	// refactors, or resuming an old run would silently differ.
	if got := o0[:8]; !slices.Equal(got, goldenOrder) {
		t.Fatalf("epoch 0 order starts %v, golden %v", got, goldenOrder)
	}

	// No shuffle: sorted file order every epoch, as the original.
	o = BatchOptions{Batch: 64}
	b4 := mustBatches(t, s, o)
	for e := range 3 {
		ord, _ := b4.Epoch(e)
		for i, v := range ord {
			if v != i {
				t.Fatal("unshuffled order is not identity")
			}
		}
	}
	if b4.BatchesPerEpoch() != n/64 {
		t.Fatal("last partial batch not dropped")
	}
}

// goldenOrder is the first 8 indices of epoch 0 for n=1000, seed 42.
var goldenOrder = []int{694, 153, 271, 486, 720, 896, 392, 653}

func TestBatchResume(t *testing.T) {
	const n, size = 203, 3
	s := synthSet(n, size)
	for _, o := range []BatchOptions{
		{Batch: 16, Seed: 7, Shuffle: true, Flip: true},
		{Batch: 16, Seed: 7, Shuffle: true, Flip: true, KeepLast: true},
		{Batch: 50, Seed: 1},
	} {
		ref := mustBatches(t, s, o)
		per := ref.BatchesPerEpoch()
		type rec struct {
			e, b, n int
			v       []float32
		}
		var all []rec
		for range 4 * per {
			dst := make([]float32, ref.BatchLen())
			e, b, cnt := ref.Next(dst)
			all = append(all, rec{e, b, cnt, dst})
		}
		if o.KeepLast && all[per-1].n != n%16 {
			t.Fatalf("KeepLast: last batch has %d", all[per-1].n)
		}
		for start := range all {
			r := mustBatches(t, s, o)
			// Dirty the batcher first: Seek must not depend on history.
			r.Next(make([]float32, r.BatchLen()))
			r.Seek(all[start].e, all[start].b)
			for k := start; k < min(start+per+2, len(all)); k++ {
				dst := make([]float32, r.BatchLen())
				e, b, cnt := r.Next(dst)
				if e != all[k].e || b != all[k].b || cnt != all[k].n || !slices.Equal(dst[:cnt*3*size*size], all[k].v[:cnt*3*size*size]) {
					t.Fatalf("%+v: resumed at %d,%d; batch %d,%d differs", o, all[start].e, all[start].b, e, b)
				}
			}
		}
		// Seeking to the end of an epoch means the next one's start.
		r := mustBatches(t, s, o)
		r.Seek(1, per)
		if e, b, _ := r.Next(make([]float32, r.BatchLen())); e != 2 || b != 0 {
			t.Fatalf("Seek(1, per) gave %d,%d", e, b)
		}
	}
}

func TestBatchErrorsAndAllocs(t *testing.T) {
	s := synthSet(10, 4)
	if _, err := s.Batches(BatchOptions{Batch: 0}); err == nil {
		t.Error("batch 0 accepted")
	}
	if _, err := s.Batches(BatchOptions{Batch: 11}); err == nil {
		t.Error("batch > len accepted without KeepLast")
	}
	if b, err := s.Batches(BatchOptions{Batch: 11, KeepLast: true}); err != nil || b.BatchesPerEpoch() != 1 {
		t.Error("KeepLast with batch > len", err)
	}
	b := mustBatches(t, s, BatchOptions{Batch: 3, Shuffle: true, Flip: true})
	dst := make([]float32, b.BatchLen())
	// Many epochs' worth, so epoch rollovers (re-planning) are included.
	if a := testing.AllocsPerRun(100, func() { b.Next(dst) }); a != 0 {
		t.Fatalf("Next allocates: %v", a)
	}
}

// BenchmarkBatches iterates shuffled, flipped 64-image batches of 48 px
// images (the training configuration) from an in-memory set the size of the
// faces cache (33,431 images, 231 MB), so memory traffic is realistic.
func BenchmarkBatches(b *testing.B) {
	s := synthSet(33431, 48)
	bt := mustBatches(b, s, BatchOptions{Batch: 64, Seed: 1, Shuffle: true, Flip: true})
	dst := make([]float32, bt.BatchLen())
	b.ReportAllocs()
	start, cpu := time.Now(), processCPU()
	for b.Loop() {
		bt.Next(dst)
	}
	b.ReportMetric(float64(b.N*64)/time.Since(start).Seconds(), "images/s")
	if c := processCPU() - cpu; c > 0 {
		// Throughput per CPU-second: what one uncontended core achieves.
		b.ReportMetric(float64(b.N*64)/c.Seconds(), "images/cpu-s")
	}
}
