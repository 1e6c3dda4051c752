package metrics

import (
	"bufio"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
)

// peakRSSMB reads the process's peak resident set (VmHWM) in MiB; 0 where /proc is absent.
func peakRSSMB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// BenchmarkSWD measures real vs fake at 48 px with the original's settings. The set size
// is AVATARGAN_SWD_N (default 256; the target case is 8192):
//
//	AVATARGAN_SWD_N=8192 go test ./metrics -run '^$' -bench SWD -benchtime 1x
func BenchmarkSWD(b *testing.B) {
	n := 256
	if v, err := strconv.Atoi(os.Getenv("AVATARGAN_SWD_N")); err == nil && v > 0 {
		n = v
	}
	r := rand.New(rand.NewPCG(1, 1))
	real, fake := noise(r, n, 48), noise(r, n, 48)
	o := DefaultOptions()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := SWD(real, fake, 48, o); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(peakRSSMB(), "peakRSS_MiB")
	b.ReportMetric(float64(n), "images")
}

// BenchmarkSortFloat32 sorts one projection of the n=8192 case (1M descriptors); SWD does
// 2 sets x 2 levels x 512 directions = 2048 of these.
func BenchmarkSortFloat32(b *testing.B) {
	const n = 1 << 20
	r := rand.New(rand.NewPCG(2, 2))
	src := make([]float32, n)
	for i := range src {
		src[i] = float32(r.NormFloat64() * 3)
	}
	a := make([]float32, n)
	s1, s2 := make([]uint32, n), make([]uint32, n)
	b.SetBytes(4 * n)
	for i := 0; i < b.N; i++ {
		copy(a, src)
		sortFloat32(a, s1, s2)
	}
}
