package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v2"

	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
)

const driftAlert = "DatapathOVSFlowsDivergeFromAntrea"

// alertRule is a rule as written to a rules file for Prometheus.
type alertRule struct {
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty"`
}

// driftRuleFile writes the repository's DatapathOVSFlowsDivergeFromAntrea
// rule, unchanged but for `for: 0s` (a test cannot wait 15 minutes;
// promtool's tests in deploy/rules/tests.yml check the `for`).
func driftRuleFile(t *testing.T) string {
	t.Helper()
	for _, r := range loadRules(t) {
		if r.Alert != driftAlert {
			continue
		}
		doc := map[string]any{"groups": []map[string]any{{
			"name":  "drift",
			"rules": []alertRule{{Alert: r.Alert, Expr: r.Expr, For: "0s", Labels: r.Labels, Annotations: r.Annotations}},
		}}}
		b, err := yaml.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "drift.rules.yml")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	t.Fatalf("%v has no %s rule", ruleFiles, driftAlert)
	return ""
}

// TestAntreaDriftAlertFires runs a real OVS whose br-int, as on a real
// Antrea node, carries no table names, the Antrea agent stand-in of testenv
// (no real antrea-agent can run here: no cluster, and its Go module is
// refused by the module proxy) whose own counts match OVS, the real
// exporter reading both, and a real Prometheus with the drift rule. It
// deletes two SpoofGuard flows with ovs-ofctl behind the agent's back and
// checks that the dashboard's drift query shows -2 for that table only and
// that the alert fires with both counts and the agent's table name.
func TestAntreaDriftAlertFires(t *testing.T) {
	testenv.Require(t, "go", "ovs-ofctl")
	testenv.RequirePrometheus(t, testenv.Prometheus3)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	o := testenv.OVSForTest(t, testenv.OVSOptions{})
	if err := o.AddBridge("br-int", "OpenFlow10", "OpenFlow15"); err != nil {
		t.Fatal(err)
	}
	flows := testenv.AntreaBaseFlows()
	for i := range 5 {
		flows = append(flows, testenv.AntreaPodFlows(i)...)
	}
	if err := o.AddFlows("br-int", flows); err != nil {
		t.Fatal(err)
	}
	agent := testenv.AntreaAgentForTest(t, testenv.AntreaAgentOptions{Names: testenv.AntreaAgentTableNames})
	if err := agent.SyncCounts(o, "br-int"); err != nil {
		t.Fatal(err)
	}
	addr := startExporter(t, buildExporter(t), "--ovs.rundir="+o.RunDir, "--no-collector.conntrack",
		"--collector.antrea_agent", "--antrea.agent-url="+agent.URL(), "--antrea.token-file="+agent.TokenFile,
		"--antrea.ca-file="+agent.CAFile, "--antrea.refresh=1s")
	p := testenv.PrometheusForTest(t, testenv.PrometheusOptions{Targets: []string{addr}, RuleFiles: []string{driftRuleFile(t)}})

	drift := `datapath_ovs_table_flows - on(instance,bridge,table_id) group_left datapath_antrea_agent_table_flows`
	// In agreement, evaluated a few times: quiet.
	if _, err := p.WaitForSeries(ctx, `count_over_time(datapath_antrea_agent_table_flows{table_name="SpoofGuard"}[1m]) >= 5`); err != nil {
		t.Fatal(err)
	}
	if v, err := p.Query(ctx, drift+" != 0"); err != nil || !testenv.IsEmpty(v) {
		t.Fatalf("drift before any deletion: %v (%v)", v, err)
	}
	if alerts, err := p.Alerts(ctx); err != nil || len(alerts) != 0 {
		t.Fatalf("alerts before any deletion: %v (%v)", alerts, err)
	}

	// Pod 0's two SpoofGuard flows, deleted behind the agent's back.
	if err := o.DelFlows("br-int", "table=1,arp,in_port=10", "table=1,ip,in_port=10"); err != nil {
		t.Fatal(err)
	}
	counts, err := o.FlowCountsPerTable("br-int")
	if err != nil {
		t.Fatal(err)
	}
	agentCount := agent.Counts()[1]
	if float64(counts[1]) != agentCount-2 {
		t.Fatalf("OVS holds %d SpoofGuard flows, the agent counts %v: want 2 fewer in OVS", counts[1], agentCount)
	}

	v, err := p.WaitForSeries(ctx, drift+" != 0")
	if err != nil {
		t.Fatal(err)
	}
	vec, ok := v.(model.Vector)
	if !ok || len(vec) != 1 {
		t.Fatalf("drift: %v, want one table", v)
	}
	if m := vec[0].Metric; m["table_id"] != "1" || m["table_name"] != "SpoofGuard" || vec[0].Value != -2 {
		t.Errorf("drift %v, want -2 for table 1 SpoofGuard", vec[0])
	}

	deadline := time.Now().Add(time.Minute)
	for {
		alerts, err := p.Alerts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var firing []string
		for _, a := range alerts {
			if a.Labels["alertname"] != driftAlert || a.State != "firing" {
				continue
			}
			firing = append(firing, a.Labels.String())
			if a.Labels["table_id"] != "1" || a.Labels["table_name"] != "SpoofGuard" || a.Labels["bridge"] != "br-int" {
				t.Errorf("alert on %v, want br-int table 1 SpoofGuard", a.Labels)
			}
			desc := string(a.Annotations["description"])
			for _, want := range []string{
				fmt.Sprintf("has held\n%d\nflows in OVS", counts[1]),
				fmt.Sprintf("the Antrea agent counts\n%v\n", agentCount),
				"(OVS minus agent: -2)", "(SpoofGuard)",
			} {
				if !strings.Contains(desc, strings.ReplaceAll(want, "\n", " ")) {
					t.Errorf("description %q does not say %q", desc, want)
				}
			}
		}
		if len(firing) > 0 {
			if len(firing) != 1 {
				t.Errorf("alerts firing: %v, want one", firing)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not firing a minute after the deletion; alerts: %v", driftAlert, alerts)
		}
		time.Sleep(time.Second)
	}
}
