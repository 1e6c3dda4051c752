//go:build unix

package metrics

import (
	"syscall"
	"time"
)

// processCPU is the user+system CPU time of this process: unlike wall time it does not
// grow when other work shares the machine.
func processCPU() (time.Duration, bool) {
	var r syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &r) != nil {
		return 0, false
	}
	return time.Duration(r.Utime.Nano() + r.Stime.Nano()), true
}
