package antrea

import (
	"bytes"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// parsers are the implementations BenchmarkParse measures side by side:
// Parse, and the same reading done with expfmt's parser, which the package
// does not use for the reason docs/library-choices.md gives.
var parsers = []struct {
	name  string
	parse func(io.Reader, int64) (Reading, error)
}{
	{"own", Parse},
	{"expfmt", parseWithExpfmt},
}

// parseWithExpfmt is Parse written with expfmt's TextParser over an
// io.LimitedReader: it decodes every family of the exposition into
// MetricFamily values, then picks the two it needs.
func parseWithExpfmt(r io.Reader, limit int64) (Reading, error) {
	lr := &io.LimitedReader{R: r, N: limit + 1}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(lr)
	if lr.N == 0 {
		return Reading{}, ErrTooLarge
	}
	if err != nil {
		return Reading{}, fmt.Errorf("%w: %v", ErrNotPrometheus, err)
	}
	var out Reading
	byID := map[uint8]Table{}
	for _, m := range mfs[FlowCountFamily].GetMetric() {
		var t Table
		id := -1
		for _, l := range m.GetLabel() {
			switch l.GetName() {
			case "table_id":
				n, err := strconv.ParseUint(l.GetValue(), 10, 8)
				if err != nil || n == 255 {
					return Reading{}, ErrNotPrometheus
				}
				id = int(n)
			case "table_name":
				t.Name = l.GetValue()
			}
		}
		if id < 0 {
			return Reading{}, ErrNotPrometheus
		}
		t.ID, t.Flows = uint8(id), m.GetGauge().GetValue()
		byID[t.ID] = t
	}
	for _, m := range mfs[TotalFlowCountFamily].GetMetric() {
		out.TotalFlows, out.HasTotal = m.GetGauge().GetValue(), true
	}
	if len(byID) == 0 {
		return Reading{}, ErrNoFlowCount
	}
	for _, t := range byID {
		out.Tables = append(out.Tables, t)
	}
	slices.SortFunc(out.Tables, func(a, b Table) int { return int(a.ID) - int(b.ID) })
	return out, nil
}

// busyAgentMetrics is an exposition of about 1.2 MiB, what the /metrics of
// an agent on a busy node weighs: the capture's families and the histograms of the agent's own API server and
// Kubernetes clients (k8s.io/component-base's apiserver_*, rest_client_*,
// workqueue_*), encoded by client_golang as the agent's handler does.
func busyAgentMetrics(tb testing.TB) []byte {
	tb.Helper()
	reg := prometheus.NewPedanticRegistry()
	apiserver := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "apiserver_request_duration_seconds",
		Help:    "[STABLE] Response latency distribution in seconds for each verb, dry run value, group, version, resource, subresource, scope and component.",
		Buckets: []float64{0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60},
	}, []string{"component", "dry_run", "group", "resource", "scope", "subresource", "verb", "version"})
	for _, res := range []string{"addressgroups", "appliedtogroups", "networkpolicies", "egressgroups", "groupassociations", "ovsflows", "ovstracing", "podinterfaces", "agentinfo", "featuregates", "memberlist", "serviceexternalip", "supportbundles", "networkpolicystats", "multicastgroups", "bgppolicy", "bgppeers", "bgproutes"} {
		for _, verb := range []string{"GET", "LIST", "WATCH", "POST", "PUT", "DELETE"} {
			for _, version := range []string{"v1alpha1", "v1beta2"} {
				apiserver.WithLabelValues("apiserver", "", "controlplane.antrea.io", res, "cluster", "", verb, version).Observe(0.01)
			}
		}
	}
	rest := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "rest_client_request_duration_seconds",
		Help:    "[ALPHA] Request latency in seconds. Broken down by verb, and host.",
		Buckets: []float64{0.005, 0.025, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60},
	}, []string{"host", "verb"})
	for h := range 4 {
		for _, verb := range []string{"GET", "LIST", "WATCH", "POST", "PUT", "PATCH", "DELETE"} {
			rest.WithLabelValues(fmt.Sprintf("10.96.0.%d:443", h+1), verb).Observe(0.02)
		}
	}
	queue := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "workqueue_queue_duration_seconds",
		Help:    "[ALPHA] How long in seconds an item stays in workqueue before being requested.",
		Buckets: prometheus.ExponentialBuckets(1e-8, 10, 10),
	}, []string{"name"})
	for q := range 40 {
		queue.WithLabelValues(fmt.Sprintf("antrea-agent-controller-%d", q)).Observe(0.001)
	}
	reg.MustRegister(apiserver, rest, queue)
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	var buf bytes.Buffer
	buf.WriteString(agentMetrics(tb)) // the capture's families (flow counts of 5 tables) first
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			tb.Fatal(err)
		}
	}
	return buf.Bytes()
}

// BenchmarkParse measures one parse of the agent's reply, the capture
// (7 KiB) and a busy agent's 1.2 MiB, by Parse and by expfmt.
func BenchmarkParse(b *testing.B) {
	bodies := []struct {
		name string
		body []byte
	}{
		{"capture", []byte(agentMetrics(b))},
		{"busy-agent", busyAgentMetrics(b)},
	}
	for _, body := range bodies {
		for _, p := range parsers {
			b.Run(fmt.Sprintf("body=%s/impl=%s", body.name, p.name), func(b *testing.B) {
				b.SetBytes(int64(len(body.body)))
				b.ReportAllocs()
				for b.Loop() {
					r, err := p.parse(bytes.NewReader(body.body), DefaultMaxBodyBytes)
					if err != nil {
						b.Fatal(err)
					}
					if len(r.Tables) == 0 {
						b.Fatal("no table")
					}
				}
			})
		}
	}
}

// TestBusyAgentMetrics checks the benchmark's input and that both parsers
// read the same tables from it.
func TestBusyAgentMetrics(t *testing.T) {
	body := busyAgentMetrics(t)
	if n := len(body); n < 1<<20 || n > 2<<20 {
		t.Errorf("busy agent's exposition is %d bytes, want 1-2 MiB", n)
	}
	var readings []Reading
	for _, p := range parsers {
		r, err := p.parse(bytes.NewReader(body), DefaultMaxBodyBytes)
		if err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		if len(r.Tables) != 5 || !r.HasTotal {
			t.Errorf("%s: got %+v, want the capture's 5 tables and total", p.name, r)
		}
		readings = append(readings, r)
	}
	if !reflect.DeepEqual(readings[0], readings[1]) {
		t.Errorf("the parsers disagree:\n%+v\n%+v", readings[0], readings[1])
	}
}
