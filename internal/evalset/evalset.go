// Package evalset draws and scores the image sets `avatargan eval` compares, so that
// tools which must look at the same images (scripts/spectrum) draw them from one
// definition: the real images are two disjoint random draws from the data set, the
// avatars those of the seeds seed<<32 + i.
package evalset

import (
	"context"
	"fmt"
	"image"
	"math/rand/v2"

	"avatargan/avatar"
	"avatargan/dataset"
	"avatargan/facedetect"
	"avatargan/models"
	"avatargan/render"
)

// Real returns two disjoint sets of n images of set, drawn with seed: eval compares the
// avatars with the first and the first with the second (the floor). set must hold at
// least 2n images.
func Real(set *dataset.Set, n int, seed uint64) (a, b [][]uint8, err error) {
	if n < 0 || 2*n > set.Len() {
		return nil, nil, fmt.Errorf("evalset: two sets of %d images need %d, the data set has %d", n, 2*n, set.Len())
	}
	perm := rand.New(rand.NewPCG(seed, 0xe7a1)).Perm(set.Len())
	a, b = make([][]uint8, n), make([][]uint8, n)
	for i := range n {
		a[i], b[i] = set.Image(perm[i]), set.Image(perm[n+i])
	}
	return a, b, nil
}

// piece is the number of avatars generated at a time, which bounds the float32 images
// held at once whatever n is.
const piece = 256

// Avatars returns n avatars of m, of seeds seed<<32 + i, as packed RGB, under m's face
// check (avatar.Model.SetFaceCheck), and how many of them the check replaced; it gives
// up between pieces once ctx is done.
func Avatars(ctx context.Context, m *avatar.Model, n int, seed uint64) ([][]uint8, int, error) {
	out := make([][]uint8, 0, n)
	replaced := 0
	for lo := 0; lo < n; lo += piece {
		seeds := make([]uint64, min(piece, n-lo))
		for i := range seeds {
			seeds[i] = seed<<32 + uint64(lo+i)
		}
		_, imgs, r, err := m.Avatars(ctx, seeds)
		if err != nil {
			return nil, 0, err
		}
		replaced += r
		for _, img := range imgs {
			out = append(out, render.RGB(img))
		}
	}
	return out, replaced, nil
}

// FaceRate returns the fraction of imgs (packed RGB, size x size) in which the anime-face
// cascade finds a face (facedetect.HasFace): a check on the images' structure that no
// training loss aims at, reported by eval for the avatars and the real set alike.
func FaceRate(ctx context.Context, imgs [][]uint8, size int) (float64, error) {
	if len(imgs) == 0 {
		return 0, nil
	}
	c := facedetect.AnimeFace()
	found := 0
	for lo := 0; lo < len(imgs); lo += piece {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		crops := make([]image.Image, min(piece, len(imgs)-lo))
		for i := range crops {
			crops[i] = render.FromRGB(imgs[lo+i], size)
		}
		found += c.CountFaces(crops)
	}
	return float64(found) / float64(len(imgs)), nil
}

// Load is what a tool comparing a generator with the training images needs: the
// generator of ckpt (a run directory, checkpoint or generator file; the embedded one
// when empty, either without the face check), the data set of opts at the generator's
// size (opts.Size is set), and eval's first real set of n images and the generator's n
// avatars for seed (Real, Avatars).
func Load(ctx context.Context, opts dataset.Options, ckpt string, n int, seed uint64) (size int, real, fakes [][]uint8, err error) {
	if opts.Dir == "" || n < 1 {
		return 0, nil, nil, fmt.Errorf("evalset: a data folder and n >= 1 are required")
	}
	var m *avatar.Model
	if ckpt == "" {
		m, err = models.Default()
	} else {
		m, err = avatar.LoadWith(ckpt, false)
	}
	if err != nil {
		return 0, nil, nil, err
	}
	size, opts.Size = m.Size(), m.Size()
	set, _, err := dataset.LoadContext(ctx, opts)
	if err != nil {
		return 0, nil, nil, err
	}
	if real, _, err = Real(set, n, seed); err != nil {
		return 0, nil, nil, err
	}
	if fakes, _, err = Avatars(ctx, m, n, seed); err != nil {
		return 0, nil, nil, err
	}
	return size, real, fakes, nil
}
