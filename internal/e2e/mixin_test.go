package e2e

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
	"github.com/datapath-exporter/datapath-exporter/mixin"
)

// renderedMixin is the mixin rendered into a test's directory.
type renderedMixin struct {
	ruleFiles  []string          // paths
	dashboards map[string]string // file name -> path
}

// renderMixin renders the mixin with overrides of its _config (as a user of
// it would) into a directory of t's.
func renderMixin(t *testing.T, overrides map[string]any) renderedMixin {
	t.Helper()
	out, err := mixin.Render(overrides)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	m := renderedMixin{dashboards: map[string]string{}}
	write := func(name string, b []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for _, name := range []string{mixin.RulesFile, mixin.FleetRulesFile} {
		m.ruleFiles = append(m.ruleFiles, write(name, out.Rules[name]))
	}
	for name, b := range out.Dashboards {
		m.dashboards[name] = write(name, b)
	}
	return m
}

// foreignMixin is the mixin for a Prometheus that scrapes the exporter as
// foreignJob.
func foreignMixin(t *testing.T) renderedMixin {
	t.Helper()
	return renderMixin(t, map[string]any{"datapathExporterSelector": fmt.Sprintf("job=%q", foreignJob)})
}

// dashboard is the rendered counterpart of the repository's dashboard file.
func (m renderedMixin) dashboard(t *testing.T, file string) string {
	t.Helper()
	path, ok := m.dashboards[filepath.Base(file)]
	if !ok {
		t.Fatalf("the mixin renders no %s", filepath.Base(file))
	}
	return path
}

// customJob is the job of TestMixinCustomSelectorAndThreshold, and
// defaultSelector what the repository's rules select.
const (
	customJob       = "dpx-custom"
	defaultSelector = `job="datapath-exporter"`
)

// TestMixinCustomSelectorAndThreshold renders the mixin as a user with a
// scrape job of their own and a lower conntrack warning would, and runs it
// on a real Prometheus scraping the real exporter, which reads a conntrack
// table in a private netns: the rules of that render evaluate on the
// user's job, its warning fires at a fill the default threshold leaves
// quiet, its dashboards offer the job, and the repository's (default) rules
// and dashboards find nothing of that job. The threshold sits at half the
// table's fill: filling a table to the default 75% would take hundreds of
// thousands of entries (nf_conntrack_max is the host's, not the netns').
func TestMixinCustomSelectorAndThreshold(t *testing.T) {
	testenv.Require(t, "go")
	testenv.RequirePrometheus(t, testenv.Prometheus3)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	ns := testenv.NetnsForTest(t, testenv.NetnsOptions{})
	if err := ns.FillUDP(ctx, 300, 0); err != nil {
		t.Fatal(err)
	}
	addr := startExporter(t, buildExporter(t), "--conntrack.netns="+ns.Path, "--no-collector.ovs", "--no-collector.ovs_datapath")
	entries, limit := scrapeConntrack(t, addr)
	fillPercent := 100 * entries / limit
	if fillPercent <= 0 || fillPercent >= 75/2 {
		t.Fatalf("%v entries of %v: a fill of %g%%, want one well under the default warning (75%%)", entries, limit, fillPercent)
	}
	// Rounded to what the mixin writes out (10 decimals at most).
	warnPercent := math.Floor(fillPercent/2*1000) / 1000

	selector := fmt.Sprintf("job=%q", customJob)
	custom := renderMixin(t, map[string]any{
		"datapathExporterSelector": selector,
		"conntrackWarningPercent":  warnPercent,
		// A test cannot wait 5 minutes; tests.yml checks the `for`.
		"conntrackNearlyFullFor": "1s",
	})
	customRules := loadRulesFrom(t, custom.ruleFiles)
	p := testenv.PrometheusForTest(t, testenv.PrometheusOptions{Job: customJob, Targets: []string{addr}, RuleFiles: custom.ruleFiles})
	e := &env{prom: p, exporter: addr}

	firing := fmt.Sprintf(`ALERTS{alertname="DatapathConntrackTableNearlyFull",alertstate="firing",job=%q,instance=%q}`, customJob, addr)
	if _, err := p.WaitForSeries(ctx, firing); err != nil {
		t.Fatalf("the warning at %g%% does not fire at a fill of %g%%: %v", warnPercent, fillPercent, err)
	}

	t.Run("custom rules load and evaluate", func(t *testing.T) { e.checkRulesHealthy(ctx, t, len(customRules)) })

	t.Run("custom records", func(t *testing.T) {
		above := "cluster_job:datapath_conntrack_nodes_above_" + strings.ReplaceAll(strconv.FormatFloat(warnPercent, 'f', -1, 64), ".", "_") + "pct:count"
		found := false
		for _, r := range customRules {
			if r.Record == above {
				found = true
			}
		}
		if !found {
			t.Fatalf("the custom render has no record %s", above)
		}
		for q, want := range map[string]float64{
			fmt.Sprintf(`count(datapath:conntrack_usage:ratio{job=%q,instance=%q})`, customJob, addr): 1,
			fmt.Sprintf(`%s{job=%q}`, above, customJob):                                               1,
			fmt.Sprintf(`cluster_job:datapath_conntrack_nodes:count{job=%q}`, customJob):              1,
		} {
			// The fleet's group reads the per-node group's record: it
			// has data from its second evaluation on.
			res, err := p.WaitForSeries(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			vec := vectorOf(t, res)
			if len(vec) != 1 || float64(vec[0].Value) != want {
				t.Errorf("%s = %v, want %v", q, vec, want)
			}
		}
		// The critical alert and the default warning stay quiet at this fill.
		for _, a := range []string{"DatapathConntrackTableFull"} {
			if r := findRule(t, customRules, a); !e.queryIsEmpty(ctx, t, r.Expr, false) {
				t.Errorf("%s selects something at a fill of %g%%: %s", a, fillPercent, r.Expr)
			}
		}
		defaultThreshold := findRule(t, loadRulesFrom(t, renderMixin(t, map[string]any{"datapathExporterSelector": selector}).ruleFiles), "DatapathConntrackTableNearlyFull")
		if !e.queryIsEmpty(ctx, t, defaultThreshold.Expr, false) {
			t.Errorf("the default warning selects a fill of %g%%: %s", fillPercent, defaultThreshold.Expr)
		}
	})

	// Every operand of the repository's rules that reads the exporter's
	// series is empty for the custom job, and the same operand under the
	// custom selector has data where this exporter serves the series
	// (the conntrack collector and the target's up; OVS is off here).
	t.Run("default rules see nothing of the custom job", func(t *testing.T) {
		checked := 0
		for _, r := range loadRules(t) {
			for _, alt := range splitTopLevel(r.Expr, orAt) {
				for _, op := range conditionOperands(alt) {
					if !strings.Contains(op, defaultSelector) {
						continue
					}
					checked++
					if !e.queryIsEmpty(ctx, t, op, false) {
						t.Errorf("%s: %s returns data for job %s", r.Alert+r.Record, op, customJob)
					}
					// (deriv: only where the table grows, which this one
					// does not.)
					if !strings.Contains(op, "datapath_conntrack_entries") && !strings.HasPrefix(op, "up{") || strings.Contains(op, "deriv(") {
						continue
					}
					withCustom := strings.ReplaceAll(op, defaultSelector, selector)
					if e.queryIsEmpty(ctx, t, withCustom, false) {
						t.Errorf("%s: %s returns no data", r.Alert+r.Record, withCustom)
					}
				}
			}
		}
		if checked < 10 {
			t.Errorf("only %d operands with the default selector found", checked)
		}
	})

	t.Run("dashboards offer the custom job", func(t *testing.T) {
		for _, c := range []struct {
			file string
			want []string
		}{
			{custom.dashboard(t, "conntrack.json"), []string{customJob}},
			{custom.dashboard(t, fleetDashboardFile), []string{customJob}},
			{dashboardFiles[1], nil}, // the repository's conntrack.json
		} {
			d := loadDashboard(t, c.file)
			i := slices.IndexFunc(d.Templating.List, func(v variable) bool { return v.Name == "job" })
			if i < 0 {
				t.Fatalf("%s has no job variable", c.file)
			}
			v := d.Templating.List[i]
			q, err := v.queryString()
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := e.variableValues(ctx, t, v, q); !slices.Equal(got, c.want) {
				t.Errorf("%s: job variable %q = %v, want %v", c.file, q, got, c.want)
			}
		}
	})
}

// scrapeConntrack reads datapath_conntrack_entries and its limit from the
// exporter's /metrics.
func scrapeConntrack(t *testing.T, addr string) (entries, limit float64) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && (f[0] == "datapath_conntrack_entries" || f[0] == "datapath_conntrack_entries_limit") {
			if values[f[0]], err = strconv.ParseFloat(f[1], 64); err != nil {
				t.Fatalf("%s: %v", line, err)
			}
		}
	}
	entries, okE := values["datapath_conntrack_entries"]
	limit, okL := values["datapath_conntrack_entries_limit"]
	if !okE || !okL || limit <= 0 {
		t.Fatalf("no conntrack entries and limit in /metrics of %s:\n%s", addr, b)
	}
	return entries, limit
}

func findRule(t *testing.T, rules []rule, name string) rule {
	t.Helper()
	for _, r := range rules {
		if r.Alert == name || r.Record == name {
			return r
		}
	}
	t.Fatalf("no rule %s", name)
	return rule{}
}
