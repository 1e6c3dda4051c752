package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"strings"
	"testing"
	"time"
)

// remapFake is a fakeModel whose seeds map through SeedAvatars (as the face check's
// do): seed s draws the latent of s+1000, rendered with the generate it is handed, and
// err makes the call fail.
type remapFake struct {
	*fakeModel
	err   error
	calls int
	// held, when set, reports the encode slots in use; each detect pass records it
	// in detected.
	held     func() int
	detected []int
}

func (f *remapFake) SeedAvatars(ctx context.Context, seeds []uint64, generate func(context.Context, []float32) ([]*image.RGBA, error), detect func(context.Context, func()) error) ([]float32, []*image.RGBA, error) {
	f.calls++
	if f.err != nil {
		return nil, nil, f.err
	}
	z := make([]float32, len(seeds)*f.zdim)
	for i, s := range seeds {
		f.Latent(s+1000, z[i*f.zdim:(i+1)*f.zdim])
	}
	imgs, err := generate(ctx, z)
	if err == nil && f.held != nil {
		err = detect(ctx, func() { f.detected = append(f.detected, f.held()) })
	}
	return z, imgs, err
}

// The face detector's passes run in an encode slot: one holds a slot while it runs,
// and with every slot taken a request's pass waits, and gives up when its request
// does, without running.
func TestSeedAvatarsDetectInSlot(t *testing.T) {
	f := &remapFake{fakeModel: newFake()}
	s := newTestServer(t, f, Options{EncodeSlots: 1})
	f.held = func() int { return len(s.work.slots) }
	if r := get(t, s.Handler(), "GET", "/grid.png?seed=5&n=3"); r.Code != 200 {
		t.Fatalf("%d %s", r.Code, r.Body)
	}
	if len(f.detected) != 1 || f.detected[0] != 1 {
		t.Fatalf("detect passes saw %v slots held, want one pass holding the slot", f.detected)
	}
	release := make(chan struct{})
	taken := make(chan struct{})
	go s.work.encode(context.Background(), func() error { close(taken); <-release; return nil })
	<-taken
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	ran := false
	if err := s.detect(ctx, func() { ran = true }); !errors.Is(err, context.DeadlineExceeded) || ran {
		t.Errorf("detect with every slot taken: %v, ran %v; want the deadline's error, not run", err, ran)
	}
	close(release)
}

// TestSeedAvatars: a model with SeedAvatars decides every request's latents (avatar,
// grid, zip, interpolation ends) in one call per request, its passes go through the
// batcher, its images are served as they are at truncation 1 (one generator pass in
// all) and rendered again at another truncation, and its error fails the request.
func TestSeedAvatars(t *testing.T) {
	f := &remapFake{fakeModel: newFake()}
	plain := newTestServer(t, newFake(), Options{}).Handler()
	h := newTestServer(t, f, Options{}).Handler()
	for _, c := range []struct {
		got, want string // want: the plain server's URL for the same pictures ("" for a zip, whose names differ)
		passes    int
	}{
		{"/avatar/7.png", "/avatar/1007.png", 1},
		{"/avatar/7.png?t=0.5", "/avatar/1007.png?t=0.5", 2},
		{"/grid.png?seed=5&n=3", "/grid.png?seed=1005&n=3", 1},
		{"/batch.zip?seed=5&n=2", "", 1},
		{"/interpolate.gif?from=1&to=2&steps=3", "/interpolate.gif?from=1001&to=1002&steps=3", 2},
	} {
		calls, passes := f.calls, len(f.batchSizes())
		a := get(t, h, "GET", c.got)
		if a.Code != 200 {
			t.Fatalf("%s: %d %s", c.got, a.Code, a.Body)
		}
		if c.want != "" {
			if b := get(t, plain, "GET", c.want); b.Code != 200 || !bytes.Equal(a.Body.Bytes(), b.Body.Bytes()) {
				t.Errorf("%s did not draw the latents SeedAvatars gave (those of %s)", c.got, c.want)
			}
		}
		if f.calls != calls+1 {
			t.Errorf("%s: %d SeedAvatars calls, want 1", c.got, f.calls-calls)
		}
		if got := len(f.batchSizes()) - passes; got != c.passes {
			t.Errorf("%s: %d generator passes, want %d", c.got, got, c.passes)
		}
	}
	// Every pass the model made was one the batcher ran (and counted).
	m := get(t, h, "GET", "/metrics").Body.String()
	if want := fmt.Sprintf("avatargan_batch_size_count %d\n", len(f.batchSizes())); !strings.Contains(m, want) {
		t.Errorf("the generator passes did not all go through the batcher: metrics lack %q", strings.TrimSpace(want))
	}
	f.err = errors.New("boom")
	if r := get(t, h, "GET", "/avatar/8.png"); r.Code < 500 {
		t.Errorf("a failing SeedAvatars gave %d, want a 5xx", r.Code)
	}
}
