// Command facecolours measures which avatars the face check replaces: for seeds
// 0..8191 in float32 it prints the mean luma and saturation (0-255) of all avatars, of
// those kept, of those replaced and of their replacements, for the embedded model and
// for each generator file given (README, The face check):
//
//	go run ./scripts/facecolours embedded OTHER.safetensors
package main

import (
	"context"
	"fmt"
	"image"
	"log"
	"os"
	"slices"

	"avatargan/avatar"
	"avatargan/internal/gemm"
	"avatargan/models"
)

// stats returns the mean luma and saturation of the avatars pick selects, and their count.
func stats(imgs []*image.RGBA, pick func(i int) bool) (luma, sat float64, n int) {
	for i, im := range imgs {
		if !pick(i) {
			continue
		}
		p := im.Pix
		var l, s float64
		for j := 0; j < len(p); j += 4 {
			r, g, b := float64(p[j]), float64(p[j+1]), float64(p[j+2])
			l += 0.299*r + 0.587*g + 0.114*b
			s += max(r, g, b) - min(r, g, b)
		}
		k := float64(len(p) / 4)
		luma += l / k
		sat += s / k
		n++
	}
	return luma / float64(n), sat / float64(n), n
}

func main() {
	for _, path := range os.Args[1:] {
		if err := run(path); err != nil {
			log.Fatal(err)
		}
	}
}

// run prints the colour statistics of one model ("embedded" or a generator file).
func run(path string) error {
	var m *avatar.Model
	var err error
	if path == "embedded" {
		m, err = models.Default()
	} else {
		m, err = avatar.Load(path)
	}
	if err != nil {
		return err
	}
	m.Generator().SetPrecision(gemm.F32)
	m.SetFaceCheck(avatar.DefaultFaceCheck)
	seeds := make([]uint64, 8192)
	for i := range seeds {
		seeds[i] = uint64(i)
	}
	// In batches of 256 to bound the generator's activations; a seed is replaced when
	// the check changed its latent (as scripts/facecheck decides). A kept seed's avatar
	// is its own, so only the replaced seeds' own latents are rendered again.
	var plain, checked []*image.RGBA
	var repl []bool
	zd := m.ZDim()
	for i := 0; i < len(seeds); i += 256 {
		batch := seeds[i : i+256]
		own := m.Seeds(batch...)
		z, ch, _, err := m.Avatars(context.Background(), batch)
		if err != nil {
			return err
		}
		var lost []float32 // own latents of the replaced seeds
		for j := range batch {
			r := !slices.Equal(z[j*zd:(j+1)*zd], own[j*zd:(j+1)*zd])
			repl = append(repl, r)
			if r {
				lost = append(lost, own[j*zd:(j+1)*zd]...)
			}
		}
		var im []*image.RGBA
		if len(lost) > 0 {
			if im, err = m.Generate(lost); err != nil {
				return err
			}
		}
		for j := range batch {
			if repl[i+j] {
				plain, im = append(plain, im[0]), im[1:]
			} else {
				plain = append(plain, ch[j])
			}
		}
		checked = append(checked, ch...)
	}
	al, as, an := stats(plain, func(int) bool { return true })
	fl, fs, fn := stats(plain, func(i int) bool { return repl[i] })
	rl, rs, _ := stats(checked, func(i int) bool { return repl[i] })
	kl, ks, kn := stats(plain, func(i int) bool { return !repl[i] })
	fmt.Printf("%s: all %d luma %.1f sat %.1f | kept %d luma %.1f sat %.1f | failing %d luma %.1f sat %.1f -> replacements luma %.1f sat %.1f\n", path, an, al, as, kn, kl, ks, fn, fl, fs, rl, rs)
	return nil
}
