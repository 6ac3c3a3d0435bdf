package collector

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/datapath-exporter/datapath-exporter/ovs"
)

var ovsInfoDesc = newDesc("ovs", "info", []string{"version"},
	"Always 1: version is ovs-vswitchd's, as its control socket's version command answers it (read once per ovs-vswitchd, again after it restarts, as found at most --ovs.datapath-read-interval ago).")

// ovsInfoCollector adds datapath_ovs_info to the ovs_datapath collector,
// which owns the control socket's flags: NewOVSDatapathCollector wraps its
// collector in it.
type ovsInfoCollector struct {
	Collector
	// version is read with the datapath's interval: telling a restarted
	// ovs-vswitchd reads its pidfile and stats its socket, which cost a
	// default scrape more than the rest of ovs_datapath's serving (88 us
	// against 6-7 us, docs/bench/analysis.md).
	version *periodicReader[string]
}

func withOVSInfo(c Collector, u ovs.Unixctl, interval, timeout time.Duration) Collector {
	r := &ovs.VersionReader{Unixctl: u}
	return &ovsInfoCollector{Collector: c, version: newPeriodicReader(interval, timeout, r.Read)}
}

func (c *ovsInfoCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	err := c.Collector.Update(ctx, ch)
	v, _, verr := c.version.get(ctx)
	if verr == nil {
		ch <- prometheus.MustNewConstMetric(ovsInfoDesc, prometheus.GaugeValue, 1, v)
	}
	return errors.Join(err, withHint("ovs_datapath", verr))
}

func (c *ovsInfoCollector) Close() error {
	c.version.Close()
	return closeCollector(c.Collector)
}

func closeCollector(c Collector) error {
	if cl, ok := c.(io.Closer); ok {
		return cl.Close()
	}
	return nil
}
