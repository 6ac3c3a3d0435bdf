package main

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

// metricsHandlers are the implementations BenchmarkMetricsHandler
// measures side by side: the exporter's, and client_golang's handler
// alone (without sharedResponses).
var metricsHandlers = []struct {
	name string
	new  func(reg *prometheus.Registry, g prometheus.Gatherer) http.Handler
}{
	{"shared", func(reg *prometheus.Registry, g prometheus.Gatherer) http.Handler {
		return newMetricsHandler(reg, g, slog.New(slog.DiscardHandler), 0, time.Minute)
	}},
	{"promhttp", func(reg *prometheus.Registry, g prometheus.Gatherer) http.Handler {
		return lowerAcceptEncoding(promhttp.InstrumentMetricHandler(reg, libraryHandler(reg, g, slog.New(slog.DiscardHandler), 0, time.Minute)))
	}},
}

// slowGatherer is a scrape of the default exporter's shape: Go runtime
// metrics and 240 datapath_* series, whose gathering waits as long as the
// collectors' round trips to OVS and the kernel take (about 1 ms).
type slowGatherer struct {
	reg   *prometheus.Registry
	delay time.Duration
}

func newSlowGatherer(b *testing.B, delay time.Duration) *slowGatherer {
	b.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector())
	flows := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "datapath_ovs_table_flows", Help: "Flows in the table, read from OVS over OpenFlow."}, []string{"bridge", "table_id", "table_name"})
	lookups := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "datapath_ovs_table_lookups_total", Help: "Lookups in the table, read from OVS over OpenFlow."}, []string{"bridge", "table_id", "table_name"})
	for _, bridge := range []string{"br-int", "br-ext"} {
		for id := range 60 {
			flows.WithLabelValues(bridge, fmt.Sprint(id), fmt.Sprintf("Table%d", id)).Set(float64(id * 100))
			lookups.WithLabelValues(bridge, fmt.Sprint(id), fmt.Sprintf("Table%d", id)).Add(float64(id * 1e6))
		}
	}
	reg.MustRegister(flows, lookups)
	return &slowGatherer{reg: reg, delay: delay}
}

func (g *slowGatherer) Gather() ([]*dto.MetricFamily, error) {
	time.Sleep(g.delay)
	return g.reg.Gather()
}

// BenchmarkMetricsHandler measures gzip scrapes served in-process: one at
// a time with an instant gathering (the handler's own cost), and 200 at
// once with a 1 ms gathering (a storm, where scrapes share gatherings).
func BenchmarkMetricsHandler(b *testing.B) {
	for _, mode := range []struct {
		name     string
		parallel int // goroutines per GOMAXPROCS, 0: one at a time
		delay    time.Duration
	}{
		{"serial", 0, 0},
		{"storm", 100, time.Millisecond},
	} {
		for _, impl := range metricsHandlers {
			b.Run(fmt.Sprintf("mode=%s/impl=%s", mode.name, impl.name), func(b *testing.B) {
				g := newSlowGatherer(b, mode.delay)
				h := impl.new(prometheus.NewRegistry(), g)
				scrape := func() {
					req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
					req.Header.Set("Accept-Encoding", "gzip")
					w := httptest.NewRecorder()
					h.ServeHTTP(w, req)
					if w.Code != http.StatusOK || w.Header().Get("Content-Encoding") != "gzip" {
						b.Fatalf("status %d, Content-Encoding %q", w.Code, w.Header().Get("Content-Encoding"))
					}
					_, _ = io.Copy(io.Discard, w.Body)
				}
				b.ReportAllocs()
				if mode.parallel == 0 {
					for b.Loop() {
						scrape()
					}
					return
				}
				b.SetParallelism(mode.parallel)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						scrape()
					}
				})
			})
		}
	}
}
