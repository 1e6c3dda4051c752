// Package dataset turns a folder of images into training batches for the GAN.
//
// Load scans a folder recursively for JPEG, PNG, GIF and WebP files (chosen
// by extension, sorted by relative path), decodes them once in parallel and
// keeps the result as one compact uint8 HWC RGB array, which it also writes
// to a cache file so later runs skip decoding. Each image is center-cropped
// to a square, flattened onto white if it has alpha (grayscale, paletted and
// CMYK images become RGB too) and resized to Options.Size: an exact k x k box
// average for integer ratios (the default 96 -> 48), an exact area filter for
// other shrinks, Catmull-Rom when enlarging. Files that cannot be used are
// skipped and counted in the Report, never fatal.
//
// A Set then yields float32 NCHW batches in [-1, 1] through a Batcher, whose
// order and flips for epoch e are a pure function of (seed, e) so training
// can resume at any (epoch, batch) exactly.
//
// The cache file's format (header, JSON path list, HWC pixels, CRC-32C) is documented
// with its writer in cache.go and in docs/dataset-cache.md: other programs read it (the
// PyTorch trainer in python/avatargan_torch does), so changing it means bumping
// cacheVersion.
package dataset

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"avatargan/internal/atomicfile"
	"avatargan/internal/lockfile"
)

// Defaults for Options fields left zero.
const (
	DefaultSize      = 48       // the original model's 96 -> 48
	DefaultMinSide   = 8        // smaller images carry no usable face
	DefaultMaxPixels = 64 << 20 // 64 Mpixel: ~256 MB RGBA while decoding
)

// maxSkippedPaths is how many skipped paths a Report names; the counts cover
// the rest.
const maxSkippedPaths = 10

// Options configures Load. The zero value of every field but Dir is usable.
type Options struct {
	Dir       string // folder to scan, recursively (required)
	Size      int    // output side in pixels; default DefaultSize
	CacheDir  string // where cache files live; default os.UserCacheDir()/avatargan
	NoCache   bool   // neither read nor write a cache (e.g. evaluating a folder of samples)
	MaxPixels int    // refuse images with more pixels than this; default DefaultMaxPixels
	MinSide   int    // skip images whose shorter side is below this; default DefaultMinSide
	Workers   int    // decoding goroutines; default runtime.GOMAXPROCS(0)
	// Progress, if set, is called from a single goroutine as files finish
	// decoding (not on a cache hit), at most about every 1% of the files.
	Progress func(done, total int)
	// Waiting, if set, is called once when another process is building the same
	// cache entry; Load waits for it (so the folder is decoded once) instead of
	// decoding it a second time. err names the lock and its holder.
	Waiting func(err error)
}

// Report describes what Load did, for logging.
type Report struct {
	Dir          string         // the folder, as given in Options
	Found        int            // candidate files (by extension)
	Loaded       int            // images in the Set
	Skipped      int            // Found - Loaded, plus unreadable directory entries
	SkippedPaths []string       // the first few skipped files, with the reason
	Reasons      map[string]int // skip counts by reason (Reason* constants)
	FromCache    bool           // pixels came from the cache file
	CachePath    string         // cache file used or written; empty with NoCache
	CacheErr     error          // writing the cache failed (the load itself succeeded)
	Elapsed      time.Duration
}

// String is a one-line summary suitable for a training log.
func (r Report) String() string {
	var b strings.Builder
	src := "decoded"
	if r.FromCache {
		src = "from cache"
	}
	fmt.Fprintf(&b, "dataset %s: %d images %s in %v", r.Dir, r.Loaded, src, r.Elapsed.Round(time.Millisecond))
	if r.Skipped > 0 {
		keys := make([]string, 0, len(r.Reasons))
		for k := range r.Reasons {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s: %d", k, r.Reasons[k])
		}
		fmt.Fprintf(&b, "; skipped %d of %d (%s), e.g. %s", r.Skipped, r.Found, strings.Join(parts, ", "), strings.Join(r.SkippedPaths, "; "))
	}
	if r.CacheErr != nil {
		fmt.Fprintf(&b, "; cache not written: %v", r.CacheErr)
	}
	return b.String()
}

// Set is a loaded dataset: Len images of Size x Size uint8 HWC RGB held in
// one contiguous array. It is read-only and safe for concurrent use.
type Set struct {
	size   int
	stride int // size*size*3
	pix    []uint8
	paths  []string
	fp     string

	contentOnce sync.Once
	content     string
}

// Len is the number of images.
func (s *Set) Len() int { return len(s.paths) }

// Size is the side of every image in pixels.
func (s *Set) Size() int { return s.size }

// Image returns image i as Size*Size*3 bytes, HWC RGB. It aliases the Set's
// storage (no copy, so metrics can sample freely): do not modify it.
func (s *Set) Image(i int) []uint8 { return s.pix[i*s.stride : (i+1)*s.stride : (i+1)*s.stride] }

// Path returns the source file of image i, relative to the folder.
func (s *Set) Path(i int) string { return s.paths[i] }

// Fingerprint is the hex SHA-256 of the source list (relative paths, sizes,
// modification times), for recording which data a run trained on.
func (s *Set) Fingerprint() string { return s.fp }

// ContentHash is the hex SHA-256 of the decoded images (their count, side
// and pixels, in order): what training sees. Unlike Fingerprint it does not
// change when the files are copied, touched or renamed, so a run can tell
// a copy of its data on another machine from other data. It is computed on
// first use (about a second per 100,000 images at 48 px).
func (s *Set) ContentHash() string {
	s.contentOnce.Do(func() {
		h := sha256.New()
		var hdr [16]byte
		binary.LittleEndian.PutUint64(hdr[:8], uint64(len(s.paths)))
		binary.LittleEndian.PutUint64(hdr[8:], uint64(s.size))
		h.Write(hdr[:])
		h.Write(s.pix)
		s.content = hex.EncodeToString(h.Sum(nil))
	})
	return s.content
}

// Load is LoadContext without cancellation.
func Load(opts Options) (*Set, Report, error) {
	return LoadContext(context.Background(), opts)
}

// LoadContext scans opts.Dir and returns its images, from the cache when it
// matches (same source list, Size, MinSide and MaxPixels) and by decoding
// otherwise. Only an unusable folder is an error: a missing or unreadable
// folder, or one with no usable image. When ctx is done the decoding workers
// stop after their current file and LoadContext returns ctx's error.
//
// Building a cache entry holds a lock on it (the entry's path + ".lock"): a
// second process loading the same folder at the same size waits and then reads
// the cache. The lock holder first deletes the entry's temporary files left by a
// writer that crashed.
func LoadContext(ctx context.Context, opts Options) (*Set, Report, error) {
	start := time.Now()
	rep := Report{Dir: opts.Dir, Reasons: map[string]int{}}
	if opts.Dir == "" {
		return nil, rep, errors.New("dataset: no folder given")
	}
	if opts.Size == 0 {
		opts.Size = DefaultSize
	}
	if opts.Size < 0 {
		return nil, rep, fmt.Errorf("dataset: size must be positive, got %d", opts.Size)
	}
	if opts.MaxPixels <= 0 {
		opts.MaxPixels = DefaultMaxPixels
	}
	if opts.MinSide <= 0 {
		opts.MinSide = DefaultMinSide
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, rep, fmt.Errorf("dataset: %w", err)
	}
	if fi, err := os.Stat(dir); err != nil {
		return nil, rep, fmt.Errorf("dataset: %w", err)
	} else if !fi.IsDir() {
		return nil, rep, fmt.Errorf("dataset: %s is not a folder", opts.Dir)
	}

	srcs, badDirs, err := scan(dir)
	if err != nil {
		return nil, rep, fmt.Errorf("dataset: scanning %s: %w", opts.Dir, err)
	}
	rep.Found = len(srcs)
	if len(srcs) == 0 {
		return nil, rep, fmt.Errorf("dataset: no image files (.jpg, .jpeg, .png, .gif, .webp) in %s", opts.Dir)
	}
	fp := fingerprint(srcs)
	key := cacheKey{fp, opts.Size, opts.MinSide, opts.MaxPixels}

	if !opts.NoCache {
		cacheDir := opts.CacheDir
		if cacheDir == "" {
			if ucd, err := os.UserCacheDir(); err == nil {
				cacheDir = filepath.Join(ucd, "avatargan")
			} else {
				rep.CacheErr = fmt.Errorf("no cache folder: %w", err)
			}
		}
		if cacheDir != "" {
			rep.CachePath = cachePath(cacheDir, dir, opts.Size)
			hit := func() (*Set, Report, bool) {
				pix, meta, err := readCache(rep.CachePath, key)
				if err != nil {
					return nil, rep, false
				}
				rep.Loaded, rep.Skipped, rep.SkippedPaths = len(meta.Paths), meta.Skipped, meta.SkippedPaths
				for k, v := range meta.Reasons {
					rep.Reasons[k] = v
				}
				rep.FromCache = true
				rep.Elapsed = time.Since(start)
				return &Set{size: opts.Size, stride: opts.Size * opts.Size * 3, pix: pix, paths: meta.Paths, fp: fpString(fp)}, rep, true
			}
			if s, rep, ok := hit(); ok {
				return s, rep, nil
			}
			lock, err := lockCache(ctx, rep.CachePath, opts.Waiting)
			if ctx.Err() != nil {
				return nil, rep, ctx.Err()
			}
			if err != nil {
				// No lock, no cache: decode without writing one.
				rep.CacheErr, rep.CachePath = err, ""
			} else {
				defer lock.Unlock()
				// Another process may have built the entry while we waited.
				if s, rep, ok := hit(); ok {
					return s, rep, nil
				}
			}
		}
	}

	s, meta, err := decodeAll(ctx, dir, srcs, opts)
	if err != nil {
		return nil, rep, err
	}
	s.fp = fpString(fp)
	for _, d := range badDirs {
		meta.Skipped++
		meta.Reasons[ReasonUnreadable]++
		if len(meta.SkippedPaths) < maxSkippedPaths {
			meta.SkippedPaths = append(meta.SkippedPaths, d+": "+ReasonUnreadable)
		}
	}
	rep.Loaded, rep.Skipped, rep.SkippedPaths, rep.Reasons = s.Len(), meta.Skipped, meta.SkippedPaths, meta.Reasons
	if s.Len() == 0 {
		rep.Elapsed = time.Since(start)
		return nil, rep, fmt.Errorf("dataset: none of the %d image files in %s could be used (%s)", rep.Found, opts.Dir, rep.reasonList())
	}
	if rep.CachePath != "" {
		if err := writeCache(rep.CachePath, key, meta, s.pix); err != nil {
			rep.CacheErr = err
		}
	}
	rep.Elapsed = time.Since(start)
	return s, rep, nil
}

func (r Report) reasonList() string {
	var parts []string
	for k, v := range r.Reasons {
		parts = append(parts, fmt.Sprintf("%s: %d", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// lockCache takes the lock of the cache entry at path, waiting while another
// process holds it, and removes the entry's stale temporary files.
func lockCache(ctx context.Context, path string, waiting func(error)) (*lockfile.Lock, error) {
	dir, base := filepath.Split(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	lock, err := lockfile.Wait(ctx, path+".lock", waiting)
	if err != nil {
		return nil, err
	}
	// Temporary files of this entry: atomicfile's names, and those of versions
	// that wrote base + ".tmp" + digits.
	atomicfile.RemoveStale(dir, func(target string) bool { return target == base })
	if ents, err := os.ReadDir(dir); err == nil {
		for _, e := range ents {
			if d, ok := strings.CutPrefix(e.Name(), base+".tmp"); ok && d != "" && strings.Trim(d, "0123456789") == "" {
				os.Remove(filepath.Join(dir, e.Name()))
			}
		}
	}
	return lock, nil
}

// decodeAll decodes srcs on opts.Workers goroutines straight into one array
// (slot i for file i, so no per-image copies or locks), then compacts out
// the failures, keeping sorted path order. When ctx is done the workers stop
// after their current file and decodeAll returns ctx's error.
func decodeAll(ctx context.Context, dir string, srcs []source, opts Options) (*Set, *cacheMeta, error) {
	stride := opts.Size * opts.Size * 3
	pix := make([]uint8, len(srcs)*stride)
	errs := make([]error, len(srcs))
	var next, done atomic.Int64
	var wg sync.WaitGroup
	for range min(opts.Workers, len(srcs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for {
				i := int(next.Add(1) - 1)
				if i >= len(srcs) || ctx.Err() != nil {
					return
				}
				b, err := readFile(filepath.Join(dir, filepath.FromSlash(srcs[i].rel)), opts.MaxPixels, buf)
				if err == nil {
					buf = b[:0]
					err = decodeBytes(pix[i*stride:(i+1)*stride], b, opts.Size, opts.MinSide, opts.MaxPixels)
				}
				errs[i] = err
				done.Add(1)
			}
		}()
	}
	if opts.Progress != nil {
		// Poll rather than call back from the workers, so the callback
		// needs no locking and cannot slow decoding.
		stop := make(chan struct{})
		go func() { wg.Wait(); close(stop) }()
		t := time.NewTicker(50 * time.Millisecond)
		last := -1
		for running := true; running; {
			select {
			case <-stop:
				running = false
			case <-t.C:
			}
			if d := int(done.Load()); d != last && (d-last >= len(srcs)/100 || !running) {
				opts.Progress(d, len(srcs))
				last = d
			}
		}
		t.Stop()
	} else {
		wg.Wait()
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}

	meta := &cacheMeta{Found: len(srcs), Reasons: map[string]int{}}
	n := 0
	for i, err := range errs {
		if err != nil {
			r := reasonOf(err)
			meta.Skipped++
			meta.Reasons[r]++
			if len(meta.SkippedPaths) < maxSkippedPaths {
				meta.SkippedPaths = append(meta.SkippedPaths, srcs[i].rel+": "+err.Error())
			}
			continue
		}
		if n != i {
			copy(pix[n*stride:(n+1)*stride], pix[i*stride:(i+1)*stride])
		}
		meta.Paths = append(meta.Paths, srcs[i].rel)
		n++
	}
	pix = pix[: n*stride : n*stride]
	return &Set{size: opts.Size, stride: stride, pix: pix, paths: meta.Paths}, meta, nil
}
