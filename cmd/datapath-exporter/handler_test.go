package main

import (
	"compress/gzip"
	"errors"
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

	"github.com/klauspost/compress/zstd"
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

// serveMetrics serves g with the metrics handler (instrumentation metrics
// in reg) and returns its URL.
func serveMetrics(t *testing.T, reg prometheus.Registerer, g prometheus.Gatherer, logger *slog.Logger, maxRequests int, timeout time.Duration) string {
	t.Helper()
	srv := httptest.NewServer(newMetricsHandler(reg, g, logger, maxRequests, timeout))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestMetricsHandlerSharesOneGathering piles 20 requests up behind one
// gathering: identical ones share one response, different ones (formats,
// codings) one gathering.
func TestMetricsHandlerSharesOneGathering(t *testing.T) {
	const protobuf = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3"
	type request struct{ accept, encode, wantType string }
	for _, tt := range []struct {
		name     string
		requests []request // request i is requests[i%len(requests)]
	}{
		{"text", []request{{"", "", "text/plain"}}},
		{"text gzip", []request{{"", "gzip", "text/plain"}}},
		{"text zstd", []request{{"", "zstd", "text/plain"}}},
		{"protobuf gzip", []request{{protobuf, "gzip, deflate", "application/vnd.google.protobuf"}}},
		{"mixed", []request{{"", "identity", "text/plain"}, {"", "gzip", "text/plain"}, {"", "zstd", "text/plain"}, {protobuf, "gzip", "application/vnd.google.protobuf"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := newGateGatherer(t)
			url := serveMetrics(t, prometheus.NewRegistry(), g, slog.New(slog.DiscardHandler), 0, 0)

			const n = 20
			bodies := make([]string, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				rq := tt.requests[i%len(tt.requests)]
				wg.Go(func() { bodies[i], errs[i] = fetch(url, rq.accept, rq.encode, rq.wantType) })
			}
			<-g.started // the first request is gathering; let the others join it
			time.Sleep(200 * time.Millisecond)
			close(g.release)
			wg.Wait()
			for i := range n {
				if errs[i] != nil {
					t.Fatalf("request %d: %v", i, errs[i])
				}
				if bodies[i] != bodies[0] {
					t.Errorf("request %d got other metrics than request 0", i)
				}
			}
			if !strings.Contains(bodies[0], "dpx_test_value") {
				t.Errorf("body lacks the metric: %q", bodies[0])
			}
			// Requests that missed the shared gathering start their own;
			// a queue of 20 behind one gathering must not cost 20.
			if c := g.calls.Load(); c >= n/2 {
				t.Errorf("%d requests caused %d gatherings, want them shared", n, c)
			}
		})
	}
}

// TestMetricsHandlerCompression checks the negotiation of Accept-Encoding:
// codings are case-insensitive, q=0 refuses one, `*` accepts any (gzip is
// preferred), and without a coding both sides know the reply is not
// compressed.
func TestMetricsHandlerCompression(t *testing.T) {
	reg := prometheus.NewRegistry()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "dpx_test_value", Help: "A test value."})
	reg.MustRegister(g)
	url := serveMetrics(t, reg, reg, slog.New(slog.DiscardHandler), 0, 0)
	for _, tt := range []struct{ acceptEncoding, want string }{
		{"", ""},
		{"gzip", "gzip"},
		{"GZIP", "gzip"},
		{"Gzip;Q=1", "gzip"},
		{"deflate, gzip;q=1.0, *;q=0.5", "gzip"},
		{"gzip;q=0", ""},
		{"*", "gzip"},
		{"*;q=0", ""},
		{"identity", ""},
		{"identity;q=0, gzip", "gzip"},
		{"br", ""},
		{"x-gzip", ""},
		{"zstd", "zstd"},
		{"ZSTD", "zstd"},
		{"gzip;q=0.5, zstd", "zstd"},
		{"zstd, gzip", "gzip"},
	} {
		t.Run(tt.acceptEncoding, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, url, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Accept-Encoding", tt.acceptEncoding) // "" still stops the transport's own gzip
			resp, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if got := resp.Header.Get("Content-Encoding"); got != tt.want {
				t.Fatalf("Accept-Encoding %q: Content-Encoding %q, want %q", tt.acceptEncoding, got, tt.want)
			}
			body, err := decodeBody(resp)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(body, "dpx_test_value 0") {
				t.Errorf("Accept-Encoding %q: body lacks the metric:\n%s", tt.acceptEncoding, body)
			}
		})
	}
}

// TestMetricsHandlerInstrumentation checks the promhttp_metric_handler_*
// metrics: requests by status code (a request refused by the limit too),
// those in flight and the handler's errors by cause.
func TestMetricsHandlerInstrumentation(t *testing.T) {
	reg := prometheus.NewRegistry()
	g := &gateGatherer{reg: reg, started: make(chan struct{}, 100), release: make(chan struct{})}
	url := serveMetrics(t, reg, g, slog.New(slog.DiscardHandler), 1, 0)
	close(g.release) // no gate
	for range 3 {
		if _, err := fetch(url, "", "gzip", "text/plain"); err != nil {
			t.Fatal(err)
		}
	}
	// Hold one request so that the next is refused.
	for len(g.started) > 0 {
		<-g.started
	}
	g.release = make(chan struct{})
	held := make(chan error, 1)
	go func() {
		_, err := fetch(url, "", "", "text/plain")
		held <- err
	}()
	<-g.started
	if _, err := fetch(url, "", "identity", "text/plain"); err == nil || !strings.Contains(err.Error(), "status 503") {
		t.Fatalf("a request beyond the limit: %v, want a 503", err)
	}
	close(g.release)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	body, err := fetch(url, "", "", "text/plain")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`promhttp_metric_handler_requests_total{code="200"} 4`,
		`promhttp_metric_handler_requests_total{code="503"} 1`,
		`promhttp_metric_handler_requests_total{code="500"} 0`,
		`promhttp_metric_handler_requests_in_flight 1`,
		`promhttp_metric_handler_errors_total{cause="gathering"} 0`,
		`promhttp_metric_handler_errors_total{cause="encoding"} 0`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("scrape lacks %s:\n%s", want, grepLines(body, "promhttp_"))
		}
	}
}

// TestMetricsHandlerMaxRequests holds one request with
// --web.max-requests=1: another request is refused, an identical one
// shares the held one's response.
func TestMetricsHandlerMaxRequests(t *testing.T) {
	g := newGateGatherer(t)
	url := serveMetrics(t, prometheus.NewRegistry(), g, slog.New(slog.DiscardHandler), 1, 0)
	first, same := make(chan error, 1), make(chan error, 1)
	go func() {
		_, err := fetch(url, "", "gzip", "text/plain")
		first <- err
	}()
	<-g.started
	go func() {
		_, err := fetch(url, "", "gzip", "text/plain")
		same <- err
	}()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(strings.ToLower(string(body)), "limit of concurrent requests reached (1)") {
		t.Errorf("second request with --web.max-requests=1: %d %q, want 503 naming the limit", resp.StatusCode, body)
	}
	close(g.release)
	if err := <-first; err != nil {
		t.Errorf("first request: %v", err)
	}
	if err := <-same; err != nil {
		t.Errorf("a request identical to the first: %v", err)
	}
}

// TestMetricsHandlerTimeout checks that a gathering held past the handler's
// timeout is answered 503, and that the next request, once it is done, is
// served.
func TestMetricsHandlerTimeout(t *testing.T) {
	g := newGateGatherer(t)
	url := serveMetrics(t, prometheus.NewRegistry(), g, slog.New(slog.DiscardHandler), 0, 200*time.Millisecond)
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "timeout") {
		t.Errorf("a gathering held past the timeout: %d %q, want 503 naming the timeout", resp.StatusCode, body)
	}
	close(g.release)
	if _, err := fetch(url, "", "gzip", "text/plain"); err != nil {
		t.Errorf("after the held gathering: %v", err)
	}
}

// TestMetricsHandlerGatherError checks that an error of one metric is
// logged and the others are still served.
func TestMetricsHandlerGatherError(t *testing.T) {
	reg := prometheus.NewRegistry()
	good := prometheus.NewGauge(prometheus.GaugeOpts{Name: "dpx_test_value", Help: "A test value."})
	reg.MustRegister(good)
	g := prometheus.Gatherers{reg, prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		return nil, errors.New("an inconsistent metric")
	})}
	logs := &testenv.SyncBuffer{}
	url := serveMetrics(t, reg, g, slog.New(slog.NewTextHandler(logs, nil)), 0, 0)
	var body string
	for range 2 { // the second scrape holds the first one's error count
		var err error
		if body, err = fetch(url, "", "gzip", "text/plain"); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.Contains(body, "dpx_test_value 0") || !strings.Contains(body, `promhttp_metric_handler_errors_total{cause="gathering"} 1`) {
		t.Errorf("body lacks the good metric or the counted error:\n%s", body)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "an inconsistent metric") {
		t.Errorf("the gathering error was not logged: %q", logs.String())
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
	if ce := resp.Header.Get("Content-Encoding"); ce != "" && encoding == "" {
		return "", fmt.Errorf("%s sent to a client that did not ask for it", ce)
	}
	return decodeBody(resp)
}

// decodeBody decompresses resp's body as its Content-Encoding says and
// returns the families it holds as text.
func decodeBody(resp *http.Response) (string, error) {
	var r io.Reader = resp.Body
	switch ce := resp.Header.Get("Content-Encoding"); ce {
	case "":
	case "gzip":
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			return "", err
		}
		r = zr
	case "zstd":
		zr, err := zstd.NewReader(resp.Body)
		if err != nil {
			return "", err
		}
		defer zr.Close()
		r = zr
	default:
		return "", fmt.Errorf("unexpected Content-Encoding %q", ce)
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
	o := testenv.OVSForTest(t, testenv.OVSOptions{})
	ns := testenv.NetnsForTest(t, testenv.NetnsOptions{})
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
