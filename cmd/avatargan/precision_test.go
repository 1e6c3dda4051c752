package main

import (
	"path/filepath"
	"strings"
	"testing"

	"avatargan/train"
)

// TestPrecisionFlags: train records --precision and may switch it on resume
// (the one run setting that may change); the inference commands accept
// f32, bf16 and auto and refuse anything else, as bench refuses a list with
// anything but f32 and bf16.
func TestPrecisionFlags(t *testing.T) {
	fixture(t)
	dir := filepath.Join(t.TempDir(), "run")
	run(t, cmdTrain, tinyTrainArgs("--data", facesDir, "--out", dir, "--max-steps", "1", "--epochs", "2", "--precision", "bf16")...)
	if c, _ := train.LoadConfig(dir); c.Precision != "bf16" {
		t.Fatalf("config precision %q, want bf16", c.Precision)
	}
	// Resuming without the flag keeps bf16; with it, switches.
	run(t, cmdTrain, "--resume", dir, "--max-steps", "2", "--cache", cacheDir)
	if c, _ := train.LoadConfig(dir); c.Precision != "bf16" {
		t.Fatalf("resume without --precision changed it to %q", c.Precision)
	}
	out := run(t, cmdTrain, "--resume", dir, "--max-steps", "3", "--cache", cacheDir, "--precision", "f32")
	if c, _ := train.LoadConfig(dir); c.Precision != "f32" || !strings.Contains(out, "precision: bf16 -> f32") {
		t.Fatalf("switch on resume: config %q, output %q", c.Precision, out)
	}
	fails(t, "unknown precision", cmdTrain, "--resume", dir, "--precision", "fp8", "--cache", cacheDir)

	for _, p := range []string{"f32", "bf16", "auto"} {
		run(t, cmdGenerate, "-n", "2", "--checkpoint", dir, "--precision", p, "--out", filepath.Join(t.TempDir(), "a"))
	}
	fails(t, "unknown precision", cmdGenerate, "-n", "1", "--precision", "half", "--out", filepath.Join(t.TempDir(), "a"))
	fails(t, "unknown precision", cmdInterpolate, "--precision", "half", "--out", filepath.Join(t.TempDir(), "w.gif"))
	fails(t, "unknown precision", cmdServe, "--precision", "half", "--addr", "127.0.0.1:0")
	fails(t, "unknown precision", cmdEval, "--data", facesDir, "--cache", cacheDir, "--precision", "half")
	fails(t, "unknown precision", cmdBench, "--what", "generate", "--reps", "1", "--precision", "f32,half")
}
