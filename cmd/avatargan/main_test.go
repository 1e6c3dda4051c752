package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/gif"
	"image/png"
	"io"
	"math"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"avatargan/avatar"
	"avatargan/checkpoint"
	"avatargan/facedetect"
	"avatargan/models"
	"avatargan/render"
	"avatargan/server"
	"avatargan/train"
)

// The fixture: a folder of 40 tiny images and a run trained 3 steps on it via cmdTrain,
// shared by the tests (training is the slow part).
var (
	fixOnce            sync.Once
	fixErr             error
	fixRoot            string
	facesDir, cacheDir string
	runDir             string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if fixRoot != "" {
		os.RemoveAll(fixRoot)
	}
	os.Exit(code)
}

func writeFaces(dir string, n int, seed uint64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(seed, 3))
	for i := 0; i < n; i++ {
		img := image.NewRGBA(image.Rect(0, 0, 16, 16))
		c := color.RGBA{uint8(r.IntN(256)), uint8(r.IntN(256)), uint8(r.IntN(256)), 255}
		for y := 0; y < 16; y++ {
			for x := 0; x < 16; x++ {
				img.Set(x, y, color.RGBA{c.R + uint8(8*x), c.G + uint8(8*y), c.B ^ uint8(r.IntN(32)), 255})
			}
		}
		var b bytes.Buffer
		if err := png.Encode(&b, img); err != nil {
			return err
		}
		name := filepath.Join(dir, "face-"+string(rune('a'+i/26))+string(rune('a'+i%26))+".png")
		if err := os.WriteFile(name, b.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func tinyTrainArgs(extra ...string) []string {
	return append([]string{"--size", "16", "--z", "8", "--gf", "4", "--df", "4", "--batch", "4",
		"--ema", "0.5", "--flip", "--cache", cacheDir}, extra...)
}

func fixture(t *testing.T) {
	t.Helper()
	fixOnce.Do(func() {
		if fixRoot, fixErr = os.MkdirTemp("", "avatargan-cmd-"); fixErr != nil {
			return
		}
		facesDir = filepath.Join(fixRoot, "faces")
		cacheDir = filepath.Join(fixRoot, "cache")
		runDir = filepath.Join(fixRoot, "run")
		if fixErr = writeFaces(facesDir, 40, 1); fixErr != nil {
			return
		}
		o, _, _ := quiet()
		fixErr = cmdTrain(context.Background(), o, tinyTrainArgs("--data", facesDir, "--out", runDir, "--max-steps", "3", "--epochs", "2"))
	})
	if fixErr != nil {
		t.Fatal(fixErr)
	}
}

func quiet() (stdio, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	return stdio{out: &out, err: &errb}, &out, &errb
}

// run calls a command and returns its stdout.
func run(t *testing.T, cmd func(context.Context, stdio, []string) error, args ...string) string {
	t.Helper()
	o, out, errb := quiet()
	if err := cmd(context.Background(), o, args); err != nil {
		t.Fatalf("%v: %v\nstderr: %s", args, err, errb)
	}
	return out.String()
}

// fails calls a command that must fail with an error mentioning want.
func fails(t *testing.T, want string, cmd func(context.Context, stdio, []string) error, args ...string) {
	t.Helper()
	o, _, _ := quiet()
	err := cmd(context.Background(), o, args)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("%v: error %v, want one mentioning %q", args, err, want)
	}
}

func decodePNG(t *testing.T, path string) *image.RGBA {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	rgba := image.NewRGBA(img.Bounds())
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y++ {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x++ {
			rgba.Set(x, y, img.At(x, y))
		}
	}
	return rgba
}

func TestTrainAndResume(t *testing.T) {
	fixture(t)
	dir := filepath.Join(t.TempDir(), "run")
	out := run(t, cmdTrain, tinyTrainArgs("--data", facesDir, "--out", dir, "--max-steps", "2", "--epochs", "2")...)
	if !strings.Contains(out, "done: step 2") {
		t.Fatalf("output %q", out)
	}
	cfg, err := train.LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Epochs != 2 || cfg.Model.Size != 16 || cfg.Model.GF != 4 || cfg.EMA != 0.5 || !cfg.Flip || !cfg.Shuffle || cfg.Images != 40 || cfg.Data != facesDir {
		t.Fatalf("config %+v", cfg)
	}
	// --resume without --data or model flags: the stored settings, and the stored epochs
	// (not the flag's default of 50).
	out = run(t, cmdTrain, "--resume", dir, "--max-steps", "4", "--cache", cacheDir)
	if !strings.Contains(out, "resuming") || !strings.Contains(out, "2 epochs x 10 steps") || !strings.Contains(out, "done: step 4") {
		t.Fatalf("resume output %q", out)
	}
	if c, _ := train.LoadConfig(dir); c.Epochs != 2 {
		t.Fatalf("resume changed epochs to %d", c.Epochs)
	}
	latest, _ := checkpoint.Latest(dir)
	if filepath.Base(latest) != checkpoint.Name(4) {
		t.Fatalf("latest %s", latest)
	}
	// Same values given explicitly are fine; an explicit --epochs extends the run.
	run(t, cmdTrain, tinyTrainArgs("--out", dir, "--max-steps", "5", "--epochs", "3", "--data", facesDir)...)
	if c, _ := train.LoadConfig(dir); c.Epochs != 3 {
		t.Fatalf("--epochs 3 on resume gave %d", c.Epochs)
	}
	// Settings that differ from the run's are refused, naming them.
	fails(t, "--lr-g 0.1 (the run has 0.0002)", cmdTrain, "--resume", dir, "--lr-g", "0.1", "--cache", cacheDir)
	fails(t, "--size 32", cmdTrain, "--resume", dir, "--size", "32", "--cache", cacheDir)
	fails(t, "--z-dist normal (the run has uniform)", cmdTrain, "--resume", dir, "--z-dist", "normal", "--cache", cacheDir)
	fails(t, "--no-shuffle", cmdTrain, "--resume", dir, "--no-shuffle", "--cache", cacheDir)
	fails(t, "name different runs", cmdTrain, "--resume", dir, "--out", t.TempDir(), "--cache", cacheDir)
	latest, _ = checkpoint.Latest(dir)
	if filepath.Base(latest) != checkpoint.Name(5) {
		t.Fatalf("a refused resume trained: latest %s", latest)
	}
}

func TestTrainBadInputs(t *testing.T) {
	fixture(t)
	tmp := t.TempDir()
	fails(t, "--data is required", cmdTrain, "--out", filepath.Join(tmp, "a"))
	fails(t, "nonexistent", cmdTrain, "--data", filepath.Join(tmp, "nonexistent"), "--out", filepath.Join(tmp, "b"), "--cache", cacheDir)
	fails(t, `unexpected argument "stray"`, cmdTrain, "--data", facesDir, "stray", "--out", filepath.Join(tmp, "c"))
	fails(t, "no run", cmdTrain, "--resume", filepath.Join(tmp, "none"))
	fails(t, "--z-dist", cmdTrain, "--data", facesDir, "--z-dist", "cauchy")
	fails(t, "multiple of 16", cmdTrain, "--data", facesDir, "--size", "20", "--out", filepath.Join(tmp, "d"))
	fails(t, "unknown flag --bogus", cmdTrain, "--bogus")
	empty := filepath.Join(tmp, "empty")
	os.Mkdir(empty, 0o755)
	fails(t, empty, cmdTrain, "--data", empty, "--out", filepath.Join(tmp, "e"), "--cache", cacheDir)
}

// autoPrecision sets m to the precision the commands' default --precision auto
// picks on this CPU (bf16 where it is fast, f32 elsewhere), so that a command's
// avatars can be compared with the library's bit for bit on any host.
func autoPrecision(t *testing.T, m *avatar.Model) {
	t.Helper()
	if err := usePrecision(io.Discard, "auto", m); err != nil {
		t.Fatal(err)
	}
}

func TestGenerate(t *testing.T) {
	fixture(t)
	tmp := t.TempDir()
	m, err := avatar.Load(runDir)
	if err != nil {
		t.Fatal(err)
	}
	autoPrecision(t, m)
	want, _ := m.Generate(m.Seeds(7, 8, 9))

	// Directory: one file per seed, named by seed.
	dir := filepath.Join(tmp, "avatars")
	out := run(t, cmdGenerate, "-n", "3", "--seed", "7", "--out", dir, "--checkpoint", runDir)
	if !strings.Contains(out, "seeds 7..9") {
		t.Fatalf("output %q", out)
	}
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"avatar-7.png", "avatar-8.png", "avatar-9.png"}) {
		t.Fatalf("files %v", names)
	}
	for i, s := range []string{"7", "8", "9"} {
		img := decodePNG(t, filepath.Join(dir, "avatar-"+s+".png"))
		if !slices.Equal(img.Pix, want[i].Pix) {
			t.Fatalf("avatar-%s.png is not the avatar of seed %s", s, s)
		}
	}

	// Single file with -n 1: seed 8 alone is the same avatar.
	one := filepath.Join(tmp, "one.png")
	run(t, cmdGenerate, "-n", "1", "--seed", "8", "--out", one, "--checkpoint", runDir)
	if img := decodePNG(t, one); !slices.Equal(img.Pix, want[1].Pix) {
		t.Fatal("single avatar differs from the same seed in a batch")
	}
	// Upscaled.
	big := filepath.Join(tmp, "big.png")
	run(t, cmdGenerate, "-n", "1", "--out", big, "--upscale", "3", "--checkpoint", runDir)
	bigImg := decodePNG(t, big)
	if b := bigImg.Bounds(); b.Dx() != 48 || b.Dy() != 48 {
		t.Fatalf("upscaled %v", b)
	}
	// Nearest (the default) repeats each pixel of seed 0's avatar in a 3x3 block; smooth
	// is Catmull-Rom of the same avatar, so it has colours between the blocks'.
	native := filepath.Join(tmp, "native.png")
	run(t, cmdGenerate, "-n", "1", "--out", native, "--checkpoint", runDir)
	small := decodePNG(t, native)
	for y := 0; y < 48; y++ {
		for x := 0; x < 48; x++ {
			if bigImg.RGBAAt(x, y) != small.RGBAAt(x/3, y/3) {
				t.Fatalf("nearest upscale at %d,%d is not the avatar's pixel %d,%d", x, y, x/3, y/3)
			}
		}
	}
	smooth := filepath.Join(tmp, "smooth.png")
	run(t, cmdGenerate, "-n", "1", "--out", smooth, "--upscale", "3", "--filter", "smooth", "--checkpoint", runDir)
	if got, want := decodePNG(t, smooth), render.Resize(small, 48, 48, render.Smooth); !slices.Equal(got.Pix, want.Pix) {
		t.Fatal("--filter smooth is not the Catmull-Rom enlargement of the avatar")
	} else if slices.Equal(got.Pix, bigImg.Pix) {
		t.Fatal("--filter smooth gave the nearest-neighbour image")
	}

	// Grid of 5: 3 columns, 2 rows of 16 px with 2 px gaps.
	grid := filepath.Join(tmp, "grid.png")
	run(t, cmdGenerate, "-n", "5", "--grid", "--out", grid, "--checkpoint", runDir)
	if b := decodePNG(t, grid).Bounds(); b.Dx() != 3*18+2 || b.Dy() != 2*18+2 {
		t.Fatalf("grid %v", b)
	}
	// The F32 export gives exactly the run's avatars; the F16 export holds F16 tensors in
	// about half the bytes and gives nearly the same avatars.
	exp := filepath.Join(tmp, "g.safetensors")
	run(t, cmdExport, "--checkpoint", runDir, "--out", exp)
	dir2 := filepath.Join(tmp, "fromexport")
	run(t, cmdGenerate, "-n", "3", "--seed", "7", "--out", dir2, "--checkpoint", exp)
	for i, s := range []string{"7", "8", "9"} {
		if img := decodePNG(t, filepath.Join(dir2, "avatar-"+s+".png")); !slices.Equal(img.Pix, want[i].Pix) {
			t.Fatalf("exported generator: avatar %s differs", s)
		}
	}
	exp16 := filepath.Join(tmp, "g16.safetensors")
	run(t, cmdExport, "--checkpoint", runDir, "--out", exp16, "--dtype", "F16")
	f16, err := checkpoint.Read(exp16)
	if err != nil {
		t.Fatal(err)
	}
	floats := 0
	for _, ts := range f16.Tensors {
		if ts.F32 != nil {
			floats++
			if ts.DType != "F16" {
				t.Fatalf("F16 export: %s is %s", ts.Name, ts.DType)
			}
		}
	}
	st32, _ := os.Stat(exp)
	st16, _ := os.Stat(exp16)
	if floats == 0 || float64(st16.Size()) > 0.6*float64(st32.Size()) {
		t.Fatalf("F16 export: %d float tensors, %d bytes vs %d for F32", floats, st16.Size(), st32.Size())
	}
	dir16 := filepath.Join(tmp, "fromexport16")
	run(t, cmdGenerate, "-n", "3", "--seed", "7", "--out", dir16, "--checkpoint", exp16)
	for i, s := range []string{"7", "8", "9"} {
		img := decodePNG(t, filepath.Join(dir16, "avatar-"+s+".png"))
		if d := maxPixelDiff(img.Pix, want[i].Pix); d > 8 {
			t.Fatalf("F16 export: avatar %s differs by up to %d levels", s, d)
		}
	}

	fails(t, "-n 0", cmdGenerate, "-n", "0", "--checkpoint", runDir)
	fails(t, "--upscale 0", cmdGenerate, "--upscale", "0", "--checkpoint", runDir)
	fails(t, `--filter "bicubic": want nearest or smooth`, cmdGenerate, "--filter", "bicubic", "--checkpoint", runDir)
	fails(t, "--truncation 0", cmdGenerate, "--truncation", "0", "--checkpoint", runDir)
	fails(t, "need --grid or a directory", cmdGenerate, "-n", "3", "--out", filepath.Join(tmp, "x.png"), "--checkpoint", runDir)
	fails(t, `unexpected argument "extra"`, cmdGenerate, "--checkpoint", runDir, "extra")
	fails(t, "no such file", cmdGenerate, "--checkpoint", filepath.Join(tmp, "missing.safetensors"), "--out", filepath.Join(tmp, "y"))
	fails(t, "invalid value", cmdGenerate, "-n", "many")
}

// TestEmbeddedModel checks that the binary carries a trained generator and that
// generate without --checkpoint uses it: the files are the embedded model's avatars of
// those seeds (plain draws: the face check, on by default, is checked after), at its
// size, and they are not blank.
func TestEmbeddedModel(t *testing.T) {
	m, err := models.Default()
	if err != nil {
		t.Fatalf("the embedded model does not load: %v", err)
	}
	if s := m.Spec(); s.Size != 48 || s.ZDim != 100 || s.GF != 96 {
		t.Fatalf("embedded model spec %+v, want 48 px, z 100, gf 96 (the published generator)", s)
	}
	autoPrecision(t, m)
	want, err := m.Generate(m.Seeds(5, 6))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "a")
	run(t, cmdGenerate, "-n", "2", "--seed", "5", "--face-check", "0", "--out", dir)
	for i, s := range []string{"5", "6"} {
		img := decodePNG(t, filepath.Join(dir, "avatar-"+s+".png"))
		if !slices.Equal(img.Pix, want[i].Pix) {
			t.Fatalf("avatar %s is not the embedded model's avatar of seed %s", s, s)
		}
		if distinctColours(img) < 100 { // a blank or flat avatar has a handful
			t.Fatalf("avatar %s looks blank: %d colours", s, distinctColours(img))
		}
	}

	// The face check is on by default: a seed whose own avatar holds no face the
	// detector finds is drawn again; --face-check 0 gives the plain draw.
	cascade := facedetect.AnimeFace()
	seed := -1
	for s := range 256 {
		img, err := m.Generate(m.Seeds(uint64(s)))
		if err != nil {
			t.Fatal(err)
		}
		if !cascade.HasFace(img[0]) {
			seed = s
			break
		}
	}
	if seed < 0 {
		t.Fatal("no seed of 0..255 fails the face check on the embedded model: the test needs one")
	}
	plain, err := m.Generate(m.Seeds(uint64(seed)))
	if err != nil {
		t.Fatal(err)
	}
	m.SetFaceCheck(avatar.DefaultFaceCheck)
	_, checked, _, err := m.Avatars(context.Background(), []uint64{uint64(seed)})
	if err != nil {
		t.Fatal(err)
	}
	// The server draws the same avatar (server.TestSeedAvatars checks that the check's
	// passes go through its batcher).
	srv, err := server.New(m, server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/avatar/"+strconv.Itoa(seed)+".png", nil))
	srv.Close()
	m.SetFaceCheck(0)
	if got, err := png.Decode(rec.Body); err != nil || rec.Code != 200 {
		t.Errorf("serve /avatar/%d.png: %d, %v", seed, rec.Code, err)
	} else if rgba, ok := got.(*image.RGBA); !ok || !slices.Equal(rgba.Pix, checked[0].Pix) {
		t.Errorf("seed %d: serve did not draw the face check's avatar", seed)
	}
	one := filepath.Join(t.TempDir(), "one.png")
	run(t, cmdGenerate, "-n", "1", "--seed", strconv.Itoa(seed), "--out", one)
	if img := decodePNG(t, one); !slices.Equal(img.Pix, checked[0].Pix) || slices.Equal(img.Pix, plain[0].Pix) {
		t.Errorf("seed %d: generate did not draw the face check's avatar", seed)
	}
	run(t, cmdGenerate, "-n", "1", "--seed", strconv.Itoa(seed), "--out", one, "--face-check", "0")
	if img := decodePNG(t, one); !slices.Equal(img.Pix, plain[0].Pix) {
		t.Errorf("seed %d: generate --face-check 0 did not draw the plain avatar", seed)
	}
	fails(t, "--face-check 65", cmdGenerate, "--face-check", "65")
	fails(t, "--face-check -1", cmdGenerate, "--face-check", "-1")
}

// maxPixelDiff is the largest difference of two equally long pixel buffers.
func maxPixelDiff(a, b []uint8) int {
	d := 0
	for i := range a {
		d = max(d, int(a[i])-int(b[i]), int(b[i])-int(a[i]))
	}
	return d
}

// distinctColours counts the distinct RGB colours of an image.
func distinctColours(img *image.RGBA) int {
	seen := map[[3]uint8]bool{}
	for i := 0; i+3 < len(img.Pix); i += 4 {
		seen[[3]uint8{img.Pix[i], img.Pix[i+1], img.Pix[i+2]}] = true
	}
	return len(seen)
}

func TestInterpolate(t *testing.T) {
	fixture(t)
	tmp := t.TempDir()
	g := filepath.Join(tmp, "walk.gif")
	run(t, cmdInterpolate, "--from", "3", "--to", "4", "--steps", "5", "--upscale", "2", "--out", g, "--checkpoint", runDir)
	f, err := os.Open(g)
	if err != nil {
		t.Fatal(err)
	}
	anim, err := gif.DecodeAll(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	// There and back: 5 + 3 frames.
	if len(anim.Image) != 8 || anim.Image[0].Bounds().Dx() != 32 || anim.Delay[0] != 12 {
		t.Fatalf("%d frames of %v, delay %d", len(anim.Image), anim.Image[0].Bounds(), anim.Delay[0])
	}
	strip := filepath.Join(tmp, "strip.png")
	run(t, cmdInterpolate, "--from", "3", "--to", "4", "--steps", "4", "--upscale", "1", "--out", strip, "--checkpoint", runDir)
	img := decodePNG(t, strip)
	if b := img.Bounds(); b.Dx() != 4*18+2 || b.Dy() != 18+2 {
		t.Fatalf("strip %v", b)
	}
	// The ends are the avatars of the two seeds.
	m, _ := avatar.Load(runDir)
	autoPrecision(t, m)
	ends, _ := m.Generate(m.Seeds(3, 4))
	for k, x0 := range []int{2, 2 + 3*18} {
		for y := 0; y < 16; y++ {
			for x := 0; x < 16; x++ {
				if img.RGBAAt(x0+x, 2+y) != ends[k].RGBAAt(x, y) {
					t.Fatalf("strip end %d differs from the seed's avatar at %d,%d", k, x, y)
				}
			}
		}
	}
	// --filter smooth: the first frame is the Catmull-Rom enlargement of seed 3's avatar.
	smooth := filepath.Join(tmp, "smooth.png")
	run(t, cmdInterpolate, "--from", "3", "--to", "4", "--steps", "2", "--upscale", "2", "--filter", "smooth", "--out", smooth, "--checkpoint", runDir)
	simg, want := decodePNG(t, smooth), render.Resize(ends[0], 32, 32, render.Smooth)
	for y := 0; y < 32; y++ {
		for x := 0; x < 32; x++ {
			if simg.RGBAAt(2+x, 2+y) != want.RGBAAt(x, y) {
				t.Fatalf("smooth strip's first frame differs from the enlarged avatar at %d,%d", x, y)
			}
		}
	}
	fails(t, "--steps 1", cmdInterpolate, "--steps", "1", "--checkpoint", runDir)
	fails(t, "want a .gif, .png, .jpg file", cmdInterpolate, "--out", filepath.Join(tmp, "w.bmp"), "--checkpoint", runDir)
	fails(t, "--upscale 99", cmdInterpolate, "--upscale", "99", "--checkpoint", runDir)
	fails(t, `--filter "cubic": want nearest or smooth`, cmdInterpolate, "--filter", "cubic", "--checkpoint", runDir)
}

func TestExport(t *testing.T) {
	fixture(t)
	tmp := t.TempDir()
	for _, dt := range []string{"F32", "F16"} {
		p := filepath.Join(tmp, dt+".safetensors")
		out := run(t, cmdExport, "--checkpoint", runDir, "--out", p, "--dtype", dt)
		if !strings.Contains(out, "Generator(size=16, z=8, gf=4)") {
			t.Fatalf("output %q", out)
		}
		f, err := checkpoint.Read(p)
		if err != nil {
			t.Fatal(err)
		}
		if w, ok := f.Get("deconv1.weight"); !ok || w.DType != dt || !slices.Equal(w.Shape, []int{32, 16, 5, 5}) {
			t.Fatalf("%s: deconv1.weight %+v", dt, w)
		}
		if _, ok := f.Get("generator.fc.weight"); ok {
			t.Fatal("exported file has the training prefix")
		}
	}
	// Without --checkpoint: the embedded generator (48 px, z 100).
	if out := run(t, cmdExport, "--out", filepath.Join(tmp, "x.safetensors")); !strings.Contains(out, "Generator(size=48, z=100, gf=96)") {
		t.Fatalf("embedded export: %q", out)
	}
	// ONNX, chosen by --format or by the extension (the model itself is tested in package onnx).
	for _, args := range [][]string{{"--format", "onnx", "--out", filepath.Join(tmp, "g.onnx")}, {"--out", filepath.Join(tmp, "h.onnx")}} {
		out := run(t, cmdExport, append([]string{"--checkpoint", runDir}, args...)...)
		if !strings.Contains(out, `input "z" float32 [batch, 8]`) || !strings.Contains(out, "[batch, 3, 16, 16]") {
			t.Fatalf("onnx export: %q", out)
		}
		if st, err := os.Stat(args[len(args)-1]); err != nil || st.Size() < 4*32*16*25 {
			t.Fatalf("onnx file: %v %v", st, err)
		}
	}
	fails(t, "F32 only", cmdExport, "--checkpoint", runDir, "--out", filepath.Join(tmp, "i.onnx"), "--dtype", "F16")
	fails(t, "--format tflite", cmdExport, "--checkpoint", runDir, "--format", "tflite")
	fails(t, "--dtype BF16", cmdExport, "--checkpoint", runDir, "--dtype", "BF16")
	fails(t, "no checkpoint", cmdExport, "--checkpoint", tmp, "--out", filepath.Join(tmp, "y.safetensors"))

	// --live exports the checkpoint's live generator; without it, the EMA average.
	latest, err := checkpoint.Latest(runDir)
	if err != nil {
		t.Fatal(err)
	}
	ck, err := checkpoint.Read(latest)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args   []string
		source string
	}{{nil, "ema.deconv1.weight"}, {[]string{"--live"}, "generator.deconv1.weight"}} {
		p := filepath.Join(tmp, "live-"+strings.Join(c.args, "")+".safetensors")
		run(t, cmdExport, append([]string{"--checkpoint", runDir, "--out", p}, c.args...)...)
		f, err := checkpoint.Read(p)
		if err != nil {
			t.Fatal(err)
		}
		got, ok1 := f.Get("deconv1.weight")
		want, ok2 := ck.Get(c.source)
		if !ok1 || !ok2 || got.DType != want.DType || !bytes.Equal(got.Raw, want.Raw) {
			t.Errorf("export %v: deconv1.weight is not the checkpoint's %s", c.args, c.source)
		}
	}
	fails(t, "--live needs --checkpoint", cmdExport, "--live", "--out", filepath.Join(tmp, "z.safetensors"))
	fails(t, "generator-only file", cmdExport, "--live", "--checkpoint", filepath.Join(tmp, "F32.safetensors"), "--out", filepath.Join(tmp, "z.safetensors"))
}

func TestEval(t *testing.T) {
	fixture(t)
	tmp := t.TempDir()
	// 16 fakes from the run.
	fake := filepath.Join(tmp, "fake")
	run(t, cmdGenerate, "-n", "16", "--out", fake, "--checkpoint", runDir)

	var rep evalReport
	out := run(t, cmdEval, "--data", facesDir, "--fake", fake, "-n", "16", "--json", "--cache", cacheDir)
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %q", err, out)
	}
	if rep.N != 16 || rep.Source != fake || len(rep.Resolutions) == 0 || rep.Resolutions[0] != 16 || !(rep.Fake.Average > 0) || !(rep.Floor.Average > 0) {
		t.Fatalf("report %+v", rep)
	}

	out = run(t, cmdEval, "--data", facesDir, "--checkpoint", runDir, "-n", "16", "--json", "--untrained", "--nearest", "4", "--cache", cacheDir)
	rep = evalReport{}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %q", err, out)
	}
	if rep.Untrained == nil || rep.Nearest == nil || rep.Nearest.Checked != 4 || !(rep.Ratio > 0) {
		t.Fatalf("report %+v", rep)
	}
	if f := rep.Faces; f == nil || f.FaceCheck != avatar.DefaultFaceCheck || f.Fake < 0 || f.Fake > 1 || f.Real < 0 || f.Real > 1 || f.Replaced < 0 || f.Replaced > 16 {
		t.Fatalf("faces report %+v", rep.Faces)
	}
	// --repeat: each draw as a plain eval of its seed, the report their mean.
	one := rep
	out = run(t, cmdEval, "--data", facesDir, "--checkpoint", runDir, "-n", "16", "--json", "--repeat", "2", "--seed", "1", "--cache", cacheDir)
	var rep2 evalReport
	if err := json.Unmarshal([]byte(out), &rep2); err != nil {
		t.Fatalf("%v: %q", err, out)
	}
	out = run(t, cmdEval, "--data", facesDir, "--checkpoint", runDir, "-n", "16", "--json", "--seed", "2", "--cache", cacheDir)
	var seed2 evalReport
	if err := json.Unmarshal([]byte(out), &seed2); err != nil {
		t.Fatalf("%v: %q", err, out)
	}
	if len(one.Draws) != 0 || len(rep2.Draws) != 2 || rep2.Draws[0].Seed != 1 || rep2.Draws[1].Seed != 2 ||
		rep2.Draws[0].Fake.Average != one.Fake.Average || rep2.Draws[1].Fake.Average != seed2.Fake.Average ||
		math.Abs(rep2.Fake.Average-(one.Fake.Average+seed2.Fake.Average)/2) > 1e-9 ||
		math.Abs(rep2.Spread-math.Abs(one.Fake.Average-seed2.Fake.Average)/math.Sqrt2) > 1e-9 {
		t.Fatalf("--repeat 2: %+v; seed 1 alone %v, seed 2 alone %v", rep2, one.Fake, seed2.Fake)
	}
	fails(t, "--repeat 0", cmdEval, "--data", facesDir, "--checkpoint", runDir, "--repeat", "0")
	fails(t, "--repeat 17", cmdEval, "--data", facesDir, "--checkpoint", runDir, "--repeat", "17")
	out = run(t, cmdEval, "--data", facesDir, "--checkpoint", runDir, "-n", "16", "--json", "--faces=false", "--face-check", "0", "--cache", cacheDir)
	rep = evalReport{}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Faces != nil {
		t.Fatalf("--faces=false: %v, faces %+v", err, rep.Faces)
	}
	// The table form (not --json) runs and prints the ratio.
	out = run(t, cmdEval, "--data", facesDir, "--checkpoint", runDir, "-n", "16", "--cache", cacheDir)
	if !strings.Contains(out, "ratio to floor") {
		t.Fatalf("table %q", out)
	}

	fails(t, "--data is required", cmdEval, "--fake", fake)
	fails(t, "-n 8", cmdEval, "--data", facesDir, "--fake", fake, "-n", "8")
	fails(t, "exclusive", cmdEval, "--data", facesDir, "--fake", fake, "--checkpoint", runDir)
	fails(t, "-n 32: "+facesDir+" has 40 images", cmdEval, "--data", facesDir, "--checkpoint", runDir, "-n", "32", "--cache", cacheDir)
	fails(t, "--size 32", cmdEval, "--data", facesDir, "--checkpoint", runDir, "-n", "16", "--size", "32")
	fails(t, "no image", cmdEval, "--data", facesDir, "--fake", t.TempDir(), "-n", "16")
	fails(t, `unexpected argument "x"`, cmdEval, "--data", facesDir, "x")
}
