package testenv

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// PrometheusJob is the job name of the scrape config StartPrometheus writes,
// the same as deploy's plain scrape config; a PodMonitor's job is
// "<namespace>/<name>" instead, which is why alerts match it with a regex.
const PrometheusJob = "datapath-exporter"

// PrometheusScrapeInterval is both the scrape and the rule-evaluation
// interval of a Prometheus started by StartPrometheus: short, so that rate()
// over a minute has samples after a few seconds.
const PrometheusScrapeInterval = time.Second

// PrometheusRelease is a Prometheus the harness runs: its server and
// promtool binaries and the version they report.
type PrometheusRelease struct {
	Version  string // as /api/v1/status/buildinfo reports it
	Server   string // the prometheus binary
	Promtool string // the promtool binary
	install  string // how to get the binaries when they are missing
}

// prometheus3Module is the version of github.com/prometheus/prometheus that
// scripts/prometheus3.sh builds (v0.X.Y is Prometheus 3.X.Y), and
// prometheus3Dir the cache it builds into.
const (
	prometheus3Module = "v0.316.0"
	prometheus3Dir    = "/var/cache/datapath-exporter/prometheus-" + prometheus3Module
)

var (
	// Prometheus3 is the default release: Prometheus 3.x and its promtool,
	// built from the Go module proxy by scripts/prometheus3.sh (`make
	// deps`), without the web UI (its assets are not in the module): the
	// HTTP API only.
	Prometheus3 = PrometheusRelease{
		Version:  "3.16.0",
		Server:   prometheus3Dir + "/prometheus",
		Promtool: prometheus3Dir + "/promtool",
		install:  "build it with `scripts/prometheus3.sh` (or run `make deps`)",
	}
	// PrometheusOldest is the oldest release supported: Debian 12's 2.42,
	// whose classic web UI the screenshots use.
	PrometheusOldest = PrometheusRelease{
		Version:  "2.42.0",
		Server:   "/usr/bin/prometheus",
		Promtool: "/usr/bin/promtool",
		install:  "install it with `apt-get install prometheus` (or run `make deps`)",
	}
)

// PrometheusReleases lists the supported releases, newest first, for the
// tests that run on each.
func PrometheusReleases() []PrometheusRelease {
	return []PrometheusRelease{Prometheus3, PrometheusOldest}
}

// String is "Prometheus 3.16.0".
func (r PrometheusRelease) String() string { return "Prometheus " + r.Version }

// Check returns an error naming what is missing to run r, and how to get it.
func (r PrometheusRelease) Check() error {
	if err := Check(); err != nil {
		return err
	}
	for _, bin := range []string{r.Server, r.Promtool} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("%s: %s not found: %s", r, bin, r.install)
		}
	}
	return nil
}

// RequirePrometheus is Require for a Prometheus release: it skips t (fails
// it in CI) when r's binaries or root are missing.
func RequirePrometheus(t T, r PrometheusRelease) {
	t.Helper()
	skipOrFail(t, r.Check())
}

// Prometheus is a real Prometheus server (by default Prometheus3; see
// PrometheusOptions.Release) on a free loopback port, with its
// configuration and TSDB in a temporary directory. Use StartPrometheus (or
// PrometheusForTest) to get one and Close to remove it.
type Prometheus struct {
	Dir     string // configuration, TSDB and log
	Release PrometheusRelease

	url string
	api promv1.API

	mu        sync.Mutex
	proc      *daemon
	closeOnce sync.Once
	closeErr  error
}

// PrometheusOptions says what a Prometheus started by StartPrometheus
// scrapes and evaluates.
type PrometheusOptions struct {
	// Addr is the listen address (host:port, e.g. 127.0.0.1:9090 for the
	// demo); empty picks a free loopback address and port.
	Addr string
	// Job names the scrape job; empty is PrometheusJob. Dashboards and
	// rules must not depend on the job name a user's Prometheus gives the
	// exporter, which tests check with another one.
	Job       string
	Targets   []string // host:port
	RuleFiles []string
	// Interval is how often Prometheus scrapes and evaluates the rules,
	// also the scrape timeout; 0 is PrometheusScrapeInterval. Longer for
	// targets slower to answer, such as an exporter in a kernel node VM
	// under TCG.
	Interval time.Duration
	// Release is the Prometheus to run; the zero value is Prometheus3.
	Release PrometheusRelease
}

// release is opts.Release, or Prometheus3 when it is unset.
func (opts PrometheusOptions) release() PrometheusRelease {
	if opts.Release == (PrometheusRelease{}) {
		return Prometheus3
	}
	return opts.Release
}

// PrometheusForTest is StartPrometheus, stopped when t ends. It skips t
// (fails it in CI) when the release's binaries or root are missing.
func PrometheusForTest(t T, opts PrometheusOptions) *Prometheus {
	t.Helper()
	RequirePrometheus(t, opts.release())
	return forTest(t, opts.release().String(), StartPrometheus, opts)
}

// StartPrometheus writes a configuration with one job scraping
// opts.Targets every opts.Interval and evaluating opts.RuleFiles as often,
// starts opts.Release and returns once /-/ready answers 200 and the server
// reports the release's version, or when ctx ends. Only the web listener is
// opened; the admin API and lifecycle endpoints stay off (the defaults of
// 2.x and 3.x alike). On failure it removes what it made and returns an
// error that includes the tail of Prometheus' log.
func StartPrometheus(ctx context.Context, opts PrometheusOptions) (_ *Prometheus, err error) {
	release := opts.release()
	if err := release.Check(); err != nil {
		return nil, err
	}
	if opts.Job == "" {
		opts.Job = PrometheusJob
	}
	if opts.Interval == 0 {
		opts.Interval = PrometheusScrapeInterval
	}
	dir, err := OwnedDir("prometheus")
	if err != nil {
		return nil, err
	}
	p := &Prometheus{Dir: dir, Release: release}
	defer undoOnError(&err, p, p.logFile())

	rules := make([]string, 0, len(opts.RuleFiles))
	for _, f := range opts.RuleFiles {
		abs, err := filepath.Abs(f)
		if err != nil {
			return nil, fmt.Errorf("rule file %s: %w", f, err)
		}
		if _, err := os.Stat(abs); err != nil {
			return nil, fmt.Errorf("rule file: %w", err)
		}
		rules = append(rules, abs)
	}
	config := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(config, []byte(prometheusConfig(opts.Job, opts.Interval, opts.Targets, rules)), 0o644); err != nil {
		return nil, fmt.Errorf("writing Prometheus configuration: %w", err)
	}

	// A free port is picked by listening on :0 and closing; another
	// process could take it in between, so a failure to bind is retried
	// with a new port.
	pickPort := opts.Addr == ""
	for attempt := 0; ; attempt++ {
		listen := opts.Addr
		if pickPort {
			if listen, err = FreeLoopbackAddr(); err != nil {
				return nil, err
			}
		}
		p.url = "http://" + listen
		client, err := api.NewClient(api.Config{Address: p.url})
		if err != nil {
			return nil, fmt.Errorf("Prometheus API client: %w", err)
		}
		p.api = promv1.NewAPI(client)
		d, err := startDaemon(p.logFile(), nil, "prometheus", release.Server,
			"--config.file="+config,
			"--storage.tsdb.path="+p.dataDir(),
			"--web.listen-address="+listen,
			"--log.level=info")
		if err != nil {
			return nil, err
		}
		p.mu.Lock()
		p.proc = d
		p.mu.Unlock()
		err = p.waitReady(ctx)
		if err == nil {
			break
		}
		if pickPort && attempt < 2 && strings.Contains(logTail(p.logFile()), "address already in use") {
			_ = p.proc.stop()
			continue
		}
		return nil, fmt.Errorf("waiting for Prometheus on %s: %w", listen, err)
	}
	return p, nil
}

// prometheusConfig is the configuration file: strings are written as YAML
// double-quoted scalars, whose escapes are a superset of Go's strconv.Quote.
func prometheusConfig(job string, interval time.Duration, targets, ruleFiles []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "global:\n  scrape_interval: %s\n  evaluation_interval: %s\n  scrape_timeout: %s\n",
		model.Duration(interval), model.Duration(interval), model.Duration(interval))
	b.WriteString("rule_files:\n")
	if len(ruleFiles) == 0 {
		b.WriteString("  []\n")
	}
	for _, f := range ruleFiles {
		fmt.Fprintf(&b, "  - %s\n", strconv.Quote(f))
	}
	fmt.Fprintf(&b, "scrape_configs:\n  - job_name: %s\n    static_configs:\n      - targets:\n", strconv.Quote(job))
	if len(targets) == 0 {
		b.WriteString("          []\n")
	}
	for _, t := range targets {
		fmt.Fprintf(&b, "          - %s\n", strconv.Quote(t))
	}
	return b.String()
}

// waitReady waits for /-/ready to answer 200 from the server started here
// and not another process holding the port (ours would then fail to bind
// and exit, possibly only after that process said ready): the TSDB path
// the server reports must be ours. The server must also be the release
// asked for (a cache holding another build fails here, not in a query).
func (p *Prometheus) waitReady(ctx context.Context) error {
	client := &http.Client{Timeout: 2 * time.Second}
	err := retry(ctx, p.proc, func() error {
		resp, err := client.Get(p.url + "/-/ready")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /-/ready: %s", resp.Status)
		}
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		flags, err := p.api.Flags(actx)
		if err != nil {
			return err
		}
		if got, want := flags["storage.tsdb.path"], p.dataDir(); got != want {
			return fmt.Errorf("the server on %s is not ours: its TSDB is %q, ours %q", p.url, got, want)
		}
		return nil
	})
	if err != nil {
		return err
	}
	build, err := p.api.Buildinfo(ctx)
	if err != nil {
		return err
	}
	// Debian's reports "2.42.0+ds": build metadata, not another version.
	if got := build.Version; strings.SplitN(got, "+", 2)[0] != p.Release.Version {
		return fmt.Errorf("%s reports version %q, want %s: %s", p.Release.Server, got, p.Release.Version, p.Release.install)
	}
	return nil
}

func (p *Prometheus) dataDir() string { return filepath.Join(p.Dir, "data") }
func (p *Prometheus) logFile() string { return filepath.Join(p.Dir, "prometheus.log") }

// Close stops Prometheus (SIGTERM, then SIGKILL) and removes Dir. Calling
// it again returns what the first call did.
func (p *Prometheus) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.closeErr = errors.Join(p.proc.stop(), RemoveOwnedDir(p.Dir))
	})
	return p.closeErr
}

// URL is the server's base URL, http://127.x.y.z:PORT.
func (p *Prometheus) URL() string { return p.url }

// API is the HTTP API client, for what the helpers below do not cover.
func (p *Prometheus) API() promv1.API { return p.api }

// Query evaluates promql at the current time. Warnings are returned as an
// error: a query that only half worked is a failed query in a test.
func (p *Prometheus) Query(ctx context.Context, promql string) (model.Value, error) {
	v, warnings, _, err := p.api.Query(ctx, promql, time.Now())
	return queryResult("query", promql, v, warnings, err)
}

// QueryRange evaluates promql over [start, end] every step.
func (p *Prometheus) QueryRange(ctx context.Context, promql string, start, end time.Time, step time.Duration) (model.Value, error) {
	v, warnings, _, err := p.api.QueryRange(ctx, promql, promv1.Range{Start: start, End: end, Step: step})
	return queryResult("range query", promql, v, warnings, err)
}

func queryResult(what, promql string, v model.Value, warnings promv1.Warnings, err error) (model.Value, error) {
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", what, promql, err)
	}
	if len(warnings) > 0 {
		return v, fmt.Errorf("%s %q: warnings: %s", what, promql, strings.Join(warnings, "; "))
	}
	return v, nil
}

// WaitForSeries polls an instant query until it returns something (a
// non-empty vector or matrix, or any scalar or string), and returns that.
// A query Prometheus rejects fails at once rather than being retried.
func (p *Prometheus) WaitForSeries(ctx context.Context, promql string) (model.Value, error) {
	for {
		v, err := p.Query(ctx, promql)
		if err != nil {
			var apiErr *promv1.Error
			if errors.As(err, &apiErr) && apiErr.Type == promv1.ErrBadData {
				return nil, err
			}
		} else if !IsEmpty(v) {
			return v, nil
		}
		if exitErr := p.proc.exited(); exitErr != nil {
			return nil, fmt.Errorf("waiting for %q: %w%s", promql, exitErr, logTail(p.logFile()))
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = errors.New("no data")
			}
			return nil, fmt.Errorf("waiting for %q: %w (last result: %v)", promql, ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Alerts returns the alerts Prometheus holds (pending and firing).
func (p *Prometheus) Alerts(ctx context.Context) ([]promv1.Alert, error) {
	res, err := p.api.Alerts(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing alerts: %w", err)
	}
	return res.Alerts, nil
}

// IsEmpty reports whether a query result holds no sample.
func IsEmpty(v model.Value) bool {
	switch v := v.(type) {
	case nil:
		return true
	case model.Vector:
		return len(v) == 0
	case model.Matrix:
		return len(v) == 0
	default: // *model.Scalar, *model.String
		return false
	}
}

// FreeLoopbackAddr returns host:port on a random address of 127.0.0.0/8
// with a port that was free on it a moment ago. Another process may take the
// port before the caller binds it; on an address of its own (127.x.y.z, not
// the 127.0.0.1 everything else binds) that needs both the same random port
// and the same random address, or a wildcard listener, so servers started by
// test packages running in parallel do not collide.
func FreeLoopbackAddr() (string, error) {
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("picking a loopback address: %w", err)
	}
	b[2] |= 1 // never 127.x.y.0
	host := netip.AddrFrom4([4]byte{127, b[0], b[1], b[2]})
	l, err := net.Listen("tcp", netip.AddrPortFrom(host, 0).String())
	if err != nil {
		return "", fmt.Errorf("finding a free port on %s: %w", host, err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}
