package models

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"avatargan/internal/gemm"
)

var update = flag.Bool("update", false, "rewrite testdata/avatar-hashes.json from this machine's GEMM paths")

// hashFile pins the embedded model's pixels.
const hashFile = "testdata/avatar-hashes.json"

// avatarHashes is hashFile's content.
type avatarHashes struct {
	Model   string            `json:"model"`   // avatar.Model.ID of the embedded file
	Seeds   []uint64          `json:"seeds"`   // the avatars hashed, in one batch
	Kernels map[string]string `json:"kernels"` // GEMM path -> SHA-256 of the RGBA pixels
}

var pinnedSeeds = []uint64{0, 1, 2, 3, 4, 5, 6, 7}

// TestEmbeddedAvatarsPinned pins what the embedded model draws on every GEMM path
// this CPU runs (internal/gemm.Kernels; AVATARGAN_GEMM forces one in production): a
// SHA-256 of the pixels of seeds 0..7 per path. Paths may differ from each other by a
// level here and there (summation order), which is why serve puts the path in its
// model id; on one path the pixels must never change, and must not depend on the
// batch an avatar is drawn in or on the thread count (the server batches requests).
//
// The hashes are data, not a contract: when the embedded model is replaced, or a GEMM
// path is added or changed on purpose, regenerate them on a machine with every path
// (AVX-512 for the avx512* paths, AMX too for avx512amx) and review the diff:
//
//	go test ./models -run TestEmbeddedAvatarsPinned -update
//
// Paths recorded but not available on this CPU are skipped (logged).
func TestEmbeddedAvatarsPinned(t *testing.T) {
	m, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	orig, threads := gemm.Kernel(), gemm.Threads()
	t.Cleanup(func() { gemm.SetKernel(orig); gemm.SetThreads(threads) })

	got := avatarHashes{Model: m.ID(), Seeds: pinnedSeeds, Kernels: map[string]string{}}
	for _, k := range gemm.Kernels() {
		if err := gemm.SetKernel(k); err != nil {
			t.Fatal(err)
		}
		gemm.SetThreads(threads)
		imgs, err := m.Generate(m.Seeds(pinnedSeeds...))
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		for _, im := range imgs {
			h.Write(im.Pix)
		}
		got.Kernels[k] = hex.EncodeToString(h.Sum(nil))
		// Batch and thread independence: one avatar alone, on one thread, is the
		// same as in the batch.
		gemm.SetThreads(1)
		for _, i := range []int{5} {
			one, err := m.Generate(m.Seeds(pinnedSeeds[i]))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(one[0].Pix, imgs[i].Pix) {
				t.Errorf("%s: seed %d alone on one thread differs from the same seed in a batch of %d", k, pinnedSeeds[i], len(imgs))
			}
		}
	}

	if *update {
		b, _ := json.MarshalIndent(got, "", "  ")
		if err := os.MkdirAll(filepath.Dir(hashFile), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(hashFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s for %v", hashFile, slices.Sorted(maps.Keys(got.Kernels)))
		return
	}
	const regen = "if intended, regenerate: go test ./models -run TestEmbeddedAvatarsPinned -update"
	b, err := os.ReadFile(hashFile)
	if err != nil {
		t.Fatalf("%v (%s)", err, regen)
	}
	var want avatarHashes
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatalf("%s: %v", hashFile, err)
	}
	if want.Model != got.Model || !slices.Equal(want.Seeds, got.Seeds) {
		t.Fatalf("embedded model %s, seeds %v; %s pins model %s, seeds %v (%s)", got.Model, got.Seeds, hashFile, want.Model, want.Seeds, regen)
	}
	for k, h := range got.Kernels {
		switch w, ok := want.Kernels[k]; {
		case !ok:
			t.Errorf("GEMM path %s has no pinned hash (%s)", k, regen)
		case w != h:
			t.Errorf("GEMM path %s: the embedded model's avatars changed: hash %s, pinned %s (%s)", k, h, w, regen)
		}
	}
	for k := range want.Kernels {
		if _, ok := got.Kernels[k]; !ok {
			t.Logf("GEMM path %s is pinned but not available on this CPU: skipped", k)
		}
	}
}
