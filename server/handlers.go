package server

import (
	"avatargan/render"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"image"
	"io/fs"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

//go:embed static
var staticFiles embed.FS

// renderVersion is part of every ETag; bump it when the rendering of a given
// (model, params) changes (scaling filter, grid layout, GIF palette), so caches
// holding the old bytes under an "immutable" ETag are not trusted any more.
const renderVersion = "r1"

// gifDelay is the interpolation frame delay in 1/100 s.
const gifDelay = 8

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern, route string, h http.HandlerFunc) {
		mux.Handle(pattern, s.metrics.instrument(route, h))
	}
	static, err := fs.Sub(staticFiles, "static")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	files := http.StripPrefix("/static/", http.FileServerFS(static))
	handle("GET /{$}", "index", s.handleIndex)
	handle("GET /static/", "static", func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") { // no directory listings
			writeError(w, http.StatusNotFound, "not found")
			return
		}
		w.Header().Set("Cache-Control", "no-cache") // revalidate: the files change with the binary
		files.ServeHTTP(&jsonErrorWriter{ResponseWriter: w}, r)
	})
	handle("GET /avatar/{file}", "avatar", s.handleAvatar)
	handle("GET /avatar/by-name/{file}", "avatar_by_name", s.handleAvatarByName)
	handle("GET /grid.png", "grid", s.handleGrid)
	handle("GET /interpolate.gif", "interpolate", s.handleInterpolate)
	handle("GET /healthz", "healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		fmt.Fprintln(w, `{"status":"ok"}`)
	})
	mux.Handle("GET /metrics", s.metrics.instrument("metrics", s.metrics.handler()))

	unmatched := s.metrics.instrument("unmatched", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(&jsonErrorWriter{ResponseWriter: w}, r)
	}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The mux answers unknown paths (404) and wrong methods (405, with Allow)
		// in plain text; route those through a writer that turns them into JSON.
		// A catch-all "/" pattern would instead turn every 405 into a 404.
		if _, pattern := mux.Handler(r); pattern == "" {
			unmatched.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// jsonErrorWriter rewrites plain-text 404 and 405 responses (from ServeMux or
// FileServer) into the API's JSON error shape, keeping headers such as Allow.
type jsonErrorWriter struct {
	http.ResponseWriter
	swallow bool
}

// WriteHeader replaces the mux's plain-text 404 and 405 with JSON errors.
func (w *jsonErrorWriter) WriteHeader(code int) {
	if code != http.StatusNotFound && code != http.StatusMethodNotAllowed {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.swallow = true
	msg := "not found"
	if code == http.StatusMethodNotAllowed {
		msg = "method not allowed"
	}
	w.Header().Del("Content-Length")
	writeError(w.ResponseWriter, code, msg)
}

// Write drops the mux's plain-text body after a replaced status.
func (w *jsonErrorWriter) Write(b []byte) (int, error) {
	if w.swallow {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// writeError sends {"error": msg}. Errors are not cached: a 503 must be retried.
func writeError(w http.ResponseWriter, code int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Del("ETag")
	if code == http.StatusServiceUnavailable {
		h.Set("Retry-After", "1")
	}
	w.WriteHeader(code)
	body, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{msg})
	w.Write(append(body, '\n'))
}

// badRequest is a parameter error; its message is shown to the client verbatim.
type badRequest string

// Error returns the message sent to the client.
func (e badRequest) Error() string { return string(e) }

func badf(format string, args ...any) error { return badRequest(fmt.Sprintf(format, args...)) }

// fail maps an error from parsing or generation to a status code.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var br badRequest
	switch {
	case errors.As(err, &br):
		writeError(w, http.StatusBadRequest, br.Error())
	case errors.Is(err, errQueueFull), errors.Is(err, errClosed):
		writeError(w, http.StatusServiceUnavailable, err.Error())
	case r.Context().Err() != nil:
		// The client is gone; the status only shows up in the metrics.
		writeError(w, http.StatusServiceUnavailable, "request cancelled")
	default:
		writeError(w, http.StatusInternalServerError, "generation failed: "+err.Error())
	}
}

// query parses the raw query strictly: a malformed query (bad escape) is a 400
// rather than silently dropped, as r.URL.Query would do. Unknown keys are ignored.
type query struct{ v url.Values }

func parseQuery(r *http.Request) (query, error) {
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return query{}, badf("malformed query string")
	}
	return query{v}, nil
}

// get returns the single value of key; a repeated key is ambiguous, so an error.
func (q query) get(key string) (string, bool, error) {
	vs, ok := q.v[key]
	if !ok {
		return "", false, nil
	}
	if len(vs) != 1 {
		return "", false, badf("parameter %s given %d times", key, len(vs))
	}
	return vs[0], true, nil
}

func (q query) intIn(key string, def, lo, hi int) (int, error) {
	s, ok, err := q.get(key)
	if err != nil || !ok {
		return def, err
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, badf("%s must be an integer in %d..%d", key, lo, hi)
	}
	return n, nil
}

func (q query) seed(key string, required bool) (uint64, error) {
	s, ok, err := q.get(key)
	if err != nil {
		return 0, err
	}
	if !ok {
		if required {
			return 0, badf("missing parameter %s", key)
		}
		return 0, nil
	}
	return parseSeed(key, s)
}

func parseSeed(what, s string) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, badf("%s must be a decimal integer in 0..%d", what, uint64(math.MaxUint64))
	}
	return n, nil
}

// trunc reads t, the per-request truncation, defaulting to Options.Truncation.
func (s *Server) trunc(q query) (float64, error) {
	v, ok, err := q.get("t")
	if err != nil || !ok {
		return s.opts.Truncation, err
	}
	t, err := strconv.ParseFloat(v, 64)
	if err != nil || !(t >= MinTrunc && t <= MaxTrunc) { // also rejects NaN
		return 0, badf("t must be a number in %g..%g", MinTrunc, MaxTrunc)
	}
	return t, nil
}

// etag derives a strong validator from everything that determines the bytes.
func (s *Server) etag(key string) string {
	h := sha256.Sum256([]byte(s.modelID + "\x00" + renderVersion + "\x00" + key))
	return `"` + hex.EncodeToString(h[:12]) + `"`
}

// notModified sets the caching headers and reports whether If-None-Match
// already names this representation, in which case it has written the 304.
func notModified(w http.ResponseWriter, r *http.Request, etag string) bool {
	h := w.Header()
	h.Set("ETag", etag)
	// The bytes for a URL never change (the model identity is in the ETag, and a
	// new model is a new deployment), so clients may cache forever.
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	inm := r.Header.Get("If-None-Match")
	if inm == "" {
		return false
	}
	for _, t := range strings.Split(inm, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag { // weak comparison, RFC 9110 13.1.2
			w.WriteHeader(http.StatusNotModified)
			return true
		}
	}
	return false
}

func fmtT(t float64) string { return strconv.FormatFloat(t, 'g', -1, 64) }

// latents returns the latents of seeds, scaled by t.
func (s *Server) latents(t float64, seeds ...uint64) []float32 {
	z := make([]float32, len(seeds)*s.zdim)
	for i, seed := range seeds {
		s.model.Latent(seed, z[i*s.zdim:(i+1)*s.zdim])
	}
	scale(z, t)
	return z
}

func scale(z []float32, t float64) {
	if t == 1 {
		return
	}
	for i := range z {
		z[i] *= float32(t)
	}
}

// NameSeed maps a user name or id to the seed of its avatar: the first 8 bytes of
// FNV-1a 64, which is stable across versions and platforms (it is a spec, not an
// implementation detail), so an avatar URL keeps its image forever.
func NameSeed(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return h.Sum64()
}

func (s *Server) handleIndex(w http.ResponseWriter, r *http.Request) {
	page, err := staticFiles.ReadFile("static/index.html")
	if err != nil {
		writeError(w, http.StatusInternalServerError, "page missing")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	// Everything is same-origin; the policy enforces "no external resources".
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	w.Write(page)
}

func (s *Server) handleAvatar(w http.ResponseWriter, r *http.Request) {
	file := r.PathValue("file")
	name, ok := strings.CutSuffix(file, ".png")
	if !ok {
		writeError(w, http.StatusNotFound, "not found (avatars are /avatar/{seed}.png)")
		return
	}
	seed, err := parseSeed("seed", name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.serveAvatar(w, r, "seed="+name, seed)
}

func (s *Server) handleAvatarByName(w http.ResponseWriter, r *http.Request) {
	file := r.PathValue("file") // already unescaped
	name, ok := strings.CutSuffix(file, ".png")
	if !ok {
		writeError(w, http.StatusNotFound, "not found (avatars are /avatar/by-name/{name}.png)")
		return
	}
	switch {
	case name == "":
		s.fail(w, r, badf("name must not be empty"))
		return
	case len(name) > MaxNameBytes:
		s.fail(w, r, badf("name must be at most %d bytes", MaxNameBytes))
		return
	case !utf8.ValidString(name):
		s.fail(w, r, badf("name must be valid UTF-8"))
		return
	}
	seed := NameSeed(name)
	s.serveAvatar(w, r, "seed="+strconv.FormatUint(seed, 10), seed)
}

// serveAvatar renders one avatar; key identifies it for the ETag. By-name
// avatars use their seed as key, so they share validators with /avatar/{seed}.
func (s *Server) serveAvatar(w http.ResponseWriter, r *http.Request, key string, seed uint64) {
	q, err := parseQuery(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	size, err := q.intIn("size", s.size, MinSize, MaxSize)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	t, err := s.trunc(q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if notModified(w, r, s.etag(fmt.Sprintf("avatar %s size=%d t=%s", key, size, fmtT(t)))) {
		return
	}
	imgs, err := s.batch.generate(r.Context(), s.latents(t, seed))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writePNG(w, r, scaleNearest(imgs[0], size))
}

func (s *Server) handleGrid(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	n, err := q.intIn("n", 16, 1, MaxGrid)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	seed, err := q.seed("seed", false)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if seed > math.MaxUint64-uint64(n-1) {
		s.fail(w, r, badf("seed+n-1 overflows uint64"))
		return
	}
	t, err := s.trunc(q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if notModified(w, r, s.etag(fmt.Sprintf("grid n=%d seed=%d t=%s", n, seed, fmtT(t)))) {
		return
	}
	seeds := make([]uint64, n)
	for i := range seeds {
		seeds[i] = seed + uint64(i)
	}
	imgs, err := s.batch.generate(r.Context(), s.latents(t, seeds...))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for i, im := range imgs {
		imgs[i] = scaleNearest(im, s.size) // tolerate a model whose output drifts from Size
	}
	s.writePNG(w, r, tile(imgs, s.size))
}

func (s *Server) handleInterpolate(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	from, err := q.seed("from", true)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	to, err := q.seed("to", true)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	steps, err := q.intIn("steps", 16, MinSteps, MaxSteps)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// GIFs are capped at 256 px: 64 paletted frames at 512 px would be ~16 MB.
	size, err := q.intIn("size", s.size, MinSize, 256)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	t, err := s.trunc(q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	etag := s.etag(fmt.Sprintf("interpolate from=%d to=%d steps=%d size=%d t=%s", from, to, steps, size, fmtT(t)))
	if notModified(w, r, etag) {
		return
	}
	ends := s.latents(1, from, to)
	a, b := ends[:s.zdim], ends[s.zdim:]
	z := make([]float32, steps*s.zdim)
	for i := range steps {
		render.Slerp(z[i*s.zdim:(i+1)*s.zdim], a, b, float64(i)/float64(steps-1))
	}
	scale(z, t)
	imgs, err := s.batch.generate(r.Context(), z)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// Ping-pong A..B..A without repeating the end frames: 2*(steps-1) frames, a
	// seamless loop that makes the morph easy to follow.
	frames := make([]*image.RGBA, 0, 2*(steps-1))
	for i := range steps {
		frames = append(frames, scaleNearest(imgs[i], size))
	}
	for i := steps - 2; i >= 1; i-- {
		frames = append(frames, frames[i])
	}
	buf := getBuf()
	defer putBuf(buf)
	if err := encodeGIF(buf, frames, gifDelay); err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "image/gif")
	writeBody(w, r, buf.Bytes())
}

// writePNG encodes img in the request goroutine, so encoding runs in parallel
// across requests while only generation is serialised.
func (s *Server) writePNG(w http.ResponseWriter, r *http.Request, img image.Image) {
	buf := getBuf()
	defer putBuf(buf)
	if err := pngEnc.Encode(buf, img); err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	writeBody(w, r, buf.Bytes())
}

func writeBody(w http.ResponseWriter, r *http.Request, b []byte) {
	h := w.Header()
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("X-Content-Type-Options", "nosniff")
	if r.Method == http.MethodHead {
		return
	}
	w.Write(b)
}
