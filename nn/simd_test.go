package nn

import (
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"golang.org/x/sys/cpu"
)

// TestSIMDMatchesGo checks that the assembly loops give bit-identical results to the
// Go loops, on lengths that exercise every tail (under any GOAMD64: see
// TestSIMDMatchesGoV3).
func TestSIMDMatchesGo(t *testing.T) {
	if !useAVX {
		t.Skip("no AVX loops on this machine")
	}
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 7, 8, 9, 31, 32, 33, 100, 1027} {
		a, s := randSlice(r, n), randSlice(r, n)
		a2 := append([]float32(nil), a...)
		addToAVX(&a[0], &s[0], n)
		addToGo(a2, s)
		for i := range a {
			if math.Float32bits(a[i]) != math.Float32bits(a2[i]) {
				t.Fatalf("addTo n=%d i=%d: %v != %v", n, i, a[i], a2[i])
			}
		}
		w, g, m, v := randSlice(r, n), randSlice(r, n), randSlice(r, n), randSlice(r, n)
		for i := range v {
			v[i] *= v[i]
			if i%5 == 0 {
				g[i] *= 1e-20 // tiny and denormal squares
			}
		}
		k := [8]float32{0.5, 0.5, 0.999, 1 - float32(0.999), 2e-4 / 0.75, float32(math.Sqrt(0.002)), 1e-8}
		w2, m2, v2 := append([]float32(nil), w...), append([]float32(nil), m...), append([]float32(nil), v...)
		adamAVX(&w[0], &g[0], &m[0], &v[0], n, &k)
		adamGo(w2, g, m2, v2, &k)
		for i := range w {
			if math.Float32bits(w[i]) != math.Float32bits(w2[i]) || math.Float32bits(m[i]) != math.Float32bits(m2[i]) ||
				math.Float32bits(v[i]) != math.Float32bits(v2[i]) {
				t.Fatalf("adam n=%d i=%d: (%v %v %v) != (%v %v %v)", n, i, w[i], m[i], v[i], w2[i], m2[i], v2[i])
			}
		}
	}
}

// TestSIMDMatchesGoV3 runs TestSIMDMatchesGo in a build with GOAMD64=v3, where the
// compiler may fuse a multiply and an add into an FMA: the Go loops must still give the
// assembly's bits (they round every product explicitly), whatever the build flags.
func TestSIMDMatchesGoV3(t *testing.T) {
	if os.Getenv("GOAMD64") == "v3" {
		t.Skip("this build is already GOAMD64=v3")
	}
	if runtime.GOARCH != "amd64" || !cpu.X86.HasAVX2 || !cpu.X86.HasFMA {
		t.Skip("needs an amd64 CPU with AVX2 and FMA")
	}
	if testing.Short() {
		t.Skip("builds the package again; skipped with -short")
	}
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	cmd := exec.Command(goBin, "test", "-count=1", "-run", "^TestSIMDMatchesGo$", ".")
	cmd.Env = append(os.Environ(), "GOAMD64=v3")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("GOAMD64=v3: %v\n%s", err, out)
	}
}
