//go:build !noasm

package gemm

import (
	"sync"

	"golang.org/x/sys/unix"
)

// amxPermitted asks Linux, once, for permission to use the AMX tile data state
// (arch_prctl ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA): without it the first tile
// instruction kills the process. The permission is per process and cannot be
// dropped; a kernel without AMX support refuses it, and then no AMX path exists.
var amxPermitted = sync.OnceValue(func() bool {
	const archReqXcompPerm, xfeatureXTileData = 0x1023, 18
	_, _, e := unix.RawSyscall(unix.SYS_ARCH_PRCTL, archReqXcompPerm, xfeatureXTileData, 0)
	return e == 0
})
