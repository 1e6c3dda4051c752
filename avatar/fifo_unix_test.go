//go:build unix

package avatar_test

import "syscall"

func mkfifo(path string) error { return syscall.Mkfifo(path, 0o600) }

// errNoFIFOs is never returned here: unix has FIFOs, so a failed mkfifo is a broken
// environment (a failure under CI).
var errNoFIFOs error
