package main

import (
	"context"
	"fmt"
	"net"
	"strconv"

	"avatargan/avatar"
	"avatargan/server"
)

// The server runs the face check's generator passes through its batcher.
var _ server.SeedAvatars = (*avatar.Model)(nil)

func cmdServe(ctx context.Context, o stdio, args []string) error {
	fs := newFlags(o, "serve", "[--addr 127.0.0.1:8080] [--checkpoint PATH] [--truncation T] [--queue N] [--max-batch N] [--face-check 8]")
	addr := fs.String("addr", server.DefaultAddr, "listen address (port 0: any free port; the real address is printed)")
	ckpt := fs.String("checkpoint", "", "run directory, training checkpoint or generator file (default: the embedded generator)")
	trunc := fs.Float64("truncation", 1, fmt.Sprintf("default latent scale, %g..%g (the page's creativity slider overrides it per request)", server.MinTrunc, server.MaxTrunc))
	window := fs.Duration("batch-window", server.DefaultBatchWindow, fmt.Sprintf("how long to collect concurrent requests into one generator pass (at most %v)", server.MaxBatchWindow))
	maxBatch := fs.Int("max-batch", server.DefaultMaxBatch, fmt.Sprintf("largest generator batch, 1..%d and at most --queue", server.MaxMaxBatch))
	queue := fs.Int("queue", server.DefaultQueueCap, "images that may wait; beyond it requests get 503 (at most what 1 GiB holds)")
	prec := precisionFlag(fs)
	var faceCheck int
	faceCheckFlag(fs, &faceCheck)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := checkFaceCheck(faceCheck); err != nil {
		return err
	}
	// Check what needs no model first, so a typo fails at once.
	if err := server.CheckTruncation(*trunc); err != nil {
		return fmt.Errorf("--truncation %v: want %g..%g", *trunc, server.MinTrunc, server.MaxTrunc)
	}
	if *window > server.MaxBatchWindow {
		return fmt.Errorf("--batch-window %v: want at most %v", *window, server.MaxBatchWindow)
	}
	if *maxBatch < 1 || *maxBatch > server.MaxMaxBatch {
		return fmt.Errorf("--max-batch %d: want 1..%d", *maxBatch, server.MaxMaxBatch)
	}
	if *queue < 1 {
		return fmt.Errorf("--queue %d: want at least 1", *queue)
	}
	if *maxBatch > *queue {
		return fmt.Errorf("--max-batch %d: want at most --queue (%d)", *maxBatch, *queue)
	}
	if err := checkPrecision(*prec); err != nil {
		return err
	}
	m, err := loadModelContext(ctx, *ckpt)
	if err != nil {
		return err
	}
	if hi := server.MaxQueue(m.ZDim(), m.Size()); *queue > hi {
		return fmt.Errorf("--queue %d: want 1..%d (%d MiB of queued images for this model)", *queue, hi, server.QueueMemory>>20)
	}
	// Pixels may differ (by a level here and there) between GEMM kernels, so the
	// kernel is part of the identity that ETags and immutable URLs name.
	if err := usePrecision(o.err, *prec, m); err != nil {
		return err
	}
	// The same holds for the operand precision, and the face check picks other
	// latents for some seeds.
	m.SetFaceCheck(faceCheck)
	s, err := server.New(m, server.Options{Addr: *addr, Truncation: *trunc, BatchWindow: *window,
		MaxBatch: *maxBatch, QueueCap: *queue, ModelID: m.PixelID()})
	if err != nil {
		return err
	}
	ln, err := s.Listen()
	if err != nil {
		s.Close()
		return err
	}
	// Only now is the address real: the port is bound, and port 0 has become one.
	fmt.Fprintf(o.out, "serving avatars on %s (model %s, immutable URLs under /m/%s/)\n", displayURL(ln.Addr()), m.PixelID(), s.Version())
	return s.Serve(ctx, ln)
}

// displayURL is the URL to open for a listener: a wildcard address (":8080")
// becomes localhost, with a note that every interface listens.
func displayURL(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return "http://" + a.String() + "/"
	}
	if ta.IP == nil || ta.IP.IsUnspecified() {
		return "http://localhost:" + strconv.Itoa(ta.Port) + "/ (listening on all interfaces)"
	}
	return "http://" + net.JoinHostPort(ta.IP.String(), strconv.Itoa(ta.Port)) + "/"
}
