package collector_test

import (
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/promslog"

	"github.com/datapath-exporter/datapath-exporter/collector"
	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
)

// The Antrea agent in these tests is testenv's stand-in: an HTTPS server
// with a self-signed certificate and a bearer-token check that encodes
// Antrea's antrea_agent_ovs_flow_count and _total_flow_count with
// client_golang. No real antrea-agent can run here (it needs a Kubernetes
// cluster, and its Go module is refused by the module proxy). OVS and
// conntrack are real: a private ovs-vswitchd and a private netns.

// antreaNode is a real OVS with an Antrea-like br-int that, as on a real
// node, carries no table names in OVSDB, a stand-in agent that names its
// tables and counts its flows, and a netns for the conntrack collector.
type antreaNode struct {
	ovs   *testenv.OVS
	agent *testenv.AntreaAgent
	ns    *testenv.Netns
}

func newAntreaNode(t *testing.T) *antreaNode {
	t.Helper()
	o := testenv.OVSForTest(t, testenv.OVSOptions{})
	if err := o.AddBridge("br-int", "OpenFlow10", "OpenFlow15"); err != nil {
		t.Fatal(err)
	}
	// add-br's NORMAL flow in table 0 is not Antrea's.
	if err := o.DelFlows("br-int"); err != nil {
		t.Fatal(err)
	}
	flows := testenv.AntreaBaseFlows()
	for i := range 4 {
		flows = append(flows, testenv.AntreaPodFlows(i)...)
	}
	flows = append(flows, testenv.AntreaServiceFlows(0, []int{0, 1})...)
	if err := o.AddFlows("br-int", flows); err != nil {
		t.Fatal(err)
	}
	a := testenv.AntreaAgentForTest(t, testenv.AntreaAgentOptions{Names: testenv.AntreaAgentTableNames})
	if err := a.SyncCounts(o, "br-int"); err != nil {
		t.Fatal(err)
	}
	ns := testenv.NetnsForTest(t, testenv.NetnsOptions{})
	if err := ns.InsertEntries(testenv.Context(t, 30*time.Second), 0, 7); err != nil {
		t.Fatal(err)
	}
	return &antreaNode{ovs: o, agent: a, ns: ns}
}

// exporter builds the collectors as the binary does (flags, Shared wiring)
// and returns a registry of them, scraped once, and the log.
func (n *antreaNode) exporter(t *testing.T, extra ...string) (*prometheus.Registry, *testenv.SyncBuffer) {
	t.Helper()
	app := kingpin.New("test", "")
	f := collector.RegisterFlags(app)
	var args []string
	for _, def := range []string{
		"--ovs.rundir=" + n.ovs.RunDir, "--ovs.timeout=15s", "--conntrack.netns=" + n.ns.Path, "--conntrack.timeout=15s",
		"--collector.antrea_agent", "--antrea.agent-url=" + n.agent.URL(), "--antrea.token-file=" + n.agent.TokenFile,
		"--antrea.refresh=0s", "--antrea.timeout=2s", "--compat.antrea",
		// Read OVS and conntrack in every scrape: the tests compare with
		// OVS right after a change.
		"--ovs.openflow-read-interval=0s", "--ovs.datapath-read-interval=0s", "--conntrack.read-interval=0s",
	} {
		flag, _, _ := strings.Cut(def, "=")
		if !slices.ContainsFunc(extra, func(e string) bool { return strings.HasPrefix(e, flag+"=") }) {
			args = append(args, def)
		}
	}
	args = append(args, extra...)
	if _, err := app.Parse(args); err != nil {
		t.Fatal(err)
	}
	logs := &testenv.SyncBuffer{}
	logger := promslog.New(&promslog.Config{Writer: logs})
	cs, err := f.Build(logger)
	if err != nil {
		t.Fatal(err)
	}
	reg := registryOf(t, logger, cs)
	// The ovs collector never waits for the agent: a scrape names tables
	// with what the store held when it began, so the agent's names show
	// from the scrape after the first one that read them.
	_ = gather(t, reg)
	return reg, logs
}

// checkOVSNamed checks that every br-int series of the ovs collector
// carries want's name for its table and that flows equal ovs-ofctl's
// count, and that conntrack still reads its netns.
func (n *antreaNode) checkOVSNamed(t *testing.T, mfs families, want map[int]string) {
	t.Helper()
	counts, err := n.ovs.FlowCountsPerTable("br-int")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"datapath_ovs_table_flows", "datapath_ovs_table_lookups_total",
		"datapath_ovs_table_matches_total", "datapath_ovs_table_flows_limit", "antrea_agent_ovs_flow_count"} {
		for _, m := range mfs.series(name) {
			if name != "antrea_agent_ovs_flow_count" && labelOf(m, "bridge") != "br-int" {
				continue
			}
			id, _ := strconv.Atoi(labelOf(m, "table_id"))
			if got := labelOf(m, "table_name"); got != want[id] {
				t.Errorf("%s{table_id=%d}: table_name %q, want %q", name, id, got, want[id])
			}
			if (name == "datapath_ovs_table_flows" || name == "antrea_agent_ovs_flow_count") && testenv.MetricValue(m) != float64(counts[id]) {
				t.Errorf("%s{table_id=%d} = %v, ovs-ofctl dump-flows counts %d", name, id, testenv.MetricValue(m), counts[id])
			}
		}
	}
	for id := range want {
		if len(mfs.series("datapath_ovs_table_flows", "bridge", "br-int", "table_id", strconv.Itoa(id))) != 1 {
			t.Errorf("table %d (%s), named by the agent, not exported", id, want[id])
		}
	}
	if got := mfs.value(t, "datapath_scrape_collector_success", "collector", "ovs"); got != 1 {
		t.Errorf("ovs collector success %v, want 1", got)
	}
	if got := mfs.value(t, "datapath_scrape_collector_success", "collector", "conntrack"); got != 1 {
		t.Errorf("conntrack collector success %v, want 1", got)
	}
	if got := mfs.value(t, "datapath_conntrack_entries"); got < 7 {
		t.Errorf("datapath_conntrack_entries %v, want the 7 entries of the netns", got)
	}
}

func TestAntreaAgentNamesTables(t *testing.T) {
	n := newAntreaNode(t)
	reg, logs := n.exporter(t)
	mfs := gather(t, reg)
	if got := mfs.value(t, "datapath_scrape_collector_success", "collector", "antrea_agent"); got != 1 {
		t.Fatalf("antrea_agent success %v, want 1; log:\n%s", got, logs)
	}
	n.checkOVSNamed(t, mfs, testenv.AntreaAgentTableNames)
	// Table 8 (NodePortMark) holds no flow in OVS: exported with 0.
	if got := mfs.value(t, "datapath_ovs_table_flows", "bridge", "br-int", "table_id", "8", "table_name", "NodePortMark"); got != 0 {
		t.Errorf("NodePortMark flows %v, want 0", got)
	}
	// The agent's counts, table by table, as the stand-in serves them.
	agentCounts := n.agent.Counts()
	got := mfs.series("datapath_antrea_agent_table_flows")
	if len(got) != len(testenv.AntreaAgentTableNames) {
		t.Errorf("%d agent series, want %d", len(got), len(testenv.AntreaAgentTableNames))
	}
	for _, m := range got {
		id, _ := strconv.Atoi(labelOf(m, "table_id"))
		if labelOf(m, "bridge") != "br-int" || labelOf(m, "table_name") != testenv.AntreaAgentTableNames[id] || testenv.MetricValue(m) != agentCounts[id] {
			t.Errorf("datapath_antrea_agent_table_flows %v = %v, want table_name %q and %v",
				m.GetLabel(), testenv.MetricValue(m), testenv.AntreaAgentTableNames[id], agentCounts[id])
		}
	}

	t.Run("OVS names win", func(t *testing.T) {
		if err := n.ovs.SetTableName("br-int", 1, "OperatorsGuard"); err != nil {
			t.Fatal(err)
		}
		want := maps.Clone(testenv.AntreaAgentTableNames)
		want[1] = "OperatorsGuard"
		reg, _ := n.exporter(t)
		mfs := gather(t, reg)
		n.checkOVSNamed(t, mfs, want)
		// The agent's own series keeps the agent's name.
		if got := mfs.value(t, "datapath_antrea_agent_table_flows", "table_id", "1"); got != agentCounts[1] {
			t.Errorf("agent count of table 1 %v, want %v", got, agentCounts[1])
		}
		if err := n.ovs.SetTableName("br-int", 1, ""); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("collector off: the agent is never asked", func(t *testing.T) {
		before := n.agent.Requests()
		app := kingpin.New("test", "")
		f := collector.RegisterFlags(app)
		if _, err := app.Parse([]string{"--ovs.rundir=" + n.ovs.RunDir, "--antrea.agent-url=" + n.agent.URL()}); err != nil {
			t.Fatal(err)
		}
		cs, err := f.Build(promslog.NewNopLogger())
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := cs["antrea_agent"]; ok {
			t.Fatal("antrea_agent enabled by default")
		}
		mfs := gather(t, registryOf(t, promslog.NewNopLogger(), cs))
		if names := mfs.labelValues("datapath_ovs_table_flows", "table_name", "bridge", "br-int"); slices.ContainsFunc(names, func(s string) bool { return s != "" }) {
			t.Errorf("names %q without the agent, want none (OVS names nothing)", names)
		}
		if n.agent.Requests() != before {
			t.Error("the agent was asked with the collector off")
		}
	})
}

func TestAntreaAgentRestartAndOutage(t *testing.T) {
	n := newAntreaNode(t)
	reg, logs := n.exporter(t)
	n.checkOVSNamed(t, gather(t, reg), testenv.AntreaAgentTableNames)

	// Down: the names are kept, the collector fails once in the log.
	if err := n.agent.Stop(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		mfs := gather(t, reg)
		if got := mfs.value(t, "datapath_scrape_collector_success", "collector", "antrea_agent"); got != 0 {
			t.Fatalf("antrea_agent success %v with the agent down, want 0", got)
		}
		if len(mfs.series("datapath_antrea_agent_table_flows")) != 0 {
			t.Error("agent counts exported while the agent is down")
		}
		n.checkOVSNamed(t, mfs, testenv.AntreaAgentTableNames)
	}
	if c := strings.Count(logs.String(), "is not answering"); c != 1 {
		t.Errorf("%d log lines about the agent down, want 1:\n%s", c, logs)
	}

	// Back with other features: other IDs. Names follow the new agent;
	// IDs it no longer names lose their names.
	restarted := map[int]string{0: "PipelineRootClassifier", 1: "SpoofGuard", 3: "Classifier", 5: "ConntrackZone",
		10: "EndpointDNAT", 16: "L3Forwarding", 21: "L2ForwardingCalc", 29: "Output", 40: "NewFeature"}
	if err := n.agent.Restart(restarted); err != nil {
		t.Fatal(err)
	}
	if err := n.agent.SyncCounts(n.ovs, "br-int"); err != nil {
		t.Fatal(err)
	}
	// The ovs collector never waits for the agent: it names tables with
	// what the store held when the scrape began, so the new names show
	// from the scrape after the one that read them.
	_ = gather(t, reg)
	mfs := gather(t, reg)
	if got := mfs.value(t, "datapath_scrape_collector_success", "collector", "antrea_agent"); got != 1 {
		t.Fatalf("antrea_agent success %v after the restart, want 1; log:\n%s", got, logs)
	}
	n.checkOVSNamed(t, mfs, restarted)
	if !strings.Contains(logs.String(), "collector recovered") {
		t.Errorf("no recovery logged:\n%s", logs)
	}
}

func TestAntreaAgentFailures(t *testing.T) {
	n := newAntreaNode(t)
	tests := []struct {
		name  string
		setup func(t *testing.T)
		args  []string
		want  []string // in the one log line
	}{
		{"wrong token", func(t *testing.T) {}, []string{"--antrea.token-file=" + writeTemp(t, "not-the-token")},
			[]string{"HTTP 401", "--antrea.token-file"}},
		{"forbidden", func(*testing.T) { n.agent.SetMode(testenv.AgentForbidden) }, nil,
			[]string{"HTTP 403", "nonResourceURL /metrics", "kube-system/antrea-agent"}},
		{"expired certificate", func(t *testing.T) {
			if err := n.agent.SetExpiredCert(true); err != nil {
				t.Fatal(err)
			}
		}, nil,
			[]string{"certificate expired", "--antrea.ca-file"}},
		{"not Prometheus text", func(*testing.T) { n.agent.SetMode(testenv.AgentGarbage) }, nil,
			[]string{"not Prometheus text", "<!DOCTYPE html>", "--antrea.agent-url"}},
		// What is checked is the size bound, not the speed: a deadline that
		// a loaded machine cannot miss.
		{"huge body", func(*testing.T) { n.agent.SetMode(testenv.AgentHuge) }, []string{"--antrea.timeout=30s"},
			[]string{"too large", "--antrea.agent-url"}},
		{"slow agent", func(*testing.T) { n.agent.SetDelay(time.Minute) }, []string{"--antrea.timeout=500ms"},
			[]string{"timed out", "raise --antrea.timeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Cleanup(func() {
				n.agent.SetMode(testenv.AgentOK)
				if err := n.agent.SetExpiredCert(false); err != nil {
					t.Error(err)
				}
				n.agent.SetDelay(0)
			})
			reg, logs := n.exporter(t, tt.args...)
			// With the agent's token, the warm-up scrape of
			// n.exporter learnt the names before the fault: they
			// must survive it.
			learnt := !strings.HasPrefix(strings.Join(tt.args, " "), "--antrea.token-file")
			if learnt {
				n.checkOVSNamed(t, gather(t, reg), testenv.AntreaAgentTableNames)
			}
			tt.setup(t)
			start := time.Now()
			mfs := gather(t, reg)
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("scrape took %s", d)
			}
			if got := mfs.value(t, "datapath_scrape_collector_success", "collector", "antrea_agent"); got != 0 {
				t.Fatalf("antrea_agent success %v, want 0", got)
			}
			want := testenv.AntreaAgentTableNames
			if !learnt {
				// Never read the agent: OVS's series carry no names.
				want = map[int]string{}
			}
			n.checkOVSNamed(t, mfs, want)
			var lines []string
			for _, l := range strings.Split(logs.String(), "\n") {
				if strings.Contains(l, "collector failed") {
					lines = append(lines, l)
				}
			}
			if len(lines) != 1 {
				t.Fatalf("%d failure lines, want 1:\n%s", len(lines), logs)
			}
			t.Logf("log: %s", lines[0])
			for _, w := range tt.want {
				if !strings.Contains(lines[0], w) {
					t.Errorf("log line %q does not say %q", lines[0], w)
				}
			}
			if strings.Contains(logs.String(), n.agent.Token) {
				t.Error("the token appears in the log")
			}
		})
	}
}

// TestAntreaAgentDrift deletes flows behind the agent's back: OVS's count
// falls, the agent's stays, and the difference shows table by table.
func TestAntreaAgentDrift(t *testing.T) {
	n := newAntreaNode(t)
	reg, _ := n.exporter(t)
	before := gather(t, reg)
	if err := n.ovs.DelFlows("br-int", "table=1,arp,in_port=10", "table=1,ip,in_port=10"); err != nil {
		t.Fatal(err)
	}
	after := gather(t, reg)
	agent := n.agent.Counts()
	for id := range testenv.AntreaAgentTableNames {
		l := []string{"bridge", "br-int", "table_id", strconv.Itoa(id)}
		drift := after.value(t, "datapath_ovs_table_flows", l...) - after.value(t, "datapath_antrea_agent_table_flows", l...)
		want := 0.0
		if id == 1 {
			want = -2
		}
		if drift != want {
			t.Errorf("table %d: drift %v, want %v (agent %v)", id, drift, want, agent[id])
		}
		if b := before.value(t, "datapath_ovs_table_flows", l...) - before.value(t, "datapath_antrea_agent_table_flows", l...); b != 0 {
			t.Errorf("table %d: drift %v before the deletion, want 0", id, b)
		}
	}
}

func TestAntreaAgentFlagErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--antrea.agent-url=https://10.1.2.3:10350"}, "loopback"},
		{[]string{"--antrea.agent-url=http://127.0.0.1:10350"}, "want https"},
		{[]string{"--antrea.timeout=0s"}, "--antrea.timeout"},
		{[]string{"--antrea.refresh=-1s"}, "--antrea.refresh"},
		{[]string{"--antrea.token-file="}, "--antrea.token-file"},
		{[]string{"--antrea.ca-file=/nonexistent/ca.crt"}, "--antrea.ca-file"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			app := kingpin.New("test", "")
			f := collector.RegisterFlags(app)
			if _, err := app.Parse(append([]string{"--collector.antrea_agent", "--no-collector.ovs", "--no-collector.conntrack"}, tt.args...)); err != nil {
				t.Fatal(err)
			}
			_, err := f.Build(promslog.NewNopLogger())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want one containing %q", err, tt.want)
			}
		})
	}
	// A missing token file is not a start error: the kubelet may write
	// it late; each scrape says what is wrong.
	app := kingpin.New("test", "")
	f := collector.RegisterFlags(app)
	if _, err := app.Parse([]string{"--collector.antrea_agent", "--no-collector.ovs", "--no-collector.conntrack", "--antrea.token-file=/nonexistent/token"}); err != nil {
		t.Fatal(err)
	}
	cs, err := f.Build(promslog.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	logs := &testenv.SyncBuffer{}
	mfs := gather(t, registryOf(t, promslog.New(&promslog.Config{Writer: logs}), cs))
	if got := mfs.value(t, "datapath_scrape_collector_success", "collector", "antrea_agent"); got != 0 {
		t.Errorf("success %v with no token file, want 0", got)
	}
	if !strings.Contains(logs.String(), "no usable bearer token") || !strings.Contains(logs.String(), "--antrea.token-file") {
		t.Errorf("log does not name the token file problem:\n%s", logs)
	}
}

func writeTemp(t *testing.T, content string) string {
	t.Helper()
	path := t.TempDir() + "/token"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
