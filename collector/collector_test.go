package collector_test

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/promslog"

	"github.com/datapath-exporter/datapath-exporter/collector"
	"github.com/datapath-exporter/datapath-exporter/internal/fault"
	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
)

// The fake collectors in this file are stand-ins that count and script
// Update calls, to test the Exporter's own behaviour (sharing runs between
// scrapes, success and duration metrics, logging). The real collectors are
// tested against a real OVS and a real conntrack table in ovs_test.go and
// conntrack_test.go.

var (
	fakeDesc     = prometheus.NewDesc("datapath_fake_value", "A value sent by a fake collector in tests.", nil, nil)
	scriptedDesc = prometheus.NewDesc("datapath_fake_scripted", "A value sent by a scripted fake collector in tests.", []string{"fake"}, nil)
)

// blockingCollector's Update blocks until release is closed and records how
// many calls ran at once.
type blockingCollector struct {
	release chan struct{}
	entered chan struct{} // receives one value per call

	calls, running, maxRunning atomic.Int32
}

func (c *blockingCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	c.calls.Add(1)
	n := c.running.Add(1)
	defer c.running.Add(-1)
	for {
		m := c.maxRunning.Load()
		if n <= m || c.maxRunning.CompareAndSwap(m, n) {
			break
		}
	}
	select {
	case c.entered <- struct{}{}:
	default:
	}
	select {
	case <-c.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	ch <- prometheus.MustNewConstMetric(fakeDesc, prometheus.GaugeValue, 42)
	return nil
}

// scriptedCollector returns the errors of script one per call ("" for
// success), then succeeds; on success it sends datapath_fake_scripted with
// label fake=name.
type scriptedCollector struct {
	name   string
	mu     sync.Mutex
	script []string
}

func (c *scriptedCollector) Update(_ context.Context, ch chan<- prometheus.Metric) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var msg string
	if len(c.script) > 0 {
		msg, c.script = c.script[0], c.script[1:]
	}
	if msg != "" {
		return scriptedError(msg)
	}
	ch <- prometheus.MustNewConstMetric(scriptedDesc, prometheus.GaugeValue, 1, c.name)
	return nil
}

// scriptedError turns a script step into an error: "KIND:OP:TEXT" is a
// source's failure of that kind and operation, anything else an error of
// no kind with that text.
func scriptedError(step string) error {
	kinds := map[string]fault.Kind{"timeout": fault.Timeout, "closed": fault.Closed, "notfound": fault.NotFound}
	parts := strings.SplitN(step, ":", 3)
	if k, ok := kinds[parts[0]]; ok && len(parts) == 3 {
		return fault.New(k, parts[1], "/run/test.sock", errors.New(parts[2]))
	}
	return errors.New(step)
}

func TestExporterSharesOneRunBetweenScrapes(t *testing.T) {
	fake := &blockingCollector{release: make(chan struct{}), entered: make(chan struct{}, 1)}
	reg := newRegistry(t, promslog.NewNopLogger(), map[string]collector.Collector{"fake": fake})

	const scrapes = 20
	results := make([]families, scrapes)
	errs := make([]error, scrapes)
	var wg sync.WaitGroup
	for i := range scrapes {
		wg.Go(func() {
			mfs, err := reg.Gather()
			results[i], errs[i] = byName(mfs), err
		})
	}
	select {
	case <-fake.entered:
	case <-time.After(10 * time.Second):
		close(fake.release)
		t.Fatal("Update was not called within 10s of 20 scrapes")
	}
	// Give the other scrapes time to join the run in flight.
	time.Sleep(200 * time.Millisecond)
	close(fake.release)
	wg.Wait()

	if err := errors.Join(errs...); err != nil {
		t.Fatalf("Gather: %v", err)
	}
	if got := fake.maxRunning.Load(); got != 1 {
		t.Errorf("%d Update calls ran at once, want 1", got)
	}
	calls := fake.calls.Load()
	t.Logf("%d parallel scrapes made %d Update calls", scrapes, calls)
	if calls < 1 || calls > scrapes/2 {
		t.Errorf("%d parallel scrapes made %d Update calls, want them to share about one", scrapes, calls)
	}
	for i, mfs := range results {
		if v := mfs.value(t, "datapath_fake_value"); v != 42 {
			t.Errorf("scrape %d: datapath_fake_value = %v, want 42", i, v)
		}
		if v := mfs.value(t, "datapath_scrape_collector_success", "collector", "fake"); v != 1 {
			t.Errorf("scrape %d: success = %v, want 1", i, v)
		}
	}

	// A run is shared only while in flight: the next scrape runs again.
	gather(t, reg)
	if got := fake.calls.Load(); got != calls+1 {
		t.Errorf("a later scrape made the Update calls go from %d to %d, want one more", calls, got)
	}
}

func TestExporterFailingCollector(t *testing.T) {
	reg := newRegistry(t, promslog.NewNopLogger(), map[string]collector.Collector{
		"bad":  &scriptedCollector{name: "bad", script: []string{"bad failed: cause and fix"}},
		"good": &scriptedCollector{name: "good"},
	})
	mfs := gather(t, reg)
	for name, want := range map[string]float64{"bad": 0, "good": 1} {
		if got := mfs.value(t, "datapath_scrape_collector_success", "collector", name); got != want {
			t.Errorf("success{collector=%q} = %v, want %v", name, got, want)
		}
		if got := mfs.value(t, "datapath_scrape_collector_duration_seconds", "collector", name); got < 0 || got > 5 {
			t.Errorf("duration{collector=%q} = %v, want a few seconds at most", name, got)
		}
	}
	if got := mfs.labelValues("datapath_fake_scripted", "fake"); strings.Join(got, ",") != "good" {
		t.Errorf("datapath_fake_scripted came from %q, want only the good collector", got)
	}
	for _, name := range []string{"datapath_scrape_collector_success", "datapath_scrape_collector_duration_seconds"} {
		if mf := mfs[name]; mf.GetType() != dto.MetricType_GAUGE || mf.GetHelp() == "" {
			t.Errorf("%s: type %v, help %q; want a gauge with help", name, mf.GetType(), mf.GetHelp())
		}
	}
}

func TestExporterLogsChangesOnly(t *testing.T) {
	tests := []struct {
		name                 string
		script               []string
		failed, stillFailing []string // the err attribute of each line
		recovered            int
	}{
		{
			name:         "errors of no kind, told apart by their text",
			script:       []string{"e1", "e1", "e1", "e2", "", "", "e1"},
			failed:       []string{"e1", "e2", "e1"},
			stillFailing: []string{"e1", "e1"},
			recovered:    1,
		},
		{
			// The text of a source's failure changes at every scrape
			// (a duration, a budget): only its kind and operation count.
			name: "faults, told apart by kind and operation",
			script: []string{"closed:monitor:stale for 1s", "closed:monitor:stale for 2s", "closed:monitor:stale for 3s",
				"timeout:monitor:no answer within 2ms", "timeout:read:no answer within 1ms", "", "", "closed:monitor:stale for 9s"},
			failed: []string{"monitor /run/test.sock: stale for 1s", "monitor /run/test.sock: no answer within 2ms",
				"read /run/test.sock: no answer within 1ms", "monitor /run/test.sock: stale for 9s"},
			stillFailing: []string{"monitor /run/test.sock: stale for 2s", "monitor /run/test.sock: stale for 3s"},
			recovered:    1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf testenv.SyncBuffer
			logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
			reg := newRegistry(t, logger, map[string]collector.Collector{
				"flaky": &scriptedCollector{name: "flaky", script: tt.script},
				"good":  &scriptedCollector{name: "good"},
			})
			// One scrape per step of the script.
			for range tt.script {
				gather(t, reg)
			}
			var failed, stillFailing, recovered []string
			for line := range strings.Lines(buf.String()) {
				switch {
				case strings.Contains(line, `msg="collector failed"`):
					failed = append(failed, attr(line, "err"))
					if !strings.Contains(line, "level=ERROR") || !strings.Contains(line, "collector=flaky") {
						t.Errorf("failure logged as %q, want level ERROR and collector=flaky", line)
					}
				case strings.Contains(line, `msg="collector still failing"`):
					stillFailing = append(stillFailing, attr(line, "err"))
					if !strings.Contains(line, "level=DEBUG") {
						t.Errorf("repeated failure logged as %q, want level DEBUG", line)
					}
				case strings.Contains(line, `msg="collector recovered"`):
					recovered = append(recovered, attr(line, "collector"))
				}
			}
			if strings.Join(failed, ",") != strings.Join(tt.failed, ",") {
				t.Errorf("errors logged: %q, want %q (once per distinct failure)", failed, tt.failed)
			}
			if strings.Join(stillFailing, ",") != strings.Join(tt.stillFailing, ",") {
				t.Errorf("repeats logged at debug: %q, want %q", stillFailing, tt.stillFailing)
			}
			if len(recovered) != tt.recovered || (len(recovered) > 0 && recovered[0] != "flaky") {
				t.Errorf("recoveries logged: %q, want %d of flaky", recovered, tt.recovered)
			}
			if t.Failed() {
				t.Logf("log:\n%s", buf.String())
			}
		})
	}
}

// TestExporterPedanticRegistry registers the Exporter itself, as
// cmd/datapath-exporter does, but in a pedantic registry: as an unchecked
// collector it must be accepted with whatever metrics it collects.
func TestExporterPedanticRegistry(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(collector.NewExporter(promslog.NewNopLogger(), scrapers(map[string]collector.Collector{"good": &scriptedCollector{name: "good"}}))); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Gather(); err != nil {
		t.Errorf("Gather of a pedantic registry: %v", err)
	}
}

// newRegistry returns a pedantic registry holding an Exporter of cs.
func newRegistry(t *testing.T, logger *slog.Logger, cs map[string]collector.Collector) *prometheus.Registry {
	t.Helper()
	return registryOf(t, logger, scrapers(cs))
}

// registryOf returns a pedantic registry holding an Exporter of ss, as
// Flags.Build returns them.
func registryOf(t *testing.T, logger *slog.Logger, ss map[string]collector.Scraper) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(collector.NewExporter(logger, ss)); err != nil {
		t.Fatal(err)
	}
	return reg
}

// testTimeout is every collector's deadline in these tests: generous, for a
// loaded machine.
const testTimeout = 10 * time.Second

func scrapers(cs map[string]collector.Collector) map[string]collector.Scraper {
	out := map[string]collector.Scraper{}
	for name, c := range cs {
		out[name] = collector.Scraper{Collector: c, Timeout: testTimeout}
	}
	return out
}

// families are gathered metric families by name.
type families map[string]*dto.MetricFamily

func gather(t *testing.T, g prometheus.Gatherer) families {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	return byName(mfs)
}

func byName(mfs []*dto.MetricFamily) families {
	out := families{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

// series returns the metrics of family name whose labels include the given
// name, value pairs.
func (f families) series(name string, labels ...string) []*dto.Metric {
	var out []*dto.Metric
	mf := f[name]
	if mf == nil {
		return nil
	}
next:
	for _, m := range mf.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			if labelOf(m, labels[i]) != labels[i+1] {
				continue next
			}
		}
		out = append(out, m)
	}
	return out
}

// value returns the value of the one series of name with the given labels.
func (f families) value(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	ms := f.series(name, labels...)
	if len(ms) != 1 {
		t.Fatalf("%s%v: %d series, want 1", name, labels, len(ms))
	}
	return testenv.MetricValue(ms[0])
}

// labelValues returns the sorted values of label over the series of name
// that have the given labels.
func (f families) labelValues(name, label string, labels ...string) []string {
	var out []string
	for _, m := range f.series(name, labels...) {
		out = append(out, labelOf(m, label))
	}
	sort.Strings(out)
	return out
}

func labelOf(m *dto.Metric, name string) string {
	for _, lp := range m.GetLabel() {
		if lp.GetName() == name {
			return lp.GetValue()
		}
	}
	return ""
}

// attr returns the value of key=value in a slog text line.
func attr(line, key string) string {
	_, rest, ok := strings.Cut(line, " "+key+"=")
	if !ok {
		return ""
	}
	if strings.HasPrefix(rest, `"`) {
		end := strings.Index(rest[1:], `"`)
		if end < 0 {
			return rest[1:]
		}
		return rest[1 : end+1]
	}
	v, _, _ := strings.Cut(strings.TrimSpace(rest), " ")
	return v
}

// panickingCollector stands in for a collector with a bug.
type panickingCollector struct{}

func (panickingCollector) Update(context.Context, chan<- prometheus.Metric) error {
	var tables []int
	_ = tables[len(tables)] // index out of range: a bug
	return nil
}

func TestExporterSurvivesPanickingCollector(t *testing.T) {
	reg := newRegistry(t, promslog.NewNopLogger(), map[string]collector.Collector{
		"buggy": panickingCollector{},
		"good":  &scriptedCollector{name: "good"},
	})
	mfs := gather(t, reg)
	for name, want := range map[string]float64{"buggy": 0, "good": 1} {
		if got := mfs.value(t, "datapath_scrape_collector_success", "collector", name); got != want {
			t.Errorf("success{collector=%q} = %v, want %v", name, got, want)
		}
	}
}
