package collector

import (
	"context"
	"log/slog"
	"strconv"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/datapath-exporter/datapath-exporter/antrea/ctzone"
	"github.com/datapath-exporter/datapath-exporter/conntrack"
)

func init() {
	register(registration{
		name:           "conntrack_zones",
		help:           "conntrack entries per zone, counted by dumping the whole table (O(n): opt-in)",
		defaultEnabled: false,
		timeout:        timeoutFlag{name: "conntrack.zones-timeout", def: "5s", help: "Deadline for the per-zone dump of one scrape (conntrack_zones collector)."},
		flags: func(app *kingpin.Application, shared *Shared) builder {
			return func(logger *slog.Logger) (Collector, error) {
				cfg := conntrack.Config{NetnsPath: shared.ConntrackNetns}
				return NewConntrackZonesCollector(ConntrackConfig{Config: cfg, CompatAntrea: shared.CompatAntrea, Agent: shared.AgentConntrack}, logger)
			}
		},
	})
}

// antreaZones are the zones an Antrea node uses and the default zone 0:
// exported always, with 0 when empty, so a dashboard or rule sees an empty
// zone rather than no series.
var antreaZones = []uint16{0, ctzone.Pod, ctzone.SNAT, ctzone.PodV6, ctzone.SNATV6}

var (
	ctZoneEntriesDesc = newDesc("conntrack", "zone_entries", []string{"zone"},
		"Entries per conntrack zone, counted by dumping the kernel conntrack table over netlink at each scrape (O(n), unlike datapath_conntrack_entries); Antrea's zones 0, 65520, 65521, 65510 and 65511 always, with 0 when empty, and any other zone that has entries.")
	antreaCtAntreaDesc = prometheus.NewDesc("antrea_agent_conntrack_antrea_connection_count",
		"Number of connections in Antrea's conntrack zone 65520 (Antrea agent name, served by datapath-exporter --compat.antrea with the conntrack_zones collector).",
		nil, nil)
)

// conntrackZonesCollector exports per-zone entry counts.
type conntrackZonesCollector struct{ conntrackTable }

// NewConntrackZonesCollector opens the network namespace of cfg now.
func NewConntrackZonesCollector(cfg ConntrackConfig, _ *slog.Logger) (Collector, error) {
	t, err := openConntrackTable(cfg)
	if err != nil {
		return nil, err
	}
	return &conntrackZonesCollector{t}, nil
}

func (c *conntrackZonesCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	counts, err := c.reader.ZoneCounts(ctx)
	if err == nil {
		exportZones(ch, counts, c.compat && !c.agent.withheld().Antrea)
	}
	return withHint("conntrack_zones", err)
}

// exportZones sends the entries of each zone, Antrea's zones always (0 when
// empty), and with compat the Antrea agent's name for Antrea's zone.
func exportZones(ch chan<- prometheus.Metric, counts map[uint16]uint64, compat bool) {
	for _, zone := range antreaZones {
		if _, ok := counts[zone]; !ok {
			counts[zone] = 0
		}
	}
	for zone, n := range counts {
		ch <- prometheus.MustNewConstMetric(ctZoneEntriesDesc, prometheus.GaugeValue, float64(n), strconv.Itoa(int(zone)))
	}
	if compat {
		ch <- prometheus.MustNewConstMetric(antreaCtAntreaDesc, prometheus.GaugeValue, float64(counts[ctzone.Pod]))
	}
}
