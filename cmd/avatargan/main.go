// Command avatargan trains a DCGAN on a folder of anime faces and generates avatars from
// it, on an ordinary CPU. Run "avatargan help" for the commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `avatargan: anime avatars from a DCGAN, trained and run on the CPU.

Usage:
  avatargan generate    [-n 64] [--seed S] [--grid] [--out avatars.png|DIR] [--checkpoint PATH]
  avatargan interpolate --from A --to B [--steps 10] [--out walk.gif|strip.png] [--checkpoint PATH]
  avatargan train       --data DIR [--out RUN_DIR] [--epochs 50] [flags]
  avatargan eval        --data DIR [--checkpoint PATH | --fake DIR [--size N]] [-n 8192] [--json]
  avatargan serve       [--addr 127.0.0.1:8080] [--checkpoint PATH]
  avatargan export      --checkpoint PATH --out generator.safetensors
  avatargan bench       [--what gemm,layers,train,generate,serve] [--reps 5]
  avatargan crop        --in DIR --out DIR [--size 96] [--all] [--min-face 64] [flags]

Without --checkpoint, generate, interpolate, eval and serve use the generator embedded
in the binary. "avatargan COMMAND -h" lists a command's flags.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	cmds := map[string]func(ctx context.Context, o stdio, args []string) error{
		"train":       cmdTrain,
		"generate":    cmdGenerate,
		"interpolate": cmdInterpolate,
		"export":      cmdExport,
		"eval":        cmdEval,
		"serve":       cmdServe,
		"bench":       cmdBench,
		"crop":        cmdCrop,
	}
	name := os.Args[1]
	if name == "help" || name == "-h" || name == "--help" {
		fmt.Print(usage)
		return
	}
	run, ok := cmds[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "avatargan: unknown command %q\n\n%s", name, usage)
		os.Exit(2)
	}
	// SIGINT/SIGTERM cancel the context: train finishes its step and checkpoints, serve
	// shuts down gracefully, the rest stop early.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, stdio{out: os.Stdout, err: os.Stderr}, os.Args[2:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintf(os.Stderr, "avatargan %s: %v\n", name, err)
		os.Exit(1)
	}
}

// stdio is where a command writes: results and progress to out, notes, warnings and
// flag usage to err. main passes os.Stdout and os.Stderr; tests pass buffers.
type stdio struct {
	out, err io.Writer
}

// newFlags returns a flag set for a subcommand that reports errors instead of exiting.
func newFlags(o stdio, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(o.err)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: avatargan %s %s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args and rejects stray positional arguments, which are almost always a
// flag typed after a non-flag argument.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags go before arguments; see -h)", fs.Arg(0))
	}
	return nil
}
