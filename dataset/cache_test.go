package dataset

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// testCache returns a valid cache file's bytes for key (two 4 px images).
func testCache(t testing.TB, key cacheKey) []byte {
	t.Helper()
	pix := make([]byte, 2*key.size*key.size*3)
	for i := range pix {
		pix[i] = byte(i * 7)
	}
	meta := &cacheMeta{Paths: []string{"a.png", "b/c.jpg"}, Found: 3, Skipped: 1,
		SkippedPaths: []string{"bad.png: corrupt"}, Reasons: map[string]int{ReasonCorrupt: 1}}
	path := filepath.Join(t.TempDir(), "c.avgds")
	if err := writeCache(path, key, meta, pix); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var testKey = cacheKey{fp: [32]byte{1, 2, 3}, size: 4, minSide: 3, maxPixels: 1 << 20}

// readCache (header first, then the rest) and decodeCache (the whole file in
// memory) agree on a valid cache and on every damaged one, and a cache for
// other inputs is refused from its header alone.
func TestReadCacheHeaderFirst(t *testing.T) {
	good := testCache(t, testKey)
	other := testKey
	other.fp[0] = 9
	cases := map[string][]byte{
		"good":      good,
		"short":     good[:headerLen-1],
		"truncated": good[:len(good)-1],
		"longer":    append(bytes.Clone(good), 0),
		"bitflip":   func() []byte { b := bytes.Clone(good); b[len(b)-1] ^= 1; return b }(),
		"hugecount": func() []byte { b := bytes.Clone(good); b[23] = 0xff; return b }(),
		"hugemeta":  func() []byte { b := bytes.Clone(good); b[47] = 0xff; return b }(),
		"other":     testCache(t, other),
	}
	dir := t.TempDir()
	for name, b := range cases {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		pix, meta, err := readCache(path, testKey)
		mpix, mmeta, merr := decodeCache(b, testKey)
		if (err == nil) != (name == "good") || (merr == nil) != (name == "good") {
			t.Errorf("%s: readCache %v, decodeCache %v", name, err, merr)
			continue
		}
		if err != nil {
			if !errors.Is(err, errStale) || err.Error() != merr.Error() {
				t.Errorf("%s: readCache %v, decodeCache %v; want the same stale error", name, err, merr)
			}
			continue
		}
		if !bytes.Equal(pix, mpix) || len(pix) != 2*4*4*3 || meta.Paths[1] != "b/c.jpg" || mmeta.Found != 3 {
			t.Errorf("good: %d pixels, meta %+v", len(pix), meta)
		}
	}
	// Another folder state is refused from the 80-byte header, whatever follows it.
	path := filepath.Join(dir, "other-big")
	b := append(bytes.Clone(cases["other"][:headerLen]), make([]byte, 1<<20)...)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := readCache(path, testKey); err == nil || err.Error() != "stale or damaged cache: different inputs" {
		t.Errorf("other inputs: %v", err)
	}
}

// FuzzDecodeCache: a cache file may be damaged in any way (a half-copied folder, a
// flipped bit): decoding never panics, and what it accepts is consistent.
func FuzzDecodeCache(f *testing.F) {
	f.Add(testCache(f, testKey))
	f.Add([]byte(cacheMagic))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		pix, meta, err := decodeCache(b, testKey)
		if err != nil {
			if !errors.Is(err, errStale) {
				t.Fatalf("error %v is not errStale", err)
			}
			return
		}
		if len(pix) != len(meta.Paths)*testKey.size*testKey.size*3 {
			t.Fatalf("%d pixel bytes for %d images", len(pix), len(meta.Paths))
		}
	})
}
