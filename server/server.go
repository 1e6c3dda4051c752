// Package server implements `avatargan serve`: an HTTP API and an embedded web page
// that render avatars from a generator Model.
//
// Concurrent requests are coalesced by a single batcher goroutine into one
// Model.Generate call per short collection window, because a generator pass over a
// batch costs far less than the same number of single-image passes.
//
// Every request's work is bounded, not only its generation: a request is admitted
// against a memory budget for everything it will hold (images, frames, encoded bytes)
// before any work, or refused with 503; resizing and PNG/GIF/zip encoding then run in
// one of a few encode slots (one per CPU by default), and the whole request has a
// deadline well inside the write timeout, so accepted requests finish instead of
// timing out with an empty response.
//
// Caching. Every image is a pure function of (model, numeric path, route, parameters).
// The plain URLs (/avatar/{seed}.png, ...) are revalidated (Cache-Control: no-cache)
// with an ETag derived from the model identity and the parameters; a matching
// If-None-Match is answered with 304 before any generation, so revalidation is cheap.
// The same routes under /m/{version}/, where version is Server.Version (it names the
// model, its numeric path and the rendering), are immutable for a year: they can never
// show other pixels, because a server with another model answers them 404. Image
// responses name their versioned URL in Content-Location, /healthz the version.
//
// Routes (all GET; HEAD too; each image route also under /m/{version}):
//
//	/                              the page (static/, embedded)
//	/avatar/{seed}.png             ?size=48..512 (default native) &filter=nearest|smooth &t=0.1..1.5
//	/avatar/by-name/{name}.png     same parameters; name: 1..256 bytes of UTF-8, path-escaped; seed = NameSeed(name)
//	/grid.png                      ?n=1..256 (16) &seed=S (0) &t: seeds S..S+n-1, native cells, 2 px white gaps
//	/interpolate.gif               ?from=A&to=B (required) &steps=2..64 (16) &size=48..256 &filter &t: slerp, ping-pong loop
//	/batch.zip                     ?seed=S (0) &n=1..64 (24) &size=48..512 &filter &t: one PNG per seed
//	/healthz, /metrics             liveness and model version; Prometheus text format
//
// Unknown query parameters are a 400 naming them (a misspelled parameter would
// otherwise silently give the default image). Errors are JSON {"error": "..."}: 400 bad
// parameter, 404, 405, 503 (+Retry-After) when the server is busy or a request ran
// out of time, 500 when the model fails. /metrics counts responses the client did not
// get (the connection failed while writing, or the client left) under code="aborted".
//
// Upscaling is nearest-neighbour by default: the avatars are 48 px pixel art, and a
// smooth filter blurs them at 4-10x; nearest keeps crisp pixels and is the cheapest.
// filter=smooth (Catmull-Rom) gives a soft, photo-like enlargement instead.
package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"math"
	"net"
	"net/http"
	"runtime"
	"sync"
	"time"
)

// Model renders avatars; the server serialises calls to Generate (one batch at a time).
type Model interface {
	ZDim() int // latent dimension
	Size() int // native image side, e.g. 48
	// Latent fills z (len ZDim) with the latent vector of seed; the same function generate --seed uses.
	Latent(seed uint64, z []float32)
	// Generate renders len(z)/ZDim() images from the concatenated latents, scaled by nothing (the server applies truncation itself by scaling z before the call).
	Generate(z []float32) ([]*image.RGBA, error)
}

// SeedAvatars is a Model whose latent for a seed depends on more than the seed: the
// avatar package's face check (avatar.Model.SetFaceCheck) renders a seed's draws and
// keeps one that holds a face. The server hands it the batcher's generate, so that
// those passes are batched, queued and bounded like any request's, and detect, which
// runs a face-detector pass in one of the encode slots (the detector is CPU-bound work
// like encoding: without the slots, a burst of requests would detect on every core at
// once); it encodes the images returned as they are (at truncation 1) instead of
// rendering them again. A failure fails the request (a full queue: 503; a cancelled
// request: its context's error).
type SeedAvatars interface {
	SeedAvatars(ctx context.Context, seeds []uint64, generate func(context.Context, []float32) ([]*image.RGBA, error), detect func(context.Context, func()) error) (z []float32, imgs []*image.RGBA, err error)
}

// Options configures a Server. Zero values select the documented defaults, so
// Options{} is a working configuration; values out of range make New fail.
type Options struct {
	// Addr is the listen address for Listen and ListenAndServe; default
	// 127.0.0.1:8080 (loopback, so a dev server is not exposed by accident).
	Addr string
	// Truncation scales every latent vector, MinTrunc..MaxTrunc (default 1.0). A
	// request's t query parameter overrides it for that request.
	Truncation float64
	// BatchWindow is how long the batcher waits for more work after the first
	// request of a batch arrives (default 2 ms, at most MaxBatchWindow): long
	// enough to gather concurrent requests, short enough to be invisible in
	// single-request latency. Negative means no waiting.
	BatchWindow time.Duration
	// MaxBatch caps the images per Generate call (default 64, at most
	// MaxMaxBatch and QueueCap), bounding both the generator's memory and the
	// latency of the requests in a batch.
	MaxBatch int
	// QueueCap is the most images that may be queued or in generation at once
	// (default 1024; at most what QueueMemory holds, see MaxQueue). Requests
	// beyond it get 503 with Retry-After instead of piling up unbounded latency.
	// A single request needing more images than QueueCap is always refused.
	QueueCap int
	// ModelID identifies the pixels the model makes: the weights (e.g. a
	// checkpoint hash) and, where it changes pixels, the numeric path (GEMM
	// kernel, precision). It is part of every ETag and of Version, so it must
	// change whenever the pixels may; default is the Go type name of the model,
	// which is only right for fixed (test) models.
	ModelID string
	// WorkBudget bounds the bytes that admitted requests may hold at once
	// (images, frames, encoded output), default 256 MiB; a request that does not
	// fit gets 503. It is what keeps 48 large GIFs from taking a gigabyte.
	WorkBudget int64
	// EncodeSlots is how many requests may resize and encode at once (default
	// GOMAXPROCS): encoding is CPU-bound, more slots only add memory.
	EncodeSlots int
	// RequestTimeout bounds a request from arrival to its last byte (default
	// 30 s, at most MaxRequestTimeout, below the 60 s write timeout): a request
	// that cannot finish in time gets a 503 instead of an empty response.
	RequestTimeout time.Duration
}

// Defaults for Options fields left zero.
const (
	DefaultAddr           = "127.0.0.1:8080"
	DefaultBatchWindow    = 2 * time.Millisecond
	DefaultMaxBatch       = 64
	DefaultQueueCap       = 1024
	DefaultWorkBudget     = 256 << 20
	DefaultRequestTimeout = 30 * time.Second
)

// Bounds on Options, checked by New (and by the CLI before loading a model).
const (
	// MaxBatchWindow: a longer window only delays every first request of a batch.
	MaxBatchWindow = time.Second
	// MaxMaxBatch: batches beyond a few hundred images gain no throughput on a CPU
	// and hold their first requests for the whole pass.
	MaxMaxBatch = 4096
	// QueueMemory is the most memory queued images may hold (latents and
	// rendered images); it bounds QueueCap through MaxQueue.
	QueueMemory = 1 << 30
	// MaxWorkBudget bounds WorkBudget.
	MaxWorkBudget = 16 << 30
	// MaxEncodeSlots bounds EncodeSlots.
	MaxEncodeSlots = 1024
	// MaxRequestTimeout keeps the request deadline inside the write timeout.
	MaxRequestTimeout = 50 * time.Second
)

// Request limits, exported so the CLI's help text can quote them.
const (
	MinSize      = 48  // smallest ?size for /avatar
	MaxSize      = 512 // largest ?size: 512x512 PNGs are ~1 MB uncompressed, enough for a profile picture
	MaxGIFSize   = 256 // largest ?size for /interpolate.gif: 126 frames at 512 px would be ~33 MB
	MaxGrid      = 256 // largest n for /grid.png
	MaxZip       = 64  // largest n for /batch.zip
	MinSteps     = 2   // fewest interpolation steps (the two end points)
	MaxSteps     = 64  // most interpolation steps
	MaxNameBytes = 256 // longest by-name avatar name, in bytes
	MinTrunc     = 0.1 // smallest truncation (?t and Options.Truncation)
	MaxTrunc     = 1.5 // largest truncation
)

// MaxQueue returns the largest QueueCap for a model of the given latent size and
// image side: QueueMemory divided by what one queued image holds.
func MaxQueue(zdim, size int) int {
	per := int64(zdim)*4 + int64(size)*int64(size)*4 + 256 // latent, RGBA, bookkeeping
	return int(max(1, min(int64(QueueMemory)/per, math.MaxInt32)))
}

// CheckTruncation reports whether t is a usable truncation (finite, MinTrunc..MaxTrunc).
func CheckTruncation(t float64) error {
	if !(t >= MinTrunc && t <= MaxTrunc) { // also NaN; Inf is out of range
		return fmt.Errorf("truncation %v: want %g..%g", t, MinTrunc, MaxTrunc)
	}
	return nil
}

// Server serves the avatar API and web page. Create it with New.
type Server struct {
	model   Model
	opts    Options
	zdim    int
	size    int
	modelID string
	version string // path segment of the immutable URLs
	batch   *batcher
	work    *work
	metrics *metrics
	handler http.Handler

	// beforeEncode, when set (tests), runs in the encode slot before encoding.
	beforeEncode func()

	closeOnce sync.Once
}

// New returns a Server rendering with m, and starts its batcher goroutine;
// call Close (or let Serve return) to stop it.
func New(m Model, opts Options) (*Server, error) {
	if m == nil {
		return nil, errors.New("server: nil model")
	}
	zdim, size := m.ZDim(), m.Size()
	if zdim <= 0 || size <= 0 || zdim > 1<<20 || size > 4096 {
		return nil, fmt.Errorf("server: model reports zdim %d, size %d", zdim, size)
	}
	if opts.Addr == "" {
		opts.Addr = DefaultAddr
	}
	if opts.Truncation == 0 {
		opts.Truncation = 1
	}
	if err := CheckTruncation(opts.Truncation); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	if opts.BatchWindow == 0 {
		opts.BatchWindow = DefaultBatchWindow
	}
	if opts.BatchWindow < 0 {
		opts.BatchWindow = 0 // explicit "no waiting"
	}
	if opts.BatchWindow > MaxBatchWindow {
		return nil, fmt.Errorf("server: batch window %v: want at most %v", opts.BatchWindow, MaxBatchWindow)
	}
	if opts.QueueCap == 0 {
		opts.QueueCap = DefaultQueueCap
	}
	if hi := MaxQueue(zdim, size); opts.QueueCap < 1 || opts.QueueCap > hi {
		return nil, fmt.Errorf("server: queue %d images: want 1..%d (%d MiB of queued images)", opts.QueueCap, hi, QueueMemory>>20)
	}
	if opts.MaxBatch == 0 {
		opts.MaxBatch = min(DefaultMaxBatch, opts.QueueCap)
	}
	if opts.MaxBatch < 1 || opts.MaxBatch > MaxMaxBatch || opts.MaxBatch > opts.QueueCap {
		return nil, fmt.Errorf("server: max batch %d: want 1..%d and at most the queue (%d)", opts.MaxBatch, MaxMaxBatch, opts.QueueCap)
	}
	if opts.WorkBudget == 0 {
		opts.WorkBudget = DefaultWorkBudget
	}
	if opts.WorkBudget < 1<<20 || opts.WorkBudget > MaxWorkBudget {
		return nil, fmt.Errorf("server: work budget %d bytes: want 1 MiB..%d GiB", opts.WorkBudget, MaxWorkBudget>>30)
	}
	if opts.EncodeSlots == 0 {
		opts.EncodeSlots = runtime.GOMAXPROCS(0)
	}
	if opts.EncodeSlots < 1 || opts.EncodeSlots > MaxEncodeSlots {
		return nil, fmt.Errorf("server: encode slots %d: want 1..%d", opts.EncodeSlots, MaxEncodeSlots)
	}
	if opts.RequestTimeout == 0 {
		opts.RequestTimeout = DefaultRequestTimeout
	}
	if opts.RequestTimeout < 0 || opts.RequestTimeout > MaxRequestTimeout {
		return nil, fmt.Errorf("server: request timeout %v: want up to %v", opts.RequestTimeout, MaxRequestTimeout)
	}
	if opts.ModelID == "" {
		opts.ModelID = fmt.Sprintf("%T", m)
	}
	sum := sha256.Sum256([]byte(opts.ModelID + "\x00" + renderVersion))
	s := &Server{model: m, opts: opts, zdim: zdim, size: size, modelID: opts.ModelID,
		version: hex.EncodeToString(sum[:6])}
	s.metrics = newMetrics()
	s.work = newWork(opts.WorkBudget, opts.EncodeSlots)
	s.batch = newBatcher(m, zdim, opts.BatchWindow, opts.MaxBatch, opts.QueueCap, s.metrics)
	s.handler = s.routes()
	return s, nil
}

// Handler returns the server's HTTP handler (routes, metrics, JSON errors), for
// tests and for embedding in another server.
func (s *Server) Handler() http.Handler { return s.handler }

// Version is the path segment of the immutable URLs (/m/{version}/avatar/...): a
// hash of ModelID and the rendering code's version, so it changes whenever the
// pixels behind a URL could.
func (s *Server) Version() string { return s.version }

// Close stops the batcher; queued and later requests fail with 503. It is
// idempotent. ListenAndServe and Serve call it when they return.
func (s *Server) Close() {
	s.closeOnce.Do(s.batch.close)
}

// Listen opens Options.Addr. Callers that print the address should print the
// listener's (with port 0 the system picks one), after Listen succeeded.
func (s *Server) Listen() (net.Listener, error) {
	return net.Listen("tcp", s.opts.Addr)
}

// ListenAndServe listens on Options.Addr and serves until ctx is cancelled, then
// shuts down gracefully: in-flight requests finish (up to 10 s), new ones are refused.
// It returns nil after a graceful shutdown.
func (s *Server) ListenAndServe(ctx context.Context) error {
	ln, err := s.Listen()
	if err != nil {
		s.Close()
		return err
	}
	return s.Serve(ctx, ln)
}

// shutdownGrace bounds how long a shutdown waits for in-flight requests.
var shutdownGrace = 10 * time.Second

// Serve is ListenAndServe on an existing listener (which it closes).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	defer s.Close()
	hs := s.httpServer()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	err := hs.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

// writeTimeout bounds writing a response; RequestTimeout stays below it so that
// a slow request gets a 503, not a connection cut mid-way.
const writeTimeout = 60 * time.Second

// httpServer sets every timeout: without them a slow client can hold a connection
// (and a goroutine) forever.
func (s *Server) httpServer() *http.Server {
	return &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10, // names are <= 256 bytes (768 escaped); nothing needs more
	}
}
