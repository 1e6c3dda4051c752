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
