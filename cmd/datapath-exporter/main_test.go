package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
)

// startExporter runs the exporter in-process with args and returns its base
// URL once it answers. It is stopped when the test ends.
func startExporter(t *testing.T, args ...string) (string, *testenv.SyncBuffer) {
	t.Helper()
	addr := testenv.FreeAddr(t)
	logs := &testenv.SyncBuffer{}
	readersBefore := backgroundReaders() // those of an exporter started before, still running
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"--web.listen-address=" + addr}, args...), io.Discard, logs)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
			// No goroutine outlives the exporter: the collectors'
			// background readers have stopped when run returns.
			checkBackgroundReaders(t, readersBefore, "after the exporter stopped")
		case <-time.After(10 * time.Second):
			t.Error("exporter did not stop within 10s")
		}
	})
	base := "http://" + addr
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(base + "/-/healthy")
		if err == nil {
			resp.Body.Close()
			return base, logs
		}
		select {
		case code := <-done:
			t.Fatalf("exporter exited with %d: %s", code, logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("exporter not answering on %s: %v\n%s", addr, err, logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, b)
	}
	return string(b)
}

func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(get(t, base+"/metrics")))
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

func labelsOf(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// series returns the value of each series of family name, keyed by the
// listed label values joined with "/".
func series(mfs map[string]*dto.MetricFamily, name string, keys ...string) map[string]float64 {
	out := map[string]float64{}
	mf := mfs[name]
	if mf == nil {
		return out
	}
	for _, m := range mf.GetMetric() {
		l := labelsOf(m)
		var k []string
		for _, key := range keys {
			k = append(k, l[key])
		}
		out[strings.Join(k, "/")] = testenv.MetricValue(m)
	}
	return out
}

// compareWithOVS checks, table by table, that the scrape mfs has the flow
// counts and names that ovs-ofctl dump-tables and dump-flows report for
// each bridge, and that every table with a name, flows or lookups is
// exported. It returns the flows by "bridge/table_id" and the series keyed
// by "bridge/table_id/table_name".
//
// agentNames are the names the Antrea agent gives br-int's tables, which
// apply where OVS names none.
func compareWithOVS(t *testing.T, o *testenv.OVS, mfs map[string]*dto.MetricFamily, bridges map[string][]string, agentNames map[int]string) (flows, names map[string]float64) {
	t.Helper()
	flows = series(mfs, "datapath_ovs_table_flows", "bridge", "table_id")
	names = series(mfs, "datapath_ovs_table_flows", "bridge", "table_id", "table_name")
	for br := range bridges {
		truth, err := o.DumpTables(br)
		if err != nil {
			t.Fatal(err)
		}
		counts, err := o.FlowCountsPerTable(br)
		if err != nil {
			t.Fatal(err)
		}
		for id, ts := range truth {
			if ts.Name == "" && br == "br-int" {
				ts.Name = agentNames[id]
			}
			key := fmt.Sprintf("%s/%d", br, id)
			v, exported := flows[key]
			if !exported {
				if ts.Active > 0 || ts.Name != "" || ts.Lookups > 0 {
					t.Errorf("%s table %d (%q, %d flows) not exported", br, id, ts.Name, ts.Active)
				}
				continue
			}
			if uint64(v) != ts.Active || int(v) != counts[id] {
				t.Errorf("%s table %d: exporter %v flows, dump-tables %d, dump-flows %d", br, id, v, ts.Active, counts[id])
			}
			if _, ok := names[fmt.Sprintf("%s/%d/%s", br, id, ts.Name)]; !ok {
				t.Errorf("%s table %d: no series with table_name=%q", br, id, ts.Name)
			}
		}
	}
	return flows, names
}

// TestEndToEnd runs the exporter against a real private OVS and a real
// conntrack table in a private netns, and compares /metrics with what
// ovs-ofctl and conntrack report for the same sources.
func TestEndToEnd(t *testing.T) {
	o := testenv.OVSForTest(t, testenv.OVSOptions{})
	ns := testenv.NetnsForTest(t, testenv.NetnsOptions{})
	ctx := context.Background()

	// br-int is as on a real Antrea node: no table names in OVS, the
	// agent (testenv's stand-in: no real agent can run here) names them.
	// br-13's names are set in OVSDB, as an operator may.
	bridges := map[string][]string{"br-int": {"OpenFlow10", "OpenFlow15"}, "br-13": {"OpenFlow13"}}
	for br, protocols := range bridges {
		if err := o.AddBridge(br, protocols...); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.SetTableNames("br-13", testenv.AntreaAgentTableNames); err != nil {
		t.Fatal(err)
	}
	// Flow limits of their own (OVS reports 1000000 for the other tables,
	// which the exporter leaves out): over OpenFlow 1.3 table features and
	// 1.0 table statistics.
	for _, l := range []struct {
		bridge string
		table  int
		limit  int
	}{{"br-13", 11, 20000}, {"br-int", 16, 500}} {
		name := "" // br-int: no names in OVS, as on an Antrea node
		if l.bridge == "br-13" {
			name = testenv.AntreaAgentTableNames[l.table]
		}
		if err := o.SetFlowLimit(l.bridge, l.table, name, l.limit); err != nil {
			t.Fatal(err)
		}
	}
	var flows []string
	for table, n := range map[int]int{1: 120, 11: 300, 12: 300, 16: 40, 70: 5} {
		flows = append(flows, testenv.DropFlows(table, 0, n)...)
	}
	for br := range bridges {
		if err := o.AddFlows(br, flows); err != nil {
			t.Fatal(err)
		}
	}
	// A meter, so that the ovs collector's meter series exist
	// (the netdev datapath's own series exist as soon as a bridge does).
	if err := o.AddMeter("br-13", "meter=1,pktps,band=type=drop,rate=100"); err != nil {
		t.Fatal(err)
	}
	for _, zone := range []uint16{0, 65520, 7} {
		if err := ns.InsertEntries(ctx, zone, 25); err != nil {
			t.Fatal(err)
		}
	}
	if err := ns.FillUDP(ctx, 2000, 0); err != nil {
		t.Fatal(err)
	}

	agent := testenv.AntreaAgentForTest(t, testenv.AntreaAgentOptions{Names: testenv.AntreaAgentTableNames})
	if err := agent.SyncCounts(o, "br-int"); err != nil {
		t.Fatal(err)
	}

	// Generous timeouts: on a loaded 2-core CI machine a first scrape may
	// take longer than the 2s defaults.
	// OVS and conntrack read in every scrape: the values are compared with
	// ovs-ofctl's and the kernel's right after a change (the background
	// reads: ovs_background_test.go, conntrack_background_test.go in
	// collector).
	args := []string{"--ovs.rundir=" + o.RunDir, "--conntrack.netns=" + ns.Path, "--ovs.timeout=15s", "--conntrack.timeout=15s",
		"--ovs.openflow-read-interval=0s", "--ovs.datapath-read-interval=0s", "--conntrack.read-interval=0s",
		"--collector.conntrack_zones", "--conntrack.zones-timeout=15s", "--collector.ovs_interfaces", "--collector.conntrack_pods",
		"--collector.antrea_agent", "--antrea.agent-url=" + agent.URL(), "--antrea.token-file=" + agent.TokenFile,
		"--antrea.ca-file=" + agent.CAFile, "--antrea.timeout=15s"}
	base, logs := startExporter(t, args...)
	// The ovs collector names tables with what the agent's last read
	// taught (it never waits for the agent): from the second scrape.
	_ = scrape(t, base)
	mfs := scrape(t, base)

	t.Run("collectors succeed", func(t *testing.T) {
		got := series(mfs, "datapath_scrape_collector_success", "collector")
		for _, c := range []string{"ovs", "ovs_datapath", "ovs_interfaces", "conntrack", "conntrack_zones", "conntrack_pods", "antrea_agent"} {
			if got[c] != 1 {
				t.Errorf("datapath_scrape_collector_success{collector=%q} = %v, want 1; logs:\n%s", c, got[c], logs)
			}
		}
		if len(series(mfs, "datapath_exporter_build_info", "version")) != 1 {
			t.Error("datapath_exporter_build_info missing")
		}
	})

	t.Run("flows per table equal ovs-ofctl", func(t *testing.T) {
		flowsGot, names := compareWithOVS(t, o, mfs, bridges, testenv.AntreaAgentTableNames)
		if v := flowsGot["br-int/1"]; v != 120 {
			t.Errorf("br-int SpoofGuard (table 1): %v flows, want 120", v)
		}
		if _, ok := names["br-int/11/EndpointDNAT"]; !ok {
			t.Error("br-int table 11 not exported as EndpointDNAT")
		}
		if _, ok := names["br-13/11/EndpointDNAT"]; !ok {
			t.Error("br-13 (OpenFlow 1.3) table 11 not exported as EndpointDNAT")
		}
		if got, want := series(mfs, "datapath_ovs_table_flows_limit", "bridge", "table_id"), map[string]float64{"br-13/11": 20000, "br-int/16": 500}; !maps.Equal(got, want) {
			t.Errorf("datapath_ovs_table_flows_limit = %v, want %v (tables at OVS's default 1000000 left out)", got, want)
		}
	})

	t.Run("50k flows equal ovs-ofctl", func(t *testing.T) {
		var many []string
		for table := 30; table < 55; table++ {
			many = append(many, testenv.DropFlows(table, 0, 2000)...)
		}
		if err := o.AddFlows("br-int", many); err != nil {
			t.Fatal(err)
		}
		after := scrape(t, base)
		got, _ := compareWithOVS(t, o, after, bridges, testenv.AntreaAgentTableNames)
		if got["br-int/42"] != 2000 {
			t.Errorf("br-int table 42: %v flows, want 2000", got["br-int/42"])
		}
	})

	t.Run("conntrack equals the kernel", func(t *testing.T) {
		want, err := ns.Count(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := series(mfs, "datapath_conntrack_entries")[""]; uint64(got) != want {
			t.Errorf("datapath_conntrack_entries = %v, conntrack -C in the netns says %d", got, want)
		}
		limit := float64(testenv.ConntrackMax(t))
		if got := series(mfs, "datapath_conntrack_entries_limit")[""]; got != limit {
			t.Errorf("datapath_conntrack_entries_limit = %v, nf_conntrack_max = %v", got, limit)
		}
		zones := series(mfs, "datapath_conntrack_zone_entries", "zone")
		for zone, n := range map[string]float64{"0": 2025, "7": 25, "65520": 25} {
			if zones[zone] != n {
				t.Errorf("datapath_conntrack_zone_entries{zone=%q} = %v, want %v (all: %v)", zone, zones[zone], n, zones)
			}
		}
		if got := series(mfs, "datapath_conntrack_insert_total")[""]; got < 75 {
			t.Errorf("insert stat %v, want >= 75 after 75 conntrack -I", got)
		}
	})

	t.Run("metrics table is true", func(t *testing.T) {
		checkMetricsTable(t, mfs)
	})

	t.Run("compat antrea names", func(t *testing.T) {
		if _, ok := mfs["antrea_agent_ovs_flow_count"]; ok {
			t.Error("antrea_agent_ovs_flow_count served without --compat.antrea")
		}
		compatBase, _ := startExporter(t, append(args, "--compat.antrea")...)
		_ = scrape(t, compatBase)
		compat := scrape(t, compatBase)
		if got := series(compat, "antrea_agent_ovs_flow_count", "table_id", "table_name")["1/SpoofGuard"]; got != 120 {
			t.Errorf("antrea_agent_ovs_flow_count{table_id=\"1\",table_name=\"SpoofGuard\"} = %v, want 120 with the agent's name", got)
		}
		flows := series(compat, "datapath_ovs_table_flows", "bridge", "table_id", "table_name")
		antrea := series(compat, "antrea_agent_ovs_flow_count", "table_id", "table_name")
		var total float64
		brInt := 0
		for key, v := range flows {
			if !strings.HasPrefix(key, "br-int/") {
				continue
			}
			brInt++
			if got, ok := antrea[strings.TrimPrefix(key, "br-int/")]; !ok || got != v {
				t.Errorf("antrea_agent_ovs_flow_count for %s = %v (%v), want %v", key, got, ok, v)
			}
		}
		if len(antrea) != brInt {
			t.Errorf("antrea_agent_ovs_flow_count has %d series, br-int %d", len(antrea), brInt)
		}
		counts, err := o.FlowCountsPerTable("br-int")
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range counts {
			total += float64(n)
		}
		if got := series(compat, "antrea_agent_ovs_total_flow_count")[""]; got != total {
			t.Errorf("antrea_agent_ovs_total_flow_count = %v, dump-flows counts %v", got, total)
		}
		if got := series(compat, "antrea_agent_conntrack_antrea_connection_count")[""]; got != 25 {
			t.Errorf("antrea_agent_conntrack_antrea_connection_count = %v, want the 25 entries of zone 65520", got)
		}
		for antreaName, ours := range map[string]string{
			"antrea_agent_conntrack_total_connection_count": "datapath_conntrack_entries",
			"antrea_agent_conntrack_max_connection_count":   "datapath_conntrack_entries_limit",
		} {
			a, d := series(compat, antreaName)[""], series(compat, ours)[""]
			if a != d || a == 0 {
				t.Errorf("%s = %v, %s = %v", antreaName, a, ours, d)
			}
		}
	})

	t.Run("agent counts and the token", func(t *testing.T) {
		agentFlows := series(mfs, "datapath_antrea_agent_table_flows", "bridge", "table_id", "table_name")
		if len(agentFlows) != len(testenv.AntreaAgentTableNames) {
			t.Errorf("%d agent series, want %d", len(agentFlows), len(testenv.AntreaAgentTableNames))
		}
		for id, c := range agent.Counts() {
			key := fmt.Sprintf("br-int/%d/%s", id, testenv.AntreaAgentTableNames[id])
			if agentFlows[key] != c {
				t.Errorf("datapath_antrea_agent_table_flows %s = %v, the agent counts %v", key, agentFlows[key], c)
			}
		}
		for what, text := range map[string]string{"/metrics": get(t, base+"/metrics"), "landing page": get(t, base+"/"), "log": logs.String()} {
			if strings.Contains(text, agent.Token) {
				t.Errorf("the bearer token appears in the %s", what)
			}
		}
	})

	t.Run("landing page links metrics", func(t *testing.T) {
		page := get(t, base+"/")
		if !strings.Contains(page, `href="/metrics"`) {
			t.Errorf("landing page has no link to /metrics:\n%s", page)
		}
	})
}

// backgroundReaders counts the goroutines of the collectors' background
// readers in this process (the tests of this package run one at a time).
func backgroundReaders() int {
	buf := make([]byte, 4<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Count(string(buf), "collector.(*periodicReader[...]).loop")
}

// checkBackgroundReaders fails t unless at most limit background readers
// run (within a moment: a stopped reader's goroutine is returning).
func checkBackgroundReaders(t *testing.T, limit int, when string) {
	t.Helper()
	n := backgroundReaders()
	for deadline := time.Now().Add(2 * time.Second); n > limit && time.Now().Before(deadline); n = backgroundReaders() {
		time.Sleep(10 * time.Millisecond)
	}
	if n > limit {
		t.Errorf("%d background readers running %s, want at most %d", n, when, limit)
	}
}
