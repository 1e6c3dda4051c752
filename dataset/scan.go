package dataset

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// source is one candidate file found by the scan.
type source struct {
	rel   string // slash-separated path relative to the folder, the sort key
	size  int64
	mtime int64 // UnixNano
}

// imageExt reports whether a file name has an extension we try to decode.
// Selecting by extension (not content) keeps stray files such as README or
// .DS_Store out of the skip counts; a mislabelled file is still caught by
// the decoder and reported.
func imageExt(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".jpg", ".jpeg", ".png", ".gif", ".webp":
		return true
	}
	return false
}

// SkipUnreadable is the answer of a filepath.WalkDir callback over a folder of
// images at root to an error err at path: the root's own error ends the walk, and an
// unreadable entry below it is skipped (a folder with its contents) so that one bad
// subfolder does not refuse the whole set. Callers report what was skipped.
func SkipUnreadable(root, path string, d fs.DirEntry, err error) error {
	if path == root {
		return err
	}
	if d != nil && d.IsDir() {
		return fs.SkipDir
	}
	return nil
}

// scan walks dir recursively and returns the candidate files sorted by
// relative path, so every run sees the same order regardless of the file
// system's directory order. Symlinks to files are followed; symlinked
// directories are not (WalkDir's rule), which also rules out cycles.
// Unreadable subdirectories are reported as skipped rather than failing.
func scan(dir string) (srcs []source, unreadable []string, err error) {
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, werr error) error {
		if werr != nil {
			if path != dir {
				unreadable = append(unreadable, path)
			}
			return SkipUnreadable(dir, path, d, werr)
		}
		if d.IsDir() || !imageExt(d.Name()) {
			return nil
		}
		var fi fs.FileInfo
		if d.Type()&fs.ModeSymlink != 0 {
			fi, werr = os.Stat(path)
		} else {
			fi, werr = d.Info()
		}
		if werr != nil {
			unreadable = append(unreadable, path)
			return nil
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		rel, rerr := filepath.Rel(dir, path)
		if rerr != nil {
			rel = path
		}
		srcs = append(srcs, source{filepath.ToSlash(rel), fi.Size(), fi.ModTime().UnixNano()})
		return nil
	})
	sort.Slice(srcs, func(i, j int) bool { return srcs[i].rel < srcs[j].rel })
	return srcs, unreadable, err
}

// fingerprint hashes the source list (relative paths, sizes, mtimes). It
// identifies the training data in a run's config and keys the cache: any
// added, removed, replaced or touched file changes it. Relative paths keep it
// stable when the folder is moved with its timestamps.
func fingerprint(srcs []source) [32]byte {
	h := sha256.New()
	var buf [8]byte
	for _, s := range srcs {
		h.Write([]byte(s.rel))
		h.Write([]byte{0})
		binary.LittleEndian.PutUint64(buf[:], uint64(s.size))
		h.Write(buf[:])
		binary.LittleEndian.PutUint64(buf[:], uint64(s.mtime))
		h.Write(buf[:])
	}
	var fp [32]byte
	h.Sum(fp[:0])
	return fp
}

func fpString(fp [32]byte) string { return hex.EncodeToString(fp[:]) }
