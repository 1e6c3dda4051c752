//go:build unix

package dataset

import (
	"syscall"
	"time"
)

// processCPU is the user+system CPU time of this process. Benchmarks report
// it next to wall time because the shared build machines are oversubscribed:
// CPU seconds stay meaningful when wall-clock figures do not.
func processCPU() time.Duration {
	var r syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &r) != nil {
		return 0
	}
	return time.Duration(r.Utime.Nano() + r.Stime.Nano())
}
