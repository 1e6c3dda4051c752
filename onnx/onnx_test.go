package onnx_test

import (
	"bytes"
	"encoding/binary"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"avatargan/avatar"
	"avatargan/dcgan"
	"avatargan/internal/testtool"
	"avatargan/internal/testutil"
	"avatargan/models"
	"avatargan/nn"
	"avatargan/onnx"
)

// embedded returns the embedded generator (the real weights, EMA with recalibrated
// BatchNorm statistics).
func embedded(t *testing.T) *avatar.Model {
	t.Helper()
	m, err := models.Default()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// withRefine returns a small generator with a refinement head (32 px, z 10, gf 8,
// refine 16: refine_conv takes nn's tap-split path) whose every tensor matters: TF init,
// random biases and BatchNorm affine parameters, refine_conv at 10x the init scale,
// and running statistics recalibrated to the weights (far from 0 and 1). It checks that
// the head changes the images: without it, a test would pass on a graph that drops it.
func withRefine(t *testing.T) *avatar.Model {
	t.Helper()
	r := rand.New(rand.NewPCG(11, 12))
	spec := avatar.Spec{Size: 32, ZDim: 10, GF: 8, Refine: 16, Dist: dcgan.Uniform}
	g := dcgan.NewGeneratorRefine(spec.Size, spec.ZDim, spec.GF, spec.Refine)
	g.Init(r)
	for _, p := range g.Params() {
		switch {
		case p.Buffer:
		case p.Name == "refine_conv.weight":
			for i := range p.Data {
				p.Data[i] *= 10
			}
		case strings.HasSuffix(p.Name, "bias"):
			for i := range p.Data {
				p.Data[i] = float32(0.1 * r.NormFloat64())
			}
		case strings.Contains(p.Name, "bn"): // BatchNorm gamma
			for i := range p.Data {
				p.Data[i] = float32(0.5 + r.Float64())
			}
		}
	}
	nn.Touch(g.Params())
	dcgan.RecalibrateBN(g, 4, 16, 1, spec.Dist)
	const n = 4
	z := make([]float32, n*spec.ZDim)
	for i := range z {
		z[i] = float32(2*r.Float64() - 1)
	}
	with := slices.Clone(g.Forward(z, n, false))
	w := slices.Clone(g.RefineConv.Weight.Data)
	clear(g.RefineConv.Weight.Data)
	nn.Touch(g.Params())
	without := g.Forward(z, n, false)
	copy(g.RefineConv.Weight.Data, w)
	nn.Touch(g.Params())
	d := 0.0
	for i := range with {
		d = max(d, math.Abs(float64(with[i]-without[i])))
	}
	if d < 0.05 {
		t.Fatalf("refine_conv changes the images by %.3g only: the test would not see a graph without the head", d)
	}
	return avatar.New(g, spec, "refine")
}

// testModels are the generators the export is checked on: the embedded one, and one with a
// refinement head.
var testModels = []struct {
	name string
	get  func(*testing.T) *avatar.Model
}{{"embedded", embedded}, {"refine", withRefine}}

// export writes the ONNX export of m's generator to a temporary file.
func export(t *testing.T, m *avatar.Model) string {
	t.Helper()
	om, err := onnx.Generator(m.Generator(), "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "g.onnx")
	var buf bytes.Buffer
	if err := om.Write(&buf); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestChecker runs python3-onnx's full checker (with shape inference) on the exports of
// the embedded generator and of one with a refinement head, and checks the declared
// input and output.
func TestChecker(t *testing.T) {
	py := testtool.Python(t, "onnx")
	script := `
import sys, onnx
m = onnx.load(sys.argv[1])
onnx.checker.check_model(m, full_check=True)
assert m.opset_import[0].version == 13 and m.opset_import[0].domain == ""
def dims(v): return [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
print(dims(m.graph.input[0]), dims(m.graph.output[0]))
`
	for _, tm := range testModels {
		t.Run(tm.name, func(t *testing.T) {
			m := tm.get(t)
			out, err := exec.Command(py, "-c", script, export(t, m)).CombinedOutput()
			if err != nil {
				t.Fatalf("onnx checker: %v\n%s", err, out)
			}
			zdim, size := strconv.Itoa(m.ZDim()), strconv.Itoa(m.Size())
			want := "['batch', " + zdim + "] ['batch', 3, " + size + ", " + size + "]\n"
			if string(out) != want {
				t.Fatalf("input/output dims %q, want %q", out, want)
			}
		})
	}
}

// TestGraphOps checks the exported graph's operators, with and without a refinement
// head (Conv and Add only with one), and that every tensor of the generator but the
// BatchNorm counts is an initializer of the graph.
func TestGraphOps(t *testing.T) {
	for _, refine := range []int{0, 3} {
		g := dcgan.NewGeneratorRefine(16, 8, 4, refine)
		om, err := onnx.Generator(g, "test", nil)
		if err != nil {
			t.Fatal(err)
		}
		ops := map[string]int{}
		for _, n := range om.Graph.Nodes {
			ops[n.OpType]++
		}
		want := map[string]int{"Gemm": 1, "Reshape": 1, "BatchNormalization": 4, "Relu": 4, "ConvTranspose": 4, "Tanh": 1}
		if refine > 0 {
			want["BatchNormalization"]++
			want["Relu"]++
			want["ConvTranspose"]++
			want["Conv"], want["Add"] = 1, 1
		}
		if !maps.Equal(ops, want) {
			t.Errorf("refine %d: operators %v, want %v", refine, ops, want)
		}
		var inits, tensors []string
		for _, x := range om.Graph.Initializers {
			if x.Name != "fc_view_shape" {
				inits = append(inits, x.Name)
			}
		}
		for _, x := range g.Tensors() {
			if x.Count == nil {
				tensors = append(tensors, x.Name)
			}
		}
		slices.Sort(inits)
		slices.Sort(tensors)
		if !slices.Equal(inits, tensors) {
			t.Errorf("refine %d: initializers %v, want the generator's tensors %v", refine, inits, tensors)
		}
	}
}

// TestOnnxruntimeMatches runs the exported generators (the embedded one, and one with a
// refinement head) in onnxruntime (onnxruntime-node, installed into testdata by .ci/run
// with npm ci) on the latents of seeds 0..15 and requires every output value within
// 1e-4 of avatargan's own.
func TestOnnxruntimeMatches(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		testutil.SkipOrFail(t, "%s not available (.ci/run installs it): %v", "node", err)
	}
	if _, err := os.Stat(filepath.Join("testdata", "node_modules", "onnxruntime-node")); err != nil {
		testutil.SkipOrFail(t, "%s not available (.ci/run installs it): %v", "onnxruntime-node (cd onnx/testdata && npm ci --ignore-scripts)", err)
	}
	for _, tm := range testModels {
		t.Run(tm.name, func(t *testing.T) { onnxruntimeMatches(t, node, tm.get(t)) })
	}
}

func onnxruntimeMatches(t *testing.T, node string, m *avatar.Model) {
	path, zdim, size := export(t, m), m.ZDim(), m.Size()
	const n = 16
	seeds := make([]uint64, n)
	for i := range seeds {
		seeds[i] = uint64(i)
	}
	z := m.Seeds(seeds...)
	want, err := m.Tensor(z)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	zf, of := filepath.Join(dir, "z.f32"), filepath.Join(dir, "out.f32")
	if err := os.WriteFile(zf, f32bytes(z), 0o644); err != nil {
		t.Fatal(err)
	}
	script, _ := filepath.Abs(filepath.Join("testdata", "run_onnx.js"))
	cmd := exec.Command(node, script, path, zf, strconv.Itoa(n), strconv.Itoa(zdim), of)
	cmd.Dir = "testdata"
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("onnxruntime-node: %v\n%s", err, out)
	}
	t.Logf("onnxruntime-node: %s", bytes.TrimSpace(out))
	raw, err := os.ReadFile(of)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) != 4*n*3*size*size {
		t.Fatalf("onnxruntime returned %d bytes, want %d", len(raw), 4*n*3*size*size)
	}
	worst := 0.0
	for i := range want {
		got := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		d := math.Abs(float64(got) - float64(want[i]))
		if !(d <= worst) {
			worst = d
		}
	}
	t.Logf("max |onnxruntime - avatargan| over %d seeds: %.3g", n, worst)
	if !(worst <= 1e-4) {
		t.Fatalf("max |onnxruntime - avatargan| = %.3g, want <= 1e-4", worst)
	}
}

func f32bytes(xs []float32) []byte {
	b := make([]byte, 4*len(xs))
	for i, v := range xs {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}
