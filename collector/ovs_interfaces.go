package collector

import (
	"context"
	"log/slog"
	"slices"
	"strings"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/datapath-exporter/datapath-exporter/ovs"
)

func init() {
	register(registration{
		name:           "ovs_interfaces",
		help:           "per-interface drops, errors, packets and link state of OVS ports, with the Pod behind each (Antrea's external IDs), from the OVSDB monitor",
		defaultEnabled: false,
		// Shared with the other OVS collectors; nothing here waits but
		// for the first OVSDB inventory.
		timeout: ovsTimeoutFlag,
		flags: func(app *kingpin.Application, shared *Shared) builder {
			return func(logger *slog.Logger) (Collector, error) {
				return NewOVSInterfacesCollector(OVSInterfacesConfig{Source: shared.OVS}, logger)
			}
		},
	})
}

// OVSInterfacesConfig configures the ovs_interfaces collector.
type OVSInterfacesConfig struct {
	// RunDir and Bridges say where OVS is when Source is not set;
	// Bridges, if any, limits the export to those bridges.
	RunDir  string
	Bridges []string
	// Source, if set, is the OVS source shared with the other collectors
	// reading OVS (Shared.OVS).
	Source *OVSSource
}

var ovsInterfaceLabels = []string{"bridge", "interface", "pod", "namespace"}

// ovsInterfaceHelp ends the HELP of every interface metric.
const ovsInterfaceHelp = " read from the OVSDB Interface table (what ovs-vswitchd writes there every other_config:stats-update-interval, 5 s by default, so up to that old); " +
	"pod and namespace are Antrea's external_ids:pod-name and pod-namespace of the interface's Port, empty for other ports."

// ovsInterfaceCounter is an exported statistic and its key in
// Interface.statistics.
type ovsInterfaceCounter struct {
	key  string
	desc *prometheus.Desc
}

var ovsInterfaceCounters = func() []ovsInterfaceCounter {
	var out []ovsInterfaceCounter
	for _, c := range []struct{ key, name, what string }{
		{"rx_dropped", "receive_drop_total", "Packets dropped on receipt by the OVS interface"},
		{"tx_dropped", "transmit_drop_total", "Packets the OVS interface dropped instead of transmitting"},
		{"rx_errors", "receive_errors_total", "Receive errors of the OVS interface"},
		{"tx_errors", "transmit_errors_total", "Transmit errors of the OVS interface"},
		{"rx_packets", "receive_packets_total", "Packets received by the OVS interface, i.e. sent by the Pod into OVS"},
		{"tx_packets", "transmit_packets_total", "Packets transmitted by the OVS interface, i.e. sent by OVS to the Pod"},
	} {
		out = append(out, ovsInterfaceCounter{c.key,
			newDesc("ovs", "interface_"+c.name, ovsInterfaceLabels, c.what+" (statistics:"+c.key+"),"+ovsInterfaceHelp)})
	}
	return out
}()

var ovsInterfaceLinkUpDesc = newDesc("ovs", "interface_link_up", ovsInterfaceLabels,
	"1 if the OVS interface's link is up, 0 if down (link_state),"+ovsInterfaceHelp+" No series while ovs-vswitchd reports no link state.")

// ovsInterfacesCollector exports the OVS interfaces of the OVSDB monitor's
// inventory.
type ovsInterfacesCollector struct {
	source *OVSSource
	logger *slog.Logger
}

// NewOVSInterfacesCollector checks cfg and returns the ovs_interfaces
// collector. It starts the OVSDB monitor, even with fixed bridges.
func NewOVSInterfacesCollector(cfg OVSInterfacesConfig, logger *slog.Logger) (Collector, error) {
	s := cfg.Source
	if s == nil {
		s = &OVSSource{RunDir: cfg.RunDir, Bridges: cfg.Bridges}
	}
	if err := s.check(); err != nil {
		return nil, err
	}
	s.openMonitor()
	return &ovsInterfacesCollector{source: s, logger: logger}, nil
}

// Update exports the interfaces of the inventory. A stale one
// (ovsdb-server gone) is exported all the same, its last statistics, and
// the collector fails so that the staleness shows.
func (c *ovsInterfacesCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	inv, stale, err := c.source.OVSDB(ctx)
	if err != nil {
		return withHint("ovs_interfaces", err)
	}
	for _, bridge := range inv.Bridges {
		if !c.source.Discovers() && !slices.Contains(c.source.Bridges, bridge) {
			continue
		}
		for _, p := range inv.Ports[bridge] {
			exportPort(ch, bridge, p)
		}
	}
	c.source.logBadIPs(c.logger, inv)
	return withHint("ovs_interfaces", stale)
}

// exportPort sends the metrics of p's interfaces: the statistics OVSDB
// holds (none for an interface ovs-vswitchd has not written them for), and
// the link state.
func exportPort(ch chan<- prometheus.Metric, bridge string, p ovs.Port) {
	pod, ns := strings.ToValidUTF8(p.PodName(), "\uFFFD"), strings.ToValidUTF8(p.PodNamespace(), "\uFFFD")
	for _, iface := range p.Interfaces {
		labels := []string{bridge, iface.Name, pod, ns}
		for _, m := range ovsInterfaceCounters {
			if v, ok := iface.Statistics[m.key]; ok {
				ch <- prometheus.MustNewConstMetric(m.desc, prometheus.CounterValue, float64(v), labels...)
			}
		}
		switch iface.LinkState {
		case "up":
			ch <- prometheus.MustNewConstMetric(ovsInterfaceLinkUpDesc, prometheus.GaugeValue, 1, labels...)
		case "down":
			ch <- prometheus.MustNewConstMetric(ovsInterfaceLinkUpDesc, prometheus.GaugeValue, 0, labels...)
		}
	}
}

// Close stops the OVS source.
func (c *ovsInterfacesCollector) Close() error { return c.source.Close() }
