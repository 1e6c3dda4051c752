// Package evalset draws the image sets `avatargan eval` compares, so that tools which
// must look at the same images (scripts/spectrum) draw them from one definition: the
// real images are two disjoint random draws from the data set, the avatars those of the
// seeds seed<<32 + i.
package evalset

import (
	"context"
	"fmt"
	"math/rand/v2"

	"avatargan/avatar"
	"avatargan/dataset"
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

// Avatars returns n avatars of m, of seeds seed<<32 + i, as packed RGB; it gives up
// between pieces once ctx is done.
func Avatars(ctx context.Context, m *avatar.Model, n int, seed uint64) ([][]uint8, error) {
	out := make([][]uint8, 0, n)
	for lo := 0; lo < n; lo += piece {
		seeds := make([]uint64, min(piece, n-lo))
		for i := range seeds {
			seeds[i] = seed<<32 + uint64(lo+i)
		}
		imgs, err := m.GenerateContext(ctx, m.Seeds(seeds...))
		if err != nil {
			return nil, err
		}
		for _, img := range imgs {
			out = append(out, render.RGB(img))
		}
	}
	return out, nil
}
