package collector

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/datapath-exporter/datapath-exporter/antrea"
	"github.com/datapath-exporter/datapath-exporter/conntrack"
)

func init() {
	register(registration{
		name:           "conntrack",
		help:           "kernel conntrack entries, limit and per-CPU statistics, read over netlink",
		defaultEnabled: true,
		timeout:        timeoutFlag{name: "conntrack.timeout", def: conntrackTimeoutDefault, help: "Deadline for the netlink requests of one read (in the background, or in the scrape with --conntrack.read-interval=0s)."},
		flags: func(app *kingpin.Application, shared *Shared) builder {
			var interval time.Duration
			durationFlag(app, "conntrack.read-interval", "How often the conntrack collector reads the table's count, limit and per-CPU statistics over netlink, in the background: a scrape serves the last reading (and its failure), never older than this plus --conntrack.timeout. 0 reads them in every scrape.",
				defaultConntrackReadInterval.String(), &interval)
			return func(logger *slog.Logger) (Collector, error) {
				cfg := conntrack.Config{NetnsPath: shared.ConntrackNetns}
				return NewConntrackCollector(ConntrackConfig{Config: cfg, CompatAntrea: shared.CompatAntrea, Agent: shared.AgentConntrack,
					ReadInterval: interval, ReadTimeout: shared.timeout("conntrack")}, logger)
			}
		},
	})
}

var (
	ctEntriesDesc = newDesc("conntrack", "entries", nil,
		"Entries in the kernel conntrack table (nf_conntrack_count), read over netlink (one global-stats request, never a dump).")
	ctLimitDesc = newDesc("conntrack", "entries_limit", nil,
		"Maximum entries of the kernel conntrack table (nf_conntrack_max), read over netlink; at the limit new connections are dropped.")
)

// ctStatHelp says what each of the kernel's per-CPU counters counts.
var ctStatHelp = [conntrack.NumStats]string{
	conntrack.StatFound:         "Conntrack lookups that found an existing entry",
	conntrack.StatInvalid:       "Packets conntrack could not track (malformed, or out of the protocol's state machine)",
	conntrack.StatInsert:        "Entries inserted into the conntrack table (on the 6.x kernels tested, only those created over ctnetlink)",
	conntrack.StatInsertFailed:  "Conntrack entries that could not be inserted (a clash with an existing entry that could not be resolved)",
	conntrack.StatDrop:          "Packets dropped because no conntrack entry could be allocated (table full and nothing to evict)",
	conntrack.StatEarlyDrop:     "Conntrack entries evicted early to make room for new ones when the table was full",
	conntrack.StatError:         "Packets conntrack's protocol handlers rejected as erroneous (e.g. ICMP errors that match no connection)",
	conntrack.StatSearchRestart: "Conntrack table lookups restarted because the hash table changed under them",
	conntrack.StatClashResolve:  "Conntrack insert clashes with an existing entry that the kernel resolved (e.g. parallel first packets of one UDP flow)",
	conntrack.StatChainTooLong:  "New conntrack entries refused because their hash chain was too long (a hash-collision guard)",
}

// ctStatDescs are datapath_conntrack_<stat>_total, one counter per kernel
// counter (node_exporter's way: a sum over a stat label would mean nothing).
var ctStatDescs = func() (d [conntrack.NumStats]*prometheus.Desc) {
	for st := range conntrack.NumStats {
		d[st] = prometheus.NewDesc(
			prometheus.BuildFQName(Namespace, "conntrack", st.String()+"_total"),
			ctStatHelp[st]+"; read from the kernel over netlink, summed over CPUs (32-bit counters per CPU: a wrap looks like a counter reset).",
			nil, nil)
	}
	return d
}()

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
	// Agent, if set, says which compat names the Antrea agent serves
	// itself: those are left out.
	Agent *AgentConntrack
	// ReadInterval is how often the table is read in the background
	// (see periodicReader); 0 reads it in the scrape. Only the conntrack
	// collector's: the per-zone dump is read in the scrape.
	ReadInterval time.Duration
	// ReadTimeout is the deadline of one background read
	// (--conntrack.timeout); 0 takes that flag's default.
	ReadTimeout time.Duration
}

const conntrackTimeoutDefault = "2s"

// defaultConntrackReadInterval is --conntrack.read-interval's default, for
// the reasons of defaultOpenFlowReadInterval's: the count and the drop
// counters a scrape serves are at most 5s plus one read old, which the
// saturation alerts (for: minutes) do not notice.
const defaultConntrackReadInterval = 5 * time.Second

// conntrackTable is what both conntrack collectors hold: a reader of one
// conntrack table, opened at start so that a bad --conntrack.netns stops the
// exporter there.
type conntrackTable struct {
	reader *conntrack.Reader
	compat bool
	agent  *AgentConntrack
}

// openConntrackTable opens the reader; an error names --conntrack.netns.
func openConntrackTable(cfg ConntrackConfig) (conntrackTable, error) {
	r, err := conntrack.NewReader(cfg.Config)
	if err != nil {
		return conntrackTable{}, fmt.Errorf("--conntrack.netns=%s: %w", cfg.NetnsPath, withHint("conntrack", err))
	}
	return conntrackTable{reader: r, compat: cfg.CompatAntrea, agent: cfg.Agent}, nil
}

// Close releases the network namespace held open since start.
func (t conntrackTable) Close() error { return t.reader.Close() }

// conntrackCollector exports the size, limit and statistics of one conntrack
// table.
type conntrackCollector struct {
	conntrackTable
	reading *periodicReader[conntrack.Snapshot]
	built   builtMetrics // of the last reading served
}

// NewConntrackCollector opens the network namespace of cfg now.
func NewConntrackCollector(cfg ConntrackConfig, _ *slog.Logger) (Collector, error) {
	if cfg.ReadInterval < 0 {
		return nil, fmt.Errorf("--conntrack.read-interval=%s: must not be negative (0 reads in every scrape)", cfg.ReadInterval)
	}
	t, err := openConntrackTable(cfg)
	if err != nil {
		return nil, err
	}
	timeout := cfg.ReadTimeout
	if timeout <= 0 {
		timeout, _ = time.ParseDuration(conntrackTimeoutDefault)
	}
	return &conntrackCollector{conntrackTable: t, reading: newPeriodicReader(cfg.ReadInterval, timeout, t.reader.Read)}, nil
}

// Update serves the last reading of the table (see periodicReader).
func (c *conntrackCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	s, gen, err := c.reading.get(ctx)
	if err == nil {
		c.built.send(ch, gen, time.Time{}, func(ch chan<- prometheus.Metric) { exportConntrack(ch, s, false) })
		// Not part of the built metrics: which names the agent serves
		// itself changes between readings.
		if c.compat {
			exportConntrackCompat(ch, s, c.agent.withheld())
		}
	}
	return withHint("conntrack", err)
}

// exportConntrackCompat sends the Antrea agent's names of s, but those the
// agent serves itself (withheld).
func exportConntrackCompat(ch chan<- prometheus.Metric, s conntrack.Snapshot, withheld antrea.ConntrackFamilies) {
	if !withheld.Total {
		ch <- prometheus.MustNewConstMetric(antreaCtTotalDesc, prometheus.GaugeValue, float64(s.Global.Entries))
	}
	if !withheld.Max {
		ch <- prometheus.MustNewConstMetric(antreaCtMaxDesc, prometheus.GaugeValue, float64(s.Global.Limit))
	}
}

// Close stops the background reads, then releases the network namespace.
func (c *conntrackCollector) Close() error {
	c.reading.Close()
	return c.conntrackTable.Close()
}

// exportConntrack sends the metrics of s, and with compat the Antrea
// agent's names.
func exportConntrack(ch chan<- prometheus.Metric, s conntrack.Snapshot, compat bool) {
	ch <- prometheus.MustNewConstMetric(ctEntriesDesc, prometheus.GaugeValue, float64(s.Global.Entries))
	ch <- prometheus.MustNewConstMetric(ctLimitDesc, prometheus.GaugeValue, float64(s.Global.Limit))
	if compat {
		exportConntrackCompat(ch, s, antrea.ConntrackFamilies{})
	}
	// A kernel reports only the counters it has: older ones lack the
	// recent additions, which are then absent rather than a made-up 0.
	for st := range conntrack.NumStats {
		if s.Stats.Reported(st) {
			ch <- prometheus.MustNewConstMetric(ctStatDescs[st], prometheus.CounterValue, float64(s.Stats.Value(st)))
		}
	}
}
