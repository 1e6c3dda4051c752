package server

import (
	"cmp"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics lives in a registry of its own: the global one would make two Servers in
// one process (tests) collide, and would export whatever else registered there.
type metrics struct {
	reg        *prometheus.Registry
	requests   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	images     prometheus.Counter
	batchSize  prometheus.Histogram
	genSeconds prometheus.Histogram
	queued     prometheus.Gauge
	rejected   prometheus.Counter
	busy       prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "avatargan_http_requests_total",
			Help: "HTTP requests by route and status code; code=\"aborted\": the client did not get the response.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "avatargan_http_request_duration_seconds",
			Help:    "HTTP request latency by route.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16), // 0.5 ms .. 16 s
		}, []string{"route"}),
		images: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "avatargan_images_generated_total",
			Help: "Images rendered by the generator.",
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "avatargan_batch_size",
			Help:    "Images per generator pass.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10), // 1 .. 512
		}),
		genSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "avatargan_generate_duration_seconds",
			Help:    "Duration of one generator pass.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		queued: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "avatargan_queue_images",
			Help: "Images queued or being generated.",
		}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "avatargan_queue_rejected_total",
			Help: "Requests refused with 503 because the queue was full.",
		}),
		busy: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "avatargan_work_rejected_total",
			Help: "Requests refused with 503 because admitted requests held the work budget.",
		}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.images, m.batchSize, m.genSeconds, m.queued, m.rejected, m.busy,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// statusWriter records what the client got, for the metrics: the status code,
// or "aborted" when writing the response failed (the connection broke or its
// write deadline passed) or the client left before it was written.
type statusWriter struct {
	http.ResponseWriter
	code    int
	aborted bool
}

// WriteHeader records the first status code for the metrics.
func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write records an implicit 200, and a failed write, for the metrics.
func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	if err != nil {
		w.aborted = true
	}
	return n, err
}

// FlushError flushes the underlying writer (http.ResponseController uses it) and
// records a failure: a body smaller than the connection's buffer is only really
// sent, or not, at the flush.
func (w *statusWriter) FlushError() error {
	err := http.NewResponseController(w.ResponseWriter).Flush()
	if err != nil && !errors.Is(err, http.ErrNotSupported) {
		w.aborted = true
	}
	return err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// abort marks the response as not received by the client.
func (w *statusWriter) abort() { w.aborted = true }

// markAborted tells the metrics, through any wrapping writers, that the client
// will not get this response.
func markAborted(w http.ResponseWriter) {
	for {
		switch x := w.(type) {
		case interface{ abort() }:
			x.abort()
			return
		case interface{ Unwrap() http.ResponseWriter }:
			w = x.Unwrap()
		default:
			return
		}
	}
}

// instrument counts and times h under a fixed route label; the label is the route
// name, never the raw path, so the label set stays bounded. A response the client
// did not get is counted as code="aborted", whatever status had been sent.
func (m *metrics) instrument(route string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		code := "aborted"
		if !sw.aborted {
			code = strconv.Itoa(cmp.Or(sw.code, http.StatusOK))
		}
		m.requests.WithLabelValues(route, code).Inc()
		m.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}
