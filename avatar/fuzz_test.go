package avatar_test

import (
	"os"
	"path/filepath"
	"testing"

	"avatargan/avatar"
	"avatargan/dcgan"
)

// FuzzDecode: a model file is untrusted input (a generator downloaded from anyone,
// served by `serve --checkpoint`). Whatever its bytes, Decode returns a model or an
// error without panicking, and a model it returns renders an image of its size.
func FuzzDecode(f *testing.F) {
	for _, dtype := range []string{"F32", "F16"} {
		m, err := avatar.Untrained(avatar.Spec{Size: 16, ZDim: 4, GF: 2, Dist: dcgan.Normal}, 1)
		if err != nil {
			f.Fatal(err)
		}
		p := filepath.Join(f.TempDir(), "g.safetensors")
		if err := m.Save(p, dtype); err != nil {
			f.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := avatar.Decode(b)
		if err != nil {
			return
		}
		imgs, err := m.Generate(m.Seeds(1))
		if err != nil {
			t.Fatalf("a decoded model does not generate: %v", err)
		}
		if len(imgs) != 1 || imgs[0].Bounds().Dx() != m.Size() {
			t.Fatalf("%d images of side %d, want 1 of %d", len(imgs), imgs[0].Bounds().Dx(), m.Size())
		}
	})
}
