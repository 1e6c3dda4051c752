package facedetect

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAnimeFaceCascade(t *testing.T) {
	c := AnimeFace()
	if c.Width != 24 || c.Height != 24 || len(c.stages) != 20 || len(c.features) != 642 || !c.stumps {
		t.Fatalf("window %dx%d, %d stages, %d features, stumps %v; want 24x24, 20, 642, true",
			c.Width, c.Height, len(c.stages), len(c.features), c.stumps)
	}
	// The licence must travel with the cascade.
	if !bytes.Contains(animeFaceXML, []byte("The MIT License")) || !bytes.Contains(animeFaceXML, []byte("nagadomi")) {
		t.Fatal("embedded cascade lost its licence header")
	}
}

// A small valid cascade: one stage, one stump on one feature.
const tinyCascade = `<?xml version="1.0"?>
<opencv_storage>
<cascade>
  <stageType>BOOST</stageType>
  <featureType>LBP</featureType>
  <height>6</height>
  <width>6</width>
  <featureParams><maxCatCount>256</maxCatCount></featureParams>
  <stages>
    <_>
      <stageThreshold>-1.0</stageThreshold>
      <weakClassifiers>
        <_>
          <internalNodes>0 -1 0 -1 -1 -1 -1 -1 -1 -1 -1</internalNodes>
          <leafValues>-0.5 0.5</leafValues></_></weakClassifiers></_></stages>
  <features>
    <_><rect>0 0 2 2</rect></_></features></cascade>
</opencv_storage>
`

func TestParseCascadeErrors(t *testing.T) {
	if _, err := ParseCascade([]byte(tinyCascade)); err != nil {
		t.Fatalf("tiny cascade: %v", err)
	}
	cases := []struct{ name, old, new, want string }{
		{"haar", "<featureType>LBP", "<featureType>HAAR", "only LBP"},
		{"feature outside window", "0 0 2 2</rect>", "1 0 2 2</rect>", "leave the"},
		{"feature index", "0 -1 0 -1", "0 -1 1 -1", "feature 1 out of range"},
		{"cycle", "0 -1 0 -1", "0 1 0 -1", "child 1 out of range"},
		{"leaf count", "-0.5 0.5", "-0.5", "leaf values"},
		{"node words", "-1 -1 -1</internalNodes>", "-1 -1</internalNodes>", "multiple of 11"},
		{"categories", "<maxCatCount>256", "<maxCatCount>3", "maxCatCount"},
		{"nan", "-1.0</stageThreshold>", "nan</stageThreshold>", "finite"},
		{"huge window", "<width>6", "<width>60000", "window"},
		{"no stages", "stages>", "stagez>", "0 stages"},
		{"not xml", "<?xml", "<<<", ""},
	}
	for _, tc := range cases {
		src := strings.ReplaceAll(tinyCascade, tc.old, tc.new)
		if src == tinyCascade {
			t.Fatalf("%s: replacement did not apply", tc.name)
		}
		_, err := ParseCascade([]byte(src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
	if _, err := ParseCascade(nil); err == nil {
		t.Error("empty input parsed")
	}
}

// ReadCascade parses a regular file, and refuses a folder, a device (which
// would never end) and a file over the size limit before reading it.
func TestReadCascade(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "tiny.xml")
	if err := os.WriteFile(good, []byte(tinyCascade), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := ReadCascade(good)
	if err != nil || c.Width != 6 {
		t.Fatalf("tiny cascade: %v (%+v)", err, c)
	}
	big := filepath.Join(dir, "big.xml")
	if err := os.WriteFile(big, nil, 0o644); err != nil || os.Truncate(big, maxCascadeBytes+1) != nil {
		t.Fatal("cannot make a large sparse file")
	}
	for _, tc := range []struct{ path, want string }{
		{dir, "not a regular file"},
		{os.DevNull, "not a regular file"},
		{big, "over the"},
	} {
		if _, err := ReadCascade(tc.path); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.path, err, tc.want)
		}
	}
	if _, err := ReadCascade(filepath.Join(dir, "missing.xml")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: error %v, want fs.ErrNotExist", err)
	}
}

// FuzzParseCascade: a cascade file is untrusted input (crop --cascade).
// Whatever parses must also run without panicking on a small image.
func FuzzParseCascade(f *testing.F) {
	f.Add([]byte(tinyCascade))
	f.Add(animeFaceXML[:4000])
	f.Add([]byte(strings.Replace(tinyCascade, "0 -1 0 -1", "1 -1 0 -1", 1)))
	img := image.NewGray(image.Rect(0, 0, 40, 30))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCascade(b)
		if err != nil {
			return
		}
		opt := DefaultOptions()
		opt.MinSize = 0
		c.DetectGray(img, opt)
	})
}

func TestGrayTypes(t *testing.T) {
	// Opaque colour in three colour models gives one grey value.
	want := grey(200, 100, 50)
	rgba := image.NewRGBA(image.Rect(0, 0, 2, 1))
	nrgba := image.NewNRGBA(image.Rect(0, 0, 2, 1))
	pal := image.NewPaletted(image.Rect(0, 0, 2, 1), color.Palette{color.RGBA{200, 100, 50, 255}})
	for x := 0; x < 2; x++ {
		rgba.Set(x, 0, color.RGBA{200, 100, 50, 255})
		nrgba.Set(x, 0, color.NRGBA{200, 100, 50, 255})
	}
	for _, img := range []image.Image{rgba, nrgba, pal} {
		if g := Gray(img); g.Pix[0] != want || g.Pix[1] != want {
			t.Errorf("%T: grey %v, want %d", img, g.Pix, want)
		}
	}
	// Transparent pixels are white, as train sees them.
	clear := image.NewNRGBA(image.Rect(0, 0, 1, 1))
	if g := Gray(clear); g.Pix[0] != 255 {
		t.Errorf("transparent pixel: grey %d, want 255", g.Pix[0])
	}
	// A sub-image keeps its own origin.
	big := image.NewRGBA(image.Rect(0, 0, 4, 4))
	for i := range big.Pix {
		big.Pix[i] = map[bool]uint8{true: 255, false: 0}[i%4 == 3] // opaque black
	}
	big.Set(2, 3, color.RGBA{255, 255, 255, 255})
	sub := big.SubImage(image.Rect(2, 2, 4, 4))
	if g := Gray(sub); g.Bounds() != image.Rect(0, 0, 2, 2) || g.Pix[2] != 255 || g.Pix[0] != 0 {
		t.Errorf("sub-image: %v %v", g.Bounds(), g.Pix)
	}
}

func TestEqualizeHistFlat(t *testing.T) {
	g := image.NewGray(image.Rect(0, 0, 3, 3))
	for i := range g.Pix {
		g.Pix[i] = 77
	}
	// OpenCV fills a one-valued image with that value.
	for _, v := range EqualizeHist(g).Pix {
		if v != 77 {
			t.Fatalf("flat image equalised to %d, want 77", v)
		}
	}
}

// TestDetectOffsetAndWorkers: a scene drawn into a sub-image gives the same
// faces shifted by its origin, whatever the number of workers.
func TestDetectOffsetAndWorkers(t *testing.T) {
	img := decodeFile(t, "testdata/scenes/scene-002.png")
	c := AnimeFace()
	want := c.Detect(img, DefaultOptions())
	if len(want) == 0 {
		t.Fatal("no faces in scene-002")
	}
	b := img.Bounds()
	big := image.NewRGBA(image.Rect(-7, -5, b.Dx()+20, b.Dy()+20))
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			big.Set(x+13, y+11, img.At(x, y))
		}
	}
	sub := big.SubImage(image.Rect(13, 11, 13+b.Dx(), 11+b.Dy()))
	for _, workers := range []int{1, 3} {
		opt := DefaultOptions()
		opt.Workers = workers
		got := c.Detect(sub, opt)
		if len(got) != len(want) {
			t.Fatalf("workers %d: %d faces, want %d", workers, len(got), len(want))
		}
		for i := range got {
			if got[i].Rect != want[i].Rect.Add(image.Pt(13, 11)) || got[i].Neighbors != want[i].Neighbors {
				t.Errorf("workers %d: face %d = %v, want %v shifted by (13, 11)", workers, i, got[i], want[i])
			}
		}
	}
}

func TestDetectTinyImage(t *testing.T) {
	c := AnimeFace()
	for _, r := range []image.Rectangle{image.Rect(0, 0, 0, 0), image.Rect(0, 0, 23, 100), image.Rect(0, 0, 24, 24)} {
		if f := c.Detect(image.NewGray(r), DefaultOptions()); len(f) != 0 {
			t.Errorf("%v: %d faces in a blank image", r, len(f))
		}
	}
}
