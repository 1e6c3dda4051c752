// Package server implements `avatargan serve`: an HTTP API and an embedded web page
// that render avatars from a generator Model.
//
// Concurrent requests are coalesced by a single batcher goroutine into one
// Model.Generate call per short collection window, because a generator pass over a
// batch costs far less than the same number of single-image passes. Everything else
// (parsing, upscaling, PNG/GIF encoding) runs in the request goroutines, in parallel.
//
// Every image is a pure function of (model, route, parameters), so responses carry
// immutable caching headers and an ETag derived from the model identity and the
// parameters; a matching If-None-Match is answered with 304 before any generation.
//
// Routes (all GET; HEAD too):
//
//	/                              the page (static/, embedded)
//	/avatar/{seed}.png             ?size=48..512 (default native) &t=0.1..1.5
//	/avatar/by-name/{name}.png     name: 1..256 bytes of UTF-8, path-escaped; seed = NameSeed(name)
//	/grid.png                      ?n=1..256 (16) &seed=S (0) &t: seeds S..S+n-1, native cells, 2 px gaps
//	/interpolate.gif               ?from=A&to=B (required) &steps=2..64 (16) &size=48..256 &t: slerp, ping-pong loop
//	/healthz, /metrics             liveness; Prometheus text format
//
// Errors are JSON {"error": "..."}: 400 bad parameter, 404, 405, 503 (+Retry-After)
// when the queue is full, 500 when the model fails.
//
// Upscaling is nearest-neighbour: the avatars are 48 px pixel art, and a smooth
// filter (CatmullRom) blurs them into mush at 4-10x; nearest keeps crisp pixels and
// is also the cheapest. The page additionally sets image-rendering: pixelated.
package server

import (
	"context"
	"errors"
	"fmt"
	"image"
	"net"
	"net/http"
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

// Options configures a Server. Zero values select the documented defaults, so
// Options{} is a working configuration.
type Options struct {
	// Addr is the listen address for ListenAndServe; default 127.0.0.1:8080
	// (loopback, so a dev server is not exposed by accident).
	Addr string
	// Truncation scales every latent vector (default 1.0). A request's t query
	// parameter (0.1..1.5) overrides it for that request.
	Truncation float64
	// BatchWindow is how long the batcher waits for more work after the first
	// request of a batch arrives (default 2 ms): long enough to gather concurrent
	// requests, short enough to be invisible in single-request latency.
	BatchWindow time.Duration
	// MaxBatch caps the images per Generate call (default 64), bounding both the
	// generator's memory and the latency of the requests in a batch.
	MaxBatch int
	// QueueCap is the most images that may be queued or in generation at once
	// (default 1024). Requests beyond it get 503 with Retry-After instead of piling
	// up unbounded latency. A single request needing more images than QueueCap
	// (a big grid with a small cap) is always refused.
	QueueCap int
	// ModelID identifies the model weights (e.g. a checkpoint hash). It is part of
	// every ETag, so it must change whenever the weights do; default is the Go type
	// name of the model, which is only right for fixed (test) models.
	ModelID string
}

// Defaults for Options fields left zero.
const (
	DefaultAddr        = "127.0.0.1:8080"
	DefaultBatchWindow = 2 * time.Millisecond
	DefaultMaxBatch    = 64
	DefaultQueueCap    = 1024
)

// Request limits, exported so the CLI's help text can quote them.
const (
	MinSize      = 48  // smallest ?size for /avatar
	MaxSize      = 512 // largest ?size: 512x512 PNGs are ~1 MB uncompressed, enough for a profile picture
	MaxGrid      = 256 // largest n for /grid.png
	MinSteps     = 2   // fewest interpolation steps (the two end points)
	MaxSteps     = 64  // most interpolation steps
	MaxNameBytes = 256 // longest by-name avatar name, in bytes
	MinTrunc     = 0.1 // smallest ?t
	MaxTrunc     = 1.5 // largest ?t
)

// Server serves the avatar API and web page. Create it with New.
type Server struct {
	model   Model
	opts    Options
	zdim    int
	size    int
	modelID string
	batch   *batcher
	metrics *metrics
	handler http.Handler

	closeOnce sync.Once
}

// New returns a Server rendering with m, and starts its batcher goroutine;
// call Close (or let ListenAndServe return) to stop it.
func New(m Model, opts Options) (*Server, error) {
	if m == nil {
		return nil, errors.New("server: nil model")
	}
	if opts.Addr == "" {
		opts.Addr = DefaultAddr
	}
	if opts.Truncation == 0 {
		opts.Truncation = 1
	}
	if opts.Truncation < 0 {
		return nil, fmt.Errorf("server: truncation %v must be positive", opts.Truncation)
	}
	if opts.BatchWindow == 0 {
		opts.BatchWindow = DefaultBatchWindow
	}
	if opts.BatchWindow < 0 {
		opts.BatchWindow = 0 // explicit "no waiting"
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = DefaultMaxBatch
	}
	if opts.QueueCap <= 0 {
		opts.QueueCap = DefaultQueueCap
	}
	if opts.ModelID == "" {
		opts.ModelID = fmt.Sprintf("%T", m)
	}
	zdim, size := m.ZDim(), m.Size()
	if zdim <= 0 || size <= 0 {
		return nil, fmt.Errorf("server: model reports zdim %d, size %d", zdim, size)
	}
	s := &Server{model: m, opts: opts, zdim: zdim, size: size, modelID: opts.ModelID}
	s.metrics = newMetrics()
	s.batch = newBatcher(m, zdim, opts.BatchWindow, opts.MaxBatch, opts.QueueCap, s.metrics)
	s.handler = s.routes()
	return s, nil
}

// Handler returns the server's HTTP handler (routes, metrics, JSON errors), for
// tests and for embedding in another server.
func (s *Server) Handler() http.Handler { return s.handler }

// Close stops the batcher; queued and later requests fail with 503. It is
// idempotent. ListenAndServe and Serve call it when they return.
func (s *Server) Close() {
	s.closeOnce.Do(s.batch.close)
}

// ListenAndServe listens on Options.Addr and serves until ctx is cancelled, then
// shuts down gracefully: in-flight requests finish (up to 10 s), new ones are refused.
// It returns nil after a graceful shutdown.
func (s *Server) ListenAndServe(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
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

// httpServer sets every timeout: without them a slow client can hold a connection
// (and a goroutine) forever.
func (s *Server) httpServer() *http.Server {
	return &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		// Generous: a 256-image grid or 64-frame GIF waits behind other batches.
		WriteTimeout:   60 * time.Second,
		IdleTimeout:    120 * time.Second,
		MaxHeaderBytes: 16 << 10, // names are <= 256 bytes (768 escaped); nothing needs more
	}
}
