package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/common/promslog"

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
			h, err := newHandler(promslog.NewNopLogger(), cs, "/metrics", 0)
			if err != nil {
				b.Fatal(err)
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
			b.ReportAllocs()
			for b.Loop() {
				scrape()
			}
		})
	}
}
