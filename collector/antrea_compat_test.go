package collector_test

import (
	"strings"
	"testing"
)

// TestCompatAntreaStepsAside runs --compat.antrea against the agent
// stand-in with and without its Flow Exporter's conntrack gauges: while the
// agent serves them the exporter does not (one log line each way), and
// the flow-count compat series are served throughout.
func TestCompatAntreaStepsAside(t *testing.T) {
	n := newAntreaNode(t)
	reg, logs := n.exporter(t, "--collector.conntrack_zones")
	ctNames := []string{"antrea_agent_conntrack_total_connection_count", "antrea_agent_conntrack_max_connection_count", "antrea_agent_conntrack_antrea_connection_count"}
	// scrape gathers twice: the conntrack collectors see what the
	// antrea_agent collector learnt in the scrape before.
	scrape := func() families {
		t.Helper()
		gather(t, reg)
		return gather(t, reg)
	}
	check := func(when string, wantServed bool) {
		t.Helper()
		mfs := scrape()
		for _, name := range ctNames {
			if got := len(mfs.series(name)); got != map[bool]int{true: 1, false: 0}[wantServed] {
				t.Errorf("%s: %s has %d series, want served=%v", when, name, got, wantServed)
			}
		}
		if wantServed {
			if got, want := mfs.value(t, ctNames[0]), mfs.value(t, "datapath_conntrack_entries"); got != want {
				t.Errorf("%s: %s = %v, want datapath_conntrack_entries %v", when, ctNames[0], got, want)
			}
		}
		if len(mfs.series("antrea_agent_ovs_flow_count")) == 0 || len(mfs.series("antrea_agent_ovs_total_flow_count")) != 1 {
			t.Errorf("%s: the flow-count compat series are gone", when)
		}
	}
	check("agent without Flow Exporter", true)

	n.agent.SetFlowExporter(&[3]float64{57, 262144, 12})
	check("agent with Flow Exporter", false)
	check("agent with Flow Exporter, again", false)
	if got := strings.Count(logs.String(), "serves these conntrack metrics itself"); got != 1 {
		t.Errorf("logged %d times that the agent serves them, want once:\n%s", got, logs)
	}

	n.agent.SetFlowExporter(nil)
	check("agent without Flow Exporter again", true)
	check("agent without Flow Exporter again, again", true)
	if got := strings.Count(logs.String(), "no longer serves these conntrack metrics"); got != 1 {
		t.Errorf("logged %d times that the agent stopped serving them, want once:\n%s", got, logs)
	}
}
