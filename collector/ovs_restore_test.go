package collector_test

import (
	"testing"

	"github.com/prometheus/common/promslog"

	"github.com/datapath-exporter/datapath-exporter/collector"
	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
)

// TestOVSFlowRestoreWait sets and clears other_config:flow-restore-wait as
// Antrea's agent does around its flow replay, on a real OVSDB.
func TestOVSFlowRestoreWait(t *testing.T) {
	o := testenv.OVSForTest(t, testenv.OVSOptions{})
	if err := o.AddBridge("br-int", "OpenFlow13"); err != nil {
		t.Fatal(err)
	}
	c, err := newOVSCollector(t, collector.OVSConfig{RunDir: o.RunDir})
	if err != nil {
		t.Fatal(err)
	}
	reg := newRegistry(t, promslog.NewNopLogger(), map[string]collector.Collector{"ovs": c})
	const name = "datapath_ovs_flow_restore_wait"
	if got := gather(t, reg).value(t, name); got != 0 {
		t.Errorf("%s = %v before it is set, want 0", name, got)
	}
	for _, step := range []struct {
		args []string
		want float64
	}{
		{[]string{"set", "Open_vSwitch", ".", "other_config:flow-restore-wait=true"}, 1},
		{[]string{"set", "Open_vSwitch", ".", "other_config:flow-restore-wait=false"}, 0},
		{[]string{"set", "Open_vSwitch", ".", "other_config:flow-restore-wait=true"}, 1},
		{[]string{"remove", "Open_vSwitch", ".", "other_config", "flow-restore-wait"}, 0},
	} {
		if _, err := o.Vsctl(step.args...); err != nil {
			t.Fatal(err)
		}
		waitInterfaces(t, reg, name+" after "+step.args[len(step.args)-1], func(mfs families) bool {
			return len(mfs.series(name)) == 1 && testenv.MetricValue(mfs.series(name)[0]) == step.want
		})
	}

	// With fixed bridges the ovs collector does not read OVSDB.
	fixed, err := newOVSCollector(t, collector.OVSConfig{RunDir: o.RunDir, Bridges: []string{"br-int"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := gather(t, newRegistry(t, promslog.NewNopLogger(), map[string]collector.Collector{"ovs": fixed})).series(name); len(got) != 0 {
		t.Errorf("%s with --ovs.bridge: %v, want no series", name, got)
	}
}
