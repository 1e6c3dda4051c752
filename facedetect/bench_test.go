package facedetect

import (
	"image"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// BenchmarkDetectScenes times Detect (grey, equalisation, pyramid, scan,
// grouping; decoding excluded) on one core over the 60 committed scenes,
// the same images and settings scripts/facedetect_opencv.py --timing times
// OpenCV on, and reports ms per megapixel for the comparison:
//
//	go test ./facedetect -run XXX -bench DetectScenes -benchtime 5x -count 5
//	/usr/bin/python3 scripts/facedetect_opencv.py facedetect/testdata/scenes --timing 5
func BenchmarkDetectScenes(b *testing.B) {
	names, _ := filepath.Glob("testdata/scenes/scene-*")
	sort.Strings(names)
	var imgs []image.Image
	px := 0
	for _, n := range names {
		img := decodeFile(b, n)
		imgs = append(imgs, img)
		px += img.Bounds().Dx() * img.Bounds().Dy()
	}
	c := AnimeFace()
	opt := DefaultOptions()
	opt.Workers = 1
	b.ResetTimer()
	for range b.N {
		for _, img := range imgs {
			c.Detect(img, opt)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N)/(float64(px)/1e6), "ms/Mpixel")
}

// BenchmarkDetect1Mpixel times one ~1-megapixel illustration (set
// FACEDETECT_BENCH_IMAGE to use another file), one core and all cores.
func BenchmarkDetect1Mpixel(b *testing.B) {
	path := os.Getenv("FACEDETECT_BENCH_IMAGE")
	var img image.Image
	if path != "" {
		img = decodeFile(b, path)
	} else {
		// The largest committed scene, enlarged to ~1 Mpixel.
		src := decodeFile(b, "testdata/scenes/scene-038.png")
		g := Gray(src)
		k := 2
		big := image.NewGray(image.Rect(0, 0, g.Rect.Dx()*k, g.Rect.Dy()*k))
		for y := range big.Rect.Dy() {
			for x := range big.Rect.Dx() {
				big.Pix[y*big.Stride+x] = g.Pix[(y/k)*g.Stride+x/k]
			}
		}
		img = big
	}
	c := AnimeFace()
	px := float64(img.Bounds().Dx()*img.Bounds().Dy()) / 1e6
	for _, workers := range []int{1, 0} {
		name := "1core"
		if workers == 0 {
			name = "allcores"
		}
		b.Run(name, func(b *testing.B) {
			opt := DefaultOptions()
			opt.Workers = workers
			for range b.N {
				c.Detect(img, opt)
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N)/px, "ms/Mpixel")
		})
	}
}

// BenchmarkHasFace times HasFace on one core (enlarging, framing and scanning a 48 px
// crop: what the face check costs per avatar) over the faces OpenCV found in the
// committed scenes, shrunk to 48 px.
func BenchmarkHasFace(b *testing.B) {
	doc := loadOpenCV(b, "testdata/opencv_scenes.json")
	var crops []image.Image
	for _, name := range sortedNames(doc.Images) {
		img := decodeFile(b, filepath.Join("testdata/scenes", name))
		for _, f := range doc.Images[name].Faces {
			r := image.Rect(f[0], f[1], f[0]+f[2], f[1]+f[3]).Add(img.Bounds().Min)
			crops = append(crops, shrink(img, r, 48))
		}
	}
	c := AnimeFace()
	b.ResetTimer()
	for i := range b.N {
		c.HasFace(crops[i%len(crops)])
	}
}
