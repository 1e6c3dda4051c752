package avatar_test

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"log"

	"avatargan/avatar"
	"avatargan/models"
)

// The avatar of a user's seed from the embedded model, as `avatargan generate` makes
// it: the face check on, the fastest precision of this CPU. A seed is the same avatar
// in every tool and process that uses the same settings.
func ExampleModel_Avatars() {
	// A model of its own (models.Default is shared by the whole process).
	m, err := avatar.Decode(models.Bytes())
	if err != nil {
		log.Fatal(err)
	}
	m.SetFaceCheck(avatar.DefaultFaceCheck)
	if err := m.SetPrecision("auto"); err != nil {
		log.Fatal(err)
	}
	_, imgs, _, err := m.Avatars(context.Background(), []uint64{42})
	if err != nil {
		log.Fatal(err)
	}
	var buf bytes.Buffer // or an *os.File, an http.ResponseWriter
	if err := png.Encode(&buf, imgs[0]); err != nil {
		log.Fatal(err)
	}
	fmt.Println(imgs[0].Bounds().Dx(), "x", imgs[0].Bounds().Dy(), "px")
	// Output: 48 x 48 px
}
