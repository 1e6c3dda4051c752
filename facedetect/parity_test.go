package facedetect

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"avatargan/facedetect/internal/scenes"
	"avatargan/internal/testutil"
)

// opencvDoc is what scripts/facedetect_opencv.py writes.
type opencvDoc struct {
	OpenCV string `json:"opencv"`
	Images map[string]struct {
		Faces     [][5]int `json:"faces"` // x, y, w, h, neighbours
		Grey      string   `json:"grey"`
		Equalized string   `json:"equalized"`
		Levels    []struct {
			W, H int
			Hash string
		} `json:"levels"`
	} `json:"images"`
}

func loadOpenCV(t testing.TB, path string) *opencvDoc {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		OpenCV string `json:"opencv"`
		Images map[string]struct {
			Faces     [][5]int `json:"faces"`
			Grey      string   `json:"grey"`
			Equalized string   `json:"equalized"`
			Levels    [][3]any `json:"levels"`
		} `json:"images"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	d := &opencvDoc{OpenCV: raw.OpenCV, Images: map[string]struct {
		Faces     [][5]int `json:"faces"`
		Grey      string   `json:"grey"`
		Equalized string   `json:"equalized"`
		Levels    []struct {
			W, H int
			Hash string
		} `json:"levels"`
	}{}}
	for name, e := range raw.Images {
		v := d.Images[name]
		v.Faces, v.Grey, v.Equalized = e.Faces, e.Grey, e.Equalized
		for _, l := range e.Levels {
			v.Levels = append(v.Levels, struct {
				W, H int
				Hash string
			}{int(l[0].(float64)), int(l[1].(float64)), l[2].(string)})
		}
		d.Images[name] = v
	}
	return d
}

func decodeFile(t testing.TB, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img
}

func hash(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func sortedNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// TestOpenCVPreprocessing checks Gray, EqualizeHist and every pyramid level
// byte for byte against OpenCV's cvtColor, equalizeHist and resize on the
// PNG scenes (PNG decodes identically in Go and OpenCV; JPEG decoders
// differ in their IDCT and chroma upsampling, so those only enter the
// detection parity test).
func TestOpenCVPreprocessing(t *testing.T) {
	doc := loadOpenCV(t, "testdata/opencv_scenes.json")
	c := AnimeFace()
	var checked, levelsOK, levelsAll int
	for _, name := range sortedNames(doc.Images) {
		e := doc.Images[name]
		if !strings.HasSuffix(name, ".png") {
			continue
		}
		checked++
		g := Gray(decodeFile(t, filepath.Join("testdata/scenes", name)))
		if hash(g.Pix) != e.Grey {
			t.Errorf("%s: grey image differs from cvtColor's", name)
		}
		eq := EqualizeHist(g)
		if hash(eq.Pix) != e.Equalized {
			t.Errorf("%s: equalised image differs from equalizeHist's", name)
		}
		w, h := eq.Bounds().Dx(), eq.Bounds().Dy()
		ls := c.levels(w, h, DefaultOptions())
		if len(ls) != len(e.Levels) {
			t.Errorf("%s: %d pyramid levels, OpenCV %d", name, len(ls), len(e.Levels))
			continue
		}
		var rz resizer
		for i, l := range ls {
			want := e.Levels[i]
			levelsAll++
			if l.w != want.W || l.h != want.H {
				t.Errorf("%s: level %d is %dx%d, OpenCV %dx%d", name, i, l.w, l.h, want.W, want.H)
				continue
			}
			dst := make([]uint8, l.w*l.h)
			rz.resize(dst, l.w, l.h, eq.Pix, w, h, eq.Stride)
			if hash(dst) != want.Hash {
				t.Errorf("%s: level %d (%dx%d) differs from OpenCV's resize", name, i, l.w, l.h)
				continue
			}
			levelsOK++
		}
	}
	if checked == 0 {
		t.Fatal("no PNG scenes")
	}
	t.Logf("%d PNG scenes: %d/%d pyramid levels identical to OpenCV's", checked, levelsOK, levelsAll)
}

// match pairs Go's boxes with OpenCV's one to one, greedily by IoU, and
// returns how many of OpenCV's have a partner with IoU >= minIoU.
func match(got []Face, want [][5]int, minIoU float64) (matched int, exact int) {
	used := make([]bool, len(got))
	for _, w := range want {
		wr := image.Rect(w[0], w[1], w[0]+w[2], w[1]+w[3])
		best, bi := 0.0, -1
		for i, g := range got {
			if used[i] {
				continue
			}
			if v := iou(g.Rect, wr); v > best {
				best, bi = v, i
			}
		}
		if bi >= 0 && best >= minIoU {
			used[bi] = true
			matched++
			if got[bi].Rect == wr && got[bi].Neighbors == w[4] {
				exact++
			}
		}
	}
	return matched, exact
}

func iou(a, b image.Rectangle) float64 {
	in := a.Intersect(b)
	if in.Empty() {
		return 0
	}
	ai := float64(in.Dx() * in.Dy())
	return ai / (float64(a.Dx()*a.Dy()+b.Dx()*b.Dy()) - ai)
}

// checkParity runs Detect on every image of doc and applies the issue's
// bar: Go finds >= 95% of OpenCV's faces (IoU >= 0.9) and adds at most 5%.
// On PNG images, whose pixels Go and OpenCV decode identically, it also
// requires the very same boxes and neighbour counts.
func checkParity(t *testing.T, doc *opencvDoc, load func(name string) image.Image) {
	c := AnimeFace()
	var want, matched, exact, extra, pngs int
	for _, name := range sortedNames(doc.Images) {
		e := doc.Images[name]
		got := c.Detect(load(name), DefaultOptions())
		if strings.HasSuffix(name, ".png") {
			pngs++
			var g [][5]int
			for _, f := range got {
				g = append(g, [5]int{f.Rect.Min.X, f.Rect.Min.Y, f.Rect.Dx(), f.Rect.Dy(), f.Neighbors})
			}
			sort.Slice(g, func(i, j int) bool { return slices.Compare(g[i][:], g[j][:]) < 0 })
			if !slices.Equal(g, e.Faces) {
				t.Errorf("%s (PNG): Go found %v, OpenCV %v; want identical", name, g, e.Faces)
			}
		}
		m, x := match(got, e.Faces, 0.9)
		want += len(e.Faces)
		matched += m
		exact += x
		extra += len(got) - m
		if m != len(e.Faces) || len(got) != m {
			t.Logf("%s: OpenCV %v, Go %v", name, e.Faces, got)
		}
	}
	if want < 50 {
		t.Fatalf("only %d OpenCV faces in the test set, want >= 50", want)
	}
	t.Logf("%d images (%d PNG): OpenCV %d faces; Go matched %d (IoU >= 0.9), %d identical with the same neighbour count, %d extra",
		len(doc.Images), pngs, want, matched, exact, extra)
	if float64(matched) < 0.95*float64(want) {
		t.Errorf("Go found %d of OpenCV's %d faces, want >= 95%%", matched, want)
	}
	if float64(extra) > 0.05*float64(want) {
		t.Errorf("Go added %d faces OpenCV did not find (of %d), want <= 5%%", extra, want)
	}
}

// TestOpenCVParity compares detections on the committed scenes (made from
// the embedded model's avatars by internal/scenes/gen) with OpenCV's.
func TestOpenCVParity(t *testing.T) {
	doc := loadOpenCV(t, "testdata/opencv_scenes.json")
	checkParity(t, doc, func(name string) image.Image {
		return decodeFile(t, filepath.Join("testdata/scenes", name))
	})
}

// TestOpenCVParityRealFaces does the same on 30 scenes composed from the
// first 200 training faces ($AVATARGAN_FACES, default ../shared/data/faces),
// which may not be committed: the test rebuilds the scenes in memory
// exactly as this generator run wrote them for OpenCV:
//
//	go run ./facedetect/internal/scenes/gen --faces ../shared/data/faces --out /tmp/real --png -n 30 --seed 1001
//	/usr/bin/python3 scripts/facedetect_opencv.py /tmp/real facedetect/testdata/opencv_realfaces.json
//
// (the committed JSON keeps only the faces).
func TestOpenCVParityRealFaces(t *testing.T) {
	dir := testutil.FacesDir(t)
	faces, err := scenes.LoadFaces(dir, 200)
	if err != nil {
		t.Fatal(err)
	}
	doc := loadOpenCV(t, "testdata/opencv_realfaces.json")
	checkParity(t, doc, func(name string) image.Image {
		var i int
		if _, err := fmt.Sscanf(name, "scene-%03d.png", &i); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		img, _ := scenes.Compose(1001+uint64(i), faces, scenes.Default)
		return img
	})
}
