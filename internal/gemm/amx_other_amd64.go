//go:build !noasm && !linux

package gemm

// amxPermitted is false outside Linux: the AMX kernel is only wired up where the
// OS permission request (arch_prctl) is known.
func amxPermitted() bool { return false }
