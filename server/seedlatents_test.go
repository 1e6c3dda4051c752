package server

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

// remapFake is a fakeModel whose seeds map through SeedLatents (as the face check's
// do): seed s draws the latent of s+1000, and err makes the call fail.
type remapFake struct {
	*fakeModel
	err   error
	calls int
}

func (f *remapFake) SeedLatents(ctx context.Context, seeds ...uint64) ([]float32, error) {
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	z := make([]float32, len(seeds)*f.zdim)
	for i, s := range seeds {
		f.Latent(s+1000, z[i*f.zdim:(i+1)*f.zdim])
	}
	return z, nil
}

// TestSeedLatents: a model with SeedLatents decides every request's latents (avatar,
// grid, interpolation ends), in one call per request, and its error fails the request.
func TestSeedLatents(t *testing.T) {
	f := &remapFake{fakeModel: newFake()}
	plain := newTestServer(t, f.fakeModel, Options{}).Handler()
	h := newTestServer(t, f, Options{}).Handler()
	for _, c := range []struct{ got, want string }{
		{"/avatar/7.png", "/avatar/1007.png"},
		{"/grid.png?seed=5&n=3", "/grid.png?seed=1005&n=3"},
		{"/interpolate.gif?from=1&to=2&steps=3", "/interpolate.gif?from=1001&to=1002&steps=3"},
	} {
		before := f.calls
		a := get(t, h, "GET", c.got)
		b := get(t, plain, "GET", c.want)
		if a.Code != 200 || b.Code != 200 {
			t.Fatalf("%s: %d, %s: %d", c.got, a.Code, c.want, b.Code)
		}
		if !bytes.Equal(a.Body.Bytes(), b.Body.Bytes()) {
			t.Errorf("%s did not draw the latents SeedLatents gave (those of %s)", c.got, c.want)
		}
		if f.calls != before+1 {
			t.Errorf("%s: %d SeedLatents calls, want 1", c.got, f.calls-before)
		}
	}
	f.err = errors.New("boom")
	if r := get(t, h, "GET", "/avatar/8.png"); r.Code < 500 {
		t.Errorf("a failing SeedLatents gave %d, want a 5xx", r.Code)
	}
}
