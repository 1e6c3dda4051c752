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
	"avatargan/cmd/avatargan/internal/bench"
	"avatargan/dcgan"
	"avatargan/internal/gemm"
	"avatargan/server"
)

func cmdBench(ctx context.Context, o stdio, args []string) error {
	// The figures bench can measure, in the order it reports them.
	benchParts := []string{"gemm", "layers", "train", "generate", "serve"}
	fs := newFlags(o, "bench")
	what := fs.String("what", strings.Join(benchParts, ","), "comma-separated: "+strings.Join(benchParts, ", "))
	precs := fs.String("precision", "f32,bf16", "comma-separated precisions to measure: f32, bf16")
	reps := fs.Int("reps", 5, fmt.Sprintf("repetitions per figure, 1..%d (the median is reported)", bench.MaxReps))
	if err := parse(fs, args); err != nil {
		return err
	}
	parts := strings.Split(*what, ",")
	for _, p := range parts {
		if !slices.Contains(benchParts, p) {
			return usageError{fmt.Errorf("--what %s: unknown part %q%s; want a comma-separated list of %s",
				*what, p, didYouMean(p, benchParts, false), strings.Join(benchParts, ", "))}
		}
	}
	if *reps < 1 || *reps > bench.MaxReps {
		return fmt.Errorf("--reps %d: want 1..%d", *reps, bench.MaxReps)
	}
	has := func(s string) bool { return slices.Contains(parts, s) }
	var ps []gemm.Precision
	for _, s := range strings.Split(*precs, ",") {
		p, err := gemm.ParsePrecision(s)
		if err != nil {
			return usageError{fmt.Errorf("--precision %s: %w", *precs, err)}
		}
		warnSlowBF16(o.err, p)
		ps = append(ps, p)
	}
	fmt.Fprintf(o.out, "machine: %s/%s, %d threads, AVX-512F %v, AVX512_BF16 %v, AMX-BF16 %v, AVX2 %v, FMA %v; gemm kernel %s\n",
		runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0), cpu.X86.HasAVX512F, cpu.X86.HasAVX512BF16, cpu.X86.HasAMXBF16, cpu.X86.HasAVX2, cpu.X86.HasFMA, gemm.Kernel())
	// Register-only peaks, measured now so that efficiencies compare figures of one run.
	peak := map[gemm.Precision]float64{}
	for _, p := range ps {
		if err := ctx.Err(); err != nil {
			return err // Ctrl-C during the probes: stop before the next one
		}
		peak[p] = gemm.PeakGFLOPS(p, 300*time.Millisecond)
	}
	fmt.Fprintf(o.out, "peak per core (register-only probes, best burst):")
	for _, p := range ps {
		fmt.Fprintf(o.out, "  %s %.0f GFLOP/s", p, peak[p])
	}
	fmt.Fprintln(o.out)
	cfg := dcgan.DefaultConfig()
	// The bench functions check ctx between runs; interruptible also covers their setup
	// (filling GEMM operands of up to 59 M random values takes seconds on a busy machine).
	if has("gemm") {
		fmt.Fprintf(o.out, "\nGEMM, medians of %d (M N K, op(A) op(B)); %% of the peak of that many cores:\n", *reps)
		for _, p := range ps {
			for _, th := range []int{1, runtime.GOMAXPROCS(0)} {
				rs, err := interruptible(ctx, func() ([]bench.GEMMResult, error) { return bench.GEMM(ctx, bench.Shapes(), th, *reps, p) })
				if err != nil {
					return err
				}
				for _, r := range rs {
					eff := ""
					if pk := peak[p] * float64(th); pk > 0 {
						eff = fmt.Sprintf("  %3.0f%%", 100*r.GFLOPS/pk)
					}
					fmt.Fprintf(o.out, "%s%s\n", r, eff)
				}
			}
		}
	}
	if has("layers") {
		for _, p := range ps {
			fmt.Fprintf(o.out, "\nlayers of the reference net, forward + backward at batch 64, %s, median of %d:\n", p, *reps)
			ls, err := interruptible(ctx, func() ([]bench.LayerResult, error) { return bench.Layers(ctx, *reps, p) })
			if err != nil {
				return err
			}
			for _, l := range ls {
				fmt.Fprintf(o.out, "  %-40s %8.2f ms  %6.1f GFLOP/s\n", l.Name, float64(l.PerRun.Microseconds())/1e3, l.GFLOPS)
			}
		}
	}
	if has("train") {
		fmt.Fprintf(o.out, "\ntraining, reference net (48 px, batch 64, 1 D + 2 G steps), median of %d:\n", *reps)
		for _, p := range ps {
			r, err := interruptible(ctx, func() (bench.TrainResult, error) { return bench.Train(ctx, cfg, *reps, p) })
			if err != nil {
				return err
			}
			fmt.Fprintf(o.out, "  %-4s %.3f s/iteration  %.1f images/s  %.0f GFLOP/s (%.0f GFLOP per iteration)\n",
				p, r.PerIter.Seconds(), r.ImagesPerS, r.GFLOPS, bench.IterationFLOPs(cfg)/1e9)
		}
	}
	if has("generate") {
		fmt.Fprintf(o.out, "\ngenerator inference (eval mode), median of %d:\n", *reps)
		for _, p := range ps {
			for _, b := range []int{1, 64} {
				r, err := interruptible(ctx, func() (bench.GenerateResult, error) { return bench.Generate(ctx, cfg, b, *reps, p) })
				if err != nil {
					return err
				}
				fmt.Fprintf(o.out, "  %-4s batch %3d: %8.2f ms/call  %7.0f images/s\n", p, b, float64(r.PerCall.Microseconds())/1e3, r.ImagesPerS)
			}
		}
	}
	if has("serve") {
		if err := benchServe(ctx, o, cfg, ps); err != nil {
			return err
		}
	}
	return nil
}

// benchServe measures the HTTP server on loopback in each precision. The load generator
// does not take a context, so on Ctrl-C bench returns without waiting for it (the process
// is ending).
func benchServe(ctx context.Context, o stdio, cfg dcgan.Config, ps []gemm.Precision) error {
	m, err := loadModel("")
	if err != nil {
		// No embedded model: an untrained generator has the same cost.
		m, err = avatar.Untrained(cfg.Spec(), 1)
		if err != nil {
			return err
		}
	}
	fmt.Fprintf(o.out, "\nHTTP /avatar/{seed}.png (48 px PNG) on loopback:\n")
	for _, p := range ps {
		m.Generator().SetPrecision(p)
		if err := benchServeOne(ctx, o, m, p); err != nil {
			return err
		}
	}
	return nil
}

// benchServeOne runs the load at 1, 8 and 32 clients against a server of m in precision p.
func benchServeOne(ctx context.Context, o stdio, m *avatar.Model, p gemm.Precision) error {
	s, err := server.New(m, server.Options{ModelID: m.PixelID()})
	if err != nil {
		return err
	}
	defer s.Close()
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	for i, c := range []int{1, 8, 32} {
		res := make(chan server.LoadResult, 1)
		first := uint64(i) << 32 // each load on seeds of its own
		go func() { res <- server.RunLoad(ts.URL, c, min(400*c, 4000), first) }()
		select {
		case r := <-res:
			fmt.Fprintf(o.out, "  %-4s %2d clients: %s\n", p, c, r)
		case <-ctx.Done():
			ts.CloseClientConnections()
			return ctx.Err()
		}
	}
	return nil
}
