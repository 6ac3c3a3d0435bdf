package main

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"

	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
)

// TestProcessCollector compares the process collector with client_golang's
// (served here under the namespace "ref") on this process: the same names,
// help and types, equal values for what does not move, plausible ones for
// what does, and no process_network_* series.
func TestProcessCollector(t *testing.T) {
	pc, err := newProcessCollector()
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(pc, collectors.NewProcessCollector(collectors.ProcessCollectorOpts{Namespace: "ref", ReportErrors: true}))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		got[mf.GetName()] = mf
	}
	for _, name := range []string{"process_cpu_seconds_total", "process_open_fds", "process_max_fds", "process_virtual_memory_bytes",
		"process_virtual_memory_max_bytes", "process_resident_memory_bytes", "process_start_time_seconds"} {
		ours, ref := got[name], got["ref_"+name]
		if ours == nil || ref == nil {
			t.Errorf("%s: ours %v, client_golang's %v", name, ours != nil, ref != nil)
			continue
		}
		if ours.GetHelp() != ref.GetHelp() || ours.GetType() != ref.GetType() {
			t.Errorf("%s: help %q type %v, client_golang's %q %v", name, ours.GetHelp(), ours.GetType(), ref.GetHelp(), ref.GetType())
		}
		o, r := testenv.MetricValue(ours.GetMetric()[0]), testenv.MetricValue(ref.GetMetric()[0])
		switch name {
		case "process_max_fds", "process_virtual_memory_max_bytes", "process_start_time_seconds":
			if o != r {
				t.Errorf("%s = %v, client_golang's %v", name, o, r)
			}
		default:
			if o <= 0 || o > 2*r+1<<20 {
				t.Errorf("%s = %v, client_golang's %v", name, o, r)
			}
		}
	}
	for _, name := range []string{"process_network_receive_bytes_total", "process_network_transmit_bytes_total"} {
		if got[name] != nil {
			t.Errorf("%s served: in a hostNetwork pod it is the node's traffic", name)
		}
	}
}
