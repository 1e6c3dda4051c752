package server

import (
	"context"
	"errors"
	"sync/atomic"
)

// errBusy is a request refused because admitted requests already hold the work
// budget; like a full queue it is a 503 the client should retry.
var errBusy = errors.New("server busy: too much work in progress")

// work bounds what requests do outside the batcher. Admission (admit) reserves a
// request's estimated memory for its whole life, from before generation to its last
// byte written, and refuses at once when the budget is spent: requests are never
// left waiting unboundedly. Encode slots bound the CPU-bound part (resizing,
// PNG/GIF/zip encoding) so that admitted requests share the cores instead of all
// encoding at once and all missing their deadline.
type work struct {
	budget int64
	used   atomic.Int64
	slots  chan struct{}
	// waiting counts the encodes waiting for a slot (what a test waits on to know
	// the slots are contended).
	waiting atomic.Int32
}

func newWork(budget int64, slots int) *work {
	return &work{budget: budget, slots: make(chan struct{}, slots)}
}

// admit reserves cost bytes; the caller must call the returned release once.
func (w *work) admit(cost int64) (release func(), err error) {
	if cost > w.budget {
		return nil, badf("request too large: needs %d MiB, the server allows %d MiB at once", cost>>20, w.budget>>20)
	}
	if w.used.Add(cost) > w.budget {
		w.used.Add(-cost)
		return nil, errBusy
	}
	var once atomic.Bool
	return func() {
		if once.CompareAndSwap(false, true) {
			w.used.Add(-cost)
		}
	}, nil
}

// encode runs f in an encode slot, waiting for one until ctx ends.
func (w *work) encode(ctx context.Context, f func() error) error {
	w.waiting.Add(1)
	select {
	case w.slots <- struct{}{}:
		w.waiting.Add(-1)
	case <-ctx.Done():
		w.waiting.Add(-1)
		return ctx.Err()
	}
	defer func() { <-w.slots }()
	return f()
}

// Cost estimates, in bytes, of what a request holds at its peak.

// imageBytes is one RGBA image of side px.
func imageBytes(px int) int64 { return int64(px) * int64(px) * 4 }
