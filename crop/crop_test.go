package crop

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/png"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFrame(t *testing.T) {
	b := image.Rect(0, 0, 400, 300)
	face := image.Rect(100, 100, 200, 200)
	// Centred, raised by 0.1 face sides, 1.5 times the face.
	if got, want := Frame(face, b, 1.5, 0.1, EdgeShift), image.Rect(75, 65, 225, 215); got != want {
		t.Errorf("inside: %v, want %v", got, want)
	}
	// Near the top-left corner: shifted inside, same size.
	corner := image.Rect(0, 0, 100, 100)
	if got, want := Frame(corner, b, 1.5, 0, EdgeShift), image.Rect(0, 0, 150, 150); got != want {
		t.Errorf("corner shift: %v, want %v", got, want)
	}
	if got, want := Frame(corner, b, 1.5, 0, EdgePad), image.Rect(-25, -25, 125, 125); got != want {
		t.Errorf("corner pad: %v, want %v", got, want)
	}
	// Larger than the image's short side: shrunk to it and moved inside.
	big := image.Rect(50, 0, 350, 300)
	if got := Frame(big, b, 2, 0, EdgeShift); got.Dx() != 300 || got.Dy() != 300 || !got.In(b) {
		t.Errorf("too large: %v, want a 300-px square inside %v", got, b)
	}
}

func TestExtractPad(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	for y := 0; y < 4; y++ {
		for x := 0; x < 4; x++ {
			img.Set(x, y, color.RGBA{uint8(60 * x), uint8(60 * y), 7, 255})
		}
	}
	// A 6x6 square starting at (-1, -1): the outer ring repeats the edge.
	out := Extract(img, image.Rect(-1, -1, 5, 5), 6, EdgePad)
	check := func(x, y int, want color.RGBA) {
		if got := out.RGBAAt(x, y); got != want {
			t.Errorf("(%d,%d) = %v, want %v", x, y, got, want)
		}
	}
	check(0, 0, color.RGBA{0, 0, 7, 255})     // corner repeats (0,0)
	check(5, 2, color.RGBA{180, 60, 7, 255})  // right edge repeats (3,1)
	check(2, 5, color.RGBA{60, 180, 7, 255})  // bottom edge repeats (1,3)
	check(3, 3, color.RGBA{120, 120, 7, 255}) // inside
	check(5, 5, color.RGBA{180, 180, 7, 255}) // corner repeats (3,3)
	if r := Extract(img, image.Rect(0, 0, 4, 4), 8, EdgePad).Bounds(); r != image.Rect(0, 0, 8, 8) {
		t.Errorf("resized bounds %v", r)
	}
}

func TestCheckFolders(t *testing.T) {
	d := t.TempDir()
	in := filepath.Join(d, "in")
	os.Mkdir(in, 0o755)
	for _, out := range []string{in, filepath.Join(in, "x"), filepath.Join(in, "a", "b")} {
		if err := CheckFolders(in, out); err == nil {
			t.Errorf("out %s inside in %s: accepted", out, in)
		}
	}
	// Through a symbolic link to the input.
	link := filepath.Join(d, "link")
	if err := os.Symlink(in, link); err == nil {
		if err := CheckFolders(in, filepath.Join(link, "out")); err == nil {
			t.Error("out inside in through a symlink: accepted")
		}
	}
	for _, out := range []string{filepath.Join(d, "out"), filepath.Join(d, "in2")} {
		if err := CheckFolders(in, out); err != nil {
			t.Errorf("out %s: %v", out, err)
		}
	}
}

// copyFile copies src to dst.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// treeHash hashes every file under dir (names and contents).
func treeHash(t *testing.T, dir string) [32]byte {
	h := sha256.New()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			h.Write([]byte(p))
			h.Write(b)
		}
		return nil
	})
	var s [32]byte
	h.Sum(s[:0])
	return s
}

const scenes = "../facedetect/testdata/scenes/"

// testInput makes a folder of scenes and bad files.
func testInput(t *testing.T) string {
	in := filepath.Join(t.TempDir(), "in")
	copyFile(t, scenes+"scene-000.jpg", filepath.Join(in, "a.jpg"))
	copyFile(t, scenes+"scene-002.png", filepath.Join(in, "sub", "b.png"))
	copyFile(t, scenes+"scene-002.png", filepath.Join(in, "sub", "b-again.png")) // a duplicate
	copyFile(t, scenes+"scene-004.jpg", filepath.Join(in, "sub", "deeper", "c.jpg"))
	os.WriteFile(filepath.Join(in, "notes.txt"), []byte("hello"), 0o644)
	os.WriteFile(filepath.Join(in, "fake.png"), []byte("not a png"), 0o644)
	os.WriteFile(filepath.Join(in, "empty.jpg"), nil, 0o644)
	b, _ := os.ReadFile(scenes + "scene-001.jpg")
	os.WriteFile(filepath.Join(in, "cut.jpg"), b[:len(b)/3], 0o644)
	var tiny bytes.Buffer
	png.Encode(&tiny, image.NewGray(image.Rect(0, 0, 10, 10)))
	os.WriteFile(filepath.Join(in, "tiny.png"), tiny.Bytes(), 0o644)
	return in
}

func TestRun(t *testing.T) {
	in := testInput(t)
	before := treeHash(t, in)
	out := filepath.Join(t.TempDir(), "out")
	rep, err := Run(context.Background(), Options{In: in, Out: out, All: true, MinFace: 24, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if treeHash(t, in) != before {
		t.Error("the input folder changed")
	}
	if rep.Files != 8 || rep.Other != 1 || rep.Images != 4 || len(rep.SkipList) != 4 {
		t.Errorf("files %d other %d images %d skipped %d; want 8 1 4 4", rep.Files, rep.Other, rep.Images, len(rep.SkipList))
	}
	for _, reason := range []string{"not an image", "empty file", "corrupt", "too small"} {
		if rep.Skipped[reason] != 1 {
			t.Errorf("skipped for %q: %d, want 1 (%v)", reason, rep.Skipped[reason], rep.Skipped)
		}
	}
	// b-again.png repeats b.png: all its faces are near-duplicates.
	if rep.Duplicates == 0 || rep.Written+rep.Duplicates != rep.Faces || rep.Faces < 6 {
		t.Errorf("faces %d, written %d, duplicates %d", rep.Faces, rep.Written, rep.Duplicates)
	}

	// The report has one line per refused file and per face, and names
	// every written crop, which is a Size x Size PNG.
	b, err := os.ReadFile(rep.ReportPath)
	if err != nil {
		t.Fatal(err)
	}
	var written, errs, dropped, noFace int
	for _, s := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var l Line
		if err := json.Unmarshal([]byte(s), &l); err != nil {
			t.Fatalf("report line %q: %v", s, err)
		}
		switch {
		case l.Error != "":
			errs++
		case l.Faces != nil:
			noFace++
		case l.Dropped != "":
			dropped++
		case l.Out != "":
			written++
			f, err := os.Open(filepath.Join(out, l.Out))
			if err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(f)
			f.Close()
			if err != nil || img.Bounds() != image.Rect(0, 0, DefaultSize, DefaultSize) {
				t.Errorf("%s: %v, bounds %v", l.Out, err, img.Bounds())
			}
			if len(l.Face) != 4 || l.Neighbors < 6 || len(l.Crop) != 3 {
				t.Errorf("line %+v lacks the face box or neighbours", l)
			}
		}
	}
	if written != rep.Written || errs != 4 || written+dropped != rep.Faces || noFace != rep.NoFace {
		t.Errorf("report: %d written, %d dropped, %d errors, %d without a face; want %d, %d, 4, %d",
			written, dropped, errs, noFace, rep.Written, rep.Faces-rep.Written, rep.NoFace)
	}
	if _, err := os.Stat(filepath.Join(out, "sub", "deeper", "c_jpg-0.png")); err != nil {
		t.Errorf("folder structure not kept: %v", err)
	}
	// No temporary files are left behind.
	filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if strings.Contains(d.Name(), ".tmp-") {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})

	// Largest face only: one crop per image with faces.
	out2 := filepath.Join(t.TempDir(), "out")
	rep2, err := Run(context.Background(), Options{In: in, Out: out2, MinFace: 24, DupDist: -1})
	if err != nil {
		t.Fatal(err)
	}
	if rep2.Written != rep2.Images-rep2.NoFace || rep2.NotLargest != rep2.Faces-rep2.Written || rep2.Duplicates != 0 {
		t.Errorf("largest only: %+v", rep2)
	}

	if _, err := Run(context.Background(), Options{In: in, Out: filepath.Join(in, "crops")}); err == nil {
		t.Error("output inside the input accepted")
	}
}

func TestRunCancelled(t *testing.T) {
	in := testInput(t)
	out := filepath.Join(t.TempDir(), "out")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rep, err := Run(ctx, Options{In: in, Out: out})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if rep == nil || rep.Images+len(rep.SkipList) == rep.Files {
		t.Errorf("a cancelled run went through every file: %+v", rep)
	}
	if _, err := os.Stat(rep.ReportPath); err != nil {
		t.Errorf("no report after cancelling: %v", err)
	}
}

// Sources whose crop names coincide (dots become underscores; case-folded, as
// on a case-insensitive file system) each keep their own crops: none is
// renamed over another's, and every name in the report is a file.
func TestRunNameClash(t *testing.T) {
	in := filepath.Join(t.TempDir(), "in")
	for _, name := range []string{"a.b.png", "a_b.png", "A_b.png"} {
		copyFile(t, scenes+"scene-002.png", filepath.Join(in, name))
	}
	out := filepath.Join(t.TempDir(), "out")
	rep, err := Run(context.Background(), Options{In: in, Out: out, MinFace: 24, DupDist: -1, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Written != 3 {
		t.Fatalf("%d crops written, want one per source (3)", rep.Written)
	}
	b, err := os.ReadFile(rep.ReportPath)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, s := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var l Line
		if err := json.Unmarshal([]byte(s), &l); err != nil {
			t.Fatal(err)
		}
		if l.Out == "" {
			continue
		}
		if seen[strings.ToLower(l.Out)] {
			t.Errorf("%s: name used twice", l.Out)
		}
		seen[strings.ToLower(l.Out)] = true
		if _, err := os.Stat(filepath.Join(out, l.Out)); err != nil {
			t.Error(err)
		}
	}
	ents, _ := os.ReadDir(out)
	if len(ents) != 4 { // three crops and the report
		t.Errorf("output folder holds %d entries, want 4", len(ents))
	}
}
