package collector

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/datapath-exporter/datapath-exporter/ovs"
)

var ovsInfoDesc = newDesc("ovs", "info", []string{"version"},
	"Always 1: version is ovs-vswitchd's, as its control socket's version command answers it (read once per ovs-vswitchd, again after it restarts).")

// ovsInfo exports datapath_ovs_info (the ovs_datapath collector's hook: it
// owns the control socket's flags).
type ovsInfo struct{ reader *ovs.VersionReader }

func newOVSInfo(u ovs.Unixctl) ovsInfo { return ovsInfo{reader: &ovs.VersionReader{Unixctl: u}} }

// export sends datapath_ovs_info, or returns why the version is unknown.
func (i ovsInfo) export(ctx context.Context, ch chan<- prometheus.Metric) error {
	v, err := i.reader.Read(ctx)
	if err != nil {
		return err
	}
	ch <- prometheus.MustNewConstMetric(ovsInfoDesc, prometheus.GaugeValue, 1, v)
	return nil
}
