package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCropCommand: the wiring of crop, from flags to the summary, and the
// refusal of an output folder inside the input.
func TestCropCommand(t *testing.T) {
	in := filepath.Join(t.TempDir(), "in")
	if err := os.MkdirAll(in, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("../../facedetect/testdata/scenes/scene-002.png")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(in, "scene.png"), b, 0o644)
	os.WriteFile(filepath.Join(in, "broken.jpg"), []byte("\xff\xd8\xff junk"), 0o644)
	out := filepath.Join(t.TempDir(), "faces")
	var so, se bytes.Buffer
	err = cmdCrop(context.Background(), stdio{out: &so, err: &se}, []string{"--in", in, "--out", out, "--all", "--min-face", "24", "--size", "48"})
	if err != nil {
		t.Fatalf("%v\n%s%s", err, so.String(), se.String())
	}
	if !strings.Contains(so.String(), "2 image files") || !strings.Contains(se.String(), "1 corrupt") {
		t.Errorf("summary:\n%s%s", so.String(), se.String())
	}
	crops, _ := filepath.Glob(filepath.Join(out, "scene_png-*.png"))
	if len(crops) == 0 {
		t.Errorf("no crops written; summary:\n%s", so.String())
	}
	err = cmdCrop(context.Background(), stdio{out: &so, err: &se}, []string{"--in", in, "--out", filepath.Join(in, "x")})
	if err == nil || !strings.Contains(err.Error(), "inside") {
		t.Errorf("--out inside --in: error %v", err)
	}
	if err := cmdCrop(context.Background(), stdio{out: &so, err: &se}, []string{"--in", in}); err == nil {
		t.Error("missing --out accepted")
	}
}
