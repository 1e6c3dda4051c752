package avatar_test

import (
	"context"
	"slices"
	"testing"

	"avatargan/avatar"
	"avatargan/models"
)

// AvatarsAt at t = 1 is Avatars; at other t it renders the face check's latents (chosen
// at t = 1) scaled by t, so a seed keeps its identity, and the pixels change.
func TestAvatarsAt(t *testing.T) {
	m, err := avatar.Decode(models.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	m.SetFaceCheck(avatar.DefaultFaceCheck)
	ctx := context.Background()
	seeds := []uint64{0, 1, 2, 3, 4, 5, 6, 7}
	_, want, _, err := m.Avatars(ctx, seeds)
	if err != nil {
		t.Fatal(err)
	}
	at1, err := m.AvatarsAt(ctx, seeds, 1)
	if err != nil || len(at1) != len(seeds) {
		t.Fatalf("AvatarsAt(1): %d images, %v", len(at1), err)
	}
	z, err := m.SeedLatents(ctx, seeds...)
	if err != nil {
		t.Fatal(err)
	}
	for i := range z {
		z[i] *= 0.7
	}
	scaled, err := m.GenerateContext(ctx, z)
	if err != nil {
		t.Fatal(err)
	}
	at07, err := m.AvatarsAt(ctx, seeds, 0.7)
	if err != nil || len(at07) != len(seeds) {
		t.Fatalf("AvatarsAt(0.7): %d images, %v", len(at07), err)
	}
	for i := range seeds {
		if !slices.Equal(at1[i].Pix, want[i].Pix) {
			t.Errorf("seed %d: AvatarsAt(1) differs from Avatars", seeds[i])
		}
		if !slices.Equal(at07[i].Pix, scaled[i].Pix) {
			t.Errorf("seed %d: AvatarsAt(0.7) is not the checked latents scaled by 0.7", seeds[i])
		}
		if slices.Equal(at07[i].Pix, at1[i].Pix) {
			t.Errorf("seed %d: truncation 0.7 changed nothing", seeds[i])
		}
	}
}
