package collector

import (
	"context"
	"errors"
	"io"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/datapath-exporter/datapath-exporter/ovs"
)

var ovsInfoDesc = newDesc("ovs", "info", []string{"version"},
	"Always 1: version is ovs-vswitchd's, as its control socket's version command answers it (read once per ovs-vswitchd, again after it restarts).")

// ovsInfoCollector adds datapath_ovs_info to the ovs_datapath collector,
// which owns the control socket's flags: NewOVSDatapathCollector wraps its
// collector in it.
type ovsInfoCollector struct {
	Collector
	reader *ovs.VersionReader
}

func withOVSInfo(c Collector, u ovs.Unixctl) Collector {
	return &ovsInfoCollector{Collector: c, reader: &ovs.VersionReader{Unixctl: u}}
}

// Update runs the wrapped collector, then sends datapath_ovs_info; a
// version that cannot be read fails the collector too.
func (c *ovsInfoCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	err := c.Collector.Update(ctx, ch)
	v, verr := c.reader.Read(ctx)
	if verr == nil {
		ch <- prometheus.MustNewConstMetric(ovsInfoDesc, prometheus.GaugeValue, 1, v)
	}
	return errors.Join(err, withHint("ovs_datapath", verr))
}

// Close closes the wrapped collector.
func (c *ovsInfoCollector) Close() error { return closeCollector(c.Collector) }

// closeCollector closes c if it holds anything to close.
func closeCollector(c Collector) error {
	if cl, ok := c.(io.Closer); ok {
		return cl.Close()
	}
	return nil
}
