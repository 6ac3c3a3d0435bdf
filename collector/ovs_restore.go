package collector

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
)

var ovsFlowRestoreWaitDesc = newDesc("ovs", "flow_restore_wait", nil,
	"1 while OVSDB's Open_vSwitch other_config:flow-restore-wait is true (ovs-vswitchd keeps the datapath's flows but installs none until its controller, "+
		"Antrea's agent after a restart, has replayed its flows and cleared it), else 0; from the OVSDB monitor, when the bridges are discovered from OVSDB (no --ovs.bridge).")

// flowRestoreWaitCollector adds datapath_ovs_flow_restore_wait to the ovs
// collector, which holds the OVSDB monitor: NewOVSCollector wraps its
// collector in it.
type flowRestoreWaitCollector struct {
	Collector
	source *OVSSource
}

func withFlowRestoreWait(c Collector, s *OVSSource) Collector {
	return &flowRestoreWaitCollector{Collector: c, source: s}
}

// Update sends datapath_ovs_flow_restore_wait from the OVSDB inventory
// (the last one while ovsdb-server is away), then runs the wrapped
// collector, which reports an inventory's absence or staleness. With fixed
// bridges OVSDB is not read, and there is no series.
func (c *flowRestoreWaitCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	if c.source.Discovers() {
		if inv, _, err := c.source.OVSDB(ctx); err == nil {
			v := 0.0
			if inv.FlowRestoreWait() {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(ovsFlowRestoreWaitDesc, prometheus.GaugeValue, v)
		}
	}
	return c.Collector.Update(ctx, ch)
}

// Close closes the wrapped collector.
func (c *flowRestoreWaitCollector) Close() error { return closeCollector(c.Collector) }
