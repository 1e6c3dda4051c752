package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"gonum.org/v1/plot/plotter"
)

// writeRun writes a metrics.jsonl with a record per step 1..steps and an SWD at each
// multiple of every (SWD = the step, so a point says which step it came from).
func writeRun(t *testing.T, steps, every int) string {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	for s := 1; s <= steps; s++ {
		if s%every == 0 {
			b.WriteString(`{"step":` + strconv.Itoa(s) + `,"swd":` + strconv.Itoa(s) + "}\n")
		} else {
			b.WriteString(`{"step":` + strconv.Itoa(s) + `,"d_loss":1.5}` + "\n")
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "metrics.jsonl"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestReadCurvesChain(t *testing.T) {
	a := writeRun(t, 10, 4) // SWD at 4, 8; last step 10
	b := writeRun(t, 12, 3) // SWD at 3, 6, 9, 12; kept to 7
	c := writeRun(t, 5, 5)  // SWD at 5
	cs, err := readCurves(2, true, []string{a, b + ":7", c})
	if err != nil {
		t.Fatal(err)
	}
	// x in thousands of images at batch 2: a starts at 0, b after a's 10 steps (0.020),
	// c after b's kept 7 steps (0.034).
	want := []plotter.XYs{
		{{X: 0.008, Y: 4}, {X: 0.016, Y: 8}},
		{{X: 0.026, Y: 3}, {X: 0.032, Y: 6}},
		{{X: 0.044, Y: 5}},
	}
	if len(cs) != len(want) {
		t.Fatalf("%d curves, want %d", len(cs), len(want))
	}
	for i, c := range cs {
		if len(c.pts) != len(want[i]) {
			t.Fatalf("curve %d: %v, want %v", i, c.pts, want[i])
		}
		for j, p := range c.pts {
			if d := p.X - want[i][j].X; d > 1e-12 || d < -1e-12 || p.Y != want[i][j].Y {
				t.Fatalf("curve %d point %d: %v, want %v", i, j, p, want[i][j])
			}
		}
	}
	if !strings.HasSuffix(cs[1].name, " to step 7") || strings.Contains(cs[0].name, "to step") {
		t.Errorf("names %q, %q", cs[0].name, cs[1].name)
	}

	// Without -chain every run starts at 0 and a colon is part of the name.
	cs, err = readCurves(2, false, []string{a, b})
	if err != nil {
		t.Fatal(err)
	}
	if cs[1].pts[0].X != 0.006 || len(cs[1].pts) != 4 {
		t.Errorf("unchained second run: %v", cs[1].pts)
	}
}

func TestReadCurvesErrors(t *testing.T) {
	a := writeRun(t, 10, 4)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{a + ":11"}, "beyond its last step 10"},
		{[]string{a + ":0"}, "STEP > 0"},
		{[]string{a + ":x"}, "STEP > 0"},
		{[]string{writeRun(t, 3, 5)}, "no SWD"},
		{[]string{filepath.Join(t.TempDir(), "missing")}, "no such file"},
	} {
		if _, err := readCurves(64, true, c.args); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q", c.args, err, c.want)
		}
	}
}

// run writes the plot as a PNG in one piece; a torn metrics line is skipped, and a
// failed render (an unknown format) leaves an existing figure untouched.
func TestRunWritesPlot(t *testing.T) {
	a := writeRun(t, 10, 4)
	f, err := os.OpenFile(filepath.Join(a, "metrics.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"step":11,"sw`) // torn by a crash mid-append
	f.Close()
	cs, err := readCurves(64, false, []string{a})
	if err != nil || len(cs) != 1 || len(cs[0].pts) != 2 {
		t.Fatalf("torn line: %v, %v", cs, err)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "q.png")
	if err := run(out, "t", 64, false, []string{a}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil || !strings.HasPrefix(string(b), "\x89PNG") {
		t.Fatalf("q.png: %v, starts %q", err, b[:min(8, len(b))])
	}
	keep := filepath.Join(dir, "q.xyz")
	os.WriteFile(keep, []byte("old"), 0o644)
	if err := run(keep, "t", 64, false, []string{a}); err == nil {
		t.Error("unknown format accepted")
	}
	if b, _ := os.ReadFile(keep); string(b) != "old" {
		t.Errorf("failed render changed the file: %q", b)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Errorf("folder holds %d entries, want 2 (no temporary file)", len(ents))
	}
}
