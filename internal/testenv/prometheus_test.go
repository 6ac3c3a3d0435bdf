package testenv

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

// onEveryRelease runs test on every supported Prometheus release, each in
// a subtest: the harness starts them all with the same flags and
// configuration, and finds their failures in their logs alike.
func onEveryRelease(t *testing.T, test func(t *testing.T, release PrometheusRelease)) {
	for _, r := range PrometheusReleases() {
		t.Run(r.Version, func(t *testing.T) {
			RequirePrometheus(t, r)
			test(t, r)
		})
	}
}

func TestPrometheusScrapesAndEvaluatesRules(t *testing.T) {
	onEveryRelease(t, testPrometheusScrapesAndEvaluatesRules)
}

func testPrometheusScrapesAndEvaluatesRules(t *testing.T, release PrometheusRelease) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprint(w, "# HELP dpx_test_value A test value.\n# TYPE dpx_test_value gauge\ndpx_test_value 42\n")
	}))
	t.Cleanup(target.Close)

	rules := filepath.Join(t.TempDir(), "rules.yml")
	if err := os.WriteFile(rules, []byte(`groups:
  - name: test
    rules:
      - record: dpx:test_value:doubled
        expr: dpx_test_value * 2
      - alert: DpxTestValueHigh
        expr: dpx_test_value > 40
        labels:
          severity: warning
`), 0o644); err != nil {
		t.Fatal(err)
	}

	p := PrometheusForTest(t, PrometheusOptions{Targets: []string{strings.TrimPrefix(target.URL, "http://")}, RuleFiles: []string{rules}, Release: release})
	ctx := testContext(t, 30*time.Second)
	if p.Release != release {
		t.Errorf("Release = %v, want %v", p.Release, release)
	}

	if u, err := url.Parse(p.URL()); err != nil || !net.ParseIP(u.Hostname()).IsLoopback() {
		t.Errorf("URL = %q, want http://<loopback address>:PORT", p.URL())
	}
	v, err := p.WaitForSeries(ctx, "dpx:test_value:doubled")
	if err != nil {
		t.Fatal(err)
	}
	vec, ok := v.(model.Vector)
	if !ok || len(vec) != 1 || vec[0].Value != 84 {
		t.Fatalf("dpx:test_value:doubled = %v, want one sample of 84", v)
	}
	if got := vec[0].Metric["job"]; got != PrometheusJob {
		t.Errorf("job = %q, want %q", got, PrometheusJob)
	}

	if _, err := p.WaitForSeries(ctx, `ALERTS{alertname="DpxTestValueHigh"}`); err != nil {
		t.Fatal(err)
	}
	alerts, err := p.Alerts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 1 || alerts[0].Labels["alertname"] != "DpxTestValueHigh" {
		t.Errorf("Alerts = %+v, want DpxTestValueHigh", alerts)
	}

	// Wait for a second sample so that the range query has a series with
	// more than one point.
	if _, err := p.WaitForSeries(ctx, "count_over_time(dpx_test_value[1m]) > 1"); err != nil {
		t.Fatal(err)
	}
	end := time.Now()
	m, err := p.QueryRange(ctx, "dpx_test_value", end.Add(-time.Minute), end, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if mat, ok := m.(model.Matrix); !ok || len(mat) != 1 || len(mat[0].Values) < 2 {
		t.Errorf("QueryRange = %v, want one series with 2+ points", m)
	}

	if _, err := p.Query(ctx, "sum(("); err == nil {
		t.Error("Query of a malformed expression succeeded, want an error")
	}
	if _, err := p.WaitForSeries(ctx, "rate(("); err == nil {
		t.Error("WaitForSeries of a malformed expression succeeded, want an error at once")
	}
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if _, err := p.WaitForSeries(short, "dpx_no_such_metric"); err == nil {
		t.Error("WaitForSeries of an absent series succeeded, want a timeout")
	}

	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p.Dir); !os.IsNotExist(err) {
		t.Errorf("after Close, stat %s = %v, want not exist", p.Dir, err)
	}
	if _, err := http.Get(p.URL() + "/-/ready"); err == nil {
		t.Error("Prometheus still answers after Close")
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
}

func TestPrometheusBadRuleFileFailsWithLog(t *testing.T) {
	onEveryRelease(t, testPrometheusBadRuleFileFailsWithLog)
}

func testPrometheusBadRuleFileFailsWithLog(t *testing.T, release PrometheusRelease) {
	// StartPrometheus makes its directory in $TMPDIR: one of this test's
	// own, so what it leaves there is this call's, whatever other
	// tests running in parallel leave in /tmp.
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	rules := filepath.Join(t.TempDir(), "bad.yml")
	if err := os.WriteFile(rules, []byte("groups:\n  - name: bad\n    rules:\n      - alert: Bad\n        expr: sum((\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t, 30*time.Second)
	p, err := StartPrometheus(ctx, PrometheusOptions{RuleFiles: []string{rules}, Release: release})
	if err == nil {
		p.Close()
		t.Fatal("StartPrometheus with a malformed rule file succeeded, want an error")
	}
	if !strings.Contains(err.Error(), "prometheus.log") {
		t.Errorf("error = %v, want it to include the tail of prometheus.log", err)
	}
	if left, err := os.ReadDir(tmp); err != nil || len(left) > 0 {
		t.Errorf("a failed StartPrometheus left %v in its temporary directory (%v)", left, err)
	}
}

func TestPrometheusAtFixedAddress(t *testing.T) {
	onEveryRelease(t, testPrometheusAtFixedAddress)
}

func testPrometheusAtFixedAddress(t *testing.T, release PrometheusRelease) {
	ctx := testContext(t, 30*time.Second)
	addr, err := FreeLoopbackAddr()
	if err != nil {
		t.Fatal(err)
	}
	p, err := StartPrometheus(ctx, PrometheusOptions{Addr: addr, Release: release})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if p.URL() != "http://"+addr {
		t.Errorf("URL = %q, want http://%s", p.URL(), addr)
	}
	// A taken address is an error, not a silent move to another port.
	if q, err := StartPrometheus(ctx, PrometheusOptions{Addr: addr, Release: release}); err == nil {
		q.Close()
		t.Errorf("second StartPrometheus(%s) succeeded, want an error", addr)
	} else if !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("second StartPrometheus error = %v, want it to say the address is in use", err)
	}
}

func TestPrometheusConfigJob(t *testing.T) {
	cfg := prometheusConfig("kube-system/antrea-node-metrics", PrometheusScrapeInterval, []string{"127.0.0.1:1"}, nil)
	if !strings.Contains(cfg, `job_name: "kube-system/antrea-node-metrics"`) {
		t.Errorf("config does not name the job:\n%s", cfg)
	}
}

// TestPrometheusWrongRelease: binaries of another version than the release
// names (a stale cache) fail the start, naming the binary, both versions
// and the fix; a missing binary fails before anything starts.
func TestPrometheusWrongRelease(t *testing.T) {
	RequirePrometheus(t, Prometheus3)
	ctx := testContext(t, 30*time.Second)
	stale := Prometheus3
	stale.Version = "3.0.0"
	if p, err := StartPrometheus(ctx, PrometheusOptions{Release: stale}); err == nil {
		p.Close()
		t.Error("StartPrometheus of a binary reporting another version succeeded, want an error")
	} else if msg := err.Error(); !strings.Contains(msg, stale.Server) || !strings.Contains(msg, `"3.16.0", want 3.0.0`) || !strings.Contains(msg, "scripts/prometheus3.sh") {
		t.Errorf("error = %v, want the binary, both versions and the fix", err)
	}

	missing := Prometheus3
	missing.Server = filepath.Join(t.TempDir(), "prometheus")
	if p, err := StartPrometheus(ctx, PrometheusOptions{Release: missing}); err == nil {
		p.Close()
		t.Error("StartPrometheus of a missing binary succeeded, want an error")
	} else if msg := err.Error(); !strings.Contains(msg, missing.Server) || !strings.Contains(msg, "make deps") {
		t.Errorf("error = %v, want the binary and the fix", err)
	}
}

// TestPrometheus3MatchesBuildScript: the release testenv runs is the one
// scripts/prometheus3.sh builds, in the cache it builds into.
func TestPrometheus3MatchesBuildScript(t *testing.T) {
	b, err := os.ReadFile("../../scripts/prometheus3.sh")
	if err != nil {
		t.Fatal(err)
	}
	script := string(b)
	for _, want := range []string{"module_version=" + prometheus3Module + "\n", "release=" + Prometheus3.Version + "\n",
		"/var/cache/datapath-exporter}/prometheus-$module_version\n"} {
		if !strings.Contains(script, want) {
			t.Errorf("scripts/prometheus3.sh has no %q", want)
		}
	}
	if want := prometheus3Dir + "/prometheus"; Prometheus3.Server != want {
		t.Errorf("Prometheus3.Server = %s, want %s", Prometheus3.Server, want)
	}
}
