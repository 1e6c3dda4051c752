package dataset

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"avatargan/internal/lockfile"
	"avatargan/internal/testutil"
)

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// messyFolder builds a folder with nested dirs, every accepted format, odd
// sizes, and every kind of bad file. It returns the folder and the sorted
// relative paths that must load.
func messyFolder(t *testing.T) (string, []string) {
	dir := t.TempDir()
	c := func(i int) color.NRGBA { return color.NRGBA{uint8(10 * i), uint8(255 - 10*i), 7, 255} }
	writeFile(t, filepath.Join(dir, "a.png"), encPNG(t, solid(96, 96, c(1))))
	writeFile(t, filepath.Join(dir, "b.JPG"), encJPEG(t, solid(120, 80, c(2))))
	writeFile(t, filepath.Join(dir, "sub/c.gif"), encGIF(t, solid(10, 30, c(3))))
	writeFile(t, filepath.Join(dir, "sub/deeper/d.webp"), webpLossy)
	writeFile(t, filepath.Join(dir, "sub/deeper/e.jpeg"), encJPEG(t, solid(200, 333, c(5))))
	// Bad files, each skipped for a different reason.
	writeFile(t, filepath.Join(dir, "empty.jpg"), nil)
	writeFile(t, filepath.Join(dir, "text.png"), []byte("not a png at all"))
	j := encJPEG(t, solid(64, 64, c(6)))
	writeFile(t, filepath.Join(dir, "sub/trunc.jpg"), j[:len(j)/3])
	writeFile(t, filepath.Join(dir, "tiny.png"), encPNG(t, solid(4, 4, c(7))))
	writeFile(t, filepath.Join(dir, "bomb.png"), bombPNG(50000, 50000))
	// Ignored: not an image extension.
	writeFile(t, filepath.Join(dir, "notes.txt"), []byte("hi"))
	writeFile(t, filepath.Join(dir, "sub/a.jpg.bak"), j)
	return dir, []string{"a.png", "b.JPG", "sub/c.gif", "sub/deeper/d.webp", "sub/deeper/e.jpeg"}
}

func TestLoadMessyFolder(t *testing.T) {
	dir, want := messyFolder(t)
	var calls int
	s, rep, err := Load(Options{Dir: dir, NoCache: true, Size: 16, Progress: func(done, total int) {
		calls++
		if total != 10 || done > total {
			t.Errorf("progress %d/%d", done, total)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != len(want) || rep.Loaded != len(want) || rep.Found != 10 || rep.Skipped != 5 {
		t.Fatalf("len %d, report %+v", s.Len(), rep)
	}
	for i, p := range want {
		if s.Path(i) != p {
			t.Errorf("path %d = %s, want %s", i, s.Path(i), p)
		}
	}
	wantReasons := map[string]int{ReasonEmpty: 1, ReasonNotImage: 1, ReasonCorrupt: 1, ReasonTooSmall: 1, ReasonTooLarge: 1}
	for k, v := range wantReasons {
		if rep.Reasons[k] != v {
			t.Errorf("reason %q: %d, want %d (%v)", k, rep.Reasons[k], v, rep.Reasons)
		}
	}
	if len(rep.SkippedPaths) != 5 || !strings.Contains(rep.String(), "empty.jpg") {
		t.Errorf("report: %s", rep)
	}
	if calls == 0 {
		t.Error("no progress calls")
	}
	// Image(i) is what LoadImage gives for the same file.
	for i := 0; i < s.Len(); i++ {
		one, err := LoadImage(filepath.Join(dir, s.Path(i)), 16)
		if err != nil || !bytes.Equal(one, s.Image(i)) {
			t.Fatalf("image %d differs from LoadImage (%v)", i, err)
		}
	}
	t.Log(rep)
}

func TestLoadErrors(t *testing.T) {
	empty := t.TempDir()
	os.WriteFile(filepath.Join(empty, "readme.txt"), []byte("x"), 0o644)
	if _, _, err := Load(Options{Dir: empty, NoCache: true}); err == nil || !strings.Contains(err.Error(), empty) {
		t.Errorf("empty folder: %v", err)
	}
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, "x.jpg"), []byte("junk"), 0o644)
	os.WriteFile(filepath.Join(bad, "y.png"), nil, 0o644)
	_, rep, err := Load(Options{Dir: bad, CacheDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), bad) || rep.Skipped != 2 {
		t.Errorf("no usable image: %v %+v", err, rep)
	}
	if _, _, err := Load(Options{Dir: filepath.Join(bad, "missing")}); err == nil {
		t.Error("missing folder: no error")
	}
	if _, _, err := Load(Options{Dir: filepath.Join(bad, "x.jpg")}); err == nil {
		t.Error("file as folder: no error")
	}
}

func TestCacheReuseAndRebuild(t *testing.T) {
	dir, _ := messyFolder(t)
	cache := t.TempDir()
	opts := Options{Dir: dir, CacheDir: cache, Size: 12}
	s1, r1, err := Load(opts)
	if err != nil || r1.FromCache || r1.CacheErr != nil {
		t.Fatal(err, r1)
	}
	s2, r2, err := Load(opts)
	if err != nil || !r2.FromCache {
		t.Fatal("second load not from cache:", err, r2)
	}
	if !bytes.Equal(s1.pix, s2.pix) || s1.Fingerprint() != s2.Fingerprint() || r2.Skipped != r1.Skipped ||
		r2.Reasons[ReasonCorrupt] != 1 || s2.Path(4) != s1.Path(4) {
		t.Fatalf("cache hit differs: %v vs %v", r1, r2)
	}
	// load fails the test on an error: a failed Load is not FromCache either.
	load := func(o Options) Report {
		t.Helper()
		_, r, err := Load(o)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	// A different size is a different cache; the first stays valid.
	if r := load(Options{Dir: dir, CacheDir: cache, Size: 10}); r.FromCache {
		t.Fatal("size change served from cache")
	}
	if r := load(opts); !r.FromCache {
		t.Fatal("size-12 cache lost")
	}
	// A different MinSide changes which files load.
	if r := load(Options{Dir: dir, CacheDir: cache, Size: 12, MinSide: 50}); r.FromCache {
		t.Fatal("MinSide change served from cache")
	}

	// Changing the folder (new file, touched file) rebuilds.
	writeFile(t, filepath.Join(dir, "new.png"), encPNG(t, solid(20, 20, color.NRGBA{1, 1, 1, 255})))
	s3, r3, err := Load(opts)
	if err != nil || r3.FromCache || s3.Len() != s1.Len()+1 || s3.Fingerprint() == s1.Fingerprint() {
		t.Fatalf("add: %v %v", err, r3)
	}
	// The content hash follows the pixels, not the files: equal from the
	// cache and from decoding, different once an image is added.
	if h := s1.ContentHash(); len(h) != 64 || h != s2.ContentHash() || h == s3.ContentHash() {
		t.Fatalf("content hashes: decoded %s, cached %s, with one more image %s", h, s2.ContentHash(), s3.ContentHash())
	}
	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "a.png"), future, future); err != nil {
		t.Fatal(err)
	}
	if r := load(opts); r.FromCache {
		t.Fatal("touched file served from cache")
	}
	if r := load(opts); !r.FromCache {
		t.Fatal("rebuilt cache not reused")
	}

	// Damaged caches rebuild instead of failing, and get rewritten.
	path := r3.CachePath
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	damage := map[string][]byte{
		"zero":      nil,
		"short":     good[:headerLen-1],
		"truncated": good[:len(good)-1],
		"longer":    append(append([]byte{}, good...), 0),
		"garbage":   bytes.Repeat([]byte{0xAA}, len(good)),
		"bitflip":   func() []byte { b := bytes.Clone(good); b[len(b)-5] ^= 4; return b }(),
		"metaflip":  func() []byte { b := bytes.Clone(good); b[headerLen+3] ^= 1; return b }(),
		"hugecount": func() []byte { b := bytes.Clone(good); b[23] = 0xff; return b }(),
	}
	for name, b := range damage {
		os.WriteFile(path, b, 0o644)
		s, r, err := Load(opts)
		if err != nil || r.FromCache || s.Len() != s3.Len() {
			t.Fatalf("%s: %v %v", name, err, r)
		}
		if again, _ := os.ReadFile(path); !bytes.Equal(again, good) {
			t.Fatalf("%s: cache not rewritten identically", name)
		}
	}
	// No temp files left behind.
	ents, _ := os.ReadDir(cache)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("leftover %s", e.Name())
		}
	}
}

func TestCacheUnwritable(t *testing.T) {
	dir, _ := messyFolder(t)
	f := filepath.Join(t.TempDir(), "file")
	os.WriteFile(f, nil, 0o644)
	// CacheDir below a regular file cannot be created: the load still works.
	s, r, err := Load(Options{Dir: dir, CacheDir: filepath.Join(f, "sub")})
	if err != nil || s.Len() != 5 || r.CacheErr == nil || !strings.Contains(r.String(), "cache not written") {
		t.Fatal(err, r)
	}
}

// facesDir is the real data set, if this checkout has it (under CI it must).
func facesDir(t testing.TB) string { return testutil.FacesDir(t) }

func TestFaces(t *testing.T) {
	if testing.Short() {
		t.Skip("decodes 33k JPEGs; skipped with -short")
	}
	dir := facesDir(t)
	s, rep, err := Load(Options{Dir: dir, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(rep)
	if os.Getenv("AVATARGAN_FACES") == "" && (s.Len() != 33431 || rep.Skipped != 0) {
		t.Fatalf("want 33431 images and no skips: %s", rep)
	}
	if s.Size() != 48 || len(s.Image(0)) != 48*48*3 {
		t.Fatal("bad geometry")
	}
	// Spot-check: the set matches LoadImage, and images are not blank (a face has
	// more than a few distinct levels in every channel).
	for _, i := range []int{0, s.Len() / 2, s.Len() - 1} {
		one, err := LoadImage(filepath.Join(dir, s.Path(i)), 48)
		if err != nil || !bytes.Equal(one, s.Image(i)) {
			t.Fatalf("image %d (%s) differs from LoadImage: %v", i, s.Path(i), err)
		}
		if n := distinctLevels(s.Image(i)); n < 16 {
			t.Fatalf("image %d (%s) is nearly blank: %d distinct levels", i, s.Path(i), n)
		}
	}
}

// BenchmarkBuildFaces measures a cold load (decode + cache write) of the
// faces folder at 48 px.
func BenchmarkBuildFaces(b *testing.B) {
	dir := facesDir(b)
	for b.Loop() {
		cpu := processCPU()
		s, rep, err := Load(Options{Dir: dir, CacheDir: b.TempDir()})
		if err != nil || rep.FromCache {
			b.Fatal(err, rep)
		}
		b.ReportMetric(float64(s.Len())/rep.Elapsed.Seconds(), "images/s")
		b.ReportMetric((processCPU() - cpu).Seconds(), "cpu-s/op")
	}
}

// BenchmarkLoadFacesCached measures a warm load (scan + read + verify).
func BenchmarkLoadFacesCached(b *testing.B) {
	dir := facesDir(b)
	cache := b.TempDir()
	if _, _, err := Load(Options{Dir: dir, CacheDir: cache}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, rep, err := Load(Options{Dir: dir, CacheDir: cache}); err != nil || !rep.FromCache {
			b.Fatal(err, rep)
		}
	}
}

// distinctLevels counts the distinct byte values of the least varied channel of an HWC
// RGB image: 1 for a blank (solid) image.
func distinctLevels(pix []uint8) int {
	least := 256
	for c := 0; c < 3; c++ {
		var seen [256]bool
		n := 0
		for i := c; i < len(pix); i += 3 {
			if !seen[pix[i]] {
				seen[pix[i]] = true
				n++
			}
		}
		least = min(least, n)
	}
	return least
}

func TestDistinctLevels(t *testing.T) {
	blank := bytes.Repeat([]byte{9, 200, 31}, 48*48)
	if n := distinctLevels(blank); n != 1 {
		t.Fatalf("blank image: %d levels", n)
	}
	ramp := make([]byte, 48*48*3)
	for i := range ramp {
		ramp[i] = byte(i / 3)
	}
	if n := distinctLevels(ramp); n != 256 {
		t.Fatalf("ramp: %d levels", n)
	}
}

// manyImages writes n PNGs of side px to a new folder (one encoding, n copies).
func manyImages(t *testing.T, n, side int) string {
	dir := t.TempDir()
	b := encPNG(t, solid(side, side, color.NRGBA{200, 3, 5, 255}))
	for i := range n {
		writeFile(t, filepath.Join(dir, fmt.Sprintf("%04d.png", i)), b)
	}
	return dir
}

// TestLoadCancel checks that cancelling the context stops the decoding workers: the
// load returns context.Canceled having decoded only part of the folder.
func TestLoadCancel(t *testing.T) {
	dir := manyImages(t, 400, 512) // ~1 ms each to decode: longer than a progress tick
	ctx, cancel := context.WithCancel(context.Background())
	var seen int
	_, _, err := LoadContext(ctx, Options{Dir: dir, NoCache: true, Size: 16, Workers: 1, Progress: func(done, total int) {
		if seen == 0 {
			cancel()
		}
		seen = done
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if seen >= 400 {
		t.Fatalf("decoded all %d files after the cancel", seen)
	}
	// Cancelled before it starts: no work at all, and no cache written.
	cache := t.TempDir()
	_, _, err = LoadContext(ctx, Options{Dir: dir, CacheDir: cache, Size: 16})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("pre-cancelled: %v", err)
	}
	if ents, _ := filepath.Glob(filepath.Join(cache, "*.avgds")); len(ents) != 0 {
		t.Fatalf("cache written by a cancelled load: %v", ents)
	}
}

// TestCacheLock checks that a load waits while another process builds the same cache
// entry (it holds the entry's lock) and then reads the cache instead of decoding, and
// that the lock holder removes the entry's stale temporary files, and only those.
func TestCacheLock(t *testing.T) {
	dir := manyImages(t, 20, 32)
	cache := t.TempDir()
	opts := Options{Dir: dir, CacheDir: cache, Size: 16}
	abs, _ := filepath.Abs(dir)
	path := cachePath(cache, abs, 16)
	base := filepath.Base(path)
	stale := []string{"." + base + ".tmp-123", base + ".tmp456"}
	foreign := []string{".other-0123-16.avgds.tmp-1", base + ".tmpx", "." + base + ".lock"}
	for _, n := range append(append([]string{}, stale...), foreign...) {
		writeFile(t, filepath.Join(cache, n), []byte("x"))
	}
	held, err := lockfile.TryLock(path + ".lock")
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		rep Report
		err error
	}
	done := make(chan result, 1)
	waited := make(chan error, 1)
	o := opts
	o.Waiting = func(err error) { waited <- err }
	go func() { _, rep, err := Load(o); done <- result{rep, err} }()
	if err := <-waited; !errors.Is(err, lockfile.ErrLocked) {
		t.Fatalf("Waiting got %v", err)
	}
	select {
	case r := <-done:
		t.Fatalf("load finished while the entry was locked: %+v", r)
	case <-time.After(300 * time.Millisecond):
	}
	// The "other process" builds the cache and lets go.
	s, meta, err := decodeAll(context.Background(), abs, mustScan(t, abs), Options{Size: 16, MinSide: DefaultMinSide, MaxPixels: DefaultMaxPixels, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	srcs := mustScan(t, abs)
	if err := writeCache(path, cacheKey{fingerprint(srcs), 16, DefaultMinSide, DefaultMaxPixels}, meta, s.pix); err != nil {
		t.Fatal(err)
	}
	held.Unlock()
	r := <-done
	if r.err != nil || !r.rep.FromCache {
		t.Fatalf("after the wait: %v, from cache %v", r.err, r.rep.FromCache)
	}
	for _, n := range stale {
		if _, err := os.Stat(filepath.Join(cache, n)); err == nil {
			t.Errorf("stale temporary file %s survived", n)
		}
	}
	for _, n := range foreign {
		if _, err := os.Stat(filepath.Join(cache, n)); err != nil {
			t.Errorf("%s was removed: %v", n, err)
		}
	}
}

func mustScan(t *testing.T, dir string) []source {
	srcs, _, err := scan(dir)
	if err != nil {
		t.Fatal(err)
	}
	return srcs
}
