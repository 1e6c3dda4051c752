package main

import (
	"context"
	"fmt"
	"time"

	"avatargan/server"
)

func cmdServe(ctx context.Context, o stdio, args []string) error {
	fs := newFlags(o, "serve", "[--addr 127.0.0.1:8080] [--checkpoint PATH] [--truncation 1]")
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	ckpt := fs.String("checkpoint", "", "run directory, training checkpoint or generator file (default: the embedded generator)")
	trunc := fs.Float64("truncation", 1, "default latent scale (the page's creativity slider overrides it per request)")
	window := fs.Duration("batch-window", 2*time.Millisecond, "how long to collect concurrent requests into one generator pass")
	maxBatch := fs.Int("max-batch", 64, "largest generator batch")
	queue := fs.Int("queue", 1024, "images that may wait; beyond it requests get 503")
	if err := parse(fs, args); err != nil {
		return err
	}
	m, err := loadModel(*ckpt)
	if err != nil {
		return err
	}
	s, err := server.New(m, server.Options{Addr: *addr, Truncation: *trunc, BatchWindow: *window,
		MaxBatch: *maxBatch, QueueCap: *queue, ModelID: m.ID()})
	if err != nil {
		return err
	}
	fmt.Fprintf(o.out, "serving avatars on http://%s/ (model %s)\n", *addr, m.ID())
	return s.ListenAndServe(ctx)
}
