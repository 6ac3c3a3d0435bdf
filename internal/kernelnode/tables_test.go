package kernelnode

import (
	"strconv"
	"testing"
	"time"

	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
)

// TestTableMetricsEqualDumpTables checks per-table flows, lookups and
// matches of br-int on the kernel datapath against ovs-ofctl dump-tables.
func TestTableMetricsEqualDumpTables(t *testing.T) {
	n := nodeForTest(t)
	ctx := testenv.Context(t, 3*time.Minute)
	podTraffic(t, ctx, n)
	m, out := atOneMoment(t, ctx, func() (string, error) {
		return n.Run(ctx, "ovs-ofctl", "-O", "OpenFlow15", "dump-tables", "br-int")
	})
	tables, err := testenv.ParseDumpTables(out)
	if err != nil {
		t.Fatal(err)
	}
	if tables[28].Lookups == 0 || tables[11].Matches == 0 {
		t.Fatalf("no traffic reached ConntrackCommit or EndpointDNAT: %+v %+v", tables[28], tables[11])
	}
	exported, used := 0, 0
	for id, ts := range tables {
		if ts.Active != 0 || ts.Lookups != 0 {
			used++
		}
		lbl := []string{"bridge", "br-int", "table_id", strconv.Itoa(id)}
		flows, ok := m.get("datapath_ovs_table_flows", lbl...)
		if !ok {
			if ts.Active != 0 || ts.Lookups != 0 {
				t.Errorf("table %d (%d flows, %d lookups) not exported", id, ts.Active, ts.Lookups)
			}
			continue
		}
		exported++
		lookups, _ := m.get("datapath_ovs_table_lookups_total", lbl...)
		matches, _ := m.get("datapath_ovs_table_matches_total", lbl...)
		if flows != float64(ts.Active) || lookups != float64(ts.Lookups) || matches != float64(ts.Matches) {
			t.Errorf("table %d: exported flows %v lookups %v matches %v; dump-tables says %d %d %d",
				id, flows, lookups, matches, ts.Active, ts.Lookups, ts.Matches)
		}
		if name, _ := labelOf(m, "datapath_ovs_table_flows", "table_name", lbl...); name != "" {
			t.Errorf("table %d named %q: OVS has no names on an Antrea node", id, name)
		}
	}
	// By default the exporter leaves out tables without flows or lookups
	// (NodePortMark here: nothing goes there without NodePort Services).
	if exported != used || used < 29 {
		t.Errorf("%d tables exported, %d have flows or lookups", exported, used)
	}
}

// labelOf returns label want of the first sample of name matching labels.
func labelOf(m metrics, name, want string, labels ...string) (string, bool) {
	mf := m[name]
	if mf == nil {
		return "", false
	}
	for _, s := range mf.GetMetric() {
		if hasLabels(s, labels...) {
			return label(s, want), true
		}
	}
	return "", false
}
