package avatar

import (
	"context"
	"fmt"
	"image"
	"math"

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
// anime-face cascade can find (facedetect.HasFace): a seed whose own avatar fails draws
// tries-1 more (the latents of RetrySeed(seed, 1), RetrySeed(seed, 2), ...) and becomes
// the passing one nearest its own avatar in colour layout (the first of equals), or
// keeps its own avatar when none passes. A seed whose own avatar passes keeps it, so
// the check only replaces broken faces (no eyes, a smear) and keeps their colours, and a
// seed is the same avatar in every tool that uses the same tries.
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
	return m.avatars(ctx, seeds, m.GenerateContext, runNow)
}

// runNow runs f at once, unless ctx is already done: the detector's gate outside a
// server.
func runNow(ctx context.Context, f func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f()
	return nil
}

// SeedAvatars is Avatars with every generator pass made by generate, which must render
// the model's images of the latents as GenerateContext does, and every face-detector
// pass run by detect, which runs its function when a CPU slot is free (or returns ctx's
// error without running it): a server's batcher and encode slots, so that the check's
// passes are batched, queued and bounded with its other work, and passing avatars are
// rendered once (it makes server.SeedAvatars of a Model).
func (m *Model) SeedAvatars(ctx context.Context, seeds []uint64, generate func(context.Context, []float32) ([]*image.RGBA, error), detect func(context.Context, func()) error) (z []float32, imgs []*image.RGBA, err error) {
	z, imgs, _, err = m.avatars(ctx, seeds, generate, detect)
	return z, imgs, err
}

func (m *Model) avatars(ctx context.Context, seeds []uint64, generate func(context.Context, []float32) ([]*image.RGBA, error), detect func(context.Context, func()) error) (z []float32, imgs []*image.RGBA, replaced int, err error) {
	z = m.Seeds(seeds...)
	if imgs, err = generate(ctx, z); err != nil || m.tries <= 1 {
		return z, imgs, 0, err
	}
	if len(imgs) != len(seeds) {
		return nil, nil, 0, fmt.Errorf("avatar: %d images for %d latents", len(imgs), len(seeds))
	}
	zd := m.spec.ZDim
	var found []bool
	if err := detect(ctx, func() { found = m.hasFaces(imgs) }); err != nil {
		return nil, nil, 0, err
	}
	var bad []int // seeds whose own avatar fails: they keep it unless a draw passes
	for i, ok := range found {
		if !ok {
			bad = append(bad, i)
		}
	}
	if len(bad) == 0 {
		return z, imgs, 0, nil
	}
	own := make([][layoutCells]float64, len(bad))
	best := make([]float64, len(bad)) // layout distance of the best passing draw so far
	for j, i := range bad {
		own[j], best[j] = layout(imgs[i]), math.Inf(1)
	}
	// Every retry of every failing seed is drawn (in one pass per k, bounded by the
	// seeds of the call): the pick is the passing draw nearest the seed's own avatar.
	for k := 1; k < m.tries; k++ {
		rz := make([]float32, len(bad)*zd) // fresh: a cancelled generate may still read the last
		for j, i := range bad {
			m.Latent(RetrySeed(seeds[i], k), rz[j*zd:(j+1)*zd])
		}
		rimgs, err := generate(ctx, rz)
		if err != nil {
			return nil, nil, 0, err
		}
		if len(rimgs) != len(bad) {
			return nil, nil, 0, fmt.Errorf("avatar: %d images for %d latents", len(rimgs), len(bad))
		}
		if err := detect(ctx, func() { found = m.hasFaces(rimgs) }); err != nil {
			return nil, nil, 0, err
		}
		for j, ok := range found {
			if !ok {
				continue
			}
			if d := layoutDist(own[j], layout(rimgs[j])); d < best[j] {
				i := bad[j]
				best[j] = d
				copy(z[i*zd:(i+1)*zd], rz[j*zd:(j+1)*zd])
				imgs[i] = rimgs[j]
			}
		}
	}
	for j := range bad {
		if !math.IsInf(best[j], 1) {
			replaced++
		}
	}
	return z, imgs, replaced, nil
}

// layoutGrid is the side of the colour layout a replacement is matched on.
const (
	layoutGrid  = 4
	layoutCells = 3 * layoutGrid * layoutGrid
)

// layout is img's colour layout: the mean RGB of each cell of a layoutGrid x
// layoutGrid grid (hair colour and placement, background, skin), so that a seed's
// replacement keeps its look and the check does not shift the avatars' colours (the
// detector misses dark faces more often than light ones).
func layout(img *image.RGBA) (l [layoutCells]float64) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	var cnt [layoutGrid * layoutGrid]float64
	for y := range h {
		cy := y * layoutGrid / h
		row := img.Pix[y*img.Stride:]
		for x := range w {
			c := cy*layoutGrid + x*layoutGrid/w
			p := row[4*x : 4*x+3]
			l[3*c] += float64(p[0])
			l[3*c+1] += float64(p[1])
			l[3*c+2] += float64(p[2])
			cnt[c]++
		}
	}
	for i := range l {
		l[i] /= cnt[i/3]
	}
	return l
}

func layoutDist(a, b [layoutCells]float64) (d float64) {
	for i := range a {
		d += (a[i] - b[i]) * (a[i] - b[i])
	}
	return d
}

// AvatarsAt returns the images of seeds with their latents scaled by t, the truncation
// trick (below 1: less varied, paler avatars; above 1: more varied, more artefacts). The
// face check chooses the latents at truncation 1, so a seed keeps its avatar's identity
// at every t (what generate --truncation and the server's t do). It gives up between
// generator passes once ctx is done.
func (m *Model) AvatarsAt(ctx context.Context, seeds []uint64, t float64) ([]*image.RGBA, error) {
	if t == 1 {
		_, imgs, _, err := m.Avatars(ctx, seeds)
		return imgs, err
	}
	z, err := m.SeedLatents(ctx, seeds...)
	if err != nil {
		return nil, err
	}
	for i := range z {
		z[i] *= float32(t)
	}
	return m.GenerateContext(ctx, z)
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

// hasFaces reports, per image, whether the cascade finds a face in it.
func (m *Model) hasFaces(imgs []*image.RGBA) []bool {
	crops := make([]image.Image, len(imgs))
	for i, img := range imgs {
		crops[i] = img
	}
	return m.cascade.HasFaces(crops)
}
