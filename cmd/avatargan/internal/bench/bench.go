// Package bench measures avatargan's engine on synthetic data for the CLI's bench
// command: GEMM GFLOP/s on the reference net's shapes, training iterations and generator
// inference. Every figure is the median of repeated runs, because the machines this
// runs on are often shared. It lives under cmd/avatargan because it drives packages of
// every layer (gemm, nn, dcgan); every function stops between runs once its context is
// done.
package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"avatargan/dcgan"
	"avatargan/internal/gemm"
	"avatargan/nn"
)

// MaxReps bounds the repetitions of one figure.
const MaxReps = 1000

// Median runs f reps times (1..MaxReps) and returns the median duration; it stops early
// with ctx's error once ctx is done.
func Median(ctx context.Context, reps int, f func()) (time.Duration, error) {
	if reps < 1 || reps > MaxReps {
		return 0, fmt.Errorf("bench: %d repetitions, want 1..%d", reps, MaxReps)
	}
	ds := make([]time.Duration, reps)
	for i := range ds {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		t := time.Now()
		f()
		ds[i] = time.Since(t)
	}
	slices.Sort(ds)
	return ds[len(ds)/2], nil
}

// warmMedian runs f once to warm caches and buffers, then returns Median of reps runs.
func warmMedian(ctx context.Context, reps int, f func()) (time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	f()
	return Median(ctx, reps, f)
}

// Shape is one GEMM of the reference network: C[M x N] = op(A)[M x K] * op(B)[K x N].
type Shape struct {
	Name           string
	M, N, K        int
	TransA, TransB bool
}

// Shapes are the GEMMs of one training iteration of the reference net at batch 64, as
// the nn package issues them (activations channel-major, so M is a channel count), plus
// the three square-ish shapes named in the engine's issue.
func Shapes() []Shape {
	return []Shape{
		{"issue 36864x1600x128", 36864, 128, 1600, false, false},
		{"issue 9216x3200x256", 9216, 256, 3200, false, false},
		{"issue 2304x6400x512", 2304, 512, 6400, false, false},
		{"conv1 fwd", 128, 9216, 1600, false, false},
		{"conv2 fwd", 256, 2304, 3200, false, false},
		{"conv3 fwd", 512, 576, 6400, false, false},
		{"conv1 dW", 128, 1600, 9216, false, true},
		{"conv2 dW", 256, 3200, 2304, false, true},
		{"conv3 dW", 512, 6400, 576, false, true},
		{"conv1 dcol", 1600, 9216, 128, true, false},
		{"conv2 dcol", 3200, 2304, 256, true, false},
		{"conv3 dcol", 6400, 576, 512, true, false},
		{"deconv1 fwd", 6400, 576, 512, true, false},
		{"deconv2 fwd", 3200, 2304, 256, true, false},
		{"deconv3 fwd", 1600, 9216, 128, true, false},
		{"deconv1 dX", 512, 576, 6400, false, false},
		{"deconv2 dX", 256, 2304, 3200, false, false},
		{"deconv3 dX", 128, 9216, 1600, false, false},
	}
}

// GEMMResult is the speed of one shape.
type GEMMResult struct {
	Shape     Shape
	Threads   int
	Precision gemm.Precision
	GFLOPS    float64
}

// GEMM times each shape in precision p on the given thread count, reps times, and
// returns medians.
func GEMM(ctx context.Context, shapes []Shape, threads, reps int, p gemm.Precision) ([]GEMMResult, error) {
	old := gemm.SetThreads(threads)
	defer gemm.SetThreads(old)
	r := rand.New(rand.NewPCG(1, 2))
	var out []GEMMResult
	for _, s := range shapes {
		a := randSlice(r, s.M*s.K)
		b := randSlice(r, s.K*s.N)
		c := make([]float32, s.M*s.N)
		lda, ldb := s.K, s.N
		if s.TransA {
			lda = s.M
		}
		if s.TransB {
			ldb = s.K
		}
		run := func() { gemm.Gemm(p, s.TransA, s.TransB, s.M, s.N, s.K, 1, a, lda, b, ldb, 0, c, s.N) }
		d, err := warmMedian(ctx, reps, run)
		if err != nil {
			return nil, err
		}
		out = append(out, GEMMResult{s, threads, p, 2 * float64(s.M) * float64(s.N) * float64(s.K) / d.Seconds() / 1e9})
	}
	return out, nil
}

// TrainResult is the speed of training iterations of a configuration.
type TrainResult struct {
	Batch      int
	PerIter    time.Duration
	ImagesPerS float64
	GFLOPS     float64 // counting every multiply-add of every tap, padding included
}

// Train times reps training iterations (one D step, GSteps G steps) of cfg in
// precision p on random data after one warm-up iteration, and returns the median.
func Train(ctx context.Context, cfg dcgan.Config, reps int, p gemm.Precision) (TrainResult, error) {
	tr, err := dcgan.NewTrainer(cfg)
	if err != nil {
		return TrainResult{}, err
	}
	tr.SetPrecision(p)
	r := rand.New(rand.NewPCG(3, 4))
	real := randSlice(r, cfg.Batch*3*cfg.Size*cfg.Size)
	z := randSlice(r, cfg.Batch*cfg.ZDim)
	var stepErr error
	step := func() {
		if _, err := tr.Step(real, z); err != nil {
			stepErr = err
		}
	}
	d, err := warmMedian(ctx, reps, step)
	if err = errors.Join(err, stepErr); err != nil {
		return TrainResult{}, err
	}
	return TrainResult{Batch: cfg.Batch, PerIter: d, ImagesPerS: float64(cfg.Batch) / d.Seconds(),
		GFLOPS: IterationFLOPs(cfg) / d.Seconds() / 1e9}, nil
}

// GenerateResult is the speed of generator inference at one batch size.
type GenerateResult struct {
	Batch      int
	PerCall    time.Duration
	ImagesPerS float64
}

// Generate times eval-mode generator passes of batch images in precision p.
func Generate(ctx context.Context, cfg dcgan.Config, batch, reps int, p gemm.Precision) (GenerateResult, error) {
	g := dcgan.NewGeneratorRefine(cfg.Size, cfg.ZDim, cfg.GF, cfg.Refine)
	g.Init(rand.New(rand.NewPCG(5, 6)))
	g.Freeze() // as a loaded model is
	g.SetPrecision(p)
	z := randSlice(rand.New(rand.NewPCG(7, 8)), batch*cfg.ZDim)
	d, err := warmMedian(ctx, reps, func() { g.Forward(z, batch, false) })
	if err != nil {
		return GenerateResult{}, err
	}
	return GenerateResult{Batch: batch, PerCall: d, ImagesPerS: float64(batch) / d.Seconds()}, nil
}

// convFLOPs is 2*MACs of a 5x5 convolution producing (or, transposed, consuming) the
// given number of output positions, counting every tap.
func convFLOPs(cin, cout, positions int) float64 {
	return 2 * float64(cin) * float64(cout) * 25 * float64(positions)
}

// IterationFLOPs counts the floating-point operations of the convolutions and linear
// layers of one training iteration: forward, input gradients and weight gradients of
// every pass the schedule runs (D step: G forward, D forward+backward on real and fake;
// each G step: G forward, D forward, D input gradients, G backward). BatchNorm and
// activations are left out (they are O(activations), not O(MACs)).
func IterationFLOPs(c dcgan.Config) float64 {
	n, s := c.Batch, c.Size/16
	// Per-layer forward FLOPs (a backward pass costs the same for dX and again for dW).
	var g, d float64
	g += 2 * float64(c.ZDim) * float64(8*c.GF*s*s) * float64(n)
	gch := []int{8 * c.GF, 4 * c.GF, 2 * c.GF, c.GF, 3}
	for i := 0; i < 4; i++ {
		side := s << i // input side of deconv i+1
		g += convFLOPs(gch[i], gch[i+1], n*side*side)
	}
	if c.Refine > 0 {
		// The refinement head: a transposed convolution like deconv4's to Refine
		// channels, then a 3x3 convolution to RGB at the output side.
		side := c.Size / 2
		g += convFLOPs(c.GF, c.Refine, n*side*side)
		g += 2 * float64(9*c.Refine*3) * float64(n*c.Size*c.Size)
	}
	dch := []int{3, c.DF, 2 * c.DF, 4 * c.DF, 8 * c.DF}
	var dFirst float64
	for i := 0; i < 4; i++ {
		side := c.Size >> (i + 1) // output side of conv i
		f := convFLOPs(dch[i], dch[i+1], n*side*side)
		d += f
		if i == 0 {
			dFirst = f
		}
	}
	d += 2 * float64(8*c.DF*s*s) * float64(n)
	// D step: G fwd; D fwd+dW on real and fake (no dX needed at the input layer: D's
	// first layer needs no input gradient, the rest do for backprop within D).
	dStep := g + 2*(d+d+(d-dFirst))
	// G step: G fwd, D fwd, D dX only, G dX and dW (G's first layer needs no dX).
	gStep := g + d + d + 2*g
	return dStep + float64(c.GSteps)*gStep
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

// String formats a GEMM result row.
func (g GEMMResult) String() string {
	return fmt.Sprintf("%-22s %6d %6d %6d  %s%s  %-4s %d thr  %7.1f GFLOP/s", g.Shape.Name, g.Shape.M, g.Shape.N, g.Shape.K,
		map[bool]string{true: "T", false: "N"}[g.Shape.TransA], map[bool]string{true: "T", false: "N"}[g.Shape.TransB], g.Precision, g.Threads, g.GFLOPS)
}

// LayerResult is the forward+backward time of one layer of the reference net.
type LayerResult struct {
	Name   string
	PerRun time.Duration
	GFLOPS float64 // forward + input gradient + weight gradient, every tap counted
}

// Layers times forward then backward of each convolution (with its BatchNorm and
// activation where the net has one) of the reference net at batch 64, 48 px, in
// precision p, as a training step runs them. The input sizes in the names are the
// layers' inputs.
func Layers(ctx context.Context, reps int, p gemm.Precision) ([]LayerResult, error) {
	const n = 64
	r := rand.New(rand.NewPCG(9, 10))
	var out []LayerResult
	for i, tc := range []struct{ ci, co, h int }{{3, 64, 48}, {64, 128, 24}, {128, 256, 12}, {256, 512, 6}} {
		c := nn.NewConv2d("c", tc.ci, tc.co, 5, 2, 2)
		c.Init(0.02, r)
		c.Precision = p
		c.NoInputGrad = i == 0 // D's first layer needs no input gradient
		act := nn.ActLeakyReLU
		bn := nn.NewBatchNorm2d("bn", tc.co, act)
		x := randSlice(r, tc.ci*n*tc.h*tc.h)
		hw := tc.h * tc.h / 4
		gy := randSlice(r, tc.co*n*hw)
		run := func() {
			y := c.Forward(x, n, tc.h, tc.h)
			g := gy
			if i > 0 {
				bn.Forward(y, n, hw, true)
				g = bn.Backward(gy)
			}
			c.Backward(g)
		}
		d, err := warmMedian(ctx, reps, run)
		if err != nil {
			return nil, err
		}
		passes := 3.0
		if i == 0 {
			passes = 2
		}
		name := fmt.Sprintf("D conv%d %d->%d %dpx", i, tc.ci, tc.co, tc.h)
		if i > 0 {
			name += " +bn+lrelu"
		}
		out = append(out, LayerResult{name, d,
			passes * convFLOPs(tc.ci, tc.co, n*hw) / d.Seconds() / 1e9})
	}
	for i, tc := range []struct{ ci, co, h int }{{512, 256, 3}, {256, 128, 6}, {128, 64, 12}, {64, 3, 24}} {
		c := nn.NewConvTranspose2d("d", tc.ci, tc.co, 5, 2, 2, 1)
		c.Init(0.02, r)
		c.Precision = p
		bn := nn.NewBatchNorm2d("bn", tc.co, nn.ActReLU)
		x := randSlice(r, tc.ci*n*tc.h*tc.h)
		hw := tc.h * tc.h * 4
		gy := randSlice(r, tc.co*n*hw)
		run := func() {
			y := c.Forward(x, n, tc.h, tc.h)
			g := gy
			if i < 3 {
				bn.Forward(y, n, hw, true)
				g = bn.Backward(gy)
			}
			c.Backward(g)
		}
		d, err := warmMedian(ctx, reps, run)
		if err != nil {
			return nil, err
		}
		name := fmt.Sprintf("G deconv%d %d->%d %dpx", i+1, tc.ci, tc.co, tc.h)
		if i < 3 {
			name += " +bn+relu"
		}
		out = append(out, LayerResult{name, d,
			3 * convFLOPs(tc.ci, tc.co, n*tc.h*tc.h) / d.Seconds() / 1e9})
	}
	return out, nil
}
