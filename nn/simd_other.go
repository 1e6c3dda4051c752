//go:build !amd64 || noasm

package nn

const useAVX = false

func addToAVX(a, s *float32, n int) { panic("nn: addToAVX without assembly") }

func adamAVX(pw, pg, pm, pv *float32, n int, k *[8]float32) {
	panic("nn: adamAVX without assembly")
}
