package server

import (
	"avatargan/render"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"image/png"
	"io"
	"io/fs"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func newTestServer(t *testing.T, m Model, opts Options) *Server {
	t.Helper()
	s, err := New(m, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// get runs one request through the handler.
func get(t *testing.T, h http.Handler, method, target string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func decodePNG(t *testing.T, b []byte) image.Image {
	t.Helper()
	if !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("not a PNG: % x", b[:min(len(b), 16)])
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestAvatar(t *testing.T) {
	s := newTestServer(t, newFake(), Options{})
	h := s.Handler()
	a := get(t, h, "GET", "/avatar/42.png")
	if a.Code != 200 {
		t.Fatalf("code %d: %s", a.Code, a.Body)
	}
	for k, want := range map[string]string{
		"Content-Type":     "image/png",
		"Cache-Control":    "public, no-cache", // the plain URL does not name the model: revalidate
		"Content-Location": "/m/" + s.Version() + "/avatar/42.png",
	} {
		if got := a.Header().Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if et := a.Header().Get("ETag"); len(et) < 10 || et[0] != '"' {
		t.Errorf("ETag = %q", et)
	}
	if img := decodePNG(t, a.Body.Bytes()); img.Bounds().Dx() != 48 || img.Bounds().Dy() != 48 {
		t.Errorf("default size %v, want native 48", img.Bounds())
	}
	b := get(t, h, "GET", "/avatar/42.png")
	if !bytes.Equal(a.Body.Bytes(), b.Body.Bytes()) || a.Header().Get("ETag") != b.Header().Get("ETag") {
		t.Error("same seed gave different bytes or ETag")
	}
	c := get(t, h, "GET", "/avatar/43.png")
	if bytes.Equal(a.Body.Bytes(), c.Body.Bytes()) || a.Header().Get("ETag") == c.Header().Get("ETag") {
		t.Error("different seeds gave the same bytes or ETag")
	}
	// Upscaling is nearest-neighbour: every 2x2 block of the 96 px image is one
	// native pixel.
	big := decodePNG(t, get(t, h, "GET", "/avatar/42.png?size=96").Body.Bytes())
	small := decodePNG(t, a.Body.Bytes())
	if big.Bounds().Dx() != 96 {
		t.Fatalf("size=96 gave %v", big.Bounds())
	}
	for y := 0; y < 96; y++ {
		for x := 0; x < 96; x++ {
			if big.At(x, y) != small.At(x/2, y/2) {
				t.Fatalf("pixel (%d,%d) is not the nearest native pixel", x, y)
			}
		}
	}
	if odd := decodePNG(t, get(t, h, "GET", "/avatar/42.png?size=500").Body.Bytes()); odd.Bounds().Dx() != 500 {
		t.Errorf("size=500 gave %v", odd.Bounds())
	}
	// Truncation changes the image (the fake's pattern depends on z's sign only
	// for the blocks, but its colours on the magnitude).
	tr := get(t, h, "GET", "/avatar/42.png?t=0.5")
	if tr.Code != 200 || bytes.Equal(tr.Body.Bytes(), a.Body.Bytes()) || tr.Header().Get("ETag") == a.Header().Get("ETag") {
		t.Error("t=0.5 did not change the image and ETag")
	}
	// t=1 explicitly is the default, so the same representation.
	if get(t, h, "GET", "/avatar/42.png?t=1.0").Header().Get("ETag") != a.Header().Get("ETag") {
		t.Error("t=1.0 and no t differ")
	}
}

func TestHEAD(t *testing.T) {
	s := newTestServer(t, newFake(), Options{})
	r := get(t, s.Handler(), "HEAD", "/avatar/1.png")
	if r.Code != 200 || r.Body.Len() != 0 || r.Header().Get("Content-Length") == "" {
		t.Errorf("HEAD: code %d, body %d bytes, Content-Length %q", r.Code, r.Body.Len(), r.Header().Get("Content-Length"))
	}
}

func TestTruncationOption(t *testing.T) {
	f := newFake()
	def := newTestServer(t, f, Options{})
	half := newTestServer(t, f, Options{Truncation: 0.5})
	a := get(t, half.Handler(), "GET", "/avatar/7.png").Body.Bytes()
	b := get(t, def.Handler(), "GET", "/avatar/7.png?t=0.5").Body.Bytes()
	if !bytes.Equal(a, b) {
		t.Error("Options.Truncation 0.5 differs from ?t=0.5")
	}
}

func TestETag(t *testing.T) {
	f := newFake()
	s := newTestServer(t, f, Options{ModelID: "ckpt-1"})
	h := s.Handler()
	etag := get(t, h, "GET", "/avatar/5.png?size=64").Header().Get("ETag")
	calls := len(f.batchSizes())
	for _, inm := range []string{etag, "W/" + etag, `"x", ` + etag, "*"} {
		r := get(t, h, "GET", "/avatar/5.png?size=64", "If-None-Match", inm)
		if r.Code != http.StatusNotModified || r.Body.Len() != 0 {
			t.Errorf("If-None-Match %s: code %d, %d body bytes", inm, r.Code, r.Body.Len())
		}
		if r.Header().Get("ETag") != etag || r.Header().Get("Cache-Control") == "" {
			t.Errorf("304 lacks ETag/Cache-Control: %v", r.Header())
		}
	}
	if n := len(f.batchSizes()); n != calls {
		t.Errorf("304s ran the generator (%d more calls)", n-calls)
	}
	if r := get(t, h, "GET", "/avatar/5.png?size=65", "If-None-Match", etag); r.Code != 200 {
		t.Errorf("other size with old ETag: code %d", r.Code)
	}
	// The model identity is part of the ETag: new weights, new validators.
	other := newTestServer(t, f, Options{ModelID: "ckpt-2"})
	if r := get(t, other.Handler(), "GET", "/avatar/5.png?size=64", "If-None-Match", etag); r.Code != 200 {
		t.Errorf("other model answered 304 to an old ETag")
	}
	for _, p := range []string{"/grid.png?n=4", "/interpolate.gif?from=1&to=2&steps=3", "/avatar/by-name/bob.png"} {
		et := get(t, h, "GET", p).Header().Get("ETag")
		if et == "" {
			t.Errorf("%s: no ETag", p)
		}
		if r := get(t, h, "GET", p, "If-None-Match", et); r.Code != 304 {
			t.Errorf("%s: If-None-Match gave %d", p, r.Code)
		}
	}
}

func TestByName(t *testing.T) {
	s := newTestServer(t, newFake(), Options{})
	h := s.Handler()
	for _, name := range []string{"alice", "日本語の名前", "user/with slash", "a b?c#d", strings.Repeat("x", MaxNameBytes), "🦊"} {
		p := "/avatar/by-name/" + url.PathEscape(name) + ".png?size=64"
		r := get(t, h, "GET", p)
		if r.Code != 200 {
			t.Fatalf("%q: code %d %s", name, r.Code, r.Body)
		}
		bySeed := get(t, h, "GET", "/avatar/"+itoa(NameSeed(name))+".png?size=64")
		if !bytes.Equal(r.Body.Bytes(), bySeed.Body.Bytes()) {
			t.Errorf("%q: differs from the avatar of its seed", name)
		}
	}
	if NameSeed("alice") == NameSeed("bob") {
		t.Error("name hash is not discriminating")
	}
}

func itoa(u uint64) string { return strconv.FormatUint(u, 10) }

func jsonString(v any) string { b, _ := json.Marshal(v); return string(b) }

// TestNameSeedStable pins the name hash: changing it would silently change every
// user's avatar.
func TestNameSeedStable(t *testing.T) {
	if got := NameSeed(""); got != 0xcbf29ce484222325 { // FNV-1a 64 offset basis
		t.Errorf("NameSeed(\"\") = %#x", got)
	}
	if got := NameSeed("a"); got != 0xaf63dc4c8601ec8c {
		t.Errorf("NameSeed(\"a\") = %#x", got)
	}
}

func TestBadInput(t *testing.T) {
	s := newTestServer(t, newFake(), Options{})
	h := s.Handler()
	long := strings.Repeat("a", MaxNameBytes+1)
	cases := []struct {
		method, path string
		code         int
	}{
		{"GET", "/avatar/abc.png", 400},
		{"GET", "/avatar/-1.png", 400},
		{"GET", "/avatar/+1.png", 400},
		{"GET", "/avatar/1.5.png", 400},
		{"GET", "/avatar/.png", 400},
		{"GET", "/avatar/18446744073709551616.png", 400}, // 2^64
		{"GET", "/avatar/99999999999999999999999.png", 400},
		{"GET", "/avatar/18446744073709551615.png", 200}, // max uint64
		{"GET", "/avatar/1.png?size=47", 400},
		{"GET", "/avatar/1.png?size=513", 400},
		{"GET", "/avatar/1.png?size=", 400},
		{"GET", "/avatar/1.png?size=abc", 400},
		{"GET", "/avatar/1.png?size=64.0", 400},
		{"GET", "/avatar/1.png?size=48&size=96", 400},
		{"GET", "/avatar/1.png?size=%zz", 400},
		{"GET", "/avatar/1.png?size=512", 200},
		{"GET", "/avatar/1.png?t=0", 400},
		{"GET", "/avatar/1.png?t=0.09", 400},
		{"GET", "/avatar/1.png?t=1.51", 400},
		{"GET", "/avatar/1.png?t=NaN", 400},
		{"GET", "/avatar/1.png?t=Inf", 400},
		{"GET", "/avatar/1.png?t=x", 400},
		{"GET", "/avatar/1.png?t=0.1", 200},
		{"GET", "/avatar/1.png?t=1.5", 200},
		{"GET", "/avatar/1.png?unknown=param&x", 400},
		{"GET", "/avatar/1.png?Size=96", 400},
		{"GET", "/avatar/1.png?filter=smooth", 200},
		{"GET", "/avatar/1.png?filter=bicubic", 400},
		{"GET", "/avatar/1.png?filter=", 400},
		{"GET", "/avatar/by-name/bob.png?sise=96", 400},
		{"GET", "/grid.png?size=96", 400},
		{"GET", "/interpolate.gif?from=1&to=2&step=3", 400},
		{"GET", "/interpolate.gif?from=1&to=2&size=256&filter=smooth", 200},
		{"GET", "/batch.zip?n=0", 400},
		{"GET", "/batch.zip?n=65", 400},
		{"GET", "/batch.zip?size=513", 400},
		{"GET", "/batch.zip?seed=18446744073709551615&n=2", 400},
		{"GET", "/batch.zip?steps=3", 400},
		{"GET", "/batch.zip?n=2&size=512&filter=smooth", 200},
		{"GET", "/m/000000000000/avatar/1.png", 404},
		{"GET", "/m/" + s.Version() + "/avatar/1.png?size=47", 400},
		{"GET", "/avatar/1", 404},
		{"GET", "/avatar/1.jpg", 404},
		{"GET", "/avatar/by-name/%FF%FE.png", 400},
		{"GET", "/avatar/by-name/ok%C3.png", 400}, // truncated UTF-8 sequence
		{"GET", "/avatar/by-name/" + long + ".png", 400},
		{"GET", "/avatar/by-name/.png", 400},
		{"GET", "/avatar/by-name/bob", 404},
		{"GET", "/avatar/by-name/bob.png?size=9999", 400},
		{"GET", "/grid.png?n=0", 400},
		{"GET", "/grid.png?n=257", 400},
		{"GET", "/grid.png?n=x", 400},
		{"GET", "/grid.png?seed=abc", 400},
		{"GET", "/grid.png?seed=-5", 400},
		{"GET", "/grid.png?seed=18446744073709551615&n=2", 400}, // S+n-1 overflows
		{"GET", "/grid.png?seed=18446744073709551614&n=2", 200},
		{"GET", "/grid.png?t=3", 400},
		{"GET", "/interpolate.gif", 400},
		{"GET", "/interpolate.gif?to=1", 400},
		{"GET", "/interpolate.gif?from=1", 400},
		{"GET", "/interpolate.gif?from=x&to=1", 400},
		{"GET", "/interpolate.gif?from=1&to=18446744073709551616", 400},
		{"GET", "/interpolate.gif?from=1&to=2&steps=1", 400},
		{"GET", "/interpolate.gif?from=1&to=2&steps=65", 400},
		{"GET", "/interpolate.gif?from=1&to=2&steps=x", 400},
		{"GET", "/interpolate.gif?from=1&to=2&size=257", 400},
		{"GET", "/interpolate.gif?from=1&to=2&t=0", 400},
		{"GET", "/nope", 404},
		{"GET", "/avatar/", 404},
		{"GET", "/static/nope.js", 404},
		{"GET", "/static/", 404},
		{"GET", "/grid.png/extra", 404},
		{"POST", "/avatar/1.png", 405},
		{"PUT", "/grid.png", 405},
		{"DELETE", "/healthz", 405},
		{"POST", "/", 405},
	}
	for _, c := range cases {
		r := get(t, h, c.method, c.path)
		if r.Code != c.code {
			t.Errorf("%s %s: code %d, want %d (%s)", c.method, c.path, r.Code, c.code, r.Body)
			continue
		}
		if c.code < 400 {
			continue
		}
		if ct := r.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s %s: Content-Type %q", c.method, c.path, ct)
		}
		var body struct{ Error string }
		if err := json.Unmarshal(r.Body.Bytes(), &body); err != nil || body.Error == "" {
			t.Errorf("%s %s: body %q is not {\"error\": ...}", c.method, c.path, r.Body)
		}
		if r.Header().Get("ETag") != "" || strings.Contains(r.Header().Get("Cache-Control"), "immutable") {
			t.Errorf("%s %s: error response is cacheable", c.method, c.path)
		}
		if c.code == 405 && r.Header().Get("Allow") == "" {
			t.Errorf("%s %s: 405 without Allow", c.method, c.path)
		}
	}
}

func TestGrid(t *testing.T) {
	s := newTestServer(t, newFake(), Options{})
	h := s.Handler()
	// The layout of generate --grid (render.GridCols: no hole where a near-square
	// grid has none): cells 50 px apart, 2 px white gaps between and around them.
	for _, c := range []struct{ n, w, h int }{
		{1, 52, 52},
		{2, 2*50 + 2, 52},
		{4, 2*50 + 2, 2*50 + 2},
		{5, 3*50 + 2, 2*50 + 2},
		{8, 4*50 + 2, 2*50 + 2},
		{10, 5*50 + 2, 2*50 + 2},
		{256, 16*50 + 2, 16*50 + 2},
	} {
		r := get(t, h, "GET", "/grid.png?seed=100&n="+itoa(uint64(c.n)))
		if r.Code != 200 {
			t.Fatalf("n=%d: %d %s", c.n, r.Code, r.Body)
		}
		b := decodePNG(t, r.Body.Bytes()).Bounds()
		if b.Dx() != c.w || b.Dy() != c.h {
			t.Errorf("n=%d: %dx%d, want %dx%d", c.n, b.Dx(), b.Dy(), c.w, c.h)
		}
	}
	// Cell i is the avatar of seed S+i.
	grid := decodePNG(t, get(t, h, "GET", "/grid.png?seed=100&n=10").Body.Bytes())
	for _, i := range []int{0, 5, 9} {
		av := decodePNG(t, get(t, h, "GET", "/avatar/"+itoa(uint64(100+i))+".png").Body.Bytes())
		ox, oy := 2+(i%5)*50, 2+(i/5)*50
		for y := 0; y < 48; y++ {
			for x := 0; x < 48; x++ {
				if !sameColor(grid.At(ox+x, oy+y), av.At(x, y)) {
					t.Fatalf("cell %d pixel (%d,%d) differs from seed %d", i, x, y, 100+i)
				}
			}
		}
	}
	for _, p := range []image.Point{{0, 0}, {50, 10}, {10, 50}, {251, 101}} {
		if !sameColor(grid.At(p.X, p.Y), color.White) {
			t.Errorf("gap pixel %v is %v, want white", p, grid.At(p.X, p.Y))
		}
	}
}

func TestInterpolate(t *testing.T) {
	s := newTestServer(t, newFake(), Options{})
	h := s.Handler()
	for _, c := range []struct{ steps, frames int }{{2, 2}, {5, 8}, {64, 126}} {
		r := get(t, h, "GET", "/interpolate.gif?from=3&to=9&steps="+itoa(uint64(c.steps)))
		if r.Code != 200 || r.Header().Get("Content-Type") != "image/gif" {
			t.Fatalf("steps=%d: %d %s", c.steps, r.Code, r.Header().Get("Content-Type"))
		}
		g, err := gif.DecodeAll(bytes.NewReader(r.Body.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		if len(g.Image) != c.frames || g.LoopCount != 0 {
			t.Errorf("steps=%d: %d frames (loop %d), want %d looping", c.steps, len(g.Image), g.LoopCount, c.frames)
		}
		if b := g.Image[0].Bounds(); b.Dx() != 48 || b.Dy() != 48 {
			t.Errorf("frame size %v", b)
		}
	}
	r := get(t, h, "GET", "/interpolate.gif?from=3&to=9&steps=3&size=96")
	if g, err := gif.DecodeAll(bytes.NewReader(r.Body.Bytes())); err != nil || g.Image[0].Bounds().Dx() != 96 {
		t.Errorf("size=96: %v", err)
	}
	a := get(t, h, "GET", "/interpolate.gif?from=3&to=9&steps=4").Body.Bytes()
	if b := get(t, h, "GET", "/interpolate.gif?from=3&to=9&steps=4").Body.Bytes(); !bytes.Equal(a, b) {
		t.Error("interpolation is not deterministic")
	}
}

func TestSlerp(t *testing.T) {
	f := newFake()
	a, b := make([]float32, 16), make([]float32, 16)
	f.Latent(1, a)
	f.Latent(2, b)
	dst := make([]float32, 16)
	norm := func(v []float32) (s float64) {
		for _, x := range v {
			s += float64(x) * float64(x)
		}
		return math.Sqrt(s)
	}
	render.Slerp(dst, a, b, 0)
	for i := range a {
		if math.Abs(float64(dst[i]-a[i])) > 1e-5 {
			t.Fatal("render.Slerp(0) != a")
		}
	}
	render.Slerp(dst, a, b, 1)
	for i := range b {
		if math.Abs(float64(dst[i]-b[i])) > 1e-5 {
			t.Fatal("render.Slerp(1) != b")
		}
	}
	// Between equal-norm end points slerp keeps the norm (lerp would shrink it).
	c := slices.Clone(b)
	for i := range c {
		c[i] *= float32(norm(a) / norm(b))
	}
	render.Slerp(dst, a, c, 0.5)
	if math.Abs(norm(dst)-norm(a)) > 1e-3*norm(a) {
		t.Errorf("midpoint norm %v, end points %v", norm(dst), norm(a))
	}
	render.Slerp(dst, a, a, 0.5) // parallel: no NaN
	if math.IsNaN(float64(dst[0])) {
		t.Error("NaN for parallel latents")
	}
}

func TestHealthzMetricsIndex(t *testing.T) {
	s := newTestServer(t, newFake(), Options{})
	h := s.Handler()
	if r := get(t, h, "GET", "/healthz"); r.Code != 200 || !strings.Contains(r.Body.String(), "ok") {
		t.Errorf("healthz: %d %s", r.Code, r.Body)
	}
	get(t, h, "GET", "/avatar/1.png")
	get(t, h, "GET", "/grid.png?n=3")
	get(t, h, "GET", "/avatar/x.png")
	get(t, h, "GET", "/nowhere")
	r := get(t, h, "GET", "/metrics")
	if r.Code != 200 || !strings.HasPrefix(r.Header().Get("Content-Type"), "text/plain") {
		t.Fatalf("metrics: %d %s", r.Code, r.Header().Get("Content-Type"))
	}
	body := r.Body.String()
	for _, want := range []string{
		`avatargan_http_requests_total{code="200",route="avatar"} 1`,
		`avatargan_http_requests_total{code="400",route="avatar"} 1`,
		`avatargan_http_requests_total{code="404",route="unmatched"} 1`,
		`avatargan_http_requests_total{code="200",route="grid"} 1`,
		`avatargan_http_request_duration_seconds_bucket{route="avatar",le="+Inf"} 2`,
		`avatargan_images_generated_total 4`,
		`avatargan_batch_size_count 2`,
		`avatargan_batch_size_sum 4`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}

	page := get(t, h, "GET", "/")
	if page.Code != 200 || !strings.HasPrefix(page.Header().Get("Content-Type"), "text/html") ||
		!strings.Contains(page.Body.String(), `id="grid"`) {
		t.Errorf("index: %d %s", page.Code, page.Header().Get("Content-Type"))
	}
	if !strings.Contains(page.Header().Get("Content-Security-Policy"), "default-src 'self'") {
		t.Error("index lacks the same-origin CSP")
	}
	for _, f := range []string{"/static/app.js", "/static/style.css"} {
		r := get(t, h, "GET", f)
		if r.Code != 200 {
			t.Errorf("%s: %d", f, r.Code)
		}
	}
	// No external resources: nothing in the page refers to another origin.
	files, err := fs.Glob(staticFiles, "static/*")
	if err != nil || len(files) < 3 {
		t.Fatalf("static files %v: %v", files, err)
	}
	for _, f := range files {
		b, err := staticFiles.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte("http://")) || bytes.Contains(b, []byte("https://")) || bytes.Contains(b, []byte("//cdn")) {
			t.Errorf("%s refers to an external URL", f)
		}
	}
}

func TestModelErrors(t *testing.T) {
	for name, f := range map[string]*fakeModel{
		"error": {zdim: 16, size: 48, fail: errors.New("boom")},
		"short": {zdim: 16, size: 48, short: true},
	} {
		s := newTestServer(t, f, Options{})
		r := get(t, s.Handler(), "GET", "/avatar/1.png")
		if r.Code != 500 || !strings.Contains(r.Body.String(), `"error"`) {
			t.Errorf("%s: %d %s", name, r.Code, r.Body)
		}
	}
	if _, err := New(nil, Options{}); err == nil {
		t.Error("New(nil) succeeded")
	}
}

// blockingFake returns a model whose Generate calls wait for release.
func blockingFake() *fakeModel {
	f := newFake()
	f.block = make(chan struct{})
	f.started = make(chan struct{}, 100)
	return f
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestQueueFull(t *testing.T) {
	f := blockingFake()
	s := newTestServer(t, f, Options{MaxBatch: 1, QueueCap: 2})
	h := s.Handler()
	var wg sync.WaitGroup
	codes := make([]int, 2)
	for i := range 2 {
		wg.Go(func() { codes[i] = get(t, h, "GET", "/avatar/"+itoa(uint64(i))+".png").Code })
	}
	<-f.started // one in generation, one queued: the queue is at capacity
	waitFor(t, "two pending images", func() bool { return s.batch.pending.Load() == 2 })
	r := get(t, h, "GET", "/avatar/9.png")
	if r.Code != 503 || r.Header().Get("Retry-After") == "" || !strings.Contains(r.Body.String(), `"error"`) {
		t.Errorf("full queue: %d Retry-After=%q %s", r.Code, r.Header().Get("Retry-After"), r.Body)
	}
	if r := get(t, h, "GET", "/grid.png?n=3"); r.Code != 503 { // bigger than the capacity
		t.Errorf("grid over capacity: %d", r.Code)
	}
	close(f.block)
	wg.Wait()
	if codes[0] != 200 || codes[1] != 200 {
		t.Errorf("queued requests got %v", codes)
	}
	if r := get(t, h, "GET", "/avatar/9.png"); r.Code != 200 {
		t.Errorf("after draining: %d", r.Code)
	}
	if !strings.Contains(get(t, h, "GET", "/metrics").Body.String(), "avatargan_queue_rejected_total 2") {
		t.Error("rejections not counted")
	}
}

// TestBatching holds the generator busy while 40 requests queue up, then checks
// they are rendered in batches capped at MaxBatch, not one by one.
func TestBatching(t *testing.T) {
	f := blockingFake()
	s := newTestServer(t, f, Options{MaxBatch: 16, BatchWindow: 5 * time.Millisecond})
	h := s.Handler()
	var wg sync.WaitGroup
	bodies := make([][]byte, 41)
	wg.Go(func() { bodies[40] = get(t, h, "GET", "/avatar/1000.png").Body.Bytes() })
	<-f.started
	for i := range 40 {
		wg.Go(func() { bodies[i] = get(t, h, "GET", "/avatar/"+itoa(uint64(i))+".png").Body.Bytes() })
	}
	waitFor(t, "41 pending images", func() bool { return s.batch.pending.Load() == 41 })
	go func() {
		for range f.started {
			f.block <- struct{}{}
		}
	}()
	f.block <- struct{}{}
	wg.Wait()
	if got, want := f.batchSizes(), []int{1, 16, 16, 8}; !slices.Equal(got, want) {
		t.Errorf("batch sizes %v, want %v", got, want)
	}
	// Each request got its own image, not a neighbour's from the batch.
	ref := newTestServer(t, newFake(), Options{}).Handler()
	for i := range 40 {
		want := get(t, ref, "GET", "/avatar/"+itoa(uint64(i))+".png").Body.Bytes()
		if !bytes.Equal(bodies[i], want) {
			t.Fatalf("request %d got the wrong image (%d vs %d bytes: %.60q)", i, len(bodies[i]), len(want), bodies[i])
		}
	}
}

// TestBatchingUnderLoad checks that plain concurrency (no forced queue) batches.
func TestBatchingUnderLoad(t *testing.T) {
	f := newFake()
	f.delay = 5 * time.Millisecond
	s := newTestServer(t, f, Options{})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	res := RunLoad(srv.URL, 32, 256, 0)
	if res.Errors != 0 {
		t.Fatalf("load: %v", res)
	}
	sizes := f.batchSizes()
	total := 0
	for _, n := range sizes {
		total += n
	}
	if total != 256 || len(sizes) > 256/4 {
		t.Errorf("256 requests in %d batches (%v), want few, large ones", len(sizes), sizes)
	}
	t.Logf("%v; %d batches", res, len(sizes))
}

func TestGridSpansBatches(t *testing.T) {
	f := newFake()
	s := newTestServer(t, f, Options{MaxBatch: 64})
	r := get(t, s.Handler(), "GET", "/grid.png?n=200")
	if r.Code != 200 {
		t.Fatalf("%d %s", r.Code, r.Body)
	}
	if got := f.batchSizes(); !slices.Equal(got, []int{64, 64, 64, 8}) {
		t.Errorf("batch sizes %v", got)
	}
}

func TestCancel(t *testing.T) {
	f := blockingFake()
	s := newTestServer(t, f, Options{MaxBatch: 1})
	h := s.Handler()
	go get(t, h, "GET", "/avatar/1.png")
	<-f.started
	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequest("GET", "/avatar/2.png", nil).WithContext(ctx)
	done := make(chan int)
	go func() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		done <- rec.Code
	}()
	waitFor(t, "queued request", func() bool { return s.batch.pending.Load() == 2 })
	cancel()
	select {
	case <-done: // the handler returned without waiting for the generator
	case <-time.After(5 * time.Second):
		t.Fatal("cancelled request still waiting")
	}
	close(f.block)
	waitFor(t, "capacity released", func() bool { return s.batch.pending.Load() == 0 })
	if got := f.batchSizes(); !slices.Equal(got, []int{1}) {
		t.Errorf("cancelled request was rendered: batches %v", got)
	}
}

func TestGracefulShutdown(t *testing.T) {
	f := blockingFake()
	s := newTestServer(t, f, Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	base := "http://" + ln.Addr().String()
	resp := make(chan *http.Response, 1)
	go func() {
		r, err := http.Get(base + "/avatar/1.png")
		if err != nil {
			t.Error(err)
		}
		resp <- r
	}()
	<-f.started
	cancel()
	select {
	case err := <-served:
		t.Fatalf("Serve returned %v with a request in flight", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(f.block)
	r := <-resp
	if r == nil {
		t.FailNow()
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != 200 {
		t.Errorf("in-flight request: %d %s", r.StatusCode, b)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after shutdown")
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("server still accepting after shutdown")
	}
	// The batcher is stopped too: the handler now refuses work.
	if r := get(t, s.Handler(), "GET", "/avatar/3.png"); r.Code != 503 {
		t.Errorf("after shutdown: %d", r.Code)
	}
}

func TestListenAndServeAddr(t *testing.T) {
	s := newTestServer(t, newFake(), Options{Addr: "127.0.0.1:0"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.ListenAndServe(ctx); err != nil {
		t.Errorf("ListenAndServe on a cancelled context: %v", err)
	}
	bad := newTestServer(t, newFake(), Options{Addr: "256.0.0.1:bad"})
	if err := bad.ListenAndServe(context.Background()); err == nil {
		t.Error("bad address accepted")
	}
	hs := s.httpServer()
	if hs.ReadHeaderTimeout == 0 || hs.ReadTimeout == 0 || hs.WriteTimeout == 0 || hs.IdleTimeout == 0 || hs.MaxHeaderBytes == 0 {
		t.Errorf("timeouts not all set: %+v", hs)
	}
}

func sameColor(a, b color.Color) bool {
	r1, g1, b1, a1 := a.RGBA()
	r2, g2, b2, a2 := b.RGBA()
	return r1 == r2 && g1 == g2 && b1 == b2 && a1 == a2
}
