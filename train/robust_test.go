package train

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"avatargan/checkpoint"
	"avatargan/dataset"
	"avatargan/render"
)

// TestRunDirLocked checks that a second run on a directory in use is refused at once,
// through Open and through a caller's LockDir, and that Close frees it.
func TestRunDirLocked(t *testing.T) {
	data := tinyData(t)
	dir := t.TempDir()
	r := open(t, tinyConfig(), data, Options{Dir: dir})
	_, err := Open(tinyConfig(), data, Options{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "in use by another training run") || !strings.Contains(err.Error(), dir) {
		t.Fatalf("second Open: %v", err)
	}
	if _, err := LockDir(dir); err == nil {
		t.Fatal("LockDir of a directory in use succeeded")
	}
	r.Close()
	l, err := LockDir(dir)
	if err != nil {
		t.Fatal("after Close:", err)
	}
	// Open takes over a caller's lock, and refuses one of another directory.
	r2 := open(t, tinyConfig(), data, Options{Dir: dir, Lock: l})
	if _, err := LockDir(dir); err == nil {
		t.Fatal("the run does not hold the lock it was given")
	}
	r2.Close()
	other, _ := LockDir(t.TempDir())
	if _, err := Open(tinyConfig(), data, Options{Dir: dir, Lock: other}); err == nil {
		t.Fatal("Open accepted the lock of another directory")
	}
	// A failed Open releases the lock.
	bad := tinyConfig()
	bad.Keep = 0
	if _, err := Open(bad, data, Options{Dir: dir}); err == nil {
		t.Fatal("keep 0 accepted")
	}
	l, err = LockDir(dir)
	if err != nil {
		t.Fatal("a failed Open kept the lock:", err)
	}
	l.Unlock()
}

// TestNewRunDir checks that default run names never collide: runs started in the same
// second get -2, -3, ...
func TestNewRunDir(t *testing.T) {
	parent := filepath.Join(t.TempDir(), "runs")
	now := time.Date(2026, 12, 2, 5, 6, 7, 0, time.UTC)
	var got []string
	for range 3 {
		d, err := NewRunDir(parent, now)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, filepath.Base(d))
	}
	if want := []string{"20261202-050607", "20261202-050607-2", "20261202-050607-3"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("names %v, want %v", got, want)
	}
}

// TestStaleTempFiles checks that Open removes the temporary files of writes killed
// mid-way (our naming only) in the run directory and its samples folder.
func TestStaleTempFiles(t *testing.T) {
	data := tinyData(t)
	dir := t.TempDir()
	trainTo(t, context.Background(), tinyConfig(), data, dir, 2, nil)
	stale := []string{".ckpt-000000004.safetensors.tmp-123456", ".metrics.jsonl.tmp-9", ".config.json.tmp-77",
		filepath.Join(SamplesDir, ".latest.png.tmp-5")}
	keep := []string{"notes.txt", ".ckpt-x.tmp", "mine.tmp-1"}
	for _, n := range append(append([]string{}, stale...), keep...) {
		os.WriteFile(filepath.Join(dir, n), []byte("partial"), 0o644)
	}
	var log bytes.Buffer
	r := open(t, tinyConfig(), data, Options{Dir: dir, Log: &log})
	if r.Step != 2 {
		t.Fatalf("resumed at %d", r.Step)
	}
	for _, n := range stale {
		if _, err := os.Stat(filepath.Join(dir, n)); err == nil {
			t.Errorf("%s survived", n)
		}
	}
	for _, n := range keep {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			t.Errorf("%s removed", n)
		}
	}
	if !strings.Contains(log.String(), "removed 4 temporary file(s)") {
		t.Errorf("log: %s", log.String())
	}
}

// TestResumeData checks that a resume on other images is refused, that the same images
// in a moved folder are accepted (and the new folder recorded), also when copying
// gave every file a new modification time (a new machine) and when the run predates
// the content hash, and that AllowDataChange overrides the refusal.
func TestResumeData(t *testing.T) {
	root := t.TempDir()
	load := func(dir string) *dataset.Set {
		s, _, err := dataset.Load(dataset.Options{Dir: dir, Size: 16, NoCache: true})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a := filepath.Join(root, "a")
	writeImages(t, a, 10)
	run := filepath.Join(root, "run")
	cfg := tinyConfig()
	cfg.Data = a
	trainTo(t, context.Background(), cfg, load(a), run, 2, nil)

	// Other images: one more file.
	b := filepath.Join(root, "b")
	writeImages(t, b, 11)
	cfg.Data = b
	_, err := Open(cfg, load(b), Options{Dir: run})
	if err == nil || !strings.Contains(err.Error(), "other images") || !strings.Contains(err.Error(), b) {
		t.Fatalf("resume on other images: %v", err)
	}
	// The same files moved: accepted, and config.json follows the folder.
	moved := filepath.Join(root, "moved")
	if err := os.Rename(a, moved); err != nil {
		t.Fatal(err)
	}
	cfg.Data = moved
	r := open(t, cfg, load(moved), Options{Dir: run})
	if c, _ := LoadConfig(run); c.Data != moved || r.Step != 2 {
		t.Fatalf("moved folder: config data %s, step %d", c.Data, r.Step)
	}
	r.Close()
	// The same images copied with new times: the file list differs, the content
	// does not.
	copied := filepath.Join(root, "copied")
	if err := os.Mkdir(copied, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(moved)
	for i, e := range ents {
		b, err := os.ReadFile(filepath.Join(moved, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(copied, e.Name())
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
		when := time.Date(2030, 1, 1, 0, 0, i, 0, time.UTC)
		if err := os.Chtimes(dst, when, when); err != nil {
			t.Fatal(err)
		}
	}
	if load(copied).Fingerprint() == load(moved).Fingerprint() {
		t.Fatal("copy kept the file list fingerprint: the test does not test the content hash")
	}
	cfg.Data = copied
	r = open(t, cfg, load(copied), Options{Dir: run})
	if c, _ := LoadConfig(run); c.Data != copied || c.DataFingerprint != load(copied).Fingerprint() || c.DataContent != load(copied).ContentHash() {
		t.Fatalf("copied folder: config %+v", c)
	}
	r.Close()
	// A run from before the content hash: the file list decides, then the
	// content is recorded.
	c, _ := LoadConfig(run)
	c.DataContent = ""
	writeConfig(t, run, c)
	r = open(t, cfg, load(copied), Options{Dir: run})
	r.Close()
	if c, _ := LoadConfig(run); c.DataContent != load(copied).ContentHash() {
		t.Fatalf("old run: content not recorded: %+v", c)
	}
	// An explicit override continues on other images and records them.
	cfg.Data = b
	var log bytes.Buffer
	r = open(t, cfg, load(b), Options{Dir: run, AllowDataChange: true, Log: &log})
	if c, _ := LoadConfig(run); c.Data != b || c.Images != 11 || c.DataFingerprint != load(b).Fingerprint() {
		t.Fatalf("override: config %+v", c)
	}
	if !strings.Contains(log.String(), "warning") {
		t.Errorf("no warning: %s", log.String())
	}
	r.Close()
}

// TestBadCheckpointStep checks that a checkpoint whose step metadata is negative is
// refused with an error naming it, instead of panicking on resume.
func TestBadCheckpointStep(t *testing.T) {
	data := tinyData(t)
	dir := t.TempDir()
	trainTo(t, context.Background(), tinyConfig(), data, dir, 2, nil)
	path, _ := checkpoint.Latest(dir)
	f, err := checkpoint.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	f.Metadata[checkpoint.MetaStep] = "-5"
	if err := checkpoint.Save(path, f.Tensors, f.Metadata); err != nil {
		t.Fatal(err)
	}
	_, err = Open(tinyConfig(), data, Options{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "step -5") || !strings.Contains(err.Error(), path) {
		t.Fatalf("step -5: %v", err)
	}
}

// TestMetricsGarbage checks that damaged metrics.jsonl lines (a 2 MB garbage line, a
// non-JSON line) do not block a resume: they are dropped, with a warning naming the file.
func TestMetricsGarbage(t *testing.T) {
	data := tinyData(t)
	dir := t.TempDir()
	trainTo(t, context.Background(), tinyConfig(), data, dir, 3, nil)
	path := filepath.Join(dir, MetricsFile)
	good, _ := os.ReadFile(path)
	lines := strings.SplitAfter(string(good), "\n")
	damaged := lines[0] + strings.Repeat("x", 2<<20) + "\n" + "{not json\n" + strings.Join(lines[1:], "")
	os.WriteFile(path, []byte(damaged), 0o644)
	var log bytes.Buffer
	r := open(t, tinyConfig(), data, Options{Dir: dir, Log: &log})
	if !strings.Contains(log.String(), "dropped 2 unreadable line(s)") || !strings.Contains(log.String(), path) {
		t.Fatalf("log: %s", log.String())
	}
	if len(r.records) != 3 {
		t.Fatalf("%d records kept, want 3", len(r.records))
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, good) {
		t.Fatal("metrics.jsonl not rewritten without the bad lines")
	}
}

// TestConfigBounds checks that sizes which would need absurd memory, non-finite rates
// and out-of-range run settings are refused by Validate with one line, before any
// allocation.
func TestConfigBounds(t *testing.T) {
	for name, edit := range map[string]func(c *Config){
		"size 4096":      func(c *Config) { c.Model.Size = 4096 },
		"gf 100000":      func(c *Config) { c.Model.GF = 100000 },
		"z 1e9":          func(c *Config) { c.Model.ZDim = 1e9 },
		"gf 2^61":        func(c *Config) { c.Model.GF = 1 << 61 },
		"batch 2^40":     func(c *Config) { c.Model.Batch = 1 << 40 },
		"lr-g Inf":       func(c *Config) { c.Model.LRG = math.Inf(1) },
		"lr-d NaN":       func(c *Config) { c.Model.LRD = math.NaN() },
		"ema NaN":        func(c *Config) { c.EMA = math.NaN() },
		"ema 1":          func(c *Config) { c.EMA = 1 },
		"epochs 0":       func(c *Config) { c.Epochs = 0 },
		"epochs 1e9":     func(c *Config) { c.Epochs = 1e9 },
		"keep 1e6":       func(c *Config) { c.Keep = 1e6 },
		"keep-every -1":  func(c *Config) { c.KeepEvery = -1 },
		"keep-every 750": func(c *Config) { c.KeepEvery = 750 }, // checkpoint-every is 500
	} {
		c := DefaultConfig()
		edit(&c)
		err := c.Validate()
		if err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal("default:", err)
	}
	c := DefaultConfig()
	c.KeepEvery = 1500
	if err := c.Validate(); err != nil {
		t.Fatal("keep-every a multiple of checkpoint-every:", err)
	}
	c = DefaultConfig()
	c.Model.Size, c.Model.GF, c.Model.DF = 128, 128, 128
	if err := c.Validate(); err != nil {
		t.Fatal("a large but real config:", err)
	}
}

// TestRealSamples checks real_samples.png: a grid of the first images of the first
// epoch exactly as the batcher gives them to training.
func TestRealSamples(t *testing.T) {
	data := tinyData(t)
	dir := t.TempDir()
	r := open(t, tinyConfig(), data, Options{Dir: dir})
	img := decodePNG(t, filepath.Join(dir, RealSamples))
	// 10 images in batches of 4: an epoch trains on 8 of them, tiles of 16 px with 2 px
	// gaps.
	cols := render.GridCols(8)
	rows := (8 + cols - 1) / cols
	if b := img.Bounds(); b.Dx() != cols*18+2 || b.Dy() != rows*18+2 {
		t.Fatalf("grid %v, want %dx%d tiles", b, cols, rows)
	}
	b, _ := data.Batches(batchOptions(r.Cfg))
	l := b.BatchLen()
	x := make([]float32, 2*l)
	b.Next(x[:l])
	b.Next(x[l:])
	want := render.ToImages(x, 8, 16)
	for k := range 8 {
		x0, y0 := 2+(k%cols)*18, 2+(k/cols)*18
		for y := range 16 {
			for xx := range 16 {
				if img.At(x0+xx, y0+y) != image.Image(want[k]).At(xx, y) {
					t.Fatalf("tile %d pixel (%d,%d) differs from batch image %d", k, xx, y, k)
				}
			}
		}
	}
}

// TestLossPlotLegend checks loss.png: the legend is beside the plot, not over the
// curves. With flat curves across the whole step range, every pixel of the D curve's
// colour away from the curve's row must lie right of the curve's end (the legend's
// thumbnail); inside the data area it would overlap the curves.
func TestLossPlotLegend(t *testing.T) {
	recs := make([]Record, 200)
	for i := range recs {
		recs[i] = Record{Step: i + 1, DLoss: 1, GLoss: new(2.0)}
	}
	recs[0].DLoss = 0.5 // so the flat part of the D curve is inside the plot, not on its edge
	path := filepath.Join(t.TempDir(), LossPlot)
	if err := PlotLosses(path, recs, 50); err != nil {
		t.Fatal(err)
	}
	img := decodePNG(t, path)
	// The D curve is red (plotColor(0)); anti-aliasing lightens it, so "red" is any
	// clearly reddish pixel.
	isRed := func(x, y int) bool {
		r, g, b, _ := img.At(x, y).RGBA()
		return int(r>>8) > int(g>>8)+60 && int(r>>8) > int(b>>8)+60
	}
	// The curve's row: the row with the longest run of the D colour.
	bounds := img.Bounds()
	curveY, curveX0, curveX1, best := -1, 0, 0, 0
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		x0, x1, n := -1, -1, 0
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			if isRed(x, y) {
				if x0 < 0 {
					x0 = x
				}
				x1 = x
				n++
			}
		}
		if n > best {
			curveY, curveX0, curveX1, best = y, x0, x1, n
		}
	}
	if best < bounds.Dx()/2 {
		t.Fatalf("no D curve found (longest run %d px)", best)
	}
	legend := 0
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		if y >= curveY-3 && y <= curveY+3 {
			continue
		}
		for x := curveX0; x < bounds.Max.X; x++ {
			if isRed(x, y) {
				if x <= curveX1 {
					t.Fatalf("D-coloured pixel (%d,%d) over the data area (curve spans x %d..%d)", x, y, curveX0, curveX1)
				}
				legend++
			}
		}
	}
	if legend == 0 {
		t.Fatal("no legend thumbnail right of the plot")
	}
}

// writeConfig replaces RUN_DIR/config.json, as an older version would have written it.
func writeConfig(t *testing.T, run string, c Config) {
	t.Helper()
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(run, ConfigFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestLossPlotDOnly plots records of D-only iterations (DSteps > 1, no G loss): a run
// stopped before its first G update, and one that alternates.
func TestLossPlotDOnly(t *testing.T) {
	dir := t.TempDir()
	if err := PlotLosses(filepath.Join(dir, "a.png"), []Record{{Step: 1, DLoss: 1}}, 50); err != nil {
		t.Fatal(err)
	}
	recs := make([]Record, 10)
	for i := range recs {
		recs[i] = Record{Step: i + 1, DLoss: 1}
		if i%2 == 1 {
			recs[i].GLoss = new(float64(i))
		}
	}
	path := filepath.Join(dir, "b.png")
	if err := PlotLosses(path, recs, 3); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Size() == 0 {
		t.Fatalf("no plot: %v", err)
	}
}
