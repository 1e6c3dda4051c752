package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"os"
	"strings"
	"testing"

	"avatargan/models"
)

var update = flag.Bool("update", false, "rewrite README.md's Commands block from the generated usage")

// readmeBlock returns README.md's Commands block (the first fenced block after
// "## Commands") and the text around it.
func readmeBlock(t *testing.T) (before, block, after string) {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "## Commands\n")
	if i < 0 {
		t.Fatal("README.md has no Commands section")
	}
	open := i + strings.Index(s[i:], "```\n") + 4
	end := open + strings.Index(s[open:], "```\n")
	return s[:open], s[open:end], s[end:]
}

// The help text is generated from the commands' flag sets, so it lists every flag, and
// README's Commands block is that text: a new flag that is not in the README fails here
// (go test ./cmd/avatargan -run TestUsage -update rewrites the block).
func TestUsageMatchesFlagsAndREADME(t *testing.T) {
	u := usage()
	for _, c := range commands() {
		fs := commandFlags(c)
		if fs == nil {
			t.Fatalf("%s: no flag set", c.name)
		}
		line := synopsis(fs)
		if !strings.Contains(u, line) {
			t.Errorf("usage lacks %s's synopsis %q", c.name, line)
		}
		fs.VisitAll(func(f *flag.Flag) {
			if !strings.Contains(line, dashes(f.Name)+" ") && !strings.Contains(line, dashes(f.Name)+"]") &&
				!strings.HasSuffix(strings.TrimSpace(line), dashes(f.Name)) {
				t.Errorf("%s synopsis lacks %s: %q", c.name, dashes(f.Name), line)
			}
		})
	}
	// The flags issue 14 found missing.
	for _, want := range []string{"--upscale", "--truncation", "--live", "--untrained", "--nearest", "--dtype", "--delay"} {
		if !strings.Contains(u, want) {
			t.Errorf("usage lacks %s", want)
		}
	}
	before, block, after := readmeBlock(t)
	want := strings.ReplaceAll(synopses(), "\n  ", "\n")[2:]
	if *update {
		if err := os.WriteFile("../../README.md", []byte(before+want+after), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if block != want {
		t.Errorf("README.md's Commands block is not the generated usage (rerun with -update):\n--- README\n%s--- generated\n%s", block, want)
	}
}

// A misspelled command or flag gets one line with a suggestion, and both exit 2.
func TestMisspelled(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"genrate"}, `unknown command "genrate"; did you mean generate?`},
		{[]string{"evla"}, "did you mean eval?"},
		{[]string{"frobnicate"}, `unknown command "frobnicate" (`},
		{[]string{"generate", "--outt", "x"}, "unknown flag --outt; did you mean --out?"},
		{[]string{"generate", "--sede", "3"}, "did you mean --seed?"},
		{[]string{"eval", "-nearset", "3"}, "did you mean --nearest?"},
		{[]string{"generate", "-n", "many"}, `invalid value "many" for flag -n`},
		{[]string{"generate", "stray"}, `unexpected argument "stray"`},
		{[]string{"bench", "--what", "gemm,layrs"}, `unknown part "layrs"; did you mean layers?`},
	} {
		var out, errb bytes.Buffer
		code := runMain(c.args, stdio{out: &out, err: &errb})
		msg := errb.String()
		if code != exitUsage || !strings.Contains(msg, c.want) || strings.Count(msg, "\n") != 1 || out.Len() != 0 {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and one line with %q", c.args, code, msg, exitUsage, c.want)
		}
	}
	var out, errb bytes.Buffer
	if code := runMain([]string{"help"}, stdio{out: &out, err: &errb}); code != 0 || out.String() != usage() {
		t.Errorf("help: exit %d", code)
	}
	out.Reset()
	if code := runMain([]string{"generate", "-h"}, stdio{out: &out, err: &errb}); code != 0 || !strings.Contains(errb.String(), "--upscale") {
		t.Errorf("generate -h: exit %d, %q", code, errb.String())
	}
}

func TestEditDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"abc", "", 3}, {"out", "outt", 1}, {"sede", "seed", 1}, {"generate", "genrate", 1},
		{"nearset", "nearest", 1}, {"kitten", "sitting", 3}, {"ab", "ba", 1}} {
		if d := editDistance(c.a, c.b); d != c.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", c.a, c.b, d, c.d)
		}
	}
}

// version names the embedded model by the id serve uses and by its file's SHA-256.
func TestVersion(t *testing.T) {
	m, err := models.Default()
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(models.Bytes())
	out := run(t, cmdVersion)
	for _, want := range []string{"avatargan ", "\ncommit ", "embedded model " + m.ID(), hex.EncodeToString(sum[:]), "48 px, z 100, gf 96"} {
		if !strings.Contains(out, want) {
			t.Errorf("version output %q lacks %q", out, want)
		}
	}
}
