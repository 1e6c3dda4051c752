// Package crop turns a folder of illustrations into a folder of anime-face
// crops that train reads directly.
//
// Run scans a folder recursively for the formats train reads (decoded by
// dataset.DecodeFile, so the same files are accepted and refused), finds
// faces with package facedetect (nagadomi's cascade, OpenCV's settings),
// frames each face in a square enlarged by Scale and raised by Shift to
// take in the hair (the defaults reproduce the framing of the 33k-face set
// the project trains on; see DefaultScale), resizes it to Size with a
// Catmull-Rom filter and writes it as PNG. Near-duplicate crops (a
// perceptual hash within DupDist bits of an earlier crop) are dropped. A
// JSON-lines report in the output folder records every source file and
// face: where the face was, how many detections supported it, and what
// became of it.
package crop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"io"
	"io/fs"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	xdraw "golang.org/x/image/draw"

	"avatargan/dataset"
	"avatargan/facedetect"
	"avatargan/internal/atomicfile"
)

// Framing defaults, measured by running the detector on the project's
// training faces (96x96 crops made from illustrations with this cascade),
// each padded with white so the detector can find boxes as large as the
// crop: the crop side is a median 1.055 face box sides (p25 1.01, p75 1.12)
// and the face box centre sits a median 0.006 box sides below the crop
// centre (p25 0, p75 0.02). TestFramingMatchesFaces repeats the
// measurement when ../shared is present.
const (
	DefaultScale = 1.05
	DefaultShift = 0.01
)

// Other defaults for Options fields left zero.
const (
	DefaultSize    = 96 // the training set's crops
	DefaultMinFace = 64 // a 64-px face is already enlarged 1.4x into 96 px
	DefaultDupDist = 6  // of 256 hash bits: re-encodes and rescales stay within ~3
	ReportName     = "crop-report.jsonl"
)

// Edge modes: what to do when the square reaches past the image.
const (
	EdgeShift = "shift" // move the square inside the image (shrink it if the image is smaller)
	EdgePad   = "pad"   // keep the framing and repeat the edge pixels outward
)

// Options configures Run. In and Out are required; other zero fields take
// the defaults above.
type Options struct {
	In, Out string
	Size    int     // output side in pixels
	Scale   float64 // crop side / face box side
	Shift   float64 // crop centre above face centre, in face box sides (may be negative)
	Edge    string  // EdgeShift or EdgePad
	All     bool    // crop every face, not only the largest in each image
	MinFace int     // ignore faces whose box side is smaller (source pixels)
	// DupDist drops a crop whose hash is within this many bits of an
	// earlier one; negative keeps every crop.
	DupDist   int
	Cascade   *facedetect.Cascade // nil: facedetect.AnimeFace()
	Detect    facedetect.Options  // zero: facedetect.DefaultOptions()
	Workers   int                 // images processed at once; 0: GOMAXPROCS
	MaxPixels int                 // refuse larger images; 0: dataset.DefaultMaxPixels
	// Progress, if set, is called from one goroutine after each file.
	Progress func(done, total int)
}

// Report summarises a run.
type Report struct {
	Files      int            // files with an image extension
	Other      int            // other files, ignored
	Images     int            // decoded
	Skipped    map[string]int // files refused, by dataset reason
	SkipList   []string       // "path: error" for each refused file
	NoFace     int            // images where no face was found
	Faces      int            // faces found
	Small      int            // faces under MinFace
	NotLargest int            // faces left out because All is off
	Duplicates int            // crops dropped as near-duplicates
	Written    int            // crops written
	ReportPath string         // the JSON-lines report
}

// Line is one line of the JSON-lines report: a refused file (Error), an
// image without faces (Faces 0), or one face and what became of it.
type Line struct {
	Source    string `json:"source"`
	Error     string `json:"error,omitempty"`
	Faces     *int   `json:"faces,omitempty"`
	Face      []int  `json:"face,omitempty"` // x, y, w, h in the source
	Neighbors int    `json:"neighbors,omitempty"`
	Crop      []int  `json:"crop,omitempty"` // x, y, side of the square in the source
	Out       string `json:"out,omitempty"`  // written crop, relative to Out
	Dropped   string `json:"dropped,omitempty"`
}

func (o *Options) defaults() error {
	if o.In == "" || o.Out == "" {
		return errors.New("crop: input and output folders are required")
	}
	if o.Size == 0 {
		o.Size = DefaultSize
	}
	if o.Scale == 0 {
		o.Scale = DefaultScale
	}
	if o.Edge == "" {
		o.Edge = EdgeShift
	}
	if o.MinFace == 0 {
		o.MinFace = DefaultMinFace
	}
	if o.Cascade == nil {
		o.Cascade = facedetect.AnimeFace()
	}
	if o.Detect == (facedetect.Options{}) {
		o.Detect = facedetect.DefaultOptions()
	}
	o.Detect.Workers = 1 // parallel over images instead
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	switch {
	case o.Size < 8 || o.Size > 4096:
		return fmt.Errorf("crop: size %d: want 8..4096", o.Size)
	case !(o.Scale >= 0.5 && o.Scale <= 10):
		return fmt.Errorf("crop: scale %v: want 0.5..10", o.Scale)
	case !(o.Shift >= -2 && o.Shift <= 2):
		return fmt.Errorf("crop: shift %v: want -2..2", o.Shift)
	case o.Edge != EdgeShift && o.Edge != EdgePad:
		return fmt.Errorf("crop: edge %q: want %s or %s", o.Edge, EdgeShift, EdgePad)
	case !(o.Detect.ScaleFactor > 1):
		return fmt.Errorf("crop: detector scale factor %v: want > 1", o.Detect.ScaleFactor)
	}
	return nil
}

// CheckFolders refuses an output folder inside (or equal to) the input
// folder: a rerun would read its own crops, and the input must never be
// written to. Symbolic links are resolved.
func CheckFolders(in, out string) error {
	ai, err := resolve(in)
	if err != nil {
		return err
	}
	ao, err := resolve(out)
	if err != nil {
		return err
	}
	if rel, err := filepath.Rel(ai, ao); err == nil && (rel == "." || !strings.HasPrefix(rel, "..")) {
		return fmt.Errorf("output folder %s is inside input folder %s; choose one outside it", out, in)
	}
	return nil
}

// resolve makes p absolute and resolves symbolic links in its longest
// existing prefix (the output folder may not exist yet).
func resolve(p string) (string, error) {
	a, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	var rest []string
	for {
		if r, err := filepath.EvalSymlinks(a); err == nil {
			return filepath.Join(append([]string{r}, rest...)...), nil
		}
		parent := filepath.Dir(a)
		if parent == a {
			return filepath.Join(append([]string{a}, rest...)...), nil
		}
		rest = append([]string{filepath.Base(a)}, rest...)
		a = parent
	}
}

// scan lists image files under dir, sorted, and counts the others.
func scan(dir string) (files []string, other int, unreadable []skipped, err error) {
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, werr error) error {
		if werr != nil {
			if path != dir {
				unreadable = append(unreadable, skipped{relPath(dir, path), werr.Error()})
			}
			return dataset.SkipUnreadable(dir, path, d, werr)
		}
		if d.IsDir() {
			return nil
		}
		if !dataset.IsImageName(d.Name()) {
			other++
			return nil
		}
		// Only regular files (through symlinks): opening a FIFO named x.png would
		// block a worker, and Ctrl-C with it, for good.
		fi, ierr := d.Info()
		if ierr == nil && d.Type()&fs.ModeSymlink != 0 {
			fi, ierr = os.Stat(path)
		}
		if ierr != nil {
			unreadable = append(unreadable, skipped{relPath(dir, path), ierr.Error()})
			return nil
		}
		if !fi.Mode().IsRegular() {
			unreadable = append(unreadable, skipped{relPath(dir, path), "not a regular file"})
			return nil
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		files = append(files, rel)
		return nil
	})
	sort.Strings(files)
	return files, other, unreadable, err
}

// skipped is a file the scan could not use, by its path under the input
// folder, and why.
type skipped struct{ rel, why string }

// relPath is path relative to dir, with forward slashes, as the report names
// sources.
func relPath(dir, path string) string {
	if rel, err := filepath.Rel(dir, path); err == nil {
		path = rel
	}
	return filepath.ToSlash(path)
}

// result is one file's outcome from a worker.
type result struct {
	idx   int
	err   error
	faces []face
}

type face struct {
	facedetect.Face
	crop    image.Rectangle // the square in source coordinates
	img     *image.RGBA     // Size x Size, nil if not cropped
	hash    [4]uint64
	dropped string
}

// Run crops every face it finds under o.In into o.Out. It stops early,
// returning ctx's error with the report so far, when ctx is cancelled.
// Refused files and faces left out are reported, never fatal; an error is
// returned only when the folders are unusable or a write fails.
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	if err := CheckFolders(o.In, o.Out); err != nil {
		return nil, err
	}
	files, other, unreadable, err := scan(o.In)
	if err != nil {
		return nil, fmt.Errorf("crop: %w", err)
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, fmt.Errorf("crop: %w", err)
	}
	rep := &Report{Files: len(files), Other: other, Skipped: map[string]int{}, ReportPath: filepath.Join(o.Out, ReportName)}
	var lines []Line
	for _, u := range unreadable {
		rep.Skipped[dataset.ReasonUnreadable]++
		rep.SkipList = append(rep.SkipList, filepath.Join(o.In, u.rel)+": "+u.why)
		lines = append(lines, Line{Source: u.rel, Error: u.why})
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan int)
	results := make(chan result, o.Workers)
	var wg sync.WaitGroup
	for range o.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				results <- o.process(filepath.Join(o.In, files[i]), i)
			}
		}()
	}
	go func() {
		defer close(jobs)
		for i := range files {
			if ctx.Err() != nil {
				return // before select, which picks randomly among ready cases
			}
			select {
			case jobs <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(results) }()

	// Results are committed in file order, so names, duplicate decisions
	// and the report do not depend on worker timing.
	pending := map[int]result{}
	next := 0
	var kept [][4]uint64
	names := map[string]bool{} // crop names written by this run, case-folded
	var werr error
	for r := range results {
		pending[r.idx] = r
		for {
			r, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			if werr == nil {
				lines, kept, werr = o.commit(rep, files[next], r, lines, kept, names)
				if werr != nil {
					cancel()
				}
			}
			next++
			if o.Progress != nil {
				o.Progress(next, len(files))
			}
		}
	}
	if err := writeReport(rep.ReportPath, lines); err != nil && werr == nil {
		werr = err
	}
	if werr != nil {
		return rep, werr
	}
	return rep, ctx.Err()
}

// process decodes, detects and crops one file.
func (o *Options) process(path string, idx int) result {
	// Images smaller than the detection window can hold no face.
	img, err := dataset.DecodeFile(path, o.MaxPixels, max(o.Cascade.Width, o.Cascade.Height))
	if err != nil {
		return result{idx: idx, err: err}
	}
	dets := o.Cascade.Detect(img, o.Detect)
	// Largest first; ties by position, for a stable order.
	sort.Slice(dets, func(i, j int) bool {
		a, b := dets[i].Rect, dets[j].Rect
		if a.Dx() != b.Dx() {
			return a.Dx() > b.Dx()
		}
		if a.Min.Y != b.Min.Y {
			return a.Min.Y < b.Min.Y
		}
		return a.Min.X < b.Min.X
	})
	faces := make([]face, len(dets))
	largest := true
	for i, d := range dets {
		f := &faces[i]
		f.Face = d
		f.crop = Frame(d.Rect, img.Bounds(), o.Scale, o.Shift, o.Edge)
		switch {
		case d.Rect.Dx() < o.MinFace:
			f.dropped = fmt.Sprintf("face smaller than %d px", o.MinFace)
		case !largest && !o.All:
			f.dropped = "not the largest face"
		default:
			largest = false
			f.img = Extract(img, f.crop, o.Size, o.Edge)
			f.hash = dhash(f.img)
		}
	}
	return result{idx: idx, faces: faces}
}

// commit records one file's outcome and writes its crops.
func (o *Options) commit(rep *Report, rel string, r result, lines []Line, kept [][4]uint64, names map[string]bool) ([]Line, [][4]uint64, error) {
	src := filepath.ToSlash(rel)
	if r.err != nil {
		reason := dataset.SkipReason(r.err)
		rep.Skipped[reason]++
		rep.SkipList = append(rep.SkipList, r.err.Error())
		return append(lines, Line{Source: src, Error: r.err.Error()}), kept, nil
	}
	rep.Images++
	if len(r.faces) == 0 {
		rep.NoFace++
		zero := 0
		return append(lines, Line{Source: src, Faces: &zero}), kept, nil
	}
	stem := strings.ReplaceAll(filepath.Base(rel), ".", "_")
	for k, f := range r.faces {
		rep.Faces++
		b := f.Rect
		l := Line{Source: src, Face: []int{b.Min.X, b.Min.Y, b.Dx(), b.Dy()}, Neighbors: f.Neighbors,
			Crop: []int{f.crop.Min.X, f.crop.Min.Y, f.crop.Dx()}, Dropped: f.dropped}
		switch {
		case strings.HasPrefix(f.dropped, "face smaller"):
			rep.Small++
		case f.dropped != "":
			rep.NotLargest++
		default:
			if j := nearest(kept, f.hash, o.DupDist); j >= 0 {
				l.Dropped = "near-duplicate of an earlier crop"
				rep.Duplicates++
				break
			}
			out := cropName(filepath.Dir(rel), stem, k, names)
			dst := filepath.Join(o.Out, out)
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return lines, kept, fmt.Errorf("crop: %w", err)
			}
			img := f.img
			if err := atomicfile.Write(dst, func(w io.Writer) error { return png.Encode(w, img) }); err != nil {
				return lines, kept, fmt.Errorf("crop: %w", err)
			}
			kept = append(kept, f.hash)
			l.Out = filepath.ToSlash(out)
			rep.Written++
		}
		lines = append(lines, l)
	}
	return lines, kept, nil
}

// nearest returns the index of a kept hash within maxDist bits of h, or -1.
func nearest(kept [][4]uint64, h [4]uint64, maxDist int) int {
	if maxDist < 0 {
		return -1
	}
	for i, k := range kept {
		d := bits.OnesCount64(k[0]^h[0]) + bits.OnesCount64(k[1]^h[1]) +
			bits.OnesCount64(k[2]^h[2]) + bits.OnesCount64(k[3]^h[3])
		if d <= maxDist {
			return i
		}
	}
	return -1
}

// Frame returns the square crop for a face box: side Scale times the box
// side, centred on the box centre raised by Shift box sides. With EdgeShift
// the square is moved inside bounds (and shrunk to the shorter side if it
// cannot fit); with EdgePad it is returned as is and may reach outside.
func Frame(face, bounds image.Rectangle, scale, shift float64, edge string) image.Rectangle {
	s := float64(face.Dx())
	side := int(math.Round(s * scale))
	cx := float64(face.Min.X) + s/2
	cy := float64(face.Min.Y) + float64(face.Dy())/2 - shift*s
	x0 := int(math.Round(cx - float64(side)/2))
	y0 := int(math.Round(cy - float64(side)/2))
	r := image.Rect(x0, y0, x0+side, y0+side)
	if edge == EdgePad {
		return r
	}
	if m := min(bounds.Dx(), bounds.Dy()); side > m {
		// Shrink about the centre, then move inside below.
		d := side - m
		r = image.Rect(r.Min.X+d/2, r.Min.Y+d/2, r.Min.X+d/2+m, r.Min.Y+d/2+m)
	}
	dx := max(bounds.Min.X-r.Min.X, 0) - max(r.Max.X-bounds.Max.X, 0)
	dy := max(bounds.Min.Y-r.Min.Y, 0) - max(r.Max.Y-bounds.Max.Y, 0)
	return r.Add(image.Pt(dx, dy))
}

// Extract cuts the square r out of img, flattened onto white (as train
// flattens transparent images), fills any part outside img by repeating its
// edge pixels, and resizes it to size x size with Catmull-Rom (which
// x/image/draw widens into a proper low-pass filter when shrinking).
func Extract(img image.Image, r image.Rectangle, size int, edge string) *image.RGBA {
	side := r.Dx()
	sq := image.NewRGBA(image.Rect(0, 0, side, side))
	for i := range sq.Pix {
		sq.Pix[i] = 0xff
	}
	in := r.Intersect(img.Bounds())
	if !in.Empty() {
		draw.Draw(sq, in.Sub(r.Min), img, in.Min, draw.Over)
		if in != r {
			padEdges(sq, in.Sub(r.Min))
		}
	}
	if side == size {
		return sq
	}
	out := image.NewRGBA(image.Rect(0, 0, size, size))
	xdraw.CatmullRom.Scale(out, out.Bounds(), sq, sq.Bounds(), xdraw.Src, nil)
	return out
}

// padEdges fills m outside in by repeating in's border pixels.
func padEdges(m *image.RGBA, in image.Rectangle) {
	b := m.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		sy := min(max(y, in.Min.Y), in.Max.Y-1)
		for x := b.Min.X; x < b.Max.X; x++ {
			if (image.Point{x, y}).In(in) {
				continue
			}
			sx := min(max(x, in.Min.X), in.Max.X-1)
			copy(m.Pix[m.PixOffset(x, y):m.PixOffset(x, y)+4], m.Pix[m.PixOffset(sx, sy):])
		}
	}
}

// dhash is a 256-bit difference hash: the crop's grey levels averaged into
// a 17x16 grid, one bit per horizontal neighbour pair (left brighter).
// Re-encoding, rescaling and small colour shifts change few bits; a
// different face changes many.
func dhash(m *image.RGBA) [4]uint64 {
	const gw, gh = 17, 16
	var cell [gh][gw]float64
	var cnt [gh][gw]float64
	b := m.Bounds()
	for y := 0; y < b.Dy(); y++ {
		cy := y * gh / b.Dy()
		for x := 0; x < b.Dx(); x++ {
			cx := x * gw / b.Dx()
			p := m.Pix[m.PixOffset(b.Min.X+x, b.Min.Y+y):]
			cell[cy][cx] += 0.299*float64(p[0]) + 0.587*float64(p[1]) + 0.114*float64(p[2])
			cnt[cy][cx]++
		}
	}
	var h [4]uint64
	for y := 0; y < gh; y++ {
		for x := 0; x < gw-1; x++ {
			if cell[y][x]/cnt[y][x] > cell[y][x+1]/cnt[y][x+1] {
				bit := y*(gw-1) + x
				h[bit/64] |= 1 << (bit % 64)
			}
		}
	}
	return h
}

// writeReport writes the JSON-lines report atomically.
func writeReport(path string, lines []Line) error {
	return atomicfile.Write(path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		for i := range lines {
			if err := enc.Encode(&lines[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// cropName returns a crop's path under the output folder: the source's base name
// with its dots made underscores, then the face's index. Different sources can
// map to one name (a.b.png and a_b.png; A.png and a.png on a case-insensitive
// file system), so a name this run has already used, compared case-folded,
// gets a numbered suffix instead of replacing the earlier crop.
func cropName(dir, stem string, k int, used map[string]bool) string {
	out := filepath.Join(dir, fmt.Sprintf("%s-%d.png", stem, k))
	for n := 2; used[strings.ToLower(out)]; n++ {
		out = filepath.Join(dir, fmt.Sprintf("%s-%d~%d.png", stem, k, n))
	}
	used[strings.ToLower(out)] = true
	return out
}
