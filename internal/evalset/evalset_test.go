package evalset

import (
	"context"
	"image"
	"image/draw"
	_ "image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"avatargan/avatar"
	"avatargan/dataset"
	"avatargan/dcgan"
	"avatargan/render"

	xdraw "golang.org/x/image/draw"
)

// TestReal checks that the two real sets are disjoint, n each, the same for the same
// seed and another for another seed, and that a data set too small for both is refused.
func TestReal(t *testing.T) {
	dir := writeFolder(t)
	set, _, err := dataset.Load(dataset.Options{Dir: dir, Size: 16, NoCache: true})
	if err != nil {
		t.Fatal(err)
	}
	a, b, err := Real(set, 4, 1)
	if err != nil || len(a) != 4 || len(b) != 4 {
		t.Fatalf("Real(4): %d and %d images, %v", len(a), len(b), err)
	}
	for _, x := range a {
		for _, y := range b {
			if slices.Equal(x, y) {
				t.Fatal("the two sets share an image")
			}
		}
	}
	a2, _, _ := Real(set, 4, 1)
	a3, _, _ := Real(set, 4, 2)
	if !slices.EqualFunc(a, a2, slices.Equal) {
		t.Error("the same seed drew another set")
	}
	if slices.EqualFunc(a, a3, slices.Equal) {
		t.Error("another seed drew the same set")
	}
	if _, _, err := Real(set, 6, 1); err == nil {
		t.Error("two sets of 6 from 10 images were not refused")
	}
}

// TestLoad checks Load against its parts: a generator file of 16 px loads, the data
// set is read at that size, and the sets are Real's first and Avatars' of the same
// seed; no data folder, n < 1 and a missing file are refused.
func TestLoad(t *testing.T) {
	dir := writeFolder(t)
	m, err := avatar.Untrained(avatar.Spec{Size: 16, ZDim: 8, GF: 2, Dist: dcgan.Uniform}, 3)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "g.safetensors")
	if err := m.Save(path, "F32"); err != nil {
		t.Fatal(err)
	}
	opts := dataset.Options{Dir: dir, NoCache: true}
	size, real, fakes, err := Load(context.Background(), opts, path, 3, 7)
	if err != nil || size != 16 || len(real) != 3 || len(fakes) != 3 {
		t.Fatalf("Load: size %d, %d real, %d avatars, %v", size, len(real), len(fakes), err)
	}
	set, _, err := dataset.Load(dataset.Options{Dir: dir, Size: 16, NoCache: true})
	if err != nil {
		t.Fatal(err)
	}
	wantReal, _, _ := Real(set, 3, 7)
	wantFakes, _, _ := Avatars(context.Background(), m, 3, 7)
	if !slices.EqualFunc(real, wantReal, slices.Equal) || !slices.EqualFunc(fakes, wantFakes, slices.Equal) {
		t.Error("Load's sets are not Real's and Avatars' of the same seed")
	}
	for _, c := range []struct {
		opts dataset.Options
		ckpt string
		n    int
	}{{dataset.Options{NoCache: true}, path, 3}, {opts, path, 0}, {opts, filepath.Join(dir, "missing.safetensors"), 3}} {
		if _, _, _, err := Load(context.Background(), c.opts, c.ckpt, c.n, 7); err == nil {
			t.Errorf("Load(%q, %q, n %d) was not refused", c.opts.Dir, c.ckpt, c.n)
		}
	}
}

// writeFolder writes ten distinct 16 px PNG images into a new folder.
func writeFolder(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for i := range 10 {
		img := image.NewRGBA(image.Rect(0, 0, 16, 16))
		for p := 0; p < len(img.Pix); p += 4 {
			img.Pix[p], img.Pix[p+1], img.Pix[p+2], img.Pix[p+3] = uint8(20*i), uint8(p), 7, 255
		}
		f, err := os.Create(filepath.Join(dir, strconv.Itoa(i)+".png"))
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, img); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	return dir
}

// TestAvatars checks that avatar i is the one of seed seed<<32 + i, across the pieces
// the avatars are generated in.
func TestAvatars(t *testing.T) {
	m, err := avatar.Untrained(avatar.Spec{Size: 16, ZDim: 8, GF: 2, Dist: dcgan.Uniform}, 1)
	if err != nil {
		t.Fatal(err)
	}
	const n, seed = piece + 3, 5
	got, replaced, err := Avatars(context.Background(), m, n, seed)
	if err != nil || len(got) != n || replaced != 0 {
		t.Fatalf("%d avatars, %d replaced without a face check, %v", len(got), replaced, err)
	}
	for _, i := range []int{0, piece - 1, piece, n - 1} {
		imgs, err := m.Generate(m.Seeds(seed<<32 + uint64(i)))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got[i], render.RGB(imgs[0])) {
			t.Errorf("avatar %d is not the one of seed %d<<32 + %d", i, seed, i)
		}
	}
}

// TestFaceRate: a face cut from a committed test scene (where OpenCV finds one at
// 193,99 192x192), shrunk to 48 px, counts; a blank image does not.
func TestFaceRate(t *testing.T) {
	f, err := os.Open("../../facedetect/testdata/scenes/scene-000.jpg")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	scene, _, err := image.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	face := image.NewRGBA(image.Rect(0, 0, 48, 48))
	xdraw.ApproxBiLinear.Scale(face, face.Bounds(), scene, image.Rect(193, 99, 385, 291), draw.Src, nil)
	blank := make([]uint8, 48*48*3)
	for i := range blank {
		blank[i] = 230
	}
	for _, tc := range []struct {
		imgs [][]uint8
		want float64
	}{
		{[][]uint8{render.RGB(face)}, 1},
		{[][]uint8{blank}, 0},
		{[][]uint8{render.RGB(face), blank, blank, render.RGB(face)}, 0.5},
		{nil, 0},
	} {
		got, err := FaceRate(context.Background(), tc.imgs, 48)
		if err != nil || got != tc.want {
			t.Errorf("FaceRate of %d images = %v, %v; want %v", len(tc.imgs), got, err, tc.want)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := FaceRate(ctx, [][]uint8{blank}, 48); err == nil {
		t.Error("FaceRate ignored a cancelled context")
	}
}
