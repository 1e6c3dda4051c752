package dataset

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"

	"avatargan/internal/atomicfile"
)

// Cache file layout (little endian):
//
//	0   magic      [8]byte "AVGDSET\x00"
//	8   version    uint32  (cacheVersion; bump when the pipeline's output changes)
//	12  size       uint32  side of the stored images
//	16  count      uint64  number of stored images
//	24  minSide    uint32  Options.MinSide used (changes which files are kept)
//	28  crc        uint32  CRC-32C of meta and pixels
//	32  maxPixels  uint64  Options.MaxPixels used
//	40  metaLen    uint64  length of the JSON meta block
//	48  fingerprint [32]byte of the source list
//	80  meta       JSON cacheMeta
//	..  pixels     count * size*size*3 bytes, uint8 HWC RGB, in sorted path order
//
// The CRC makes a flipped bit or a half-copied file a rebuild, not silently
// bad training data; checking it costs ~0.1 s for the 230 MB faces cache.
const (
	cacheMagic   = "AVGDSET\x00"
	cacheVersion = 1
	headerLen    = 80
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// cacheMeta is what a cache hit needs to reproduce the original Report and
// Path(i) without rescanning the pixels.
type cacheMeta struct {
	Paths        []string       `json:"paths"`
	Found        int            `json:"found"`
	Skipped      int            `json:"skipped"`
	SkippedPaths []string       `json:"skipped_paths"`
	Reasons      map[string]int `json:"reasons"`
}

type cacheKey struct {
	fp        [32]byte
	size      int
	minSide   int
	maxPixels int
}

// cachePath names the cache file after the folder's absolute path and the
// image size, so one folder at one size has exactly one file (a changed
// folder overwrites it instead of piling up stale caches).
func cachePath(cacheDir, absDir string, size int) string {
	h := sha256.Sum256([]byte(absDir))
	base := filepath.Base(absDir)
	base = strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r == '.' || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9') {
			return r
		}
		return '_'
	}, base)
	if len(base) > 40 {
		base = base[:40]
	}
	return filepath.Join(cacheDir, fmt.Sprintf("%s-%s-%d.avgds", base, hex.EncodeToString(h[:6]), size))
}

// errStale means the cache exists but is for other inputs or damaged; the
// caller rebuilds either way, the distinction only helps tests and messages.
var errStale = errors.New("stale or damaged cache")

// readCache returns the pixels and meta if path holds a valid cache for key. The
// 80-byte header is read and checked against key and the file's size first, so a
// stale cache (another folder state, size or option) costs one small read, not the
// whole file (230 MB for the faces set).
func readCache(path string, key cacheKey) ([]byte, *cacheMeta, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%w: not a regular file", errStale)
	}
	var h [headerLen]byte
	if _, err := io.ReadFull(f, h[:]); err != nil {
		return nil, nil, fmt.Errorf("%w: bad header", errStale)
	}
	metaLen, count, err := checkCacheHeader(h[:], uint64(st.Size()), key)
	if err != nil {
		return nil, nil, err
	}
	body := make([]byte, st.Size()-headerLen)
	if _, err := io.ReadFull(f, body); err != nil {
		return nil, nil, fmt.Errorf("%w: truncated", errStale)
	}
	return cacheBody(h[:], body, metaLen, count)
}

// decodeCache is readCache on a file's bytes in memory.
func decodeCache(b []byte, key cacheKey) ([]byte, *cacheMeta, error) {
	if len(b) < headerLen {
		return nil, nil, fmt.Errorf("%w: bad header", errStale)
	}
	metaLen, count, err := checkCacheHeader(b[:headerLen], uint64(len(b)), key)
	if err != nil {
		return nil, nil, err
	}
	return cacheBody(b[:headerLen], b[headerLen:], metaLen, count)
}

// checkCacheHeader checks a cache file's header h against key and the file's total
// size, and returns the lengths it declares.
func checkCacheHeader(h []byte, total uint64, key cacheKey) (metaLen, count uint64, err error) {
	if string(h[:8]) != cacheMagic {
		return 0, 0, fmt.Errorf("%w: bad header", errStale)
	}
	le := binary.LittleEndian
	if v := le.Uint32(h[8:]); v != cacheVersion {
		return 0, 0, fmt.Errorf("%w: version %d", errStale, v)
	}
	size := int(le.Uint32(h[12:]))
	count = le.Uint64(h[16:])
	if size != key.size || int(le.Uint32(h[24:])) != key.minSide ||
		le.Uint64(h[32:]) != uint64(key.maxPixels) || [32]byte(h[48:80]) != key.fp {
		return 0, 0, fmt.Errorf("%w: different inputs", errStale)
	}
	metaLen = le.Uint64(h[40:])
	if total < headerLen { // a file that shrank after its header was read
		return 0, 0, fmt.Errorf("%w: truncated", errStale)
	}
	rest := total - headerLen
	img := uint64(size * size * 3)
	if metaLen > rest || count > (rest-metaLen)/img || rest-metaLen != count*img {
		return 0, 0, fmt.Errorf("%w: truncated", errStale)
	}
	return metaLen, count, nil
}

// cacheBody checks the checksum in header h over body (meta and pixels, of the
// lengths checkCacheHeader returned) and decodes the meta.
func cacheBody(h, body []byte, metaLen, count uint64) ([]byte, *cacheMeta, error) {
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(h[28:]) {
		return nil, nil, fmt.Errorf("%w: checksum mismatch", errStale)
	}
	var meta cacheMeta
	if err := json.Unmarshal(body[:metaLen], &meta); err != nil || uint64(len(meta.Paths)) != count {
		return nil, nil, fmt.Errorf("%w: bad meta", errStale)
	}
	return body[metaLen:], &meta, nil
}

// writeCache writes the cache file atomically (see package atomicfile): a
// crash leaves either the old cache or the new one, never a torn file under the
// real name.
func writeCache(path string, key cacheKey, meta *cacheMeta, pix []byte) error {
	mj, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	var h [headerLen]byte
	le := binary.LittleEndian
	copy(h[:], cacheMagic)
	le.PutUint32(h[8:], cacheVersion)
	le.PutUint32(h[12:], uint32(key.size))
	le.PutUint64(h[16:], uint64(len(meta.Paths)))
	le.PutUint32(h[24:], uint32(key.minSide))
	le.PutUint32(h[28:], crc32.Update(crc32.Checksum(mj, castagnoli), castagnoli, pix))
	le.PutUint64(h[32:], uint64(key.maxPixels))
	le.PutUint64(h[40:], uint64(len(mj)))
	copy(h[48:], key.fp[:])
	return atomicfile.Write(path, func(w io.Writer) error {
		for _, part := range [][]byte{h[:], mj, pix} {
			if _, err := w.Write(part); err != nil {
				return err
			}
		}
		return nil
	})
}
