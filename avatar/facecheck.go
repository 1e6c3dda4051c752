package avatar

import (
	"context"
	"image"

	"avatargan/facedetect"
)

// MaxFaceCheck bounds SetFaceCheck's tries: past a few, a seed whose draws all fail
// means a generator that rarely makes faces, and more tries only cost time.
const MaxFaceCheck = 64

// DefaultFaceCheck is the tries generate, interpolate, serve and eval use unless told
// otherwise: with ~5% of the embedded model's draws failing, all 8 draws of a seed fail
// with a chance of ~1e-10.
const DefaultFaceCheck = 8

// SetFaceCheck makes the model's seeds skip latents whose avatar holds no face that the
// anime-face cascade can find (facedetect.HasFace): the avatar of a seed becomes the
// first of up to tries draws (the seed's own latent, then those of RetrySeed(seed, 1),
// RetrySeed(seed, 2), ...) whose image passes, or the seed's own latent when none does.
// A seed whose own avatar passes keeps it, so the check only replaces broken faces (no
// eyes, a smear), and a seed is the same avatar in every tool that uses the same tries.
// tries <= 1 turns the check off (the default). It judges the latents as drawn
// (truncation 1), and costs a detection per avatar plus a generator pass per retry.
// Call it before using the model, not concurrently with it.
func (m *Model) SetFaceCheck(tries int) {
	m.tries = min(max(tries, 0), MaxFaceCheck)
	if m.tries > 1 && m.cascade == nil {
		m.cascade = facedetect.AnimeFace()
	}
}

// FaceCheck returns the tries set by SetFaceCheck (0 or 1: no check).
func (m *Model) FaceCheck() int { return m.tries }

// RetrySeed is the seed of the k-th replacement draw of seed (k >= 1) under the face
// check: a fixed mix of the two (SplitMix64's finaliser), part of what makes a seed's
// avatar the same everywhere.
func RetrySeed(seed uint64, k int) uint64 {
	x := seed + uint64(k)*0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// Avatars returns the latents and images of seeds under the model's face check, and how
// many seeds got a replacement draw; without the check it is Seeds and Generate. It
// gives up between generator passes once ctx is done.
func (m *Model) Avatars(ctx context.Context, seeds []uint64) (z []float32, imgs []*image.RGBA, replaced int, err error) {
	z = m.Seeds(seeds...)
	if imgs, err = m.GenerateContext(ctx, z); err != nil || m.tries <= 1 {
		return z, imgs, 0, err
	}
	zd := m.spec.ZDim
	// bad holds the seeds whose draws have all failed so far; they keep their own
	// latent and image until a draw passes.
	bad := m.noFace(imgs)
	for k := 1; k < m.tries && len(bad) > 0; k++ {
		rz := make([]float32, len(bad)*zd)
		for j, i := range bad {
			m.Latent(RetrySeed(seeds[i], k), rz[j*zd:(j+1)*zd])
		}
		rimgs, err := m.GenerateContext(ctx, rz)
		if err != nil {
			return nil, nil, 0, err
		}
		still := bad[:0]
		for j, fails := range m.noFaceMask(rimgs) {
			i := bad[j]
			if fails {
				still = append(still, i)
				continue
			}
			copy(z[i*zd:(i+1)*zd], rz[j*zd:(j+1)*zd])
			imgs[i] = rimgs[j]
			replaced++
		}
		bad = still
	}
	return z, imgs, replaced, nil
}

// SeedLatents returns the concatenated latents of seeds under the face check (Seeds when
// the check is off), giving up between generator passes once ctx is done.
func (m *Model) SeedLatents(ctx context.Context, seeds ...uint64) ([]float32, error) {
	if m.tries <= 1 {
		return m.Seeds(seeds...), nil
	}
	z, _, _, err := m.Avatars(ctx, seeds)
	return z, err
}

// noFaceMask reports, per image, whether the cascade finds no face in it.
func (m *Model) noFaceMask(imgs []*image.RGBA) []bool {
	crops := make([]image.Image, len(imgs))
	for i, img := range imgs {
		crops[i] = img
	}
	ok := m.cascade.HasFaces(crops)
	for i := range ok {
		ok[i] = !ok[i]
	}
	return ok
}

// noFace returns the indices of the images in which the cascade finds no face.
func (m *Model) noFace(imgs []*image.RGBA) []int {
	var bad []int
	for i, fails := range m.noFaceMask(imgs) {
		if fails {
			bad = append(bad, i)
		}
	}
	return bad
}
