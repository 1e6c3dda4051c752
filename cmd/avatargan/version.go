package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"runtime"
	"runtime/debug"

	"avatargan/internal/gemm"
	"avatargan/models"
)

// cmdVersion prints the module version, the VCS commit the binary was built from, the
// GEMM kernel and the embedded model's id (serve's model id is it plus the kernel) with
// the SHA-256 of its file: what a bug report needs.
func cmdVersion(ctx context.Context, o stdio, args []string) error {
	fs := newFlags(o, "version")
	if err := parse(fs, args); err != nil {
		return err
	}
	version, commit := "(unknown)", "(unknown: built without VCS information)"
	if bi, ok := debug.ReadBuildInfo(); ok {
		version = bi.Main.Version
		var rev, at, modified string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					modified = ", with uncommitted changes"
				}
			}
		}
		if rev != "" {
			commit = rev + " (" + at + modified + ")"
		}
	}
	fmt.Fprintf(o.out, "avatargan %s\ncommit %s\n%s %s/%s, gemm kernel %s\n", version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH, gemm.Kernel())
	m, err := models.Default()
	if err != nil {
		fmt.Fprintf(o.out, "embedded model: none (%v)\n", err)
		return nil
	}
	sum := sha256.Sum256(models.Bytes())
	s := m.Spec()
	head := ""
	if s.Refine > 0 {
		head = fmt.Sprintf(", refine %d", s.Refine)
	}
	fmt.Fprintf(o.out, "embedded model %s: %d px, z %d, gf %d%s; sha256 %s (models/generator.safetensors)\n",
		m.ID(), s.Size, s.ZDim, s.GF, head, hex.EncodeToString(sum[:]))
	return nil
}
