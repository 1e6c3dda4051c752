package avatar

import (
	"testing"
	"time"
)

// BenchmarkGenerate times a loaded (frozen) model end to end, latents to RGBA images:
// what generate and serve pay per call.
func BenchmarkGenerate(b *testing.B) {
	m, err := Untrained(Spec{Size: 48, ZDim: 100, GF: 64}, 1)
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{1, 64} {
		b.Run(map[int]string{1: "batch1", 64: "batch64"}[n], func(b *testing.B) {
			seeds := make([]uint64, n)
			for i := range seeds {
				seeds[i] = uint64(i)
			}
			z := m.Seeds(seeds...)
			m.Generate(z)
			start := time.Now()
			for b.Loop() {
				if _, err := m.Generate(z); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/time.Since(start).Seconds(), "images/s")
		})
	}
}
