//go:build !noasm

package facedetect

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

//go:generate go run ./internal/asm -out stage_amd64.s -stubs stage_stub_amd64.go -pkg facedetect

// stageKernel returns the AVX-512 stage kernel for window step
// step, or nil where the CPU lacks AVX-512 F and DQ or the step has none.
func stageKernel(step int) stageFunc {
	if !cpu.X86.HasAVX512F || !cpu.X86.HasAVX512DQ {
		return nil
	}
	switch step {
	case 1:
		return func(base unsafe.Pointer, groups int, ev *stumpEval, nev int, thr float32, mask *uint16) {
			stageStep1AVX512((*int32)(base), groups, &ev.ofs[0], nev, thr, mask)
		}
	case 2:
		return func(base unsafe.Pointer, groups int, ev *stumpEval, nev int, thr float32, mask *uint16) {
			stageStep2AVX512((*int32)(base), groups, &ev.ofs[0], nev, thr, mask)
		}
	}
	return nil
}
