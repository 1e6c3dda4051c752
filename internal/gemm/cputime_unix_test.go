//go:build unix

package gemm

import "syscall"

// cpuSeconds is the process's user+system CPU time. Benchmarks divide work by it
// as well as by wall time because the benchmark machine is shared: CPU time
// excludes the slices other processes take.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
