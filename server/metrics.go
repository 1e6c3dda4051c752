package server

import (
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
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "avatargan_http_requests_total",
			Help: "HTTP requests by route and status code.",
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
	}
	m.reg.MustRegister(m.requests, m.latency, m.images, m.batchSize, m.genSeconds, m.queued, m.rejected,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// statusWriter records the status code for the metrics.
type statusWriter struct {
	http.ResponseWriter
	code int
}

// WriteHeader records the first status code for the metrics.
func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write records an implicit 200 for the metrics.
func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// instrument counts and times h under a fixed route label; the label is the route
// name, never the raw path, so the label set stays bounded.
func (m *metrics) instrument(route string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		if sw.code == 0 {
			sw.code = http.StatusOK
		}
		m.requests.WithLabelValues(route, strconv.Itoa(sw.code)).Inc()
		m.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}
