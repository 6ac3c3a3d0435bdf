package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
)

// dashboardFiles are the per-node dashboards as the repository ships them
// (rendered from mixin/ with its default _config), and fleetDashboardFile
// the fleet's (tested against several nodes in fleet_test.go).
var dashboardFiles = []string{"../../grafana/ovs-flow-tables.json", "../../grafana/conntrack.json"}

const fleetDashboardFile = "../../grafana/datapath-fleet.json"

func TestEveryDashboardIsTested(t *testing.T) {
	files, err := filepath.Glob("../../grafana/*.json")
	if err != nil {
		t.Fatal(err)
	}
	tested := append(slices.Clone(dashboardFiles), fleetDashboardFile)
	slices.Sort(files)
	slices.Sort(tested)
	if !slices.Equal(files, tested) {
		t.Errorf("grafana/ holds %v, the tests know %v", files, tested)
	}
}

// expectedEmpty lists the panel queries that may return nothing against a
// healthy exporter, keyed by "<file>/<panel title>/<refId>". The test fails
// if one of them starts returning data, so the list stays honest.
// The per-zone panel is on the list only when the binary has no
// conntrack_zones collector (see startEnv).
var expectedEmpty = map[string]string{
	// datapath_conntrack_zone_entries{zone} comes from the opt-in
	// conntrack_zones collector; the panel is empty where it is off.
	zonePanel: "datapath_conntrack_zone_entries needs --collector.conntrack_zones, which this binary lacks",
	// Only the kernel datapath reports masks; the test OVS runs the netdev
	// datapath (no openvswitch module here).
	"ovs-flow-tables.json/Masks per packet/A": "datapath_ovs_datapath_mask_hits_total is reported by the kernel datapath only",
}

const zonePanel = "conntrack.json/Entries per zone/A"

// podsQueries are the panel queries and recording rules that read the
// opt-in conntrack_pods collector (datapath_conntrack_pod_entries and the
// time of its last dump): empty where the binary has no such collector (see
// startEnv), and required to return data where it has.
var podsQueries = map[string]bool{
	"conntrack.json/Pods with the most connections/A":            true,
	"conntrack.json/Pods dump age/A":                             true,
	"conntrack.json/Pods dump age/B":                             true,
	"datapath-fleet.json/Pods with the most conntrack entries/A": true,
	"cluster_job_pod:datapath_conntrack_pod_entries:top10":       true,
}

// hasFlag reports whether the exporter binary bin knows the flag name
// (without its dashes): the tests turn on collectors newer than these
// dashboards only where the binary has them.
func hasFlag(t *testing.T, bin, name string) bool {
	t.Helper()
	help, _ := exec.Command(bin, "--help").CombinedOutput()
	return regexp.MustCompile(`(?m)--(?:\[no-\])?` + regexp.QuoteMeta(name) + `(?:[=\s]|$)`).Match(help)
}

// podsArgs are the exporter's flags for the conntrack_pods collector, with
// a dump every second so a test sees its counts within a few scrapes; nil
// where bin has no such collector.
func podsArgs(t *testing.T, bin string) []string {
	t.Helper()
	if !hasFlag(t, bin, "collector.conntrack_pods") {
		return nil
	}
	args := []string{"--collector.conntrack_pods"}
	if hasFlag(t, bin, "conntrack.pods-refresh") {
		args = append(args, "--conntrack.pods-refresh=1s")
	}
	return args
}

// insertPodEntries adds count conntrack entries from (direction source) or
// to (destination) the Pod address ip in ns: UDP to or from 10.200.x.y port
// 53, as Netns.InsertEntries makes them, in zone 0.
func insertPodEntries(ctx context.Context, t *testing.T, ns *testenv.Netns, ip, direction string, count int) {
	t.Helper()
	for i := range count {
		peer := fmt.Sprintf("10.201.%d.%d", i>>8, i&0xff)
		src, dst := ip, peer
		if direction == "destination" {
			src, dst = peer, ip
		}
		if _, err := ns.Exec(ctx, "conntrack", "-I", "-p", "udp", "-s", src, "-d", dst,
			"--sport", strconv.Itoa(2000+i), "--dport", "53", "-t", "3600"); err != nil {
			t.Fatalf("inserting conntrack entry %s -> %s: %v", src, dst, err)
		}
	}
}

// datasourceRef is what every panel and target must use: the dashboard's
// own datasource variable, never the uid of somebody's Grafana.
var datasourceRef = dsRef{Type: "prometheus", UID: "${datasource}"}

type dsRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type gridPos struct {
	H, W, X, Y *int
}

type dashboard struct {
	UID           string     `json:"uid"`
	Title         string     `json:"title"`
	SchemaVersion int        `json:"schemaVersion"`
	Panels        []panel    `json:"panels"`
	Inputs        []struct{} `json:"__inputs"`
	Templating    struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int      `json:"id"`
	Type       string   `json:"type"`
	Title      string   `json:"title"`
	Datasource *dsRef   `json:"datasource"`
	GridPos    *gridPos `json:"gridPos"`
	Targets    []struct {
		Datasource *dsRef `json:"datasource"`
		Expr       string `json:"expr"`
		RefID      string `json:"refId"`
		Instant    bool   `json:"instant"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // of a collapsed row
}

type variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Datasource *dsRef          `json:"datasource"`
	Query      json.RawMessage `json:"query"`
	Regex      string          `json:"regex"`
	Multi      bool            `json:"multi"`
	IncludeAll bool            `json:"includeAll"`
	AllValue   string          `json:"allValue"`
}

// queryString is the variable's query, which Grafana stores either as a
// string or, since 10.x, as {"query": "...", "refId": "..."}.
func (v variable) queryString() (string, error) {
	var s string
	if err := json.Unmarshal(v.Query, &s); err == nil {
		return s, nil
	}
	var o struct {
		Query string `json:"query"`
	}
	if err := json.Unmarshal(v.Query, &o); err != nil {
		return "", fmt.Errorf("variable %s: query is neither a string nor {\"query\": ...}: %s", v.Name, v.Query)
	}
	return o.Query, nil
}

func loadDashboard(t *testing.T, file string) dashboard {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return d
}

// allPanels flattens rows: the panels of collapsed rows are nested.
func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

// grafanaBuiltins are the global variables Grafana fills in itself.
var grafanaBuiltins = map[string]bool{
	"__rate_interval": true, "__interval": true, "__interval_ms": true, "__range": true, "__range_s": true,
	"__range_ms": true, "__from": true, "__to": true, "__dashboard": true, "__name": true,
}

// varRefRE finds $name, ${name} and ${name:format} references.
var varRefRE = regexp.MustCompile(`\$\{(\w+)(?::\w+)?\}|\$(\w+)`)

func TestDashboardStructure(t *testing.T) {
	uids := map[string]string{}
	for _, file := range append(slices.Clone(dashboardFiles), fleetDashboardFile) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			d := loadDashboard(t, file)
			if d.SchemaVersion != 39 {
				t.Errorf("schemaVersion = %d, want 39 (Grafana 10.4+/11)", d.SchemaVersion)
			}
			if !strings.HasPrefix(d.UID, "datapath-") || d.Title == "" {
				t.Errorf("uid %q / title %q: want a fixed uid starting with datapath- and a title", d.UID, d.Title)
			}
			if other, ok := uids[d.UID]; ok {
				t.Errorf("uid %q also used by %s", d.UID, other)
			}
			uids[d.UID] = file
			if len(d.Inputs) > 0 {
				t.Errorf("__inputs present: the dashboards pick their datasource with the datasource variable")
			}

			// The only uids in the file: the dashboard's own, the datasource
			// variable and Grafana's built-in annotation source.
			for _, m := range regexp.MustCompile(`"uid":\s*"([^"]*)"`).FindAllStringSubmatch(string(raw), -1) {
				if m[1] != d.UID && m[1] != "${datasource}" && m[1] != "-- Grafana --" {
					t.Errorf("hard-coded uid %q", m[1])
				}
			}

			vars := map[string]variable{}
			for _, v := range d.Templating.List {
				if _, dup := vars[v.Name]; dup {
					t.Errorf("variable %s defined twice", v.Name)
				}
				vars[v.Name] = v
			}
			if ds, ok := vars["datasource"]; !ok || ds.Type != "datasource" || string(ds.Query) != `"prometheus"` {
				t.Errorf("want a variable datasource of type datasource with query prometheus, got %+v", ds)
			}
			want := []string{"job", "instance"}
			if file == fleetDashboardFile {
				want = []string{"job"}
			}
			if strings.Contains(file, "ovs") {
				want = append(want, "bridge", "ovs_table")
			}
			for _, name := range want {
				v, ok := vars[name]
				if !ok {
					t.Errorf("variable %s missing", name)
					continue
				}
				if v.Type != "query" || v.Datasource == nil || *v.Datasource != datasourceRef {
					t.Errorf("variable %s: type %q, datasource %+v; want a query variable on ${datasource}", name, v.Type, v.Datasource)
				}
				if q, err := v.queryString(); err != nil {
					t.Error(err)
				} else if err := checkJobAndRateInterval(q); name != "job" && err != nil {
					t.Errorf("variable %s: %v", name, err)
				}
				if v.IncludeAll && v.AllValue != ".*" {
					t.Errorf("variable %s: allValue %q, want .* (Grafana's default All is a list of every value)", name, v.AllValue)
				}
			}

			ids := map[int]string{}
			for _, p := range allPanels(d.Panels) {
				if prev, dup := ids[p.ID]; dup || p.ID == 0 {
					t.Errorf("panel %q: id %d missing or also used by %q", p.Title, p.ID, prev)
				}
				ids[p.ID] = p.Title
				if g := p.GridPos; g == nil || g.H == nil || g.W == nil || g.X == nil || g.Y == nil {
					t.Errorf("panel %q: gridPos missing or incomplete", p.Title)
				} else if *g.X < 0 || *g.W <= 0 || *g.X+*g.W > 24 || *g.H <= 0 {
					t.Errorf("panel %q: gridPos %+v outside the 24-column grid", p.Title, *g)
				}
				if p.Type == "row" {
					continue
				}
				if p.Title == "" {
					t.Errorf("panel %d has no title", p.ID)
				}
				if p.Datasource == nil || *p.Datasource != datasourceRef {
					t.Errorf("panel %q: datasource %+v, want %+v", p.Title, p.Datasource, datasourceRef)
				}
				if len(p.Targets) == 0 {
					t.Errorf("panel %q has no query", p.Title)
				}
				for _, tg := range p.Targets {
					if tg.Datasource == nil || *tg.Datasource != datasourceRef {
						t.Errorf("panel %q target %s: datasource %+v, want %+v", p.Title, tg.RefID, tg.Datasource, datasourceRef)
					}
					if strings.TrimSpace(tg.Expr) == "" {
						t.Errorf("panel %q target %s: empty expr", p.Title, tg.RefID)
					}
					if err := checkJobAndRateInterval(tg.Expr); err != nil {
						t.Errorf("panel %q target %s: %v", p.Title, tg.RefID, err)
					}
					for _, m := range varRefRE.FindAllStringSubmatch(tg.Expr, -1) {
						name := m[1] + m[2]
						if _, ok := vars[name]; !ok && !grafanaBuiltins[name] {
							t.Errorf("panel %q target %s: $%s is not a variable of the dashboard", p.Title, tg.RefID, name)
						}
					}
				}
			}
		})
	}
}

// selectorRE finds the metric selectors of a PromQL expression: a metric
// name (datapath_* or up, or a recorded datapath:*) and its {matchers}, if
// any.
var selectorRE = regexp.MustCompile(`([a-zA-Z_:][\w:]*)(\{[^}]*\})?`)

// rangeFuncRE finds rate(), irate() and increase() with the range they are
// given: the first [...] after the function name.
var rangeFuncRE = regexp.MustCompile(`\b(rate|irate|increase)\((?:[^\[]*)\[([^\]]*)\]`)

var jobMatcherRE = regexp.MustCompile(`\bjob\s*(?:=~|!~|!=|=)`)

// labelListRE finds the label lists of grouping and matching clauses
// (`by (instance, datapath)`, `on(instance, job)`, `group_left(...)`),
// whose label names are not metric selectors.
var labelListRE = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)`)

// checkJobAndRateInterval reports a query that would break under a scrape
// job name other than the project's own, or at another scrape interval:
// every selector must carry job=~"$job" and no other job matcher, and every
// rate/irate/increase must use $__rate_interval (Grafana's window of at least
// four scrape intervals).
func checkJobAndRateInterval(expr string) error {
	var errs []error
	for _, m := range selectorRE.FindAllStringSubmatch(labelListRE.ReplaceAllString(expr, ""), -1) {
		if m[1] != "up" && !strings.Contains(m[1], "datapath") {
			continue // a function, keyword or label name
		}
		if strings.HasPrefix(m[0], "datapath_exporter_build_info") && !strings.Contains(m[0], "{") {
			// The job variable's own query lists the jobs.
			continue
		}
		if !strings.Contains(m[2], `job=~"$job"`) {
			errs = append(errs, fmt.Errorf("selector %s lacks job=~\"$job\"", m[0]))
		}
		if len(jobMatcherRE.FindAllString(m[2], -1)) > 1 {
			errs = append(errs, fmt.Errorf("selector %s hard-codes a job", m[0]))
		}
	}
	for _, m := range rangeFuncRE.FindAllStringSubmatch(expr, -1) {
		if m[2] != "$__rate_interval" {
			errs = append(errs, fmt.Errorf("%s over [%s], want [$__rate_interval]", m[1], m[2]))
		}
	}
	return errors.Join(errs...)
}

func TestCheckJobAndRateInterval(t *testing.T) {
	tests := []struct {
		expr string
		ok   bool
	}{
		{`rate(datapath_x_total{job=~"$job",instance=~"$instance"}[$__rate_interval])`, true},
		{`up{job=~"$job"}`, true},
		{`label_values(datapath_exporter_build_info, job)`, true},
		{`up{job=~".*datapath-exporter.*",instance=~"$instance"}`, false},
		{`up{job=~"$job",job!="x"}`, false},
		{`datapath_conntrack_entries{instance=~"$instance"}`, false},
		{`datapath_conntrack_entries`, false},
		{`rate(datapath_x_total{job=~"$job"}[5m])`, false},
		{`sum(increase(datapath_x_total{job=~"$job"}[1h]))`, false},
		{`max by (job) (datapath:conntrack_usage:ratio{job=~"$job"})`, true},
		{`sum by (instance, datapath, result) (rate(datapath_x_total{job=~"$job"}[$__rate_interval]))`, true},
		{`datapath_a{job=~"$job"} - on(instance, datapath) group_left(datapath) datapath_b{job=~"$job"}`, true},
		{`sum by (datapath) (datapath_a)`, false},
		{`topk(10, cluster_job:datapath_conntrack_usage:max{job=~"$job"})`, true},
		{`cluster_job:datapath_conntrack_usage:max`, false},
		{`a{job=~"$job"} != on(cluster, job) group_left() cluster_job_table:datapath_x:median`, false},
	}
	for _, tt := range tests {
		if err := checkJobAndRateInterval(tt.expr); (err == nil) != tt.ok {
			t.Errorf("checkJobAndRateInterval(%q) = %v, want ok=%v", tt.expr, err, tt.ok)
		}
	}
}

// foreignJob is the job name the live test's Prometheus scrapes the
// exporter under: unlike the project's own "datapath-exporter", as a user's
// Prometheus might call it (a PodMonitor's <namespace>/<name>, here one
// scraping Antrea's node metrics). The rules and dashboards the live tests
// run are the mixin's, rendered with that job as its selector (foreignMixin);
// dashboards must find their data through the job variable, not a
// hard-coded job.
const foreignJob = "kube-system/antrea-node-metrics"

// env is the stack the live test queries: a private OVS and conntrack
// table, the real exporter binary reading them, and Prometheus scraping the
// exporter with the rules loaded.
type env struct {
	prom     *testenv.Prometheus
	exporter string // host:port, the instance label
	zones    bool   // the conntrack_zones collector is on
	pods     bool   // the conntrack_pods collector is on
	mixin    renderedMixin
}

// packet is a UDP/IPv4 frame from 10.0.0.1 to 10.0.0.2 for `ovs-ofctl
// packet-out`: it runs through table 0 into SpoofGuard (table 1), where a
// drop flow matches it, so both tables see lookups and matches.
const packet = "000000000002" + "000000000001" + "0800" +
	"4500001c00000000401100000a0000010a000002" + "0400003500080000"

func startEnv(t *testing.T) *env {
	t.Helper()
	testenv.Require(t, "go")
	testenv.RequirePrometheus(t, testenv.Prometheus3)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)

	o := testenv.OVSForTest(t, testenv.OVSOptions{})
	const bridge = "br-int"
	if err := o.AddBridge(bridge, "OpenFlow10", "OpenFlow15"); err != nil {
		t.Fatal(err)
	}
	// As on a real Antrea node, br-int carries no table names in OVS:
	// the agent names them (testenv's stand-in, since no real agent can
	// run here: no cluster, and its module is refused by the proxy).
	flows := []string{"table=0,priority=0,actions=resubmit(,1)", "table=1,priority=0,actions=resubmit(,11)"}
	flows = append(flows, testenv.DropFlows(1, 0, 20)...)
	flows = append(flows, testenv.DropFlows(11, 0, 50)...)
	if err := o.AddFlows(bridge, flows); err != nil {
		t.Fatal(err)
	}
	// A flow limit of its own on SpoofGuard (a user's ovs-vsctl; Antrea
	// sets none): the exporter serves datapath_ovs_table_flows_limit only
	// for such tables, and the limit panels and rules need one (table 1 is
	// among the tables the test selects).
	if err := o.SetFlowLimit(bridge, 1, "", 1000); err != nil {
		t.Fatal(err)
	}
	// A meter, as Antrea puts on packet-in, for the meter-drops panel.
	if err := o.AddMeter(bridge, "meter=1,pktps,band=type=drop,rate=100"); err != nil {
		t.Fatal(err)
	}

	ns := testenv.NetnsForTest(t, testenv.NetnsOptions{})
	if err := ns.FillUDP(ctx, 500, 0); err != nil {
		t.Fatal(err)
	}
	if err := ns.InsertEntries(ctx, 7, 10); err != nil {
		t.Fatal(err)
	}

	agent := testenv.AntreaAgentForTest(t, testenv.AntreaAgentOptions{Names: testenv.AntreaAgentTableNames})
	if err := agent.SyncCounts(o, bridge); err != nil {
		t.Fatal(err)
	}

	// A Pod on br-int with Antrea's external IDs, for the Pod interface
	// panels and DatapathOVSInterfaceDropping (ovs_interfaces collector).
	pod := testenv.PodForTest(t, o, bridge, testenv.PodOptions{Name: "web-1", Namespace: "shop", Port: "web-1-3f2a9c", Index: 1})

	bin := buildExporter(t)
	args := []string{"--ovs.rundir=" + o.RunDir, "--conntrack.netns=" + ns.Path,
		"--collector.antrea_agent", "--antrea.agent-url=" + agent.URL(), "--antrea.token-file=" + agent.TokenFile,
		"--antrea.refresh=1s", "--collector.ovs_interfaces"}
	// The per-zone collector is opt-in and newer than these dashboards:
	// turn it on when the binary has it, so the per-zone panel is tested
	// too.
	zones := hasFlag(t, bin, "collector.conntrack_zones")
	if zones {
		args = append(args, "--collector.conntrack_zones")
	}
	// The per-Pod counts (conntrack_pods, opt-in and newer too): entries
	// from and to the Pod's address, so the Pods panel has a row of the
	// Pod in each direction besides the rest.
	pods := podsArgs(t, bin)
	if pods != nil {
		args = append(args, pods...)
		insertPodEntries(ctx, t, ns, pod.IP.String(), "source", 12)
		insertPodEntries(ctx, t, ns, pod.IP.String(), "destination", 3)
	}
	addr := startExporter(t, bin, args...)

	// Keep the node busy while Prometheus scrapes: packets through br-int
	// (so lookups and matches have a rate) and a conntrack table that grows
	// (so "time until full" has a positive slope to extrapolate).
	busyCtx, stopBusy := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for busyCtx.Err() == nil {
			if _, err := o.Ofctl("-O", "OpenFlow15", "packet-out", bridge, "in_port=controller packet="+packet+" actions=resubmit(,0)"); err != nil && busyCtx.Err() == nil {
				t.Errorf("packet-out: %v", err)
				return
			}
			if err := ns.InsertEntries(busyCtx, 0, 5); err != nil && busyCtx.Err() == nil {
				t.Errorf("growing conntrack: %v", err)
				return
			}
			select {
			case <-busyCtx.Done():
			case <-time.After(300 * time.Millisecond):
			}
		}
	}()
	// Registered after OVSForTest and NetnsForTest, so it runs before their
	// cleanups remove what the goroutine uses.
	t.Cleanup(func() {
		stopBusy()
		wg.Wait()
	})

	e := &env{exporter: addr, zones: zones, pods: pods != nil, mixin: foreignMixin(t)}
	return e.on(t, testenv.Prometheus3)
}

// on returns e with a Prometheus of release r (e's own if it is of r)
// scraping e's exporter with e's rules, once it holds enough data for the
// queries.
func (e *env) on(t *testing.T, r testenv.PrometheusRelease) *env {
	t.Helper()
	if e.prom != nil && e.prom.Release == r {
		return e
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p := testenv.PrometheusForTest(t, testenv.PrometheusOptions{Job: foreignJob, Targets: []string{e.exporter}, RuleFiles: e.mixin.ruleFiles, Release: r})
	// Enough scrapes (1s apart) for rate() and deriv() over short windows,
	// and rules evaluated a few times.
	for _, q := range []string{
		fmt.Sprintf(`count_over_time(up{job=%q}[1m]) >= 8`, foreignJob),
		`min(datapath_scrape_collector_success) == 1`,
		`sum(rate(datapath_ovs_table_lookups_total[1m])) > 0`,
		`deriv(datapath_conntrack_entries[1m]) > 0`,
		`count_over_time(datapath:conntrack_usage:ratio[1m]) >= 3`,
	} {
		if _, err := p.WaitForSeries(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if e.pods {
		if _, err := p.WaitForSeries(ctx, `count_over_time(cluster_job_pod:datapath_conntrack_pod_entries:top10[1m]) >= 2`); err != nil {
			t.Fatal(err)
		}
	}
	return &env{prom: p, exporter: e.exporter, zones: e.zones, pods: e.pods, mixin: e.mixin}
}

// buildExporter builds the exporter binary from this checkout.
func buildExporter(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "datapath-exporter")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/datapath-exporter")
	cmd.Dir = "../.."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the exporter: %v\n%s", err, out)
	}
	return bin
}

// startExporter runs the binary on a free loopback port until the test
// ends, and returns host:port once /-/healthy answers.
func startExporter(t *testing.T, bin string, args ...string) string {
	t.Helper()
	addr := testenv.FreeAddr(t)
	logFile := filepath.Join(t.TempDir(), "exporter.log")
	log, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	cmd := exec.Command(bin, append([]string{"--web.listen-address=" + addr}, args...)...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Error("exporter did not stop within 10s of SIGTERM")
		}
		if t.Failed() {
			b, _ := os.ReadFile(logFile)
			t.Logf("exporter log:\n%s", b)
		}
	})

	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/-/healthy")
		if err == nil {
			resp.Body.Close()
			return addr
		}
		select {
		case <-done:
			b, _ := os.ReadFile(logFile)
			t.Fatalf("exporter exited: %s", b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("exporter not answering on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDashboardAndRuleQueriesAgainstPrometheus runs every PromQL expression
// of the dashboards (panel targets and variable queries) and of the rules
// against a real Prometheus scraping the real exporter: on every supported
// release, Prometheus 3 and the oldest, 2.42, each scraping the same
// exporter.
func TestDashboardAndRuleQueriesAgainstPrometheus(t *testing.T) {
	first := startEnv(t)
	for _, r := range testenv.PrometheusReleases() {
		t.Run(r.String(), func(t *testing.T) { first.on(t, r).checkDashboardsAndRules(t) })
	}
}

// checkDashboardsAndRules is TestDashboardAndRuleQueriesAgainstPrometheus
// on e's Prometheus.
func (e *env) checkDashboardsAndRules(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	for _, file := range dashboardFiles {
		t.Run(filepath.Base(file), func(t *testing.T) { e.checkDashboardQueries(ctx, t, e.mixin.dashboard(t, file)) })
	}
	if e.pods {
		t.Run("Pods panel counts", func(t *testing.T) { e.checkPodsPanel(ctx, t) })
	}

	t.Run("rules", func(t *testing.T) {
		rules := loadRulesFrom(t, e.mixin.ruleFiles)
		for _, r := range rules {
			name := r.Record + r.Alert
			t.Run(name, func(t *testing.T) {
				// The whole expression must parse and evaluate (an alert's
				// result is empty on a healthy node, which is the point).
				full, err := e.prom.Query(ctx, r.Expr)
				if err != nil {
					t.Fatal(err)
				}
				if r.Record != "" {
					switch {
					case testenv.IsEmpty(full) && podsQueries[r.Record] && !e.pods:
						t.Logf("recording rule %s: empty as expected: the binary has no conntrack_pods collector", r.Record)
					case testenv.IsEmpty(full):
						t.Errorf("recording rule %s returns no data", r.Record)
					}
					return
				}
				// An alert's thresholds hide whether its selectors match
				// anything: evaluate each operand of its and/or/unless with
				// the comparison stripped (the left side of the first
				// top-level comparison), which must return data. A typo in a
				// metric or label name turns into an empty result here.
				// Alternatives joined by a top-level `or` serve different
				// setups (e.g. job names): one of them must fully match.
				var misses []string
				for _, alt := range splitTopLevel(r.Expr, orAt) {
					operands := conditionOperands(alt)
					if len(operands) == 0 {
						t.Fatalf("no operands found in %q", alt)
					}
					var empty []string
					for _, op := range operands {
						if e.queryIsEmpty(ctx, t, op, false) {
							empty = append(empty, op)
						}
					}
					if len(empty) == 0 {
						misses = nil
						break
					}
					misses = append(misses, empty...)
				}
				for _, op := range misses {
					t.Errorf("%s (from %q) returns no data", op, r.Expr)
				}
			})
		}

		// Prometheus loaded every rule and evaluates it without error, and a
		// healthy node raises no alert.
		e.checkRulesHealthy(ctx, t, len(rules))
		alerts, err := e.prom.Alerts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range alerts {
			t.Errorf("alert %s is %s on a healthy node: %v", a.Labels["alertname"], a.State, a.Labels)
		}
	})
}

// checkRulesHealthy checks that Prometheus loaded want rules and evaluates
// each without error.
func (e *env) checkRulesHealthy(ctx context.Context, t *testing.T, want int) {
	t.Helper()
	res, err := e.prom.API().Rules(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range res.Groups {
		for _, r := range g.Rules {
			n++
			switch r := r.(type) {
			case promv1.AlertingRule:
				if r.Health != promv1.RuleHealthGood {
					t.Errorf("alert %s: health %q, error %q", r.Name, r.Health, r.LastError)
				}
			case promv1.RecordingRule:
				if r.Health != promv1.RuleHealthGood {
					t.Errorf("record %s: health %q, error %q", r.Name, r.Health, r.LastError)
				}
			}
		}
	}
	if n != want {
		t.Errorf("Prometheus loaded %d rules, the rules files have %d", n, want)
	}
}

// checkDashboardQueries resolves the variables of the dashboard in file
// through their own queries, and runs every panel query with "All" and with
// a selection of values: each must return data unless listed in
// expectedEmpty.
func (e *env) checkDashboardQueries(ctx context.Context, t *testing.T, file string) {
	t.Helper()
	d := loadDashboard(t, file)
	base := filepath.Base(file)
	// Values for "All" (what the dashboards open with) and for a
	// selection resolved through the variable queries themselves, as
	// Grafana would: each variable's query sees the ones before it.
	all := map[string]string{}
	selected := map[string]string{}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		t.Run("variable "+v.Name, func(t *testing.T) {
			q, err := v.queryString()
			if err != nil {
				t.Fatal(err)
			}
			values, texts := e.variableValues(ctx, t, v, substitute(t, q, selected))
			if len(values) == 0 {
				t.Fatalf("query %q yields no values", q)
			}
			t.Logf("%s = %v (texts %v)", v.Name, values, texts)
			all[v.Name] = v.AllValue
			// Grafana writes a multi-value selection into a regex
			// matcher as (a|b), each value regex-escaped.
			pick := values[:min(2, len(values))]
			escaped := make([]string, len(pick))
			for i, s := range pick {
				escaped[i] = strings.ReplaceAll(regexp.QuoteMeta(s), `\`, `\\`)
			}
			selected[v.Name] = "(" + strings.Join(escaped, "|") + ")"
			if v.Name == "ovs_table" && !slices.Contains(texts, "1 SpoofGuard") {
				t.Errorf("ovs_table texts %v, want \"1 SpoofGuard\" among them", texts)
			}
		})
	}
	if t.Failed() {
		t.FailNow()
	}

	for _, p := range allPanels(d.Panels) {
		for _, tg := range p.Targets {
			key := base + "/" + p.Title + "/" + tg.RefID
			t.Run(p.Title+"/"+tg.RefID, func(t *testing.T) {
				for _, vars := range []map[string]string{all, selected} {
					expr := substitute(t, tg.Expr, vars)
					empty := e.queryIsEmpty(ctx, t, expr, !tg.Instant)
					reason, allowed := expectedEmpty[key]
					if key == zonePanel && e.zones {
						allowed = false
					}
					if podsQueries[key] && !e.pods {
						reason, allowed = "datapath_conntrack_pod_entries needs --collector.conntrack_pods, which this binary lacks", true
					}
					switch {
					case empty && !allowed:
						t.Errorf("%s returns no data", expr)
					case !empty && allowed:
						t.Errorf("%s returns data now, though listed as expected empty (%s): remove it from expectedEmpty", expr, reason)
					case empty:
						t.Logf("%s: empty as expected: %s", expr, reason)
					}
				}
			})
		}
	}
}

// queryIsEmpty runs expr as an instant query and, for range panels, also as
// a range query over the last minute (what Grafana sends). A query that
// fails fails the test.
func (e *env) queryIsEmpty(ctx context.Context, t *testing.T, expr string, asRange bool) bool {
	t.Helper()
	v, err := e.prom.Query(ctx, expr)
	if err != nil {
		t.Fatal(err)
	}
	empty := testenv.IsEmpty(v)
	if asRange {
		end := time.Now()
		rv, err := e.prom.QueryRange(ctx, expr, end.Add(-time.Minute), end, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if testenv.IsEmpty(rv) != empty {
			t.Errorf("%s: instant query empty=%v, range query empty=%v", expr, empty, testenv.IsEmpty(rv))
		}
	}
	return empty
}

// labelValuesRE and queryResultRE are the Prometheus datasource's variable
// query functions; anything else is an error here.
var (
	labelValuesRE = regexp.MustCompile(`(?s)^\s*label_values\((.+),\s*(\w+)\s*\)\s*$`)
	queryResultRE = regexp.MustCompile(`(?s)^\s*query_result\((.+)\)\s*$`)
)

// variableValues evaluates a variable's query the way Grafana's Prometheus
// datasource does and applies the variable's regex: label_values(expr,
// label) gives the label's distinct values; query_result(expr) gives one line
// per series, `name{l1="v1",l2="v2"} value timestamp`, that the regex picks
// value and text from (named groups "value" and "text", else the first
// group). It returns values and texts in Grafana's order (sorted).
func (e *env) variableValues(ctx context.Context, t *testing.T, v variable, q string) (values, texts []string) {
	t.Helper()
	var lines []string
	switch {
	case labelValuesRE.MatchString(q):
		m := labelValuesRE.FindStringSubmatch(q)
		res, err := e.prom.Query(ctx, m[1])
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, s := range vectorOf(t, res) {
			if lv, ok := s.Metric[model.LabelName(m[2])]; ok && !seen[string(lv)] {
				seen[string(lv)] = true
				lines = append(lines, string(lv))
			}
		}
	case queryResultRE.MatchString(q):
		res, err := e.prom.Query(ctx, queryResultRE.FindStringSubmatch(q)[1])
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range vectorOf(t, res) {
			names := make([]string, 0, len(s.Metric))
			for n := range s.Metric {
				if n != model.MetricNameLabel {
					names = append(names, string(n))
				}
			}
			sort.Strings(names)
			pairs := make([]string, len(names))
			for i, n := range names {
				pairs[i] = fmt.Sprintf("%s=%q", n, string(s.Metric[model.LabelName(n)]))
			}
			lines = append(lines, fmt.Sprintf("%s{%s} %s %d", s.Metric[model.MetricNameLabel], strings.Join(pairs, ","), s.Value, s.Timestamp))
		}
	default:
		t.Fatalf("variable %s: query %q is neither label_values(expr, label) nor query_result(expr)", v.Name, q)
	}

	var re *regexp.Regexp
	if v.Regex != "" {
		pattern := strings.TrimPrefix(v.Regex, "/")
		pattern = pattern[:strings.LastIndex(pattern, "/")]
		var err error
		if re, err = regexp.Compile(pattern); err != nil {
			t.Fatalf("variable %s: regex %s: %v", v.Name, v.Regex, err)
		}
	}
	seen := map[string]bool{}
	for _, line := range lines {
		value, text := line, line
		if re != nil {
			m := re.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			vi, ti := re.SubexpIndex("value"), re.SubexpIndex("text")
			switch {
			case vi > 0 || ti > 0:
				if vi > 0 {
					value = m[vi]
				}
				if ti > 0 {
					text = m[ti]
				}
				if vi <= 0 {
					value = text
				}
				if ti <= 0 {
					text = value
				}
			case len(m) > 1:
				value, text = m[1], m[1]
			default:
				value, text = m[0], m[0]
			}
		}
		if !seen[value] {
			seen[value] = true
			values = append(values, value)
			texts = append(texts, text)
		}
	}
	sort.Strings(values)
	sort.Strings(texts)
	return values, texts
}

func vectorOf(t *testing.T, v model.Value) model.Vector {
	t.Helper()
	vec, ok := v.(model.Vector)
	if !ok {
		t.Fatalf("want an instant vector, got %s", v.Type())
	}
	return vec
}

// testIntervals stand in for Grafana's interval variables. With a 1s scrape
// interval and 8+ seconds of data, a 1m window holds enough samples for
// rate() and deriv().
var testIntervals = map[string]string{
	"__rate_interval": "1m",
	"__interval":      "15s",
	"__range":         "1m",
}

// substitute replaces dashboard variables with vars and Grafana's interval
// variables with testIntervals; an unknown variable fails the test.
func substitute(t *testing.T, expr string, vars map[string]string) string {
	t.Helper()
	return varRefRE.ReplaceAllStringFunc(expr, func(ref string) string {
		m := varRefRE.FindStringSubmatch(ref)
		name := m[1] + m[2]
		if v, ok := vars[name]; ok {
			return v
		}
		if v, ok := testIntervals[name]; ok {
			return v
		}
		t.Fatalf("%q: no value for $%s", expr, name)
		return ""
	})
}

// conditionOperands splits an alert expression at its top-level and, or and
// unless, and returns each operand without its comparison: for
// `a / (b > 0) > 0.75 and c > 0.4` it returns ["a / (b > 0)", "c"]. It
// looks only at depth 0 (outside (), [], {} and strings), so label matchers
// and parenthesised sub-expressions stay whole; vector-matching modifiers
// (on, ignoring, group_left/right) at the start of an operand are dropped.
func conditionOperands(expr string) []string {
	var operands []string
	for _, op := range splitTopLevel(expr, setOperatorAt) {
		op = matchingModifierRE.ReplaceAllString(op, "")
		lhs := splitTopLevel(op, comparisonAt)[0]
		if s := strings.TrimSpace(lhs); s != "" {
			operands = append(operands, s)
		}
	}
	return operands
}

var matchingModifierRE = regexp.MustCompile(`^\s*(?:on|ignoring)\s*\([^)]*\)\s*(?:group_(?:left|right)\s*(?:\([^)]*\))?)?`)

// splitTopLevel splits s at every depth-0 position where at reports an
// operator of that length.
func splitTopLevel(s string, at func(s string, i int) int) []string {
	var parts []string
	depth, start := 0, 0
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' && quote != '`' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'' || c == '`':
			quote = c
		case c == '(' || c == '[' || c == '{':
			depth++
		case c == ')' || c == ']' || c == '}':
			depth--
		case depth == 0:
			if n := at(s, i); n > 0 {
				parts = append(parts, s[start:i])
				start = i + n
				i += n - 1
			}
		}
	}
	return append(parts, s[start:])
}

func comparisonAt(s string, i int) int {
	for _, op := range []string{"==", "!=", ">=", "<=", ">", "<"} {
		if strings.HasPrefix(s[i:], op) {
			return len(op)
		}
	}
	return 0
}

// orAt is setOperatorAt for `or` alone.
func orAt(s string, i int) int {
	if n := setOperatorAt(s, i); n == 2 {
		return n
	}
	return 0
}

func setOperatorAt(s string, i int) int {
	if i > 0 && isIdentByte(s[i-1]) {
		return 0
	}
	for _, op := range []string{"and", "or", "unless"} {
		end := i + len(op)
		if strings.HasPrefix(s[i:], op) && (end == len(s) || !isIdentByte(s[end])) {
			return len(op)
		}
	}
	return 0
}

func isIdentByte(c byte) bool {
	return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func TestConditionOperands(t *testing.T) {
	tests := []struct {
		expr string
		want []string
	}{
		{`up{job=~".*x.*"} == 0`, []string{`up{job=~".*x.*"}`}},
		{`a / (b > 0) > 0.75`, []string{`a / (b > 0)`}},
		{"predict_linear(a[1h], 4 * 3600) >= b\nand\na / (b > 0) > 0.4", []string{"predict_linear(a[1h], 4 * 3600)", "a / (b > 0)"}},
		{`rate(x{stat=~"drop|early_drop",l!="a>b"}[5m]) > 0`, []string{`rate(x{stat=~"drop|early_drop",l!="a>b"}[5m])`}},
		{`a > 1 unless on(instance) group_left(x) b_and_or`, []string{"a", "b_and_or"}},
		{`sum by (instance) (rate(x[5m]))`, []string{`sum by (instance) (rate(x[5m]))`}},
		{`a > bool 1 or b`, []string{"a", "b"}},
	}
	for _, tt := range tests {
		if got := conditionOperands(tt.expr); !slices.Equal(got, tt.want) {
			t.Errorf("conditionOperands(%q) = %q, want %q", tt.expr, got, tt.want)
		}
	}
}

// checkPodsPanel checks what "Pods with the most connections" shows on
// startEnv's node: web-1 with the 12 entries it opened (source) and the 3
// aimed at it (destination), and "(other addresses)" with the rest, so that
// a direction's rows add up to the entries the collector read.
func (e *env) checkPodsPanel(ctx context.Context, t *testing.T) {
	t.Helper()
	d := loadDashboard(t, e.mixin.dashboard(t, "../../grafana/conntrack.json"))
	var expr string
	for _, p := range allPanels(d.Panels) {
		if p.Title == "Pods with the most connections" {
			expr = p.Targets[0].Expr
		}
	}
	if expr == "" {
		t.Fatal("conntrack.json has no panel \"Pods with the most connections\"")
	}
	expr = substitute(t, expr, map[string]string{"job": ".*", "instance": ".*"})
	got := map[string]float64{}
	for _, s := range e.vector(ctx, t, expr) {
		got[fmt.Sprintf("%s %s/%s", s.Metric["direction"], s.Metric["namespace"], s.Metric["pod"])] = float64(s.Value)
	}
	for key, want := range map[string]float64{"source shop/web-1": 12, "destination shop/web-1": 3} {
		if got[key] != want {
			t.Errorf("%s: %v, want %v (all rows %v)", key, got[key], want, got)
		}
	}
	for _, dir := range []string{"source", "destination"} {
		if _, ok := got[dir+" /(other addresses)"]; !ok {
			t.Errorf("no (other addresses) row for %s: %v", dir, got)
		}
	}
	// In one query, so both sides see the same dump (the table grows
	// while the test runs).
	q := fmt.Sprintf("sum by (direction) (%s) - sum by (direction) (datapath_conntrack_pod_entries)", expr)
	diff := e.vector(ctx, t, q)
	if len(diff) != 2 {
		t.Errorf("%s = %v, want a difference for each direction", q, diff)
	}
	for _, s := range diff {
		if s.Value != 0 {
			t.Errorf("the %s rows add up to %v more than the collector's entries", s.Metric["direction"], s.Value)
		}
	}
}
