package facedetect

import (
	"image"
	"image/color"
	"image/draw"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"avatargan/facedetect/internal/scenes"
	"avatargan/internal/testutil"

	xdraw "golang.org/x/image/draw"
)

// shrink returns img's rectangle r scaled to a side x side RGBA image, as a face crop in
// a 48 px data set or an avatar is.
func shrink(img image.Image, r image.Rectangle, side int) *image.RGBA {
	dst := image.NewRGBA(image.Rect(0, 0, side, side))
	xdraw.ApproxBiLinear.Scale(dst, dst.Bounds(), img, r, draw.Src, nil)
	return dst
}

// TestHasFaceScenes crops every face OpenCV found in the committed scenes to 48 px: the
// cascade must find each of them again in the crop, alone; HasFaces and CountFaces
// answer as HasFace does.
func TestHasFaceScenes(t *testing.T) {
	c := AnimeFace()
	doc := loadOpenCV(t, "testdata/opencv_scenes.json")
	var crops []image.Image
	for _, name := range sortedNames(doc.Images) {
		img := decodeFile(t, filepath.Join("testdata/scenes", name))
		for _, f := range doc.Images[name].Faces {
			r := image.Rect(f[0], f[1], f[0]+f[2], f[1]+f[3]).Add(img.Bounds().Min)
			crop := shrink(img, r, 48)
			if !c.HasFace(crop) {
				t.Errorf("%s: face %v not found in its own 48 px crop", name, f[:4])
			}
			crops = append(crops, crop)
		}
	}
	if len(crops) < 10 {
		t.Fatalf("only %d faces in the scenes", len(crops))
	}
	// HasFaces and CountFaces agree with HasFace, blank crops included.
	blank := shrink(image.NewUniform(color.White), image.Rect(0, 0, 48, 48), 48)
	all := append([]image.Image{blank}, append(crops, blank)...)
	if got := c.HasFaces(all); got[0] || got[len(got)-1] || slices.Contains(got[1:len(got)-1], false) {
		t.Errorf("HasFaces = %v, want false, %d x true, false", got, len(crops))
	}
	if got := c.CountFaces(all); got != len(crops) {
		t.Errorf("CountFaces = %d, want %d", got, len(crops))
	}
}

// TestHasFaceNonFaces: blank, flat and noise images hold no face.
func TestHasFaceNonFaces(t *testing.T) {
	c := AnimeFace()
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name string
		img  func() image.Image
	}{
		{"white", func() image.Image { return image.NewUniform(color.White) }},
		{"skin", func() image.Image { return image.NewUniform(color.RGBA{250, 225, 210, 255}) }},
		{"noise", func() image.Image {
			img := image.NewRGBA(image.Rect(0, 0, 48, 48))
			for i := range img.Pix {
				img.Pix[i] = uint8(rng.IntN(256))
			}
			return img
		}},
	} {
		img := tc.img()
		if _, ok := img.(*image.Uniform); ok {
			img = shrink(img, image.Rect(0, 0, 48, 48), 48)
		}
		if c.HasFace(img) {
			t.Errorf("%s: HasFace = true", tc.name)
		}
	}
}

// TestHasFaceRealFaces: the cascade finds a face in nearly every 48 px training face
// ($AVATARGAN_FACES, default ../shared/data/faces; 99.3% of the first 1,000 when this
// was written), which is what makes it usable as a check on avatars.
func TestHasFaceRealFaces(t *testing.T) {
	faces, err := scenes.LoadFaces(testutil.FacesDir(t), 400)
	if err != nil {
		t.Fatal(err)
	}
	c := AnimeFace()
	found := 0
	for _, f := range faces {
		if c.HasFace(shrink(f, f.Bounds(), 48)) {
			found++
		}
	}
	if rate := float64(found) / float64(len(faces)); rate < 0.97 {
		t.Errorf("faces found in %d of %d real crops (%.1f%%), want at least 97%%", found, len(faces), 100*rate)
	} else {
		t.Logf("faces found in %d of %d real crops (%.1f%%)", found, len(faces), 100*rate)
	}
}
