// Command gen writes the detector's test scenes: it composes face images
// from --faces into synthetic illustrations (see package scenes) and writes
// them to --out, alternating JPEG and PNG, with a manifest of the paste
// boxes. scripts/facedetect_opencv.py then records what OpenCV finds in
// them. The committed scenes were made from the embedded model's avatars:
//
//	go run ./cmd/avatargan generate -n 200 --out /tmp/avatars
//	go run ./facedetect/internal/scenes/gen --faces /tmp/avatars --out facedetect/testdata/scenes
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"log"
	"os"
	"path/filepath"

	"avatargan/facedetect/internal/scenes"
)

func main() {
	faces := flag.String("faces", "", "folder of face images (PNG or JPEG)")
	out := flag.String("out", "", "output folder")
	n := flag.Int("n", 60, "number of scenes")
	seed := flag.Uint64("seed", 1, "seed of scene 0; scene i uses seed+i")
	pngOnly := flag.Bool("png", false, "write every scene as PNG (for scenes a test rebuilds in memory)")
	limit := flag.Int("limit", 200, "use at most this many face images (sorted by name)")
	minSide := flag.Int("min-side", Params.MinSide, "smallest canvas side")
	maxSide := flag.Int("max-side", Params.MaxSide, "largest canvas side")
	flag.Parse()
	if *faces == "" || *out == "" || *minSide < Params.MaxFace {
		log.Fatal("usage: gen --faces DIR --out DIR [-n 60] [--seed 1] [--png] [--min-side 300 --max-side 600]")
	}
	imgs, err := Load(*faces, *limit)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatal(err)
	}
	manifest := map[string][][4]int{}
	for i := 0; i < *n; i++ {
		// Every third scene is a PNG, without noise to keep it small.
		name := fmt.Sprintf("scene-%03d.png", i)
		if !*pngOnly && i%3 != 2 {
			name = fmt.Sprintf("scene-%03d.jpg", i)
		}
		p := Params
		p.MinSide, p.MaxSide = *minSide, max(*minSide, *maxSide)
		p.NoNoise = !*pngOnly && filepath.Ext(name) == ".png"
		img, boxes := scenes.Compose(*seed+uint64(i), imgs, p)
		f, err := os.Create(filepath.Join(*out, name))
		if err != nil {
			log.Fatal(err)
		}
		var w io.Writer = f
		if filepath.Ext(name) == ".png" {
			err = png.Encode(w, img)
		} else {
			err = jpeg.Encode(w, img, &jpeg.Options{Quality: 85})
		}
		if err == nil {
			err = f.Close()
		}
		if err != nil {
			log.Fatal(err)
		}
		for _, b := range boxes {
			manifest[name] = append(manifest[name], [4]int{b.Min.X, b.Min.Y, b.Dx(), b.Dy()})
		}
	}
	b, _ := json.MarshalIndent(manifest, "", " ")
	if err := os.WriteFile(filepath.Join(*out, "pasted.json"), b, 0o644); err != nil {
		log.Fatal(err)
	}
}

// Params are the test scenes' settings.
var Params = scenes.Default

// Load decodes up to limit images from dir, in name order (as
// scenes.LoadFaces, which the tests use to rebuild scenes).
func Load(dir string, limit int) ([]image.Image, error) {
	return scenes.LoadFaces(dir, limit)
}
