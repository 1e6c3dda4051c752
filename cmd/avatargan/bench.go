package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/cpu"

	"avatargan/avatar"
	"avatargan/dcgan"
	"avatargan/internal/bench"
	"avatargan/internal/gemm"
	"avatargan/server"
)

func cmdBench(ctx context.Context, o stdio, args []string) error {
	fs := newFlags(o, "bench", "[--what gemm,layers,train,generate,serve] [--precision f32,bf16] [--reps 5]")
	what := fs.String("what", "gemm,layers,train,generate,serve", "comma-separated: gemm, layers, train, generate, serve")
	precs := fs.String("precision", "f32,bf16", "comma-separated precisions to measure: f32, bf16")
	reps := fs.Int("reps", 5, "repetitions per figure (the median is reported)")
	if err := parse(fs, args); err != nil {
		return err
	}
	parts := strings.Split(*what, ",")
	has := func(s string) bool { return slices.Contains(parts, s) }
	var ps []gemm.Precision
	for _, s := range strings.Split(*precs, ",") {
		p, err := gemm.ParsePrecision(s)
		if err != nil {
			return fmt.Errorf("--precision: %w", err)
		}
		warnSlowBF16(p)
		ps = append(ps, p)
	}
	fmt.Fprintf(o.out, "machine: %s/%s, %d threads, AVX-512F %v, AVX512_BF16 %v, AVX2 %v, FMA %v; gemm kernel %s\n",
		runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0), cpu.X86.HasAVX512F, cpu.X86.HasAVX512BF16, cpu.X86.HasAVX2, cpu.X86.HasFMA, gemm.Kernel())
	// Register-only peaks, measured now so that efficiencies compare figures of one run.
	peak := map[gemm.Precision]float64{}
	for _, p := range ps {
		peak[p] = gemm.PeakGFLOPS(p, 300*time.Millisecond)
	}
	fmt.Fprintf(o.out, "peak per core (register-only probes, best burst):")
	for _, p := range ps {
		fmt.Fprintf(o.out, "  %s %.0f GFLOP/s", p, peak[p])
	}
	fmt.Fprintln(o.out)
	cfg := dcgan.DefaultConfig()
	if has("gemm") {
		fmt.Fprintf(o.out, "\nGEMM, medians of %d (M N K, op(A) op(B)); %% of the peak of that many cores:\n", *reps)
		for _, p := range ps {
			for _, th := range []int{1, runtime.GOMAXPROCS(0)} {
				for _, r := range bench.GEMM(bench.Shapes(), th, *reps, p) {
					eff := ""
					if pk := peak[p] * float64(th); pk > 0 {
						eff = fmt.Sprintf("  %3.0f%%", 100*r.GFLOPS/pk)
					}
					fmt.Fprintf(o.out, "%s%s\n", r, eff)
				}
				if ctx.Err() != nil {
					return ctx.Err()
				}
			}
		}
	}
	if has("layers") {
		for _, p := range ps {
			fmt.Fprintf(o.out, "\nlayers of the reference net, forward + backward at batch 64, %s, median of %d:\n", p, *reps)
			for _, l := range bench.Layers(*reps, p) {
				fmt.Fprintf(o.out, "  %-40s %8.2f ms  %6.1f GFLOP/s\n", l.Name, float64(l.PerRun.Microseconds())/1e3, l.GFLOPS)
			}
		}
	}
	if has("train") {
		fmt.Fprintf(o.out, "\ntraining, reference net (48 px, batch 64, 1 D + 2 G steps), median of %d:\n", *reps)
		for _, p := range ps {
			r, err := bench.Train(cfg, *reps, p)
			if err != nil {
				return err
			}
			fmt.Fprintf(o.out, "  %-4s %.3f s/iteration  %.1f images/s  %.0f GFLOP/s (%.0f GFLOP per iteration)\n",
				p, r.PerIter.Seconds(), r.ImagesPerS, r.GFLOPS, bench.IterationFLOPs(cfg)/1e9)
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
	if has("generate") {
		fmt.Fprintf(o.out, "\ngenerator inference (eval mode), median of %d:\n", *reps)
		for _, p := range ps {
			for _, b := range []int{1, 64} {
				r := bench.Generate(cfg, b, *reps, p)
				fmt.Fprintf(o.out, "  %-4s batch %3d: %8.2f ms/call  %7.0f images/s\n", p, b, float64(r.PerCall.Microseconds())/1e3, r.ImagesPerS)
			}
		}
	}
	if has("serve") {
		m, err := loadModel("")
		if err != nil {
			// No embedded model yet: an untrained generator has the same cost.
			m, err = avatar.Untrained(avatar.Spec{Size: cfg.Size, ZDim: cfg.ZDim, GF: cfg.GF, Dist: cfg.Dist}, 1)
			if err != nil {
				return err
			}
		}
		fmt.Fprintf(o.out, "\nHTTP /avatar/{seed}.png (48 px PNG) on loopback:\n")
		for _, p := range ps {
			m.Generator().SetPrecision(p)
			s, err := server.New(m, server.Options{ModelID: m.ID()})
			if err != nil {
				return err
			}
			ts := httptest.NewServer(s.Handler())
			for _, c := range []int{1, 8, 32} {
				n := 400 * c
				if n > 4000 {
					n = 4000
				}
				fmt.Fprintf(o.out, "  %-4s %2d clients: %s\n", p, c, server.RunLoad(ts.URL, c, n))
			}
			ts.Close()
			s.Close()
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
	return nil
}
