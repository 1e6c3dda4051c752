package server

import (
	"context"
	"errors"
	"fmt"
	"image"
	"sync"
	"sync/atomic"
	"time"
)

// errQueueFull and errClosed become 503s; the client should retry later.
var (
	errQueueFull = errors.New("server busy: generation queue is full")
	errClosed    = errors.New("server is shutting down")
)

// job is one request's images: n latents, rendered possibly across several
// batches (a 256-image grid spans 4 batches of 64). Only the batcher goroutine
// touches out, done and err until ch is closed, which publishes them.
type job struct {
	ctx  context.Context
	z    []float32 // n*zdim latents
	n    int
	next int // first latent not yet handed to a batch
	done int // images finished (rendered or skipped)
	out  []*image.RGBA
	err  error
	ch   chan struct{}
}

// piece is a slice of a job that goes into one batch.
type piece struct {
	j        *job
	off, cnt int
}

type batcher struct {
	model    Model
	zdim     int
	window   time.Duration
	maxBatch int
	queueCap int64
	metrics  *metrics

	pending atomic.Int64 // images admitted and not yet finished
	queue   chan *job
	stop    chan struct{}
	stopped chan struct{}
	mu      sync.RWMutex // guards closed against a send racing close
	closed  bool
}

func newBatcher(m Model, zdim int, window time.Duration, maxBatch, queueCap int, mt *metrics) *batcher {
	b := &batcher{
		model: m, zdim: zdim, window: window, maxBatch: maxBatch, queueCap: int64(queueCap), metrics: mt,
		// Every job holds >= 1 image of the capacity, so queueCap jobs always fit
		// and submit never blocks on the channel.
		queue:   make(chan *job, queueCap),
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	go b.run()
	return b
}

// generate renders the n latents in z, waiting for the batcher; it returns early
// with ctx's error when the request is cancelled.
func (b *batcher) generate(ctx context.Context, z []float32) ([]*image.RGBA, error) {
	n := len(z) / b.zdim
	if b.pending.Add(int64(n)) > b.queueCap {
		b.pending.Add(-int64(n))
		b.metrics.rejected.Inc()
		return nil, errQueueFull
	}
	j := &job{ctx: ctx, z: z, n: n, out: make([]*image.RGBA, n), ch: make(chan struct{})}
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		b.pending.Add(-int64(n))
		return nil, errClosed
	}
	b.queue <- j
	b.mu.RUnlock()
	b.metrics.queued.Set(float64(b.pending.Load()))
	select {
	case <-j.ch:
		return j.out, j.err
	case <-ctx.Done():
		// The batcher skips the job's remaining latents and releases its capacity.
		return nil, ctx.Err()
	}
}

func (b *batcher) close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	close(b.stop)
	<-b.stopped
}

// run is the batcher loop: take the first job, gather more for up to window (or
// until the batch is full), render one batch, hand out the results, repeat.
// Jobs not finished in one batch carry over to the front of the next.
func (b *batcher) run() {
	defer close(b.stopped)
	var carry []*job // jobs with latents not yet handed to a batch, in arrival order
	defer func() {
		// Fail whatever is still queued so no request waits forever.
		for {
			select {
			case j := <-b.queue:
				carry = append(carry, j)
			default:
				for _, j := range carry {
					b.finish(j, j.n-j.done, errClosed)
				}
				return
			}
		}
	}()
	zbuf := make([]float32, 0, b.maxBatch*b.zdim)
	var pieces []piece
	for {
		if len(carry) == 0 {
			select {
			case j := <-b.queue:
				carry = append(carry, j)
			case <-b.stop:
				return
			}
		}
		count := 0
		for _, j := range carry {
			count += j.n - j.next
		}
		// Take what is already queued without waiting: under load the queue fills
		// while the previous batch renders, and waiting would only add latency.
	drain:
		for count < b.maxBatch {
			select {
			case j := <-b.queue:
				carry = append(carry, j)
				count += j.n
			default:
				break drain
			}
		}
		if count < b.maxBatch && b.window > 0 {
			t := time.NewTimer(b.window)
		gather:
			for count < b.maxBatch {
				select {
				case j := <-b.queue:
					carry = append(carry, j)
					count += j.n
				case <-t.C:
					break gather
				case <-b.stop:
					t.Stop()
					return
				}
			}
			t.Stop()
		}

		// Assemble the batch, skipping cancelled requests (nobody reads their images).
		zbuf, pieces = zbuf[:0], pieces[:0]
		kept := carry[:0]
		for _, j := range carry {
			if err := j.ctx.Err(); err != nil {
				b.finish(j, j.n-j.next, err)
				continue
			}
			if room := b.maxBatch - len(zbuf)/b.zdim; room > 0 {
				cnt := min(room, j.n-j.next)
				zbuf = append(zbuf, j.z[j.next*b.zdim:(j.next+cnt)*b.zdim]...)
				pieces = append(pieces, piece{j, j.next, cnt})
				j.next += cnt
			}
			if j.next < j.n {
				kept = append(kept, j)
			}
		}
		clear(carry[len(kept):]) // drop references for the GC
		carry = kept
		if len(pieces) == 0 {
			continue
		}
		imgs, err := b.render(zbuf)
		at := 0
		for _, p := range pieces {
			if err == nil {
				copy(p.j.out[p.off:], imgs[at:at+p.cnt])
			}
			at += p.cnt
			b.finish(p.j, p.cnt, err)
		}
	}
}

// render runs one Generate call, converting a panic or a wrong image count into
// an error so a model bug fails requests instead of killing the server.
func (b *batcher) render(z []float32) (imgs []*image.RGBA, err error) {
	n := len(z) / b.zdim
	defer func() {
		if r := recover(); r != nil {
			imgs, err = nil, fmt.Errorf("model panicked: %v", r)
		}
	}()
	start := time.Now()
	imgs, err = b.model.Generate(z)
	b.metrics.genSeconds.Observe(time.Since(start).Seconds())
	b.metrics.batchSize.Observe(float64(n))
	if err == nil && len(imgs) != n {
		err = fmt.Errorf("model returned %d images for %d latents", len(imgs), n)
	}
	if err == nil {
		b.metrics.images.Add(float64(n))
	}
	return imgs, err
}

// finish records cnt images of j as done (with err, if any) and completes j when
// all are; it releases their queue capacity.
func (b *batcher) finish(j *job, cnt int, err error) {
	if err != nil && j.err == nil {
		j.err = err
	}
	j.done += cnt
	b.pending.Add(-int64(cnt))
	b.metrics.queued.Set(float64(b.pending.Load()))
	if j.done == j.n {
		j.next = j.n
		close(j.ch)
	}
}
