package server

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestCachingHonest checks that no URL cached forever can show another model's
// pixels: plain URLs are revalidated (their ETag names the model), immutable
// caching is only for /m/{version}/ URLs, and a server with another model does not
// answer those.
func TestCachingHonest(t *testing.T) {
	f := newFake()
	s1 := newTestServer(t, f, Options{ModelID: "ckpt-1"})
	s2 := newTestServer(t, f, Options{ModelID: "ckpt-2"})
	if s1.Version() == s2.Version() || len(s1.Version()) < 8 {
		t.Fatalf("versions %q and %q", s1.Version(), s2.Version())
	}
	h1, h2 := s1.Handler(), s2.Handler()
	for _, p := range []string{
		"/avatar/5.png?size=64", "/avatar/by-name/bob.png", "/grid.png?n=4",
		"/interpolate.gif?from=1&to=2&steps=3", "/batch.zip?n=2",
	} {
		plain := get(t, h1, "GET", p)
		cc := plain.Header().Get("Cache-Control")
		if plain.Code != 200 || strings.Contains(cc, "immutable") || !strings.Contains(cc, "no-cache") {
			t.Errorf("%s: %d, Cache-Control %q: want revalidation", p, plain.Code, cc)
		}
		loc := plain.Header().Get("Content-Location")
		if loc != "/m/"+s1.Version()+p {
			t.Errorf("%s: Content-Location %q", p, loc)
		}
		v := get(t, h1, "GET", loc)
		if v.Code != 200 || v.Header().Get("Cache-Control") != "public, max-age=31536000, immutable" {
			t.Errorf("%s: %d, Cache-Control %q: want immutable", loc, v.Code, v.Header().Get("Cache-Control"))
		}
		if !bytes.Equal(v.Body.Bytes(), plain.Body.Bytes()) || v.Header().Get("ETag") != plain.Header().Get("ETag") {
			t.Errorf("%s: versioned URL differs from the plain one", p)
		}
		// Another model: the plain URL revalidates to new bytes, the versioned one is gone.
		if r := get(t, h2, "GET", p, "If-None-Match", plain.Header().Get("ETag")); r.Code != 200 {
			t.Errorf("%s on another model with the old ETag: %d, want 200", p, r.Code)
		}
		r := get(t, h2, "GET", loc)
		if r.Code != 404 || strings.Contains(r.Header().Get("Cache-Control"), "immutable") ||
			!strings.Contains(r.Body.String(), s2.Version()) {
			t.Errorf("%s on another model: %d %q %s", loc, r.Code, r.Header().Get("Cache-Control"), r.Body)
		}
	}
	var hz struct{ Status, Model string }
	if err := json.Unmarshal(get(t, h1, "GET", "/healthz").Body.Bytes(), &hz); err != nil || hz.Model != s1.Version() {
		t.Errorf("healthz %+v (%v), want model %s", hz, err, s1.Version())
	}
}

// TestUnknownParameters checks that a misspelled parameter is a 400 naming it,
// not silently the default image.
func TestUnknownParameters(t *testing.T) {
	s := newTestServer(t, newFake(), Options{})
	r := get(t, s.Handler(), "GET", "/avatar/1.png?sise=96&colour=red&t=1")
	var body struct{ Error string }
	json.Unmarshal(r.Body.Bytes(), &body)
	if r.Code != 400 || !strings.Contains(body.Error, `"colour"`) || !strings.Contains(body.Error, `"sise"`) ||
		strings.Contains(body.Error, `"t"`) {
		t.Errorf("%d %q: want 400 naming colour and sise only", r.Code, body.Error)
	}
}

// TestOptionsBounded checks that New refuses sizes and values it cannot honour,
// before allocating anything (a 2^40-slot queue would die of memory).
func TestOptionsBounded(t *testing.T) {
	bad := map[string]Options{
		"truncation NaN":     {Truncation: math.NaN()},
		"truncation +Inf":    {Truncation: math.Inf(1)},
		"truncation -Inf":    {Truncation: math.Inf(-1)},
		"truncation 2":       {Truncation: 2},
		"truncation 0.05":    {Truncation: 0.05},
		"truncation -1":      {Truncation: -1},
		"queue 2^40":         {QueueCap: 1 << 40},
		"queue -1":           {QueueCap: -1},
		"queue over memory":  {QueueCap: MaxQueue(16, 48) + 1},
		"max batch 1e12":     {MaxBatch: 1e12},
		"max batch > queue":  {MaxBatch: 100, QueueCap: 50},
		"max batch -5":       {MaxBatch: -5},
		"batch window 1h":    {BatchWindow: time.Hour},
		"work budget 1 TiB":  {WorkBudget: 1 << 40},
		"work budget 1 byte": {WorkBudget: 1},
		"encode slots 1e9":   {EncodeSlots: 1e9},
		"request timeout 2m": {RequestTimeout: 2 * time.Minute},
	}
	for name, o := range bad {
		if s, err := New(newFake(), o); err == nil {
			s.Close()
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: multi-line error %q", name, err)
		}
	}
	for name, o := range map[string]Options{
		"defaults":       {},
		"largest queue":  {QueueCap: MaxQueue(16, 48), MaxBatch: MaxMaxBatch},
		"truncation 1.5": {Truncation: 1.5},
		"no window":      {BatchWindow: -1},
	} {
		s, err := New(newFake(), o)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		s.Close()
	}
	if q := MaxQueue(100, 48); q < 10000 || q > 1<<20 {
		t.Errorf("MaxQueue(100, 48) = %d", q)
	}
}

// TestWorkBounded checks that a request's encoding is inside its bound: while a big
// GIF encodes (its generation long finished, the batcher idle) its memory is still
// reserved, so another big GIF is refused at once, and encodes never run more at
// once than EncodeSlots. Before, GIF encoding ran after the generation slot was
// released, and 48 such requests took 1 GB and both cores.
func TestWorkBounded(t *testing.T) {
	s := newTestServer(t, newFake(), Options{WorkBudget: 12 << 20, EncodeSlots: 1})
	h := s.Handler()
	var running, most atomic.Int32
	hold := make(chan struct{})
	entered := make(chan struct{}, 16)
	s.beforeEncode = func() {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		entered <- struct{}{}
		<-hold
	}
	const big = "/interpolate.gif?from=1&to=2&steps=32&size=192" // ~9 MiB
	var wg sync.WaitGroup
	codes := make(chan int, 16)
	wg.Go(func() { codes <- get(t, h, "GET", big).Code })
	<-entered // the GIF is encoding
	if p := s.batch.pending.Load(); p != 0 {
		t.Fatalf("generation queue holds %d images during encoding", p)
	}
	if r := get(t, h, "GET", big); r.Code != 503 || r.Header().Get("Retry-After") == "" {
		t.Errorf("second big GIF while the first encodes: %d %s, want 503", r.Code, r.Body)
	}
	for i := range 6 { // small requests fit the budget but wait for the one slot
		wg.Go(func() { codes <- get(t, h, "GET", "/avatar/"+itoa(uint64(i))+".png?size=128").Code })
	}
	// All six wait for the slot the GIF holds before it is let go, so a missing
	// bound would let them encode at once.
	waitFor(t, "six encodes waiting for the slot", func() bool { return s.work.waiting.Load() == 6 })
	close(hold)
	for range 6 {
		<-entered
	}
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != 200 {
			t.Errorf("admitted request got %d", c)
		}
	}
	if m := most.Load(); m != 1 {
		t.Errorf("%d encodes ran at once with one slot", m)
	}
	if u := s.work.used.Load(); u != 0 {
		t.Errorf("%d bytes still reserved after all requests", u)
	}
	if r := get(t, h, "GET", big); r.Code != 200 {
		t.Errorf("big GIF after the others: %d", r.Code)
	}
	if !strings.Contains(get(t, h, "GET", "/metrics").Body.String(), "avatargan_work_rejected_total 1") {
		t.Error("the refused GIF is not counted")
	}
}

// TestRequestTimeout checks that a request stuck behind the generator gets a 503
// at its deadline, well inside the write timeout, not an empty response.
func TestRequestTimeout(t *testing.T) {
	f := blockingFake()
	s := newTestServer(t, f, Options{RequestTimeout: 50 * time.Millisecond})
	defer close(f.block)
	start := time.Now()
	r := get(t, s.Handler(), "GET", "/avatar/1.png")
	if r.Code != 503 || !strings.Contains(r.Body.String(), "not done in") {
		t.Errorf("%d %s, want 503", r.Code, r.Body)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

// brokenWriter is a client connection that fails: writes fail (failWrite), or
// only the flush does (a small body is sent at the flush).
type brokenWriter struct {
	h         http.Header
	code      int
	failWrite bool
}

func (w *brokenWriter) Header() http.Header { return w.h }
func (w *brokenWriter) WriteHeader(c int)   { w.code = c }
func (w *brokenWriter) Write(b []byte) (int, error) {
	if w.failWrite {
		return 0, errors.New("write: broken pipe")
	}
	return len(b), nil
}
func (w *brokenWriter) FlushError() error { return errors.New("write: i/o timeout") }

// TestMetricsCountWhatClientsGot checks that a response that could not be written,
// or whose client left, is counted as aborted, not as the 200 it would have been.
func TestMetricsCountWhatClientsGot(t *testing.T) {
	f := blockingFake()
	s := newTestServer(t, f, Options{})
	h := s.Handler()
	close(f.block)
	go func() {
		for range f.started {
		}
	}()
	for _, w := range []*brokenWriter{{failWrite: true}, {}} {
		w.h = http.Header{}
		h.ServeHTTP(w, httptest.NewRequest("GET", "/avatar/1.png", nil))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the client left before its avatar was ready
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/avatar/2.png", nil).WithContext(ctx))
	get(t, h, "GET", "/avatar/3.png")
	m := get(t, h, "GET", "/metrics").Body.String()
	for _, want := range []string{
		`avatargan_http_requests_total{code="aborted",route="avatar"} 3`,
		`avatargan_http_requests_total{code="200",route="avatar"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(m, `code="503",route="avatar"`) {
		t.Error("the cancelled request is counted as a 503 the client never saw")
	}
}

// TestZip checks /batch.zip: one PNG per seed, the same bytes /avatar serves,
// zero-padded names that sort by seed, and deterministic bytes (it has an ETag).
func TestZip(t *testing.T) {
	s := newTestServer(t, newFake(), Options{})
	h := s.Handler()
	r := get(t, h, "GET", "/batch.zip?seed=98&n=3&size=64&filter=smooth")
	if r.Code != 200 || r.Header().Get("Content-Type") != "application/zip" ||
		!strings.Contains(r.Header().Get("Content-Disposition"), `filename="avatars-98-100.zip"`) {
		t.Fatalf("%d %v", r.Code, r.Header())
	}
	zr, err := zip.NewReader(bytes.NewReader(r.Body.Bytes()), int64(r.Body.Len()))
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"avatar-098.png", "avatar-099.png", "avatar-100.png"}
	if len(zr.File) != 3 {
		t.Fatalf("%d files", len(zr.File))
	}
	for i, zf := range zr.File {
		if zf.Name != names[i] {
			t.Errorf("file %d is %q, want %q", i, zf.Name, names[i])
		}
		rc, err := zf.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		want := get(t, h, "GET", "/avatar/"+itoa(uint64(98+i))+".png?size=64&filter=smooth").Body.Bytes()
		if !bytes.Equal(b, want) {
			t.Errorf("%s differs from /avatar/%d.png", zf.Name, 98+i)
		}
	}
	if again := get(t, h, "GET", "/batch.zip?seed=98&n=3&size=64&filter=smooth"); !bytes.Equal(again.Body.Bytes(), r.Body.Bytes()) {
		t.Error("zip bytes are not deterministic")
	}
	if def := get(t, h, "GET", "/batch.zip"); def.Code != 200 {
		t.Errorf("defaults: %d", def.Code)
	} else if zr, err := zip.NewReader(bytes.NewReader(def.Body.Bytes()), int64(def.Body.Len())); err != nil || len(zr.File) != 24 {
		t.Errorf("default zip: %v", err)
	}
}

// TestSmoothFilter checks filter=smooth: a soft enlargement (many more colours than
// the nearest-neighbour blow-up), its own ETag, nearest by default.
func TestSmoothFilter(t *testing.T) {
	s := newTestServer(t, newFake(), Options{})
	h := s.Handler()
	near := get(t, h, "GET", "/avatar/42.png?size=256")
	smooth := get(t, h, "GET", "/avatar/42.png?size=256&filter=smooth")
	if near.Header().Get("ETag") == smooth.Header().Get("ETag") {
		t.Error("same ETag for both filters")
	}
	if explicit := get(t, h, "GET", "/avatar/42.png?size=256&filter=nearest"); !bytes.Equal(explicit.Body.Bytes(), near.Body.Bytes()) {
		t.Error("nearest is not the default")
	}
	colours := func(img image.Image) int {
		set := map[[4]uint32]bool{}
		b := img.Bounds()
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				r, g, bl, a := img.At(x, y).RGBA()
				set[[4]uint32{r, g, bl, a}] = true
			}
		}
		return len(set)
	}
	n, sm := colours(decodePNG(t, near.Body.Bytes())), colours(decodePNG(t, smooth.Body.Bytes()))
	if sm < 4*n {
		t.Errorf("smooth has %d colours, nearest %d: not a smooth enlargement", sm, n)
	}
}
