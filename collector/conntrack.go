package collector

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/datapath-exporter/datapath-exporter/conntrack"
)

func init() {
	register(registration{
		name:           "conntrack",
		help:           "kernel conntrack entries, limit and per-CPU statistics, read over netlink",
		defaultEnabled: true,
		timeout:        timeoutFlag{name: "conntrack.timeout", def: "2s", help: "Deadline for the netlink requests of one scrape."},
		flags: func(app *kingpin.Application, shared *Shared) builder {
			return func(logger *slog.Logger) (Collector, error) {
				cfg := conntrack.Config{NetnsPath: shared.ConntrackNetns}
				return NewConntrackCollector(ConntrackConfig{Config: cfg, CompatAntrea: shared.CompatAntrea}, logger)
			}
		},
	})
}

var (
	ctEntriesDesc = prometheus.NewDesc(
		prometheus.BuildFQName(Namespace, "conntrack", "entries"),
		"Entries in the kernel conntrack table (nf_conntrack_count), read over netlink (one global-stats request, never a dump).",
		nil, nil)
	ctLimitDesc = prometheus.NewDesc(
		prometheus.BuildFQName(Namespace, "conntrack", "entries_limit"),
		"Maximum entries of the kernel conntrack table (nf_conntrack_max), read over netlink; at the limit new connections are dropped.",
		nil, nil)
	ctStatDesc = prometheus.NewDesc(
		prometheus.BuildFQName(Namespace, "conntrack", "stat_total"),
		"Kernel conntrack per-CPU statistics summed over CPUs, read over netlink. The kernel keeps them as 32-bit counters per CPU: a wrap looks like a counter reset.",
		[]string{"stat"}, nil)
)

// Antrea agent names (--compat.antrea), as the agent's Flow Exporter
// exports them.
var (
	antreaCtTotalDesc = prometheus.NewDesc("antrea_agent_conntrack_total_connection_count",
		"Number of connections in the conntrack table (Antrea agent name, served by datapath-exporter --compat.antrea; read over netlink, not by a dump).",
		nil, nil)
	antreaCtMaxDesc = prometheus.NewDesc("antrea_agent_conntrack_max_connection_count",
		"Size of the conntrack table (Antrea agent name, served by datapath-exporter --compat.antrea; nf_conntrack_max read over netlink).",
		nil, nil)
)

// ConntrackConfig configures the conntrack collector.
type ConntrackConfig struct {
	conntrack.Config
	CompatAntrea bool
}

// conntrackCollector exports the size, limit and statistics of one conntrack
// table.
type conntrackCollector struct {
	reader *conntrack.Reader
	netns  string // --conntrack.netns
	compat bool
}

// NewConntrackCollector opens the network namespace of cfg now, so that a bad
// --conntrack.netns stops the exporter at start.
func NewConntrackCollector(cfg ConntrackConfig, _ *slog.Logger) (Collector, error) {
	r, err := newConntrackReader(cfg)
	if err != nil {
		return nil, err
	}
	return &conntrackCollector{reader: r, netns: cfg.NetnsPath, compat: cfg.CompatAntrea}, nil
}

// newConntrackReader opens the reader; an error names --conntrack.netns.
func newConntrackReader(cfg ConntrackConfig) (*conntrack.Reader, error) {
	r, err := conntrack.NewReader(cfg.Config)
	if err != nil {
		return nil, fmt.Errorf("--conntrack.netns=%s: %w", cfg.NetnsPath, withHint("conntrack", err))
	}
	return r, nil
}

// Close releases the network namespace held open since start.
func (c *conntrackCollector) Close() error { return c.reader.Close() }

func (c *conntrackCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	s, err := c.reader.Read(ctx)
	if err != nil {
		return withHint("conntrack", err)
	}
	exportConntrack(ch, s, c.compat)
	return nil
}

// exportConntrack sends the metrics of s, and with compat the Antrea
// agent's names.
func exportConntrack(ch chan<- prometheus.Metric, s conntrack.Snapshot, compat bool) {
	ch <- prometheus.MustNewConstMetric(ctEntriesDesc, prometheus.GaugeValue, float64(s.Global.Entries))
	ch <- prometheus.MustNewConstMetric(ctLimitDesc, prometheus.GaugeValue, float64(s.Global.Limit))
	if compat {
		ch <- prometheus.MustNewConstMetric(antreaCtTotalDesc, prometheus.GaugeValue, float64(s.Global.Entries))
		ch <- prometheus.MustNewConstMetric(antreaCtMaxDesc, prometheus.GaugeValue, float64(s.Global.Limit))
	}
	for _, st := range []struct {
		name  string
		value uint64
	}{
		{"found", s.Stats.Found},
		{"invalid", s.Stats.Invalid},
		{"insert", s.Stats.Insert},
		{"insert_failed", s.Stats.InsertFailed},
		{"drop", s.Stats.Drop},
		{"early_drop", s.Stats.EarlyDrop},
		{"error", s.Stats.Error},
		{"search_restart", s.Stats.SearchRestart},
	} {
		ch <- prometheus.MustNewConstMetric(ctStatDesc, prometheus.CounterValue, float64(st.value), st.name)
	}
}
