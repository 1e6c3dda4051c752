package main

import (
	"context"
	"errors"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"avatargan/internal/gemm"
	"avatargan/train"
)

// TestPrecisionFlags: train records --precision and may switch it on resume
// (the one run setting that may change); generate and interpolate accept f32,
// bf16 and auto (serve and eval share their flag), and every inference command
// refuses anything else, as bench refuses a list with anything but f32 and bf16.
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
	usageFails(t, "unknown precision", cmdTrain, "--resume", dir, "--precision", "fp8", "--cache", cacheDir)

	for _, p := range []string{"f32", "bf16", "auto"} {
		run(t, cmdGenerate, "-n", "2", "--checkpoint", dir, "--precision", p, "--out", filepath.Join(t.TempDir(), "a"))
		run(t, cmdInterpolate, "--steps", "2", "--checkpoint", dir, "--precision", p, "--out", filepath.Join(t.TempDir(), "w.gif"))
	}
	usageFails(t, "unknown precision", cmdGenerate, "-n", "1", "--precision", "half", "--out", filepath.Join(t.TempDir(), "a"))
	usageFails(t, "unknown precision", cmdInterpolate, "--precision", "half", "--out", filepath.Join(t.TempDir(), "w.gif"))
	usageFails(t, "unknown precision", cmdServe, "--precision", "half", "--addr", "127.0.0.1:0")
	usageFails(t, "unknown precision", cmdEval, "--data", facesDir, "--cache", cacheDir, "--precision", "half")
	usageFails(t, "unknown precision", cmdBench, "--what", "generate", "--reps", "1", "--precision", "f32,half")
}

// usageFails is fails for a bad command line: the error must also be a usageError
// (exit status 2), the same for every command.
func usageFails(t *testing.T, want string, cmd func(context.Context, stdio, []string) error, args ...string) {
	t.Helper()
	o, _, _ := quiet()
	err := cmd(context.Background(), o, args)
	var ue usageError
	if err == nil || !strings.Contains(err.Error(), want) || !errors.As(err, &ue) {
		t.Errorf("%v: error %v (%T), want a usage error mentioning %q", args, err, err, want)
	}
}

// TestSlowBF16WarningOnErrStream: the warning that bf16 runs on the pure-Go kernel
// goes to the command's error stream, not to the process's stderr.
func TestSlowBF16WarningOnErrStream(t *testing.T) {
	prev := gemm.Kernel()
	if err := gemm.SetKernel("generic"); err != nil {
		t.Fatal(err)
	}
	defer gemm.SetKernel(prev)
	// The process's stderr (and the log package's writer) go to a pipe for the call.
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, logOut := os.Stderr, log.Writer()
	os.Stderr = pw
	log.SetOutput(pw)
	o, _, errBuf := quiet()
	err = cmdGenerate(context.Background(), o, []string{"-n", "1", "--precision", "bf16", "--out", filepath.Join(t.TempDir(), "a.png")})
	os.Stderr = stderr
	log.SetOutput(logOut)
	pw.Close()
	leaked, _ := io.ReadAll(pr)
	pr.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errBuf.String(), "no bf16 instructions") {
		t.Fatalf("error stream %q lacks the slow-bf16 warning", errBuf.String())
	}
	if len(leaked) != 0 {
		t.Errorf("written to the process's stderr: %q", leaked)
	}
}
