// Command facecheck draws docs/facecheck.png: the avatars of the first seeds whose own
// avatar fails the face check (top row) above the avatars the check gives them (bottom
// row), from the embedded model in float32.
//
//	go run ./scripts/facecheck --out docs/facecheck.png
package main

import (
	"context"
	"flag"
	"fmt"
	"image"
	"image/png"
	"io"
	"log"
	"slices"

	"avatargan/avatar"
	"avatargan/internal/atomicfile"
	"avatargan/internal/gemm"
	"avatargan/models"
	"avatargan/render"
)

func main() {
	out := flag.String("out", "docs/facecheck.png", "output PNG")
	n := flag.Int("n", 10, "columns: failing seeds shown")
	upscale := flag.Int("upscale", 2, "enlargement")
	flag.Parse()
	if err := run(*out, *n, *upscale); err != nil {
		log.Fatal(err)
	}
}

func run(out string, n, upscale int) error {
	m, err := models.Default()
	if err != nil {
		return err
	}
	m.Generator().SetPrecision(gemm.F32)
	seeds := make([]uint64, 1024)
	for i := range seeds {
		seeds[i] = uint64(i)
	}
	m.SetFaceCheck(avatar.DefaultFaceCheck)
	z, checked, _, err := m.Avatars(context.Background(), seeds)
	if err != nil {
		return err
	}
	// A seed is replaced when the check changed its latent; only the first n replaced
	// seeds' own latents are rendered again (a kept seed's avatar is the checked one).
	var lost []float32
	var bottom []*image.RGBA
	var shown []uint64
	zd := m.ZDim()
	own := m.Seeds(seeds...)
	for i := range seeds {
		if len(shown) == n {
			break
		}
		if !slices.Equal(z[i*zd:(i+1)*zd], own[i*zd:(i+1)*zd]) {
			lost = append(lost, own[i*zd:(i+1)*zd]...)
			bottom = append(bottom, render.Upscale(checked[i], upscale, render.Nearest))
			shown = append(shown, seeds[i])
		}
	}
	var top []*image.RGBA
	if len(lost) > 0 {
		plain, err := m.Generate(lost)
		if err != nil {
			return err
		}
		for _, im := range plain {
			top = append(top, render.Upscale(im, upscale, render.Nearest))
		}
	}
	grid := render.Grid(append(top, bottom...), len(top), 2)
	fmt.Println("seeds", shown)
	return atomicfile.Write(out, func(w io.Writer) error { return png.Encode(w, grid) })
}
