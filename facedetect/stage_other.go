//go:build !amd64 || noasm

package facedetect

// stageKernel is nil without amd64 assembly: the Go stages run.
func stageKernel(step int) stageFunc {
	return nil
}
