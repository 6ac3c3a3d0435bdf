package testenv

import (
	"context"
	"crypto/rand"
	"encoding/json"
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
	"syscall"
	"testing"
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

// Prometheus is a real Prometheus server (Debian's `prometheus` binary) on a
// free loopback port, with its configuration and TSDB in a temporary
// directory. Use StartPrometheus (or PrometheusForTest) to get one and Close
// to remove it.
type Prometheus struct {
	Dir string // configuration, TSDB and log

	url string
	api promv1.API

	mu     sync.Mutex
	proc   *daemon
	closed bool
}

// PrometheusForTest starts Prometheus scraping targets (host:port) with the
// given rule files, and stops it when t ends. It skips t (fails it in CI)
// when the prometheus binary or root is missing.
func PrometheusForTest(t testing.TB, targets, ruleFiles []string) *Prometheus {
	t.Helper()
	return PrometheusForTestJob(t, PrometheusJob, targets, ruleFiles)
}

// PrometheusForTestJob is PrometheusForTest with the scrape job named job
// instead of PrometheusJob: dashboards and rules must not depend on the job
// name a user's Prometheus gives the exporter.
func PrometheusForTestJob(t testing.TB, job string, targets, ruleFiles []string) *Prometheus {
	t.Helper()
	Require(t, "prometheus")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := StartPrometheusJob(ctx, "", job, targets, ruleFiles)
	if err != nil {
		t.Fatalf("starting Prometheus: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("stopping Prometheus: %v", err)
		}
	})
	return p
}

// StartPrometheus writes a configuration with one job, PrometheusJob,
// scraping targets every PrometheusScrapeInterval and evaluating ruleFiles
// as often, starts Prometheus on a free loopback address and port and returns once /-/ready
// answers 200, or when ctx ends. Only the web listener is opened, on
// loopback; the admin API and lifecycle endpoints stay off (the defaults).
// On failure it removes what it made and returns an error that includes the
// tail of Prometheus' log.
func StartPrometheus(ctx context.Context, targets, ruleFiles []string) (*Prometheus, error) {
	return StartPrometheusAt(ctx, "", targets, ruleFiles)
}

// StartPrometheusAt is StartPrometheus listening on addr (host:port, e.g.
// 127.0.0.1:9090 for the demo); an empty addr picks a free loopback port.
func StartPrometheusAt(ctx context.Context, addr string, targets, ruleFiles []string) (*Prometheus, error) {
	return StartPrometheusJob(ctx, addr, PrometheusJob, targets, ruleFiles)
}

// StartPrometheusJob is StartPrometheusAt with the scrape job named job.
func StartPrometheusJob(ctx context.Context, addr, job string, targets, ruleFiles []string) (*Prometheus, error) {
	return StartPrometheusEvery(ctx, addr, job, PrometheusScrapeInterval, targets, ruleFiles)
}

// StartPrometheusEvery is StartPrometheusJob scraping and evaluating rules
// every interval, which is also the scrape timeout: for targets that can
// take longer than PrometheusScrapeInterval to answer, such as an exporter
// in a kernel node VM under TCG.
func StartPrometheusEvery(ctx context.Context, addr, job string, interval time.Duration, targets, ruleFiles []string) (_ *Prometheus, err error) {
	if job == "" {
		return nil, fmt.Errorf("empty Prometheus job name")
	}
	dir, err := os.MkdirTemp("", "dpx-prometheus-")
	if err != nil {
		return nil, fmt.Errorf("creating Prometheus directory: %w", err)
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, err
	}
	_ = recordOwned(kindDir, dir)
	p := &Prometheus{Dir: dir}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w%s", err, p.logTail())
			if cerr := p.Close(); cerr != nil {
				err = fmt.Errorf("%w (cleanup: %v)", err, cerr)
			}
		}
	}()

	rules := make([]string, 0, len(ruleFiles))
	for _, f := range ruleFiles {
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
	if err := os.WriteFile(config, []byte(prometheusConfigEvery(job, interval, targets, rules)), 0o644); err != nil {
		return nil, fmt.Errorf("writing Prometheus configuration: %w", err)
	}

	// A free port is picked by listening on :0 and closing; another
	// process could take it in between, so a failure to bind is retried
	// with a new port.
	pickPort := addr == ""
	for attempt := 0; ; attempt++ {
		listen := addr
		if pickPort {
			if listen, err = freeLoopbackAddr(); err != nil {
				return nil, err
			}
		}
		p.url = "http://" + listen
		if err := p.start(config, listen); err != nil {
			return nil, err
		}
		err = p.waitReady(ctx)
		if err == nil {
			break
		}
		if pickPort && attempt < 2 && strings.Contains(p.logTail(), "address already in use") {
			_ = p.proc.stop()
			continue
		}
		return nil, fmt.Errorf("waiting for Prometheus on %s: %w", listen, err)
	}
	client, err := api.NewClient(api.Config{Address: p.url})
	if err != nil {
		return nil, fmt.Errorf("Prometheus API client: %w", err)
	}
	p.api = promv1.NewAPI(client)
	return p, nil
}

// prometheusConfig is the configuration file: strings are written as YAML
// double-quoted scalars, whose escapes are a superset of Go's strconv.Quote.
func prometheusConfig(job string, targets, ruleFiles []string) string {
	return prometheusConfigEvery(job, PrometheusScrapeInterval, targets, ruleFiles)
}

func prometheusConfigEvery(job string, interval time.Duration, targets, ruleFiles []string) string {
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

func (p *Prometheus) start(config, addr string) error {
	log, err := os.Create(filepath.Join(p.Dir, "prometheus.log"))
	if err != nil {
		return fmt.Errorf("starting Prometheus: %w", err)
	}
	defer log.Close() // the child has its own copy
	cmd := exec.Command("prometheus",
		"--config.file="+config,
		"--storage.tsdb.path="+p.dataDir(),
		"--web.listen-address="+addr,
		"--log.level=info")
	cmd.Dir = p.Dir
	cmd.Stdout, cmd.Stderr = log, log
	// Should the test binary die without running Close, take Prometheus
	// with it rather than leave it running.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting Prometheus: %w", err)
	}
	d := &daemon{name: "prometheus", cmd: cmd, done: make(chan struct{})}
	go func() {
		d.err = cmd.Wait()
		close(d.done)
	}()
	p.mu.Lock()
	p.proc = d
	p.mu.Unlock()
	return nil
}

func (p *Prometheus) waitReady(ctx context.Context) error {
	client := &http.Client{Timeout: 2 * time.Second}
	return retry(ctx, p.proc, func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url+"/-/ready", nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /-/ready: %s", resp.Status)
		}
		return p.checkOwnServer(ctx, client)
	})
}

// checkOwnServer makes sure the server answering on the address is the one
// started here and not another process holding the port (ours would then
// fail to bind and exit, possibly only after that process said ready): it
// compares the TSDB path Prometheus reports with ours.
func (p *Prometheus) checkOwnServer(ctx context.Context, client *http.Client) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url+"/api/v1/status/flags", nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var flags struct {
		Data map[string]string `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&flags); err != nil {
		return fmt.Errorf("GET /api/v1/status/flags: %w", err)
	}
	if got, want := flags.Data["storage.tsdb.path"], p.dataDir(); got != want {
		return fmt.Errorf("the server on %s is not ours: its TSDB is %q, ours %q", p.url, got, want)
	}
	return nil
}

func (p *Prometheus) dataDir() string { return filepath.Join(p.Dir, "data") }

// Close stops Prometheus (SIGTERM, then SIGKILL) and removes Dir. Calling
// it again does nothing.
func (p *Prometheus) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	var errs []error
	if err := p.proc.stop(); err != nil {
		errs = append(errs, err)
	}
	if err := os.RemoveAll(p.Dir); err != nil {
		errs = append(errs, fmt.Errorf("removing Prometheus directory: %w", err))
	} else {
		forgetOwned(kindDir, p.Dir)
	}
	return errors.Join(errs...)
}

// URL is the server's base URL, http://127.x.y.z:PORT.
func (p *Prometheus) URL() string { return p.url }

// API is the HTTP API client, for what the helpers below do not cover.
func (p *Prometheus) API() promv1.API { return p.api }

// Query evaluates promql at the current time. Warnings are returned as an
// error: a query that only half worked is a failed query in a test.
func (p *Prometheus) Query(ctx context.Context, promql string) (model.Value, error) {
	v, warnings, _, err := p.api.Query(ctx, promql, time.Now())
	if err != nil {
		return nil, fmt.Errorf("query %q: %w", promql, err)
	}
	if len(warnings) > 0 {
		return v, fmt.Errorf("query %q: warnings: %s", promql, strings.Join(warnings, "; "))
	}
	return v, nil
}

// QueryRange evaluates promql over [start, end] every step.
func (p *Prometheus) QueryRange(ctx context.Context, promql string, start, end time.Time, step time.Duration) (model.Value, error) {
	v, warnings, _, err := p.api.QueryRange(ctx, promql, promv1.Range{Start: start, End: end, Step: step})
	if err != nil {
		return nil, fmt.Errorf("range query %q: %w", promql, err)
	}
	if len(warnings) > 0 {
		return v, fmt.Errorf("range query %q: warnings: %s", promql, strings.Join(warnings, "; "))
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
			return nil, fmt.Errorf("waiting for %q: %w%s", promql, exitErr, p.logTail())
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

// logTail returns the end of Prometheus' log, for errors.
func (p *Prometheus) logTail() string {
	data, err := os.ReadFile(filepath.Join(p.Dir, "prometheus.log"))
	if err != nil || len(strings.TrimSpace(string(data))) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > logTailLines {
		lines = lines[len(lines)-logTailLines:]
	}
	return "\n--- tail of prometheus.log ---\n" + strings.Join(lines, "\n")
}

// freeLoopbackAddr returns host:port on a random address of 127.0.0.0/8
// with a port that was free on it a moment ago. Another process may take the
// port before the caller binds it; on an address of its own (127.x.y.z, not
// the 127.0.0.1 everything else binds) that needs both the same random port
// and the same random address, or a wildcard listener, so servers started by
// test packages running in parallel do not collide.
func freeLoopbackAddr() (string, error) {
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
