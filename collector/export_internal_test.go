package collector

import (
	"maps"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/datapath-exporter/datapath-exporter/antrea"
	"github.com/datapath-exporter/datapath-exporter/antrea/ctzone"
	"github.com/datapath-exporter/datapath-exporter/conntrack"
	"github.com/datapath-exporter/datapath-exporter/ovs"
)

// seriesOf runs export and returns its series as "name/label values..."
// and their values.
func seriesOf(t *testing.T, export func(ch chan<- prometheus.Metric)) map[string]float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 1000)
	export(ch)
	close(ch)
	got := map[string]float64{}
	for m := range ch {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			t.Fatal(err)
		}
		key := descName(m.Desc())
		for _, l := range pb.GetLabel() {
			key += "/" + l.GetValue()
		}
		if _, dup := got[key]; dup {
			t.Errorf("series %s sent twice", key)
		}
		if pb.Counter != nil {
			got[key] = pb.GetCounter().GetValue()
		} else {
			got[key] = pb.GetGauge().GetValue()
		}
	}
	return got
}

// TestExportWithoutRoot converts typed readings into metrics, as each
// collector's Update does after reading: no socket, no root. The readings
// from real components are tested in the collectors' other tests.
func TestExportWithoutRoot(t *testing.T) {
	br := ovs.Bridge{Name: "br-int", Version: ovs.OpenFlow15, Tables: []ovs.Table{
		{ID: 0, Name: "PipelineRootClassifier", Flows: 3, Lookups: 100, Matches: 90},
		{ID: 1, Flows: 2, Lookups: 5, Matches: 5, Limit: 1000000, HasLimit: true},
		{ID: 2, Flows: 0, Limit: 5000, HasLimit: true},
	}}
	tests := []struct {
		name   string
		export func(ch chan<- prometheus.Metric)
		want   map[string]float64
	}{
		{
			name:   "ovs tables, selected",
			export: func(ch chan<- prometheus.Metric) { exportBridge(ch, br, br.Tables[:2], false) },
			want: map[string]float64{
				"datapath_ovs_table_flows/br-int/0/PipelineRootClassifier":         3,
				"datapath_ovs_table_lookups_total/br-int/0/PipelineRootClassifier": 100,
				"datapath_ovs_table_matches_total/br-int/0/PipelineRootClassifier": 90,
				"datapath_ovs_table_flows/br-int/1/":                               2,
				"datapath_ovs_table_lookups_total/br-int/1/":                       5,
				"datapath_ovs_table_matches_total/br-int/1/":                       5,
			},
		},
		{
			name:   "ovs tables, a limit of its own, compat",
			export: func(ch chan<- prometheus.Metric) { exportBridge(ch, br, br.Tables[2:], true) },
			want: map[string]float64{
				"antrea_agent_ovs_total_flow_count":          5, // over every table, selected or not
				"datapath_ovs_table_flows/br-int/2/":         0,
				"datapath_ovs_table_lookups_total/br-int/2/": 0,
				"datapath_ovs_table_matches_total/br-int/2/": 0,
				"datapath_ovs_table_flows_limit/br-int/2/":   5000,
				"antrea_agent_ovs_flow_count/2/":             0,
			},
		},
		{
			name: "ovs meters",
			export: func(ch chan<- prometheus.Metric) {
				exportMeters(ch, ovs.BridgeMeters{Name: "br-int", Meters: []ovs.Meter{{ID: 1, Dropped: 7}, {ID: 256, Dropped: 0}}})
				exportMeters(ch, ovs.BridgeMeters{Name: "br-10", NoMeters: true})
			},
			want: map[string]float64{
				"datapath_ovs_meter_packets_dropped_total/br-int/1":   7,
				"datapath_ovs_meter_packets_dropped_total/br-int/256": 0,
			},
		},
		{
			name: "conntrack, compat",
			export: func(ch chan<- prometheus.Metric) {
				var stats conntrack.CPUStats
				// Every counter but chaintoolong, as a kernel before 5.15.
				for st := conntrack.StatFound; st < conntrack.StatChainTooLong; st++ {
					stats.Set(st, uint64(st)+1)
				}
				exportConntrack(ch, conntrack.Snapshot{Global: conntrack.Global{Entries: 35, Limit: 262144}, Stats: stats}, true)
			},
			want: map[string]float64{
				"datapath_conntrack_entries":                    35,
				"datapath_conntrack_entries_limit":              262144,
				"antrea_agent_conntrack_total_connection_count": 35,
				"antrea_agent_conntrack_max_connection_count":   262144,
				"datapath_conntrack_found_total":                1,
				"datapath_conntrack_invalid_total":              2,
				"datapath_conntrack_insert_total":               3,
				"datapath_conntrack_insert_failed_total":        4,
				"datapath_conntrack_drop_total":                 5,
				"datapath_conntrack_early_drop_total":           6,
				"datapath_conntrack_error_total":                7,
				"datapath_conntrack_search_restart_total":       8,
				"datapath_conntrack_clash_resolve_total":        9,
			},
		},
		{
			name:   "conntrack zones",
			export: func(ch chan<- prometheus.Metric) { exportZones(ch, map[uint16]uint64{0: 12, ctzone.Pod: 30}, false) },
			want: map[string]float64{
				"datapath_conntrack_zone_entries/0":     12,
				"datapath_conntrack_zone_entries/65520": 30,
				"datapath_conntrack_zone_entries/65521": 0,
				"datapath_conntrack_zone_entries/65510": 0,
				"datapath_conntrack_zone_entries/65511": 0,
			},
		},
		{
			name: "antrea agent tables on its bridge",
			export: func(ch chan<- prometheus.Metric) {
				exportAgentTables(ch, "br-antrea", antrea.Reading{Tables: []antrea.Table{{ID: 0, Name: "PipelineRootClassifier", Flows: 4}}})
			},
			want: map[string]float64{"datapath_antrea_agent_table_flows/br-antrea/0/PipelineRootClassifier": 4},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := seriesOf(t, tt.export)
			if !maps.Equal(got, tt.want) {
				keys := slices.Sorted(maps.Keys(got))
				t.Errorf("series %v:\n%v\nwant %v", keys, got, tt.want)
			}
		})
	}
}
