package server

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"image"
	"image/gif"
	"io/fs"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"avatargan/render"
)

//go:embed static
var staticFiles embed.FS

// renderVersion is part of every ETag and of Server.Version; bump it when the
// rendering of a given (model, params) changes (scaling filter, grid layout, GIF
// palette), so that no cache and no immutable URL keeps old bytes under a valid name.
// r2: filter=smooth, median-cut GIF palette, grids drawn by render.Grid.
const renderVersion = "r2"

// gifDelay is the interpolation frame delay in 1/100 s.
const gifDelay = 8

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern, route string, h http.HandlerFunc) {
		mux.Handle(pattern, s.metrics.instrument(route, h))
	}
	// image registers an image route twice: the plain URL (revalidated) and the
	// immutable one under /m/{model}, which only this server's version may answer.
	img := func(path, route string, h http.HandlerFunc) {
		handle("GET "+path, route, s.bounded(h))
		handle("GET /m/{model}"+path, route, s.bounded(s.versioned(h)))
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
	img("/avatar/{file}", "avatar", s.handleAvatar)
	img("/avatar/by-name/{file}", "avatar_by_name", s.handleAvatarByName)
	img("/grid.png", "grid", s.handleGrid)
	img("/interpolate.gif", "interpolate", s.handleInterpolate)
	img("/batch.zip", "batch_zip", s.handleZip)
	handle("GET /healthz", "healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		body, _ := json.Marshal(struct {
			Status string `json:"status"`
			Model  string `json:"model"`
		}{"ok", s.version})
		w.Write(append(body, '\n'))
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

// bounded gives a request its deadline (Options.RequestTimeout): waiting for the
// generator or an encode slot stops there with a 503, inside the write timeout.
func (s *Server) bounded(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), s.opts.RequestTimeout)
		defer cancel()
		h(w, r.WithContext(ctx))
	}
}

// versioned answers an /m/{model}/... URL only when it names this server's version:
// those URLs are cached forever, so another model must not answer them.
func (s *Server) versioned(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if v := r.PathValue("model"); v != s.version {
			writeError(w, http.StatusNotFound, fmt.Sprintf("model version %q is not served here (this server: %s)", v, s.version))
			return
		}
		h(w, r)
	}
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

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *jsonErrorWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// writeError sends {"error": msg}. Errors are not cached: a 503 must be retried.
func writeError(w http.ResponseWriter, code int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Del("ETag")
	h.Del("Content-Location")
	h.Del("Content-Disposition")
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

// fail maps an error from parsing, admission, generation or encoding to a status.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var br badRequest
	switch {
	case errors.As(err, &br):
		writeError(w, http.StatusBadRequest, br.Error())
	case errors.Is(err, errQueueFull), errors.Is(err, errClosed), errors.Is(err, errBusy):
		writeError(w, http.StatusServiceUnavailable, err.Error())
	case errors.Is(r.Context().Err(), context.DeadlineExceeded):
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("server busy: request not done in %v", s.opts.RequestTimeout))
	case r.Context().Err() != nil:
		// The client is gone: nobody reads this, and the metrics say "aborted".
		markAborted(w)
		writeError(w, http.StatusServiceUnavailable, "request cancelled")
	default:
		writeError(w, http.StatusInternalServerError, "generation failed: "+err.Error())
	}
}

// params reads a route's query strictly, with a sticky error: a handler reads all
// its parameters, then checks err once. A malformed query (bad escape) is a 400
// rather than silently dropped, as r.URL.Query would do, and so is a parameter the
// route does not take (a typo would otherwise silently give the default image); a
// repeated parameter is ambiguous, so an error too. After an error, reads return
// zero values.
type params struct {
	v   url.Values
	def float64 // the server's truncation, for t
	err error
}

func (s *Server) params(r *http.Request, allowed ...string) *params {
	p := &params{def: s.opts.Truncation}
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		p.err = badf("malformed query string")
		return p
	}
	var unknown []string
	for k := range v {
		if !slices.Contains(allowed, k) {
			unknown = append(unknown, strconv.Quote(k))
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		p.err = badf("unknown parameter %s (this route takes %s)", strings.Join(unknown, ", "), strings.Join(allowed, ", "))
	}
	p.v = v
	return p
}

// get returns the single value of key, if present and no error happened yet.
func (p *params) get(key string) (string, bool) {
	vs, ok := p.v[key]
	if !ok || p.err != nil {
		return "", false
	}
	if len(vs) != 1 {
		p.err = badf("parameter %s given %d times", key, len(vs))
		return "", false
	}
	return vs[0], true
}

func (p *params) int(key string, def, lo, hi int) int {
	s, ok := p.get(key)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		p.err = badf("%s must be an integer in %d..%d", key, lo, hi)
	}
	return n
}

func (p *params) seed(key string, required bool) uint64 {
	s, ok := p.get(key)
	if !ok {
		if required && p.err == nil {
			p.err = badf("missing parameter %s", key)
		}
		return 0
	}
	n, err := parseSeed(key, s)
	if err != nil {
		p.err = err
	}
	return n
}

// seedRange reads seed (default 0) and n, and checks that seed+n-1 fits a uint64.
func (p *params) seedRange(def, hi int) (uint64, int) {
	n := p.int("n", def, 1, hi)
	seed := p.seed("seed", false)
	if p.err == nil && seed > math.MaxUint64-uint64(n-1) {
		p.err = badf("seed+n-1 overflows uint64")
	}
	return seed, n
}

// filter reads the upscaling filter, nearest by default.
func (p *params) filter() render.Filter {
	s, ok := p.get("filter")
	if !ok {
		return render.Nearest
	}
	f, ok := render.ParseFilter(s)
	if !ok {
		p.err = badf("filter must be nearest or smooth")
	}
	return f
}

// trunc reads t, the per-request truncation, defaulting to Options.Truncation.
func (p *params) trunc() float64 {
	v, ok := p.get("t")
	if !ok {
		return p.def
	}
	t, err := strconv.ParseFloat(v, 64)
	if err != nil || CheckTruncation(t) != nil {
		p.err = badf("t must be a number in %g..%g", MinTrunc, MaxTrunc)
	}
	return t
}

func parseSeed(what, s string) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, badf("%s must be a decimal integer in 0..%d", what, uint64(math.MaxUint64))
	}
	return n, nil
}

// etag derives a strong validator from everything that determines the bytes.
func (s *Server) etag(key string) string {
	h := sha256.Sum256([]byte(s.modelID + "\x00" + renderVersion + "\x00" + key))
	return `"` + hex.EncodeToString(h[:12]) + `"`
}

// notModified sets the caching headers and reports whether If-None-Match
// already names this representation, in which case it has written the 304.
func (s *Server) notModified(w http.ResponseWriter, r *http.Request, etag string) bool {
	h := w.Header()
	h.Set("ETag", etag)
	if r.PathValue("model") != "" {
		// The URL names the model version (checked by versioned): its bytes never change.
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		// The plain URL shows whatever model the server runs today: caches may keep
		// the bytes but must revalidate (a cheap 304 while the model is the same).
		h.Set("Cache-Control", "public, no-cache")
		h.Set("Content-Location", "/m/"+s.version+r.URL.RequestURI())
	}
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

// seedLatents returns the latents of seeds at truncation 1 and, where the model's
// SeedAvatars rendered them on the way (a face check generates to choose), their
// images; with a plain Model only the latents (imgs nil).
func (s *Server) seedLatents(ctx context.Context, seeds ...uint64) (z []float32, imgs []*image.RGBA, err error) {
	if m, ok := s.model.(SeedAvatars); ok {
		if z, imgs, err = m.SeedAvatars(ctx, seeds, s.batch.generate, s.detect); err != nil {
			return nil, nil, err
		}
		if len(z) != len(seeds)*s.zdim || len(imgs) != len(seeds) {
			return nil, nil, fmt.Errorf("model: %d latent values and %d images for %d seeds", len(z), len(imgs), len(seeds))
		}
		return z, imgs, nil
	}
	z = make([]float32, len(seeds)*s.zdim)
	for i, seed := range seeds {
		s.model.Latent(seed, z[i*s.zdim:(i+1)*s.zdim])
	}
	return z, nil, nil
}

// detect runs a face-detector pass (SeedAvatars) in an encode slot.
func (s *Server) detect(ctx context.Context, f func()) error {
	return s.work.encode(ctx, func() error { f(); return nil })
}

// seedImages renders the avatars of seeds at truncation t, through the batcher; the
// images a face check made on the way are used as they are at t = 1.
func (s *Server) seedImages(ctx context.Context, t float64, seeds ...uint64) ([]*image.RGBA, error) {
	z, imgs, err := s.seedLatents(ctx, seeds...)
	if err != nil || (imgs != nil && t == 1) {
		return imgs, err
	}
	scale(z, t)
	return s.batch.generate(ctx, z)
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
// implementation detail), so a name keeps its seed forever.
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

// imageJob describes one image response for serveImage.
type imageJob struct {
	key  string                                       // everything besides the model that determines the bytes
	cost int64                                        // bytes the request holds at its peak, for admission
	imgs func(context.Context) ([]*image.RGBA, error) // the images to encode (not made for a 304)
	// enc resizes and encodes the generated images into the buffer.
	enc  func(*bytes.Buffer, []*image.RGBA) (contentType string, err error)
	name string // Content-Disposition attachment name, if any
}

// serveImage runs an image request: the ETag check (304 before any work),
// admission against the work budget, generation in the batcher, then resizing and
// encoding in an encode slot. The budget is held until the last byte is written.
func (s *Server) serveImage(w http.ResponseWriter, r *http.Request, j imageJob) {
	if s.notModified(w, r, s.etag(j.key)) {
		return
	}
	release, err := s.work.admit(j.cost)
	if err != nil {
		if errors.Is(err, errBusy) {
			s.metrics.busy.Inc()
		}
		s.fail(w, r, err)
		return
	}
	defer release()
	imgs, err := j.imgs(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	buf := getBuf()
	defer putBuf(buf)
	var ctype string
	err = s.work.encode(r.Context(), func() error {
		if s.beforeEncode != nil {
			s.beforeEncode()
		}
		var err error
		ctype, err = j.enc(buf, imgs)
		return err
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", ctype)
	if j.name != "" {
		w.Header().Set("Content-Disposition", `attachment; filename="`+j.name+`"`)
	}
	writeBody(w, r, buf.Bytes())
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
	s.serveAvatar(w, r, seed)
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
	s.serveAvatar(w, r, NameSeed(name))
}

// serveAvatar renders one avatar. By-name avatars share the key (and so the
// ETag) of their seed.
func (s *Server) serveAvatar(w http.ResponseWriter, r *http.Request, seed uint64) {
	p := s.params(r, "size", "filter", "t")
	size, filter, t := p.int("size", s.size, MinSize, MaxSize), p.filter(), p.trunc()
	if p.err != nil {
		s.fail(w, r, p.err)
		return
	}
	s.serveImage(w, r, imageJob{
		key:  fmt.Sprintf("avatar seed=%d size=%d filter=%s t=%s", seed, size, filter, fmtT(t)),
		cost: imageBytes(s.size) + 2*imageBytes(size), // native, resized, PNG at worst
		imgs: func(ctx context.Context) ([]*image.RGBA, error) { return s.seedImages(ctx, t, seed) },
		enc: func(buf *bytes.Buffer, imgs []*image.RGBA) (string, error) {
			return "image/png", pngEnc.Encode(buf, render.Resize(imgs[0], size, size, filter))
		},
	})
}

func seq(seed uint64, n int) []uint64 {
	seeds := make([]uint64, n)
	for i := range seeds {
		seeds[i] = seed + uint64(i)
	}
	return seeds
}

func (s *Server) handleGrid(w http.ResponseWriter, r *http.Request) {
	p := s.params(r, "n", "seed", "t")
	seed, n := p.seedRange(16, MaxGrid)
	t := p.trunc()
	if p.err != nil {
		s.fail(w, r, p.err)
		return
	}
	s.serveImage(w, r, imageJob{
		key:  fmt.Sprintf("grid n=%d seed=%d t=%s", n, seed, fmtT(t)),
		cost: 3 * int64(n) * imageBytes(s.size+render.GridGap), // cells, grid, PNG at worst
		imgs: func(ctx context.Context) ([]*image.RGBA, error) { return s.seedImages(ctx, t, seq(seed, n)...) },
		enc: func(buf *bytes.Buffer, imgs []*image.RGBA) (string, error) {
			for i, im := range imgs {
				imgs[i] = render.Resize(im, s.size, s.size, render.Nearest) // tolerate a model whose output drifts from Size
			}
			return "image/png", pngEnc.Encode(buf, render.Grid(imgs, render.GridCols(n), render.GridGap))
		},
	})
}

func (s *Server) handleInterpolate(w http.ResponseWriter, r *http.Request) {
	p := s.params(r, "from", "to", "steps", "size", "filter", "t")
	from, to := p.seed("from", true), p.seed("to", true)
	steps := p.int("steps", 16, MinSteps, MaxSteps)
	size, filter, t := p.int("size", s.size, MinSize, MaxGIFSize), p.filter(), p.trunc()
	if p.err != nil {
		s.fail(w, r, p.err)
		return
	}
	frames := int64(2 * (steps - 1))
	s.serveImage(w, r, imageJob{
		key: fmt.Sprintf("interpolate from=%d to=%d steps=%d size=%d filter=%s t=%s", from, to, steps, size, filter, fmtT(t)),
		// native and resized RGBA frames, paletted frames, the GIF at worst
		cost: int64(steps)*(imageBytes(s.size)+imageBytes(size)) + 2*frames*int64(size*size),
		imgs: func(ctx context.Context) ([]*image.RGBA, error) {
			ends, _, err := s.seedLatents(ctx, from, to)
			if err != nil {
				return nil, err
			}
			z := render.Walk(ends[:s.zdim], ends[s.zdim:], steps)
			scale(z, t)
			return s.batch.generate(ctx, z)
		},
		enc: func(buf *bytes.Buffer, imgs []*image.RGBA) (string, error) {
			for i, im := range imgs {
				imgs[i] = render.Resize(im, size, size, filter)
			}
			return "image/gif", gif.EncodeAll(buf, render.GIF(render.PingPong(imgs), gifDelay))
		},
	})
}

// zipTime is the modification time of every file in a batch zip: fixed, so that
// the same request gives the same bytes (and ETag).
var zipTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func (s *Server) handleZip(w http.ResponseWriter, r *http.Request) {
	p := s.params(r, "seed", "n", "size", "filter", "t")
	seed, n := p.seedRange(24, MaxZip)
	size, filter, t := p.int("size", s.size, MinSize, MaxSize), p.filter(), p.trunc()
	if p.err != nil {
		s.fail(w, r, p.err)
		return
	}
	last := seed + uint64(n-1)
	width := len(strconv.FormatUint(last, 10)) // zero-padded names sort by seed
	s.serveImage(w, r, imageJob{
		key: fmt.Sprintf("zip seed=%d n=%d size=%d filter=%s t=%s", seed, n, size, filter, fmtT(t)),
		// native images, one resized at a time, the PNGs at worst
		cost: int64(n)*(imageBytes(s.size)+imageBytes(size)) + imageBytes(size),
		imgs: func(ctx context.Context) ([]*image.RGBA, error) { return s.seedImages(ctx, t, seq(seed, n)...) },
		enc: func(buf *bytes.Buffer, imgs []*image.RGBA) (string, error) {
			zw := zip.NewWriter(buf)
			for i, im := range imgs {
				// Stored, not deflated: PNG is compressed already.
				f, err := zw.CreateHeader(&zip.FileHeader{
					Name:     fmt.Sprintf("avatar-%0*d.png", width, seed+uint64(i)),
					Method:   zip.Store,
					Modified: zipTime,
				})
				if err != nil {
					return "", err
				}
				if err := pngEnc.Encode(f, render.Resize(im, size, size, filter)); err != nil {
					return "", err
				}
			}
			return "application/zip", zw.Close()
		},
		name: fmt.Sprintf("avatars-%d-%d.zip", seed, last),
	})
}

// writeBody sends b and flushes it, so that a failed write shows up in the
// metrics as "aborted" rather than as the status already sent.
func writeBody(w http.ResponseWriter, r *http.Request, b []byte) {
	h := w.Header()
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("X-Content-Type-Options", "nosniff")
	if r.Method == http.MethodHead {
		return
	}
	if _, err := w.Write(b); err != nil {
		return
	}
	http.NewResponseController(w).Flush()
}
