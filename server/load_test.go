package server

import (
	"fmt"
	"net/http/httptest"
	"testing"
)

// loadModel is the model BenchmarkLoad serves. With the fake it measures the
// server's own overhead (routing, batching, scaling, PNG encoding); point it at
// the real generator to measure end to end.
var loadModel = func() Model { return newFake() }

// BenchmarkLoad serves /avatar/{seed}.png over real loopback TCP to 1, 8 and 32
// concurrent clients with distinct seeds, and reports avatars/s and latency
// percentiles. b.N is the request count, so -benchtime bounds it (e.g. 2000x).
func BenchmarkLoad(b *testing.B) {
	for _, clients := range []int{1, 8, 32} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			s, err := New(loadModel(), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			srv := httptest.NewServer(s.Handler())
			defer srv.Close()
			RunLoad(srv.URL, clients, 2*clients, 1<<40) // warm connections and pools
			b.ResetTimer()
			// Seeds unused by the warm-up (and by earlier b.N rounds: runs start 2^32 apart).
			res := RunLoad(srv.URL, clients, max(b.N, clients), uint64(b.N)<<32)
			b.StopTimer()
			if res.Errors > 0 {
				b.Fatalf("%d errors, first: %s", res.Errors, res.FirstErr)
			}
			b.ReportMetric(res.PerSec, "avatars/s")
			b.ReportMetric(float64(res.P50.Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(res.P99.Microseconds())/1000, "p99-ms")
		})
	}
}
