package collector

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/datapath-exporter/datapath-exporter/ovs"
)

// TestExportKernelDatapath exports the values of a kernel datapath
// (system@ovs-system, which cannot run on the test machine: no openvswitch
// module), as the ovs package parses them from OVS's documented format, and
// checks every series. The netdev datapath is tested end to end against a
// real OVS in ovs_datapath_test.go.
func TestExportKernelDatapath(t *testing.T) {
	st := ovs.DatapathReading{
		Datapaths: []ovs.DatapathStats{{Name: "system@ovs-system", Hit: 18304, Missed: 1297, Lost: 12, Flows: 37,
			HasMasks: true, MaskHits: 52108, Masks: 9, HasCache: true, CacheHits: 15040}},
		Upcalls: []ovs.UpcallStats{{Datapath: "system@ovs-system", Flows: 37, FlowLimit: 200000, DumpDuration: 3 * time.Millisecond, Revalidators: 4}},
		Memory:  &ovs.MemoryStats{Handlers: 13, Revalidators: 4},
		Coverage: map[string]uint64{
			"netlink_overflow": 5, "upcall_flow_limit_hit": 0,
		},
	}
	ch := make(chan prometheus.Metric, 100)
	exportDatapathReading(ch, st)
	close(ch)
	got := map[string]float64{}
	for m := range ch {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			t.Fatal(err)
		}
		// Name and label values identify the series.
		key := descName(m.Desc())
		for _, l := range pb.GetLabel() {
			key += "/" + l.GetValue()
		}
		if pb.Counter != nil {
			got[key] = pb.GetCounter().GetValue()
		} else {
			got[key] = pb.GetGauge().GetValue()
		}
	}
	want := map[string]float64{
		"datapath_ovs_datapath_lookups_total/system@ovs-system/hit":        18304,
		"datapath_ovs_datapath_lookups_total/system@ovs-system/missed":     1297,
		"datapath_ovs_datapath_lookups_total/system@ovs-system/lost":       12,
		"datapath_ovs_datapath_flows/system@ovs-system":                    37,
		"datapath_ovs_datapath_masks/system@ovs-system":                    9,
		"datapath_ovs_datapath_mask_hits_total/system@ovs-system":          52108,
		"datapath_ovs_datapath_cache_hits_total/system@ovs-system":         15040,
		"datapath_ovs_datapath_flow_limit/system@ovs-system":               200000,
		"datapath_ovs_revalidator_dump_duration_seconds/system@ovs-system": 0.003,
		"datapath_ovs_handler_threads":                                     13,
		"datapath_ovs_revalidator_threads":                                 4,
		"datapath_ovs_coverage_total/netlink_overflow":                     5,
		"datapath_ovs_coverage_total/upcall_flow_limit_hit":                0,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d series, want %d: %v", len(got), len(want), got)
	}
}

// descName pulls the fully-qualified name out of a Desc (it has no getter).
func descName(d *prometheus.Desc) string {
	_, rest, _ := strings.Cut(d.String(), `fqName: "`)
	name, _, _ := strings.Cut(rest, `"`)
	return name
}
