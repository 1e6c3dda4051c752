package server

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// LoadResult summarises a RunLoad: throughput and latency percentiles over the
// successful requests.
type LoadResult struct {
	Requests int           // requests sent
	Errors   int           // non-200 responses and transport errors
	Elapsed  time.Duration // wall time of the whole run
	PerSec   float64       // successful avatars per second
	P50, P99 time.Duration // latency percentiles of successful requests
	FirstErr string        // first error seen, for diagnosis
}

// String formats r for the CLI's bench command and test logs.
func (r LoadResult) String() string {
	return fmt.Sprintf("%d req (%d err) in %v: %.0f avatars/s, p50 %.2f ms, p99 %.2f ms",
		r.Requests, r.Errors, r.Elapsed.Round(time.Millisecond), r.PerSec,
		float64(r.P50)/1e6, float64(r.P99)/1e6)
}

// RunLoad sends requests GETs of /avatar/{seed}.png with distinct seeds to the
// server at baseURL (e.g. "http://127.0.0.1:8080") from clients concurrent
// clients over keep-alive connections, and reports throughput and latency. The seeds
// are firstSeed, firstSeed+1, ...: give successive runs against one server disjoint
// ranges, so that no layer can answer from a cache (there is none today, but a
// benchmark should not depend on that). It is shared by BenchmarkLoad and the CLI's
// bench command.
func RunLoad(baseURL string, clients, requests int, firstSeed uint64) LoadResult {
	clients = max(clients, 1)
	tr := &http.Transport{MaxIdleConns: clients, MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var next atomic.Int64
	lat := make([][]time.Duration, clients)
	var errs atomic.Int64
	var firstErr sync.Once
	var res LoadResult
	start := time.Now()
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(requests) {
					return
				}
				url := fmt.Sprintf("%s/avatar/%d.png", baseURL, firstSeed+uint64(i))
				t0 := time.Now()
				resp, err := client.Get(url)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("GET %s: %s", url, resp.Status)
					}
				}
				if err != nil {
					errs.Add(1)
					firstErr.Do(func() { res.FirstErr = err.Error() })
					continue
				}
				lat[c] = append(lat[c], time.Since(t0))
			}
		})
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	all := slices.Concat(lat...)
	slices.Sort(all)
	res.Requests, res.Errors = requests, int(errs.Load())
	if len(all) > 0 {
		res.PerSec = float64(len(all)) / res.Elapsed.Seconds()
		res.P50 = all[(len(all)-1)*50/100]
		res.P99 = all[(len(all)-1)*99/100]
	}
	return res
}
