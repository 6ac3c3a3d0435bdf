package main

import (
	"compress/gzip"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
)

// gateGatherer counts its Gather calls and holds each one until release is
// closed, so a test can pile requests up behind one gathering.
type gateGatherer struct {
	reg     *prometheus.Registry
	calls   atomic.Int32
	started chan struct{} // gets a value per Gather call
	release chan struct{}
}

func newGateGatherer(t *testing.T) *gateGatherer {
	t.Helper()
	reg := prometheus.NewRegistry()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "dpx_test_value", Help: "A test value."})
	g.Set(42)
	reg.MustRegister(g)
	return &gateGatherer{reg: reg, started: make(chan struct{}, 100), release: make(chan struct{})}
}

func (g *gateGatherer) Gather() ([]*dto.MetricFamily, error) {
	g.calls.Add(1)
	g.started <- struct{}{}
	<-g.release
	return g.reg.Gather()
}

func TestMetricsHandlerSharesOneEncoding(t *testing.T) {
	for _, tt := range []struct {
		name           string
		accept, encode string
		wantType       string
	}{
		{"text", "", "", "text/plain"},
		{"text gzip", "", "gzip", "text/plain"},
		{"protobuf gzip", "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3", "gzip, deflate", "application/vnd.google.protobuf"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := newGateGatherer(t)
			srv := httptest.NewServer(newMetricsHandler(g, slog.New(slog.DiscardHandler), 0))
			t.Cleanup(srv.Close)

			const n = 20
			bodies := make([]string, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() { bodies[i], errs[i] = fetch(srv.URL, tt.accept, tt.encode, tt.wantType) })
			}
			<-g.started // the first request is gathering; let the others queue behind it
			time.Sleep(200 * time.Millisecond)
			close(g.release)
			wg.Wait()
			for i := range n {
				if errs[i] != nil {
					t.Fatalf("request %d: %v", i, errs[i])
				}
				if bodies[i] != bodies[0] {
					t.Errorf("request %d got another body than request 0", i)
				}
			}
			if !strings.Contains(bodies[0], "dpx_test_value") {
				t.Errorf("body lacks the metric: %q", bodies[0])
			}
			// Requests that missed the shared flight start their own; a
			// queue of 20 behind one gathering must not cost 20.
			if c := g.calls.Load(); c >= n/2 {
				t.Errorf("%d requests caused %d gatherings, want them shared", n, c)
			}
		})
	}
}

func TestMetricsHandlerMaxRequests(t *testing.T) {
	g := newGateGatherer(t)
	srv := httptest.NewServer(newMetricsHandler(g, slog.New(slog.DiscardHandler), 1))
	t.Cleanup(srv.Close)
	first := make(chan error, 1)
	go func() {
		_, err := fetch(srv.URL, "", "", "text/plain")
		first <- err
	}()
	<-g.started
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "limit of concurrent requests reached (1)") {
		t.Errorf("second request with --web.max-requests=1: %d %q, want 503 naming the limit", resp.StatusCode, body)
	}
	close(g.release)
	if err := <-first; err != nil {
		t.Errorf("first request: %v", err)
	}
}

func TestAcceptsGzip(t *testing.T) {
	for in, want := range map[string]bool{
		"": false, "gzip": true, "deflate, gzip;q=1.0, *;q=0.5": true, "gzip;q=0": false, "br": false, "x-gzip": false,
	} {
		h := http.Header{}
		if in != "" {
			h.Set("Accept-Encoding", in)
		}
		if got := acceptsGzip(h); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", in, got, want)
		}
	}
}

// fetch GETs url without the transport's transparent gzip, checks the
// status and content type, and returns the decoded text of the body.
func fetch(url, accept, encoding, wantType string) (string, error) {
	return fetchWith(http.DefaultClient, url, accept, encoding, wantType)
}

func fetchWith(client *http.Client, url, accept, encoding, wantType string) (string, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if encoding != "" {
		req.Header.Set("Accept-Encoding", encoding)
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return "", fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, wantType) {
		return "", fmt.Errorf("Content-Type %q, want %s", ct, wantType)
	}
	var r io.Reader = resp.Body
	if resp.Header.Get("Content-Encoding") == "gzip" {
		if encoding == "" {
			return "", fmt.Errorf("gzip sent to a client that did not ask for it")
		}
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			return "", err
		}
		r = zr
	}
	mfs, err := decodeFamilies(r, expfmt.ResponseFormat(resp.Header))
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
			return "", err
		}
	}
	return b.String(), nil
}

func decodeFamilies(r io.Reader, format expfmt.Format) ([]*dto.MetricFamily, error) {
	dec := expfmt.NewDecoder(r, format)
	var out []*dto.MetricFamily
	for {
		mf := &dto.MetricFamily{}
		if err := dec.Decode(mf); err == io.EOF {
			return out, nil
		} else if err != nil {
			return nil, fmt.Errorf("decoding %s: %w", format, err)
		}
		out = append(out, mf)
	}
}

// TestScrapeStorm sends 200 concurrent clients doing 5 scrapes each (gzip,
// keep-alive, as Prometheus scrapes) to the exporter reading a real OVS and
// a real conntrack table: every scrape must be answered with every
// collector successful, none with an error or a 503, and the exporter's
// open files must come back to where they were once the clients are gone.
// How fast (p99) and how much memory is measured in `make bench`, not here.
func TestScrapeStorm(t *testing.T) {
	o := testenv.OVSForTest(t)
	ns := testenv.NetnsForTest(t)
	if err := o.AddBridge("br-int", "OpenFlow10", "OpenFlow15"); err != nil {
		t.Fatal(err)
	}
	if err := o.AddFlows("br-int", testenv.DropFlows(1, 0, 500)); err != nil {
		t.Fatal(err)
	}
	base, logs := startExporter(t, "--ovs.rundir="+o.RunDir, "--conntrack.netns="+ns.Path,
		"--ovs.timeout=30s", "--conntrack.timeout=30s")
	url := base + "/metrics"
	if _, err := fetch(url, "", "gzip", "text/plain"); err != nil { // warm up: sessions, names
		t.Fatal(err)
	}
	fdsBefore := openFDs(t)

	const clients, scrapes = 200, 5
	errs := make(chan error, clients*scrapes)
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			tr := &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 1}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: time.Minute}
			for range scrapes {
				body, err := fetchWith(client, url, "", "gzip", "text/plain")
				if err == nil && (!strings.Contains(body, `datapath_scrape_collector_success{collector="ovs"} 1`) ||
					!strings.Contains(body, `datapath_scrape_collector_success{collector="conntrack"} 1`)) {
					err = fmt.Errorf("a collector failed during the storm:\n%s", grepLines(body, "datapath_scrape_collector_success"))
				}
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	n := 0
	for err := range errs {
		if n++; n <= 3 {
			t.Error(err)
		}
	}
	if n > 0 {
		t.Fatalf("%d of %d scrapes failed; exporter log:\n%s", n, clients*scrapes, logs)
	}

	deadline := time.Now().Add(15 * time.Second)
	for {
		fds := openFDs(t)
		if fds <= fdsBefore {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("open files: %d before the storm, %d 15s after it", fdsBefore, fds)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// openFDs counts this process's open file descriptors (the exporter runs
// in-process).
func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

func grepLines(s, substr string) string {
	var out []string
	for line := range strings.Lines(s) {
		if strings.Contains(line, substr) {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return strings.Join(out, "\n")
}
