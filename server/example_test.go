package server_test

import (
	"fmt"
	"image/png"
	"log"
	"net/http"
	"net/http/httptest"

	"avatargan/avatar"
	"avatargan/models"
	"avatargan/server"
)

// The avatar API mounted under /avatars/ of an application's own mux: batched
// generation, bounded queues and work, ETags and cache headers come with it.
func Example() {
	m, err := avatar.Decode(models.Bytes())
	if err != nil {
		log.Fatal(err)
	}
	m.SetFaceCheck(avatar.DefaultFaceCheck)
	if err := m.SetPrecision("auto"); err != nil {
		log.Fatal(err)
	}
	// ModelID names the pixels in ETags and immutable URLs: PixelID covers the
	// weights, the GEMM kernel, the precision and the face check.
	s, err := server.New(m, server.Options{ModelID: m.PixelID()})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	mux := http.NewServeMux()
	mux.Handle("/avatars/", http.StripPrefix("/avatars", s.Handler()))
	// Serve it with http.ListenAndServe(addr, mux); here, one request in-process.
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/avatars/avatar/by-name/alice.png?size=96", nil))
	img, err := png.Decode(rec.Body)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"), img.Bounds().Dx(), "px")
	// Output: 200 image/png 96 px
}
