package main

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"

	kgzip "github.com/klauspost/compress/gzip"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/promslog"

	"github.com/datapath-exporter/datapath-exporter/collector"
	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
)

// BenchmarkScrapeInProcess serves gzip scrapes of the exporter built from
// its flags in this process, on a private OVS (br-int with Antrea-sized
// tables) and a private conntrack table: the in-process counterpart of
// BenchmarkScrapes, for a CPU profile of a scrape (-cpuprofile).
func BenchmarkScrapeInProcess(b *testing.B) {
	o := testenv.OVSForTest(b, testenv.OVSOptions{})
	if err := o.AddBridge("br-int", "OpenFlow10", "OpenFlow15"); err != nil {
		b.Fatal(err)
	}
	var flows []string
	for i := range 3000 {
		flows = append(flows, testenv.DropFlows(i%len(testenv.AntreaAgentTableNames), i, 1)...)
	}
	if err := o.AddFlows("br-int", flows); err != nil {
		b.Fatal(err)
	}
	ns := testenv.NetnsForTest(b, testenv.NetnsOptions{})
	common := []string{"--ovs.rundir=" + o.RunDir, "--conntrack.netns=" + ns.Path}
	for _, v := range []struct {
		name string
		args []string
	}{
		{"default", nil},
		{"default-read-in-scrape", []string{"--ovs.openflow-read-interval=0s", "--ovs.datapath-read-interval=0s"}},
		{"all-off", []string{"--no-collector.ovs", "--no-collector.ovs_datapath", "--no-collector.conntrack"}},
	} {
		b.Run("method="+v.name, func(b *testing.B) {
			app, opts := newApp(io.Discard, io.Discard)
			if _, err := app.Parse(append(common, v.args...)); err != nil {
				b.Fatal(err)
			}
			cs, err := opts.collectors.Build(promslog.NewNopLogger())
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() {
				for _, s := range cs {
					if c, ok := s.Collector.(io.Closer); ok {
						c.Close()
					}
				}
			})
			var h http.Handler
			if gz := os.Getenv("BENCH_GZIP"); gz != "" {
				h = ownGzipHandler(b, cs, gz)
			} else {
				h, err = newHandler(promslog.NewNopLogger(), cs, "/metrics", 0)
				if err != nil {
					b.Fatal(err)
				}
			}
			scrape := func() {
				req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
				req.Header.Set("Accept-Encoding", "gzip")
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d", w.Code)
				}
			}
			scrape()
			if os.Getenv("BENCH_DUMP") != "" {
				req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				_ = os.WriteFile(os.Getenv("BENCH_DUMP")+"-"+v.name+".txt", w.Body.Bytes(), 0o644)
			}
			b.ReportAllocs()
			for b.Loop() {
				scrape()
			}
		})
	}
}

// ownGzipHandler is the lever measured against promhttp's own gzip (BENCH_GZIP
// = stdlib-bestspeed, klauspost-default or klauspost-bestspeed): the same
// registry served by promhttp without compression, the body then gzipped in
// one write.
func ownGzipHandler(b *testing.B, cs map[string]collector.Scraper, mode string) http.Handler {
	b.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(versioncollector.NewCollector(name), collector.NewExporter(promslog.NewNopLogger(), cs), collectors.NewGoCollector())
	if pc, err := newProcessCollector(); err == nil {
		reg.MustRegister(pc)
	}
	inner := promhttp.InstrumentMetricHandler(reg, promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		OfferedCompressions: []promhttp.Compression{promhttp.Identity}, Registry: reg}))
	type resetWriter interface {
		io.WriteCloser
		Reset(io.Writer)
	}
	pool := sync.Pool{New: func() any {
		switch mode {
		case "stdlib-bestspeed":
			w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
			return resetWriter(w)
		case "klauspost-bestspeed":
			w, _ := kgzip.NewWriterLevel(nil, kgzip.BestSpeed)
			return resetWriter(w)
		default:
			return resetWriter(kgzip.NewWriter(nil))
		}
	}}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		inner.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Encoding", "gzip")
		gz := pool.Get().(resetWriter)
		gz.Reset(w)
		_, _ = gz.Write(rec.Body.Bytes())
		_ = gz.Close()
		pool.Put(gz)
	})
}
