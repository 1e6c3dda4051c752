package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image/jpeg"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"avatargan/checkpoint"
)

// isJPEG reports whether path holds a JPEG and returns its size.
func jpegSize(t *testing.T, path string) (int, int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s is not a JPEG: %v", path, err)
	}
	return img.Bounds().Dx(), img.Bounds().Dy()
}

// Output names are honoured (.png and .jpg files, directories, missing folders created)
// or refused, never written in a format other than their extension says.
func TestOutputNames(t *testing.T) {
	fixture(t)
	tmp := t.TempDir()
	ck := []string{"--checkpoint", runDir}

	one := filepath.Join(tmp, "a.jpg")
	run(t, cmdGenerate, append(ck, "-n", "1", "--out", one)...)
	if w, h := jpegSize(t, one); w != 16 || h != 16 {
		t.Fatalf("a.jpg is %dx%d", w, h)
	}
	// -n 8 is a 4x2 grid without holes, not 3x3 with one; as JPEG since the name says so.
	grid := filepath.Join(tmp, "x.jpg")
	run(t, cmdGenerate, append(ck, "-n", "8", "--grid", "--out", grid)...)
	if w, h := jpegSize(t, grid); w != 4*18+2 || h != 2*18+2 {
		t.Fatalf("x.jpg is %dx%d, want a 4x2 grid", w, h)
	}
	// Missing folders are created.
	deep := filepath.Join(tmp, "sub", "dir", "g.png")
	run(t, cmdGenerate, append(ck, "-n", "2", "--grid", "--out", deep)...)
	if b := decodePNG(t, deep).Bounds(); b.Dx() != 2*18+2 {
		t.Fatalf("g.png %v", b)
	}
	strip := filepath.Join(tmp, "walk", "strip.jpg")
	run(t, cmdInterpolate, append(ck, "--steps", "3", "--upscale", "1", "--out", strip)...)
	if w, _ := jpegSize(t, strip); w != 3*18+2 {
		t.Fatalf("strip.jpg is %d wide", w)
	}
	// Zero-padded names sort in seed order.
	dir := filepath.Join(tmp, "many")
	run(t, cmdGenerate, append(ck, "-n", "12", "--seed", "95", "--out", dir)...)
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if len(names) != 12 || names[0] != "avatar-095.png" || names[11] != "avatar-106.png" || !slices.IsSorted(names) {
		t.Fatalf("names %v", names)
	}

	fails(t, "want a .png, .jpg file", cmdGenerate, append(ck, "-n", "1", "--out", filepath.Join(tmp, "a.gif"))...)
	fails(t, "--grid writes one image", cmdGenerate, append(ck, "-n", "4", "--grid", "--out", filepath.Join(tmp, "gdir"))...)
	fails(t, "need --grid or a directory", cmdGenerate, append(ck, "-n", "3", "--out", filepath.Join(tmp, "three.jpg"))...)

	// export: .safetensors or .onnx, never into a run, never over its input; folders created.
	exp := filepath.Join(tmp, "out", "new", "g.safetensors")
	run(t, cmdExport, append(ck, "--out", exp)...)
	if _, err := checkpoint.Read(exp); err != nil {
		t.Fatal(err)
	}
	fails(t, "but --out", cmdExport, append(ck, "--format", "safetensors", "--out", filepath.Join(tmp, "m.onnx"))...)
	fails(t, "want a .safetensors or .onnx file", cmdExport, append(ck, "--out", filepath.Join(tmp, "m.bin"))...)
	latest, _ := checkpoint.Latest(runDir)
	before, _ := os.ReadFile(latest)
	fails(t, "training checkpoint's name", cmdExport, append(ck, "--out", latest)...)
	fails(t, "is a training run", cmdExport, append(ck, "--out", filepath.Join(runDir, "generator.safetensors"))...)
	fails(t, "is the --checkpoint being exported", cmdExport, "--checkpoint", exp, "--out", exp)
	if after, _ := os.ReadFile(latest); !bytes.Equal(before, after) {
		t.Fatal("a refused export changed the checkpoint")
	}
	// No temporary files anywhere.
	filepath.WalkDir(tmp, func(p string, d os.DirEntry, err error) error {
		if strings.Contains(filepath.Base(p), ".tmp-") {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})
}

// Sizes from flags are bounded before anything is allocated, with one-line errors.
func TestFlagBounds(t *testing.T) {
	fixture(t)
	tmp := t.TempDir()
	fails(t, "-n 4611686018427387904: want 16..", cmdEval, "--data", facesDir, "-n", "4611686018427387904")
	fails(t, "over the 1024 MiB limit", cmdGenerate, "-n", "1000", "--upscale", "32", "--grid", "--out", filepath.Join(tmp, "g.png"))
	fails(t, "over the 1024 MiB limit", cmdInterpolate, "--steps", "256", "--upscale", "32", "--out", filepath.Join(tmp, "w.gif"))
	fails(t, "-n 100001: want 1..100000", cmdGenerate, "-n", "100001")
	fails(t, "--reps 0: want 1..1000", cmdBench, "--reps", "0")
	fails(t, `unknown part "foo"`, cmdBench, "--what", "foo")
	fails(t, "the seeds would pass 2^64-1", cmdGenerate, "--seed", "18446744073709551615", "-n", "2", "--checkpoint", runDir)
	fails(t, "--delay -5: want 1..6000", cmdInterpolate, "--delay", "-5")
	fails(t, "--size 5000: want 16..1024", cmdEval, "--data", facesDir, "--size", "5000")
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Fatalf("refused commands wrote %v", ents)
	}
	// The last seed itself is fine.
	run(t, cmdGenerate, "--seed", "18446744073709551615", "-n", "1", "--out", filepath.Join(tmp, "last.png"), "--checkpoint", runDir)
}

// eval treats a folder too small for n the same way for --data and --fake: an explicit
// -n is refused, the default is lowered with a note; and its JSON uses snake_case.
func TestEvalN(t *testing.T) {
	fixture(t)
	tmp := t.TempDir()
	fake := filepath.Join(tmp, "fake")
	run(t, cmdGenerate, "-n", "17", "--out", fake, "--checkpoint", runDir)
	fails(t, "-n 18: "+fake+" has 17 usable images", cmdEval, "--data", facesDir, "--fake", fake, "-n", "18", "--cache", cacheDir)
	fails(t, "-n 21: "+facesDir+" has 40 images", cmdEval, "--data", facesDir, "--checkpoint", runDir, "-n", "21", "--cache", cacheDir)
	for _, c := range []struct {
		args []string
		n    int
		note string
	}{
		{[]string{"--fake", fake}, 17, fake + " has 17 usable images; using n = 17"},
		{[]string{"--checkpoint", runDir}, 20, facesDir + " has 40 images (two disjoint real sets of n); using n = 20"},
	} {
		o, out, errb := quiet()
		if err := cmdEval(context.Background(), o, append(c.args, "--data", facesDir, "--json", "--cache", cacheDir)); err != nil {
			t.Fatal(err)
		}
		var rep map[string]any
		if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
			t.Fatal(err)
		}
		if rep["n"] != float64(c.n) || !strings.Contains(errb.String(), c.note) {
			t.Errorf("%v: n %v, stderr %q; want n %d and a note %q", c.args, rep["n"], errb, c.n, c.note)
		}
		snake := regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
		var walk func(v any)
		walk = func(v any) {
			if m, ok := v.(map[string]any); ok {
				for k, x := range m {
					if !snake.MatchString(k) {
						t.Errorf("JSON key %q is not snake_case", k)
					}
					walk(x)
				}
			}
		}
		walk(rep)
		if _, ok := rep["fake"].(map[string]any)["per_level"]; !ok {
			t.Errorf("no fake.per_level in %v", rep)
		}
	}
}

// Every long command returns the context's error once it is cancelled, leaving no
// output or temporary file behind (main then exits 130).
func TestCancelledCommands(t *testing.T) {
	fixture(t)
	tmp := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, c := range []struct {
		name string
		cmd  func(context.Context, stdio, []string) error
		args []string
	}{
		{"generate dir", cmdGenerate, []string{"-n", "300", "--out", filepath.Join(tmp, "d"), "--checkpoint", runDir}},
		{"generate grid", cmdGenerate, []string{"-n", "4", "--grid", "--out", filepath.Join(tmp, "g.png"), "--checkpoint", runDir}},
		{"interpolate", cmdInterpolate, []string{"--out", filepath.Join(tmp, "w.gif"), "--checkpoint", runDir}},
		{"export", cmdExport, []string{"--out", filepath.Join(tmp, "e.safetensors"), "--checkpoint", runDir}},
		{"eval", cmdEval, []string{"--data", facesDir, "--checkpoint", runDir, "-n", "16", "--cache", t.TempDir()}},
		{"eval fake", cmdEval, []string{"--data", facesDir, "--fake", facesDir, "-n", "16", "--cache", t.TempDir()}},
		{"bench", cmdBench, []string{"--what", "gemm,layers,train,generate", "--reps", "1"}},
		{"serve", cmdServe, []string{"--addr", "127.0.0.1:0", "--checkpoint", runDir}},
		// crop's output folder is its own: it writes its (empty) report even when stopped.
		{"crop", cmdCrop, []string{"--in", facesDir, "--out", filepath.Join(t.TempDir(), "c")}},
	} {
		o, _, _ := quiet()
		if err := c.cmd(ctx, o, c.args); !errors.Is(err, context.Canceled) {
			t.Errorf("%s: error %v, want context.Canceled", c.name, err)
		}
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("cancelled commands left %v", ents)
	}
}

// TestInterruptibleCancelledDoesNotStart: with the context already done, interruptible
// returns its error without starting f. An abandoned f may change process state (bench
// sets the GEMM thread count until it ends), which made a later test in this package
// see the thread count change under it.
func TestInterruptibleCancelledDoesNotStart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var started atomic.Bool
	_, err := interruptible(ctx, func() (int, error) {
		started.Store(true)
		return 1, nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	time.Sleep(10 * time.Millisecond) // a goroutine started by mistake gets to run
	if started.Load() {
		t.Fatal("f was started although the context was done")
	}
}
