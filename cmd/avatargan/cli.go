package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// usageError is a command line that cannot be acted on: an unknown flag, a malformed
// value, a stray argument. main exits 2 for it, as for an unknown command.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// newFlags returns a flag set for a subcommand that reports errors instead of exiting.
// Its -h help starts with a synopsis generated from the flags. Mark a flag that must be
// given with "(required)" in its usage, and name a value's placeholder in backquotes
// ("`PATH`"), as the flag package does. Extra arguments (an older hand-written synopsis)
// are ignored.
func newFlags(o stdio, name string, _ ...string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(o.err)
	fs.Usage = func() {
		if o.describe != nil {
			o.describe(fs)
			return
		}
		fmt.Fprintf(fs.Output(), "Usage:\n%s\nFlags:\n", synopsis(fs))
		printFlags(fs)
	}
	return fs
}

// printFlags lists fs's flags as the synopsis spells them (--name, -n), each with its
// usage and default.
func printFlags(fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		_, text := flag.UnquoteUsage(f)
		head := dashes(f.Name)
		if v := placeholder(f); v != "" {
			head += " " + v
		}
		fmt.Fprintf(fs.Output(), "  %s\n        %s", head, text)
		if d := f.DefValue; d != "" && d != "0" && d != "false" && !strings.Contains(text, "default") {
			fmt.Fprintf(fs.Output(), " (default %s)", d)
		}
		fmt.Fprintln(fs.Output())
	})
}

// parse parses args. -h prints the command's help and returns flag.ErrHelp; a bad flag
// gets a one-line usageError, with a suggestion for a misspelled name, rather than the
// whole flag list; stray positional arguments are refused, as they are almost always a
// flag typed after a non-flag argument.
func parse(fs *flag.FlagSet, args []string) error {
	help, out := fs.Usage, fs.Output()
	fs.Usage = func() {}
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.Usage = help
	fs.SetOutput(out)
	hint := fmt.Sprintf(" (\"avatargan %s -h\" lists the flags)", fs.Name())
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.Usage()
		return err
	case err != nil:
		msg := err.Error()
		if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
			name = strings.TrimLeft(name, "-")
			var names []string
			fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
			msg = fmt.Sprintf("unknown flag %s%s", dashes(name), didYouMean(name, names, true))
		}
		return usageError{errors.New(msg + hint)}
	case fs.NArg() > 0:
		return usageError{fmt.Errorf("unexpected argument %q (flags go before arguments)%s", fs.Arg(0), hint)}
	}
	return nil
}

// dashes returns the flag as written in the help: -n, --seed.
func dashes(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// didYouMean returns "; did you mean X?" for the candidate closest to s in edit
// distance, when it is close enough to be a typo (at most 2 edits, and fewer than half
// of s's letters), or "". asFlag spells the suggestion as a flag.
func didYouMean(s string, candidates []string, asFlag bool) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(s), c); d < bestD && 2*d < max(len(s), 2) {
			best, bestD = c, d
		}
	}
	if best == "" {
		return ""
	}
	if asFlag {
		best = dashes(best)
	}
	return fmt.Sprintf("; did you mean %s?", best)
}

// editDistance is the Levenshtein distance between a and b, with a transposition of
// neighbours counting as one edit (the commonest typo).
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

// synopsis returns "avatargan NAME" and every flag of fs, required ones first, then the
// rest in alphabetical order, wrapped at 100 columns.
func synopsis(fs *flag.FlagSet) string {
	var req, opt []string
	fs.VisitAll(func(f *flag.Flag) {
		s := dashes(f.Name)
		if v := placeholder(f); v != "" {
			s += " " + v
		}
		if strings.Contains(f.Usage, "(required)") {
			req = append(req, s)
		} else {
			opt = append(opt, "["+s+"]")
		}
	})
	head := fmt.Sprintf("  avatargan %-11s", fs.Name())
	indent := strings.Repeat(" ", len(head)+1)
	var b strings.Builder
	line := head
	for _, w := range append(req, opt...) {
		if len(line)+1+len(w) > 100 && line != head {
			b.WriteString(line + "\n")
			line = indent[:len(indent)-1]
		}
		line += " " + w
	}
	b.WriteString(strings.TrimRight(line, " ") + "\n")
	return b.String()
}

// placeholder returns what a flag's synopsis shows for its value: the backquoted word of
// its usage, else its default, else its name in capitals; nothing for a boolean flag.
func placeholder(f *flag.Flag) string {
	name, _ := flag.UnquoteUsage(f)
	switch {
	case name == "":
		return ""
	case strings.Contains(f.Usage, "`"):
		return name
	case f.DefValue != "":
		return f.DefValue
	}
	return strings.ToUpper(f.Name)
}

// commandFlags returns the flag set of cmd, by running it with -h in describe mode
// (commands parse their flags before doing anything else).
func commandFlags(cmd command) *flag.FlagSet {
	var fs *flag.FlagSet
	o := stdio{out: io.Discard, err: io.Discard, describe: func(f *flag.FlagSet) { fs = f }}
	cmd.run(context.Background(), o, []string{"-h"})
	return fs
}

// usage is the help text: the commands with their summaries, and every command's
// synopsis generated from its flags.
func usage() string {
	var b strings.Builder
	b.WriteString("avatargan: anime avatars from a DCGAN, trained and run on the CPU.\n\nCommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(&b, "  %-12s %s\n", c.name, c.summary)
	}
	b.WriteString("\nUsage:\n")
	b.WriteString(synopses())
	b.WriteString(`
Without --checkpoint, generate, interpolate, eval and serve use the generator embedded
in the binary. "avatargan COMMAND -h" describes a command's flags.
`)
	return b.String()
}

// synopses returns the synopsis of every command (the README's Commands block).
func synopses() string {
	var b strings.Builder
	for _, c := range commands() {
		if fs := commandFlags(c); fs != nil {
			b.WriteString(synopsis(fs))
		}
	}
	return b.String()
}
