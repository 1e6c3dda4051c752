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

// Exit statuses: a command line the program cannot act on (unknown command or flag, bad
// flag syntax) exits 2, a failed command 1 and an interrupted one 130, as shells report
// a process killed by SIGINT.
const (
	exitFailed      = 1
	exitUsage       = 2
	exitInterrupted = 130
)

// command is one subcommand: its name, a one-line summary for the help text and the
// function that runs it. Commands parse their flags with newFlags and parse, from which
// the help text's synopses are generated (see usage), so the two cannot disagree.
type command struct {
	name, summary string
	run           func(ctx context.Context, o stdio, args []string) error
}

// commands returns the subcommands in the order the help text lists them.
func commands() []command {
	return []command{
		{"generate", "make avatars: avatar i is the one of seed S+i", cmdGenerate},
		{"interpolate", "walk from one avatar to another (an animated GIF or a strip)", cmdInterpolate},
		{"train", "train a generator on a folder of images (Ctrl-C saves; run again to resume)", cmdTrain},
		{"eval", "measure a generator or a folder of images against real ones (SWD)", cmdEval},
		{"serve", "serve avatars and a web page over HTTP", cmdServe},
		{"export", "write a generator-only file that the PyTorch reference loads", cmdExport},
		{"crop", "make a training set of face crops from a folder of illustrations", cmdCrop},
		{"bench", "measure this machine's speed on the reference network", cmdBench},
		{"version", "print the version, commit and embedded model", cmdVersion},
	}
}

func main() {
	os.Exit(runMain(os.Args[1:], stdio{out: os.Stdout, err: os.Stderr}))
}

// runMain runs the command line args and returns the exit status.
func runMain(args []string, o stdio) int {
	if len(args) == 0 {
		fmt.Fprint(o.err, usage())
		return exitUsage
	}
	name := args[0]
	if name == "help" || name == "-h" || name == "-help" || name == "--help" {
		fmt.Fprint(o.out, usage())
		return 0
	}
	var cmd *command
	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
		if c.name == name {
			cmd = &c
		}
	}
	if cmd == nil {
		fmt.Fprintf(o.err, "avatargan: unknown command %q%s (\"avatargan help\" lists the commands)\n", name, didYouMean(name, names, false))
		return exitUsage
	}
	// SIGINT/SIGTERM cancel the context: train finishes its step and checkpoints, serve
	// shuts down gracefully, the rest stop within a second, removing their temporary
	// files. After the first signal the default action is restored, so a second Ctrl-C
	// ends the process at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop)
	err := cmd.run(ctx, o, args[1:])
	switch {
	case err == nil || errors.Is(err, flag.ErrHelp):
		return 0
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		fmt.Fprintf(o.err, "avatargan %s: interrupted\n", name)
		return exitInterrupted
	}
	fmt.Fprintf(o.err, "avatargan %s: %v\n", name, err)
	if errors.As(err, new(usageError)) {
		return exitUsage
	}
	return exitFailed
}

// stdio is where a command writes: results and progress to out, notes, warnings and
// flag usage to err. main passes os.Stdout and os.Stderr; tests pass buffers.
type stdio struct {
	out, err io.Writer
	// describe, when set, receives a command's flag set instead of it printing its help
	// on -h: how usage collects every command's flags.
	describe func(*flag.FlagSet)
}
