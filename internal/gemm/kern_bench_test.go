package gemm

import "testing"

// BenchmarkKernel measures the bare micro-kernels on L1-resident panels: the
// ceiling the blocked driver can reach.
func BenchmarkKernel(b *testing.B) {
	ks := append([]kernelImpl{}, available...)
	for _, ki := range ks {
		b.Run(ki.name, func(b *testing.B) {
			const kc = 256
			pa := grow(nil, ki.mr*kc)
			pb := grow(nil, ki.nr*kc)
			c := grow(nil, ki.mr*ki.nr)
			cpu0 := cpuSeconds()
			for i := 0; i < b.N; i++ {
				ki.fn(kc, &pa[0], &pb[0], &c[0], ki.nr, 1, 1)
			}
			flops := 2 * float64(ki.mr*ki.nr*kc) * float64(b.N)
			b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			if cpu := cpuSeconds() - cpu0; cpu > 0 {
				b.ReportMetric(flops/cpu/1e9, "GFLOP/cpu-s")
			}
		})
	}
}
