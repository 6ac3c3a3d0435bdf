package e2e

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
)

// fleetNode is one node of the fleet test: its own OVS and conntrack table,
// and the exporter reading them.
type fleetNode struct {
	name     string
	exporter string // host:port, the instance label
	pods     bool   // the conntrack_pods collector is on
}

// fleetPod is a Pod of a fleet node with conntrack entries of its own:
// entries from it (direction source) or to it (destination).
type fleetPod struct {
	namespace, name, direction string
	entries                    int
}

// The tables of the fleet test. ServiceLB and EndpointDNAT hold the same
// flows on every node in a cluster whose agents are in sync; SpoofGuard
// holds one flow per local pod and differs by design.
const (
	fleetSpoofGuard   = 1
	fleetServiceLB    = 10
	fleetEndpointDNAT = 11
)

// startFleetNode starts a node with endpointDNAT flows in EndpointDNAT,
// localPods in SpoofGuard and 8 in ServiceLB, and a conntrack table that
// grows while the test runs (so the time-until-full record has a slope).
//
// The tables are named through OVSDB Flow_Table, which a real Antrea agent
// never does (the exporter learns real names from the agent): it is the one
// way to give this private OVS Antrea's names without an agent, and the
// fleet rules select Service tables by table_name.
//
// Where the binary has the conntrack_pods collector, it runs with it, and
// pod is on br-int with its entries in the node's table.
func startFleetNode(t *testing.T, bin, name string, endpointDNAT, localPods int, pod fleetPod) fleetNode {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)

	o := testenv.OVSForTest(t, testenv.OVSOptions{})
	const bridge = "br-int"
	if err := o.AddBridge(bridge, "OpenFlow10", "OpenFlow15"); err != nil {
		t.Fatal(err)
	}
	if err := o.SetTableNames(bridge, testenv.AntreaAgentTableNames); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[int]string{fleetSpoofGuard: "SpoofGuard", fleetServiceLB: "ServiceLB", fleetEndpointDNAT: "EndpointDNAT"} {
		if testenv.AntreaAgentTableNames[id] != want {
			t.Fatalf("testenv.AntreaAgentTableNames[%d] = %q, want %q", id, testenv.AntreaAgentTableNames[id], want)
		}
	}
	var flows []string
	flows = append(flows, testenv.DropFlows(fleetSpoofGuard, 0, localPods)...)
	flows = append(flows, testenv.DropFlows(fleetServiceLB, 0, 8)...)
	flows = append(flows, testenv.DropFlows(fleetEndpointDNAT, 0, endpointDNAT)...)
	if err := o.AddFlows(bridge, flows); err != nil {
		t.Fatal(err)
	}
	// A flow limit on SpoofGuard, for the per-node usage record (the
	// exporter serves a limit only where one is set).
	if err := o.SetFlowLimit(bridge, fleetSpoofGuard, testenv.AntreaAgentTableNames[fleetSpoofGuard], 1000); err != nil {
		t.Fatal(err)
	}

	ns := testenv.NetnsForTest(t, testenv.NetnsOptions{})
	if err := ns.FillUDP(ctx, 100, 0); err != nil {
		t.Fatal(err)
	}
	args := []string{"--ovs.rundir=" + o.RunDir, "--conntrack.netns=" + ns.Path}
	pods := podsArgs(t, bin)
	if pods != nil {
		p := testenv.PodForTest(t, o, bridge, testenv.PodOptions{Name: pod.name, Namespace: pod.namespace, Index: 1})
		insertPodEntries(ctx, t, ns, p.IP.String(), pod.direction, pod.entries)
		args = append(args, pods...)
	}
	addr := startExporter(t, bin, args...)

	growCtx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for growCtx.Err() == nil {
			if err := ns.InsertEntries(growCtx, 0, 5); err != nil && growCtx.Err() == nil {
				t.Errorf("%s: growing conntrack: %v", name, err)
				return
			}
			select {
			case <-growCtx.Done():
			case <-time.After(500 * time.Millisecond):
			}
		}
	}()
	// Runs before the netns cleanup registered above.
	t.Cleanup(func() {
		stop()
		wg.Wait()
	})
	return fleetNode{name: name, exporter: addr, pods: pods != nil}
}

// TestFleetRulesAndDashboard scrapes three exporters standing for three
// nodes, under a job name unlike the project's own, one of them with its
// EndpointDNAT table out of sync: every fleet record and every query of the
// fleet dashboard returns data, and the out-of-sync alert's expression
// selects that node and table alone. (Three nodes: with two, the median is
// their mean and both differ from it.)
func TestFleetRulesAndDashboard(t *testing.T) {
	testenv.Require(t, "go")
	testenv.RequirePrometheus(t, testenv.Prometheus3)
	bin := buildExporter(t)
	pods := []fleetPod{
		{"shop", "web-a", "source", 30},
		{"shop", "web-b", "source", 20},
		{"db", "pg-0", "destination", 7},
	}
	nodes := []fleetNode{
		startFleetNode(t, bin, "node-a", 40, 3, pods[0]),
		startFleetNode(t, bin, "node-b", 40, 7, pods[1]),
		startFleetNode(t, bin, "node-c", 25, 5, pods[2]), // stopped syncing endpoints
	}
	outOfSync := nodes[2]
	var targets []string
	for _, n := range nodes {
		targets = append(targets, n.exporter)
	}
	m := foreignMixin(t)
	p := testenv.PrometheusForTest(t, testenv.PrometheusOptions{Job: foreignJob, Targets: targets, RuleFiles: m.ruleFiles})
	e := &env{prom: p, mixin: m, pods: nodes[0].pods}
	rules := loadRulesFrom(t, m.ruleFiles)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, q := range []string{
		fmt.Sprintf(`count(count_over_time(up{job=%q}[1m]) >= 8) == 3`, foreignJob),
		`cluster_job:datapath_conntrack_nodes:count == 3`,
		`count(datapath:conntrack_seconds_until_full:deriv1h) == 3`,
		`count_over_time(cluster_job_table:datapath_ovs_table_flows:median[1m]) >= 3`,
	} {
		if _, err := p.WaitForSeries(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if e.pods {
		q := `count(cluster_job_pod:datapath_conntrack_pod_entries:top10) == 3`
		if _, err := p.WaitForSeries(ctx, q); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("records", func(t *testing.T) {
		for _, r := range rules {
			if r.Record == "" {
				continue
			}
			res, err := p.Query(ctx, r.Record)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case testenv.IsEmpty(res) && podsQueries[r.Record] && !e.pods:
				t.Logf("record %s: empty as expected: the binary has no conntrack_pods collector", r.Record)
			case testenv.IsEmpty(res):
				t.Errorf("record %s is empty", r.Record)
			}
		}
		// The fleet's top Pods: each node's Pod with the entries it made,
		// and the node it is on.
		if e.pods {
			for i, pod := range pods {
				q := fmt.Sprintf(`cluster_job_pod:datapath_conntrack_pod_entries:top10{namespace=%q,pod=%q,direction=%q}`, pod.namespace, pod.name, pod.direction)
				vec := e.vector(ctx, t, q)
				if len(vec) != 1 || int(vec[0].Value) != pod.entries || string(vec[0].Metric["instance"]) != nodes[i].exporter || string(vec[0].Metric["job"]) != foreignJob {
					t.Errorf("%s = %v, want one sample %d of instance %s (%s), job %s", q, vec, pod.entries, nodes[i].exporter, nodes[i].name, foreignJob)
				}
			}
		}
		// The aggregates agree with what the nodes hold.
		for q, want := range map[string]float64{
			`cluster_job_table:datapath_ovs_table_flows:sum{table_name="EndpointDNAT"}`:    105,
			`cluster_job_table:datapath_ovs_table_flows:spread{table_name="EndpointDNAT"}`: 15,
			`cluster_job_table:datapath_ovs_table_flows:median{table_name="EndpointDNAT"}`: 40,
			`cluster_job_table:datapath_ovs_table_flows:spread{table_name="ServiceLB"}`:    0,
			`cluster_job_table:datapath_ovs_table_flows:spread{table_name="SpoofGuard"}`:   4,
			`cluster_job:datapath_conntrack_nodes_above_90pct:count`:                       0,
		} {
			vec := e.vector(ctx, t, q)
			if len(vec) != 1 || float64(vec[0].Value) != want || string(vec[0].Metric["job"]) != foreignJob {
				t.Errorf("%s = %v, want one sample %v of job %s", q, vec, want, foreignJob)
			}
		}
	})

	t.Run("out of sync alert selects the node", func(t *testing.T) {
		var expr string
		for _, r := range rules {
			if r.Alert == "DatapathServiceFlowsOutOfSync" {
				expr = r.Expr
			}
		}
		if expr == "" {
			t.Fatal("no DatapathServiceFlowsOutOfSync in the rules")
		}
		vec := e.vector(ctx, t, expr)
		if len(vec) != 1 {
			t.Fatalf("%s selects %v, want %s's EndpointDNAT alone", expr, vec, outOfSync.name)
		}
		got := vec[0].Metric
		if string(got["instance"]) != outOfSync.exporter || got["table_name"] != "EndpointDNAT" ||
			got["table_id"] != model.LabelValue(fmt.Sprint(fleetEndpointDNAT)) || got["job"] != foreignJob || vec[0].Value != 25 {
			t.Errorf("selected %v = %v, want instance %s (%s), EndpointDNAT, 25 flows", got, vec[0].Value, outOfSync.exporter, outOfSync.name)
		}
		// Prometheus holds it pending (it fires after 15 minutes).
		alerts, err := p.Alerts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var pending []string
		for _, a := range alerts {
			pending = append(pending, fmt.Sprintf("%s %s %s", a.Labels["alertname"], a.Labels["instance"], a.State))
		}
		if want := fmt.Sprintf("DatapathServiceFlowsOutOfSync %s pending", outOfSync.exporter); !slices.Contains(pending, want) {
			t.Errorf("alerts %v, want %q among them", pending, want)
		}
	})

	t.Run("dashboard", func(t *testing.T) { e.checkDashboardQueries(ctx, t, m.dashboard(t, fleetDashboardFile)) })
}

func (e *env) vector(ctx context.Context, t *testing.T, q string) model.Vector {
	t.Helper()
	res, err := e.prom.Query(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	return vectorOf(t, res)
}
