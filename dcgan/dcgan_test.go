package dcgan

import (
	"encoding/json"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"avatargan/internal/testutil"
	"avatargan/nn"
)

type goldenTensor = testutil.GoldenTensor

var (
	goldenOnce sync.Once
	golden     map[string]goldenTensor
	goldenErr  error
)

func tiny(t *testing.T) map[string]goldenTensor {
	t.Helper()
	goldenOnce.Do(func() { golden, goldenErr = testutil.ReadGolden("testdata/dcgan_tiny.json") })
	if goldenErr != nil {
		t.Fatal(goldenErr)
	}
	return golden
}

func f32(d []float64) []float32 {
	out := make([]float32, len(d))
	for i, v := range d {
		out[i] = float32(v)
	}
	return out
}

func tinyConfig() Config {
	c := DefaultConfig()
	c.Size, c.ZDim, c.GF, c.DF, c.Batch = 16, 8, 4, 4, 4
	return c
}

// load writes the golden tensors prefix+name into ts, checking that the names match
// the reference state_dict exactly.
func load(t *testing.T, g map[string]goldenTensor, prefix string, ts []nn.NamedTensor) {
	t.Helper()
	seen := map[string]bool{}
	for _, x := range ts {
		gt, ok := g[prefix+x.Name]
		if !ok {
			t.Fatalf("golden has no %s%s", prefix, x.Name)
		}
		seen[prefix+x.Name] = true
		if x.Count != nil {
			*x.Count = int64(gt.Data[0])
			continue
		}
		if len(gt.Data) != len(x.Data) || len(gt.Shape) != len(x.Shape) {
			t.Fatalf("%s: shape %v, golden %v", x.Name, x.Shape, gt.Shape)
		}
		copy(x.Data, f32(gt.Data))
	}
	for k := range g {
		if strings.HasPrefix(k, prefix) && !seen[k] {
			t.Fatalf("model has no tensor for golden %s", k)
		}
	}
}

func newTiny(t *testing.T) *Trainer {
	t.Helper()
	tr, err := NewTrainer(tinyConfig())
	if err != nil {
		t.Fatal(err)
	}
	g := tiny(t)
	load(t, g, "G.", tr.G.Tensors())
	load(t, g, "D.", tr.D.Tensors())
	return tr
}

func maxAbs(d []float64) float64 {
	var m float64
	for _, v := range d {
		m = math.Max(m, math.Abs(v))
	}
	return m
}

// checkClose fails for every element outside |got-want| <= atol + tol*|want| (see
// testutil.Within): a per-element tolerance, so that a small element cannot be wrong by
// hiding under the largest one, with an atol for elements near zero.
func checkClose(t *testing.T, name string, got []float32, want []float64, tol float64) {
	t.Helper()
	testutil.AllClose(t, name, got, want, goldenAtol, tol)
}

// goldenAtol is the absolute part of checkClose's tolerance, far below the golden
// values that matter (losses O(1), gradients O(1e-3..1)).
const goldenAtol = 1e-7

// zeroGrad reports whether golden says the gradient of a tensor is zero up to float64
// rounding: the bias of a layer followed by BatchNorm, which the batch mean cancels
// exactly. Its float32 value is rounding noise (~1e-8), so it is compared with an
// absolute tolerance on the scale of the network's other gradients instead.
func zeroGrad(want []float64) bool { return maxAbs(want) < 1e-12 }

func checkGrads(t *testing.T, g map[string]goldenTensor, prefix string, ps []*nn.Param) {
	t.Helper()
	var netScale float64
	for _, p := range ps {
		if w, ok := g[prefix+p.Name]; ok {
			netScale = math.Max(netScale, maxAbs(w.Data))
		}
	}
	for _, p := range ps {
		if p.Buffer {
			continue
		}
		want, ok := g[prefix+p.Name]
		if !ok {
			t.Errorf("golden has no %s%s", prefix, p.Name)
			continue
		}
		if zeroGrad(want.Data) {
			for i, v := range p.Grad {
				if math.Abs(float64(v)) > 1e-4*netScale {
					t.Errorf("%s%s[%d] = %g, want ~0 (scale %g)", prefix, p.Name, i, v, netScale)
					break
				}
			}
			continue
		}
		// A gradient element is a sum of many float32 products: its rounding error
		// scales with the network's gradients, not with the element, so the absolute
		// part of the tolerance is on the network's scale.
		testutil.AllClose(t, prefix+p.Name, p.Grad, want.Data, 1e-5*netScale, 1e-4)
	}
}

func realCNHW(tr *Trainer, real []float32, n int) []float32 {
	out := make([]float32, len(real))
	nn.NCHWToCNHW(out, real, n, 3, tr.Cfg.Size*tr.Cfg.Size)
	return out
}

func TestTinyGoldenFake(t *testing.T) {
	g := tiny(t)
	tr := newTiny(t)
	checkClose(t, "fake0", tr.G.Forward(f32(g["z"].Data), 4, true), g["fake0"].Data, 1e-4)
}

func TestTinyGoldenDiscriminatorGrads(t *testing.T) {
	g := tiny(t)
	tr := newTiny(t)
	z, real := f32(g["z"].Data), f32(g["real"].Data)
	lossD, _, _ := tr.discriminatorGrads(realCNHW(tr, real, 4), z, 4)
	checkClose(t, "lossD0", []float32{float32(lossD)}, g["lossD0"].Data, 1e-4)
	checkGrads(t, g, "gradD0.", tr.D.Params())
}

func TestTinyGoldenGeneratorGrads(t *testing.T) {
	g := tiny(t)
	tr := newTiny(t)
	lossG, _, _ := tr.generatorGrads(f32(g["z"].Data), 4, 0)
	checkClose(t, "lossG0", []float32{float32(lossG)}, g["lossG0"].Data, 1e-4)
	checkGrads(t, g, "gradG0.", tr.G.Params())
}

// TestTinyGoldenIteration runs one full iteration. Losses are compared tightly. The
// weights after it are compared loosely: Adam's first steps move each weight by about
// lr*sign(grad), so a weight whose grad is ~0 may move by +lr in float32 and by -lr in
// float64. Biases followed by BatchNorm have a gradient of exactly zero (see zeroGrad),
// so their update is pure rounding noise (as is any element whose initial grad
// is zero): only the bound |error| <= 3 lr (three steps
// at most) is checked for them. For the other weights the displacement (after - before)
// must agree within 1e-3 lr for at least 99% of a network's elements, and within 3 lr
// for all. Running stats and counts come from forwards only and are compared tightly.
func TestTinyGoldenIteration(t *testing.T) {
	g := tiny(t)
	tr := newTiny(t)
	z, real := f32(g["z"].Data), f32(g["real"].Data)
	st, err := tr.Step(real, z)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]float32, len(st.Losses))
	for i, l := range st.Losses {
		got[i] = float32(l)
	}
	checkClose(t, "losses_iteration", got, g["losses_iteration"].Data, 1e-4)
	const lr = 2e-4
	check := func(pre, gradPre string, ts []nn.NamedTensor) {
		var bad, total int
		for _, x := range ts {
			name := pre + x.Name
			want := g["after."+name].Data
			if x.Count != nil {
				if float64(*x.Count) != want[0] {
					t.Errorf("%s = %d, want %v", name, *x.Count, want[0])
				}
				continue
			}
			if strings.Contains(name, "running_") {
				// The statistics of the forwards after an update see weights that are
				// only known to about lr (see above): their absolute error is ~lr/4 on
				// values of ~0.01, so near-zero means get that much absolute slack.
				testutil.AllClose(t, name, x.Data, want, lr/4, 1e-3)
				continue
			}
			grad := g[gradPre+x.Name].Data
			before := g[name].Data
			var worst float64
			for i, w := range want {
				e := math.Abs((float64(x.Data[i]) - before[i]) - (w - before[i]))
				worst = math.Max(worst, e)
				// Elements whose initial golden grad is exactly zero are noise too.
				if math.Abs(grad[i]) > 1e-12 {
					total++
					if e > 1e-3*lr {
						bad++
						t.Logf("%s[%d]: off by %.3g lr", name, i, e/lr)
					}
				}
			}
			if worst > 3*lr {
				t.Errorf("%s: worst error %.3g lr", name, worst/lr)
			}
		}
		if float64(bad) > 0.01*float64(total) {
			t.Errorf("%s: %d/%d weights off by > 1e-3 lr", pre, bad, total)
		}
	}
	check("G.", "gradG0.", tr.G.Tensors())
	check("D.", "gradD0.", tr.D.Tensors())
	// fake_eval depends on every updated weight and running stat: compare it at 1e-3,
	// with 1e-5 absolute slack for outputs near zero (tanh's range is [-1, 1]): weights
	// known to ~1e-3 lr move them by a few 1e-6, which float32 rounding (FMA fusion
	// under GOAMD64=v3 included) can push past 1e-3 of a value of ~0.003.
	testutil.AllClose(t, "fake_eval", tr.G.Forward(z, 4, false), g["fake_eval"].Data, 1e-5, 1e-3)
}

// TestParamNamesAndOrder checks that G's and D's tensors have exactly the names, order
// and shapes of the reference state_dicts (the order PyTorch writes them, kept by the
// golden file's key order), so checkpoints and exports load into the reference module.
func TestParamNamesAndOrder(t *testing.T) {
	g := tiny(t)
	order := goldenKeyOrder(t)
	tr := newTiny(t)
	for _, net := range []struct {
		prefix string
		ts     []nn.NamedTensor
	}{{"G.", tr.G.Tensors()}, {"D.", tr.D.Tensors()}} {
		var want, got []string
		for _, k := range order {
			if strings.HasPrefix(k, net.prefix) {
				want = append(want, k)
			}
		}
		for _, x := range net.ts {
			got = append(got, net.prefix+x.Name)
			shape := g[net.prefix+x.Name].Shape
			if x.Count == nil && !slices.Equal(x.Shape, shape) {
				t.Errorf("%s%s: shape %v, reference %v", net.prefix, x.Name, x.Shape, shape)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s tensors:\n got  %v\n want %v", net.prefix, got, want)
		}
	}
}

// goldenKeyOrder returns the tensor names of the golden file in file order (a Go map
// loses it).
func goldenKeyOrder(t *testing.T) []string {
	t.Helper()
	return goldenKeyOrderOf(t, "testdata/dcgan_tiny.json")
}

// goldenKeyOrderOf is goldenKeyOrder for the golden file at path.
func goldenKeyOrderOf(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	var keys []string
	depth := 0
	inTensors := false
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		switch v := tok.(type) {
		case json.Delim:
			if v == '{' || v == '[' {
				depth++
			} else {
				depth--
			}
		case string:
			if depth == 1 && v == "tensors" {
				inTensors = true
				continue
			}
			if inTensors && depth == 2 {
				keys = append(keys, v)
				var skip json.RawMessage
				if err := dec.Decode(&skip); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if len(keys) == 0 {
		t.Fatal("no tensors in the golden file")
	}
	return keys
}
