package collector

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/datapath-exporter/datapath-exporter/ovs"
)

var ovsFlowRestoreWaitDesc = newDesc("ovs", "flow_restore_wait", nil,
	"1 while OVSDB's Open_vSwitch other_config:flow-restore-wait is true (ovs-vswitchd keeps the datapath's flows but installs none until its controller, "+
		"Antrea's agent after a restart, has replayed its flows and cleared it), else 0; from the OVSDB monitor, when the bridges are discovered from OVSDB (no --ovs.bridge).")

// exportFlowRestoreWait sends datapath_ovs_flow_restore_wait of inv (the
// ovs collector's hook: it holds the OVSDB inventory).
func exportFlowRestoreWait(ch chan<- prometheus.Metric, inv ovs.Inventory) {
	v := 0.0
	if inv.FlowRestoreWait() {
		v = 1
	}
	ch <- prometheus.MustNewConstMetric(ovsFlowRestoreWaitDesc, prometheus.GaugeValue, v)
}
