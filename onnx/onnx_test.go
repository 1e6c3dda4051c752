package onnx_test

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"avatargan/avatar"
	"avatargan/internal/testtool"
	"avatargan/internal/testutil"
	"avatargan/models"
	"avatargan/onnx"
)

// exportEmbedded writes the ONNX export of the embedded generator (the real weights,
// EMA with recalibrated BatchNorm statistics) to a temporary file.
func exportEmbedded(t *testing.T) (path string, zdim, size int, model *avatar.Model) {
	t.Helper()
	m, err := models.Default()
	if err != nil {
		t.Fatal(err)
	}
	om, err := onnx.Generator(m.Generator(), "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(t.TempDir(), "g.onnx")
	var buf bytes.Buffer
	if err := om.Write(&buf); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, m.ZDim(), m.Size(), m
}

// TestChecker runs python3-onnx's full checker (with shape inference) on the export of
// the embedded generator and checks the declared input and output.
func TestChecker(t *testing.T) {
	py := testtool.Python(t, "onnx")
	path, zdim, size, _ := exportEmbedded(t)
	script := `
import sys, onnx
m = onnx.load(sys.argv[1])
onnx.checker.check_model(m, full_check=True)
assert m.opset_import[0].version == 13 and m.opset_import[0].domain == ""
def dims(v): return [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
print(dims(m.graph.input[0]), dims(m.graph.output[0]))
`
	out, err := exec.Command(py, "-c", script, path).CombinedOutput()
	if err != nil {
		t.Fatalf("onnx checker: %v\n%s", err, out)
	}
	want := "['batch', " + strconv.Itoa(zdim) + "] ['batch', 3, " + strconv.Itoa(size) + ", " + strconv.Itoa(size) + "]\n"
	if string(out) != want {
		t.Fatalf("input/output dims %q, want %q", out, want)
	}
}

// TestOnnxruntimeMatches runs the exported embedded generator in onnxruntime
// (onnxruntime-node, installed into testdata by .ci/run with npm ci) on the latents of
// seeds 0..15 and requires every output value within 1e-4 of avatargan's own.
func TestOnnxruntimeMatches(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		testutil.SkipOrFail(t, "%s not available (.ci/run installs it): %v", "node", err)
	}
	if _, err := os.Stat(filepath.Join("testdata", "node_modules", "onnxruntime-node")); err != nil {
		testutil.SkipOrFail(t, "%s not available (.ci/run installs it): %v", "onnxruntime-node (cd onnx/testdata && npm ci --ignore-scripts)", err)
	}
	path, zdim, size, m := exportEmbedded(t)
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
