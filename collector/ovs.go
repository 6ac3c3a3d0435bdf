package collector

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/datapath-exporter/datapath-exporter/antrea"
	"github.com/datapath-exporter/datapath-exporter/ovs"
)

func init() {
	register(registration{
		name:           "ovs",
		help:           "per-table flow counts and meter drops of OVS bridges, read over OpenFlow",
		defaultEnabled: true,
		timeout:        ovsTimeoutFlag,
		flags: func(app *kingpin.Application, shared *Shared) builder {
			cfg := OVSConfig{}
			app.Flag("ovs.all-tables", "Export all tables, not only those that have a name, hold flows or have seen lookups.").
				Default("false").BoolVar(&cfg.AllTables)
			return func(logger *slog.Logger) (Collector, error) {
				cfg.CompatAntrea, cfg.AntreaBridge = shared.CompatAntrea, shared.AntreaBridge
				cfg.AntreaTables = shared.AntreaTables
				cfg.Source = shared.OVS
				cfg.Source.ReadTimeout = shared.timeout("ovs")
				return NewOVSCollector(cfg, logger)
			}
		},
	})
}

// OVSConfig configures the ovs collector.
type OVSConfig struct {
	// RunDir, Bridges and NamesMaxAge say where OVS is when Source is
	// not set.
	RunDir      string
	Bridges     []string // empty: discover from OVSDB
	NamesMaxAge time.Duration
	AllTables   bool
	// AntreaBridge is the bridge Antrea's agent programs ("":
	// DefaultAntreaBridge).
	AntreaBridge string
	// CompatAntrea also exports the Antrea agent's flow-count names for
	// AntreaBridge.
	CompatAntrea bool
	// AntreaTables, if set, names the tables of AntreaBridge that OVS
	// leaves unnamed, with the names last learnt from the Antrea agent.
	AntreaTables *antrea.Tables
	// Source, if set, is the OVS source shared with the other collectors
	// reading OVS (Shared.OVS); unset, the collector makes its own from
	// RunDir, Bridges and NamesMaxAge.
	Source *OVSSource
}

// source returns cfg's OVS source, or a new one of its own, checked.
func (cfg OVSConfig) source() (*OVSSource, error) {
	s := cfg.Source
	if s == nil {
		s = &OVSSource{RunDir: cfg.RunDir, Bridges: cfg.Bridges, NamesMaxAge: cfg.NamesMaxAge}
	}
	if err := s.check(); err != nil {
		return nil, err
	}
	return s, nil
}

// ovsTimeoutFlag is the deadline of both collectors that read OVS.
var ovsTimeoutFlag = timeoutFlag{name: "ovs.timeout", def: "2s",
	help: "Deadline of one read of each OVS collector, in the background or (with a 0s read interval) in the scrape: every bridge in parallel (connect, handshake, table and meter statistics) for ovs; the kernel's datapaths and the commands on ovs-vswitchd's control socket for ovs_datapath. Also how long a first scrape waits for the first reading."}

// ovsReadTimeout is the deadline of one background read of an OVS
// collector: d, the value of --ovs.timeout, or that flag's default if d is
// not set (a collector built without flags).
func ovsReadTimeout(d time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	def, _ := time.ParseDuration(ovsTimeoutFlag.def)
	return def
}

// DefaultAntreaBridge is the default of --antrea.bridge: the bridge whose
// tables the Antrea agent's metrics describe (they carry no bridge label)
// unless the agent's ovsBridge setting names another.
const DefaultAntreaBridge = "br-int"

// antreaBridge returns bridge, or DefaultAntreaBridge for "".
func antreaBridge(bridge string) string {
	if bridge == "" {
		return DefaultAntreaBridge
	}
	return bridge
}

var ovsTableLabels = []string{"bridge", "table_id", "table_name"}

var (
	ovsFlowsDesc = newDesc("ovs", "table_flows", ovsTableLabels,
		"Flows in the OpenFlow table (active entries), read from OVS over OpenFlow table statistics.")
	ovsLookupsDesc = newDesc("ovs", "table_lookups_total", ovsTableLabels,
		"Packets looked up in the OpenFlow table, read from OVS over OpenFlow table statistics.")
	ovsMatchesDesc = newDesc("ovs", "table_matches_total", ovsTableLabels,
		"Packets that matched a flow of the OpenFlow table, read from OVS over OpenFlow table statistics.")
	ovsLimitDesc = newDesc("ovs", "table_flows_limit", ovsTableLabels,
		"Maximum number of flows OVS reports for the table (OpenFlow 1.0 table statistics, or table features for 1.3+); only for tables with a limit other than OVS's default of 1000000 (a flow_limit set in OVSDB Flow_Table).")
)

var ovsMeterDroppedDesc = newDesc("ovs", "meter_packets_dropped_total", []string{"bridge", "meter_id"},
	"Packets dropped by the drop bands of an OpenFlow meter, read from OVS over OpenFlow 1.3+ meter statistics.")

// ovsDefaultFlowLimit is the max_entries OVS reports for a table without a
// flow_limit in OVSDB (ofproto's query_tables). Such a table has no real
// limit worth a series per table and node: OVS does not enforce it.
const ovsDefaultFlowLimit = 1000000

// Antrea agent names (--compat.antrea) for AntreaBridge.
var (
	antreaFlowCountDesc = prometheus.NewDesc("antrea_agent_ovs_flow_count",
		"Flow count for each OVS flow table (Antrea agent name, served by datapath-exporter --compat.antrea; read from OVS over OpenFlow for --antrea.bridge, br-int by default).",
		[]string{"table_id", "table_name"}, nil)
	antreaTotalFlowsDesc = prometheus.NewDesc("antrea_agent_ovs_total_flow_count",
		"Total flow count of all OVS flow tables (Antrea agent name, served by datapath-exporter --compat.antrea; read from OVS over OpenFlow for --antrea.bridge, br-int by default).",
		nil, nil)
)

// ovsCollector exports per-table statistics of OVS bridges.
type ovsCollector struct {
	cfg    OVSConfig
	source *OVSSource
	logger *slog.Logger

	mu sync.Mutex
	// exported remembers, per bridge, the tables exported so far: a table
	// keeps being exported (with 0) after its flows are deleted.
	exported map[string]map[uint8]bool
	built    builtMetrics // of the last reading served
}

// NewOVSCollector checks cfg and returns the ovs collector.
func NewOVSCollector(cfg OVSConfig, logger *slog.Logger) (Collector, error) {
	source, err := cfg.source()
	if err != nil {
		return nil, err
	}
	cfg.AntreaBridge = antreaBridge(cfg.AntreaBridge)
	source.open()
	source.bridgesReader() // started with the collector, not at the first scrape
	return withFlowRestoreWait(&ovsCollector{cfg: cfg, source: source, logger: logger, exported: map[string]map[uint8]bool{}}, source), nil
}

// Update serves the last reading of every bridge of the inventory (see
// OVSSource.bridgesReader). A stale inventory (ovsdb-server gone) is read
// all the same, and the collector fails so that the staleness shows. The
// metrics of a reading are built once, at its first scrape (the agent's
// names of that moment, the tables exported before): the scrapes after it
// that serve the same reading send them again.
func (c *ovsCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	r, gen, err := c.source.bridgesReader().get(ctx)
	_, namesAt := c.cfg.AntreaTables.Names()
	c.built.send(ch, gen, namesAt, func(ch chan<- prometheus.Metric) {
		if r.listed {
			c.forget(r.bridges)
		}
		for _, b := range r.readings {
			if b.tables != nil {
				c.logger.Debug("read bridge", "bridge", b.tables.Name, "openflow", b.tables.Version.String(), "tables", len(b.tables.Tables))
				c.exportTables(ch, *b.tables)
			}
			if b.meters != nil {
				exportMeters(ch, *b.meters)
			}
		}
	})
	return withHint("ovs", err)
}

// exportTables sends the metrics of b's tables: the collector's state
// (the agent's names, the tables exported before) picks them, then
// exportBridge converts.
func (c *ovsCollector) exportTables(ch chan<- prometheus.Metric, b ovs.Bridge) {
	if b.Name == c.cfg.AntreaBridge {
		b.Tables = c.nameFromAgent(b.Tables)
	}
	exportBridge(ch, b, c.selectTables(b), c.cfg.CompatAntrea && b.Name == c.cfg.AntreaBridge)
}

// exportBridge sends the metrics of the selected tables of b, and with
// compat the Antrea agent's names (the total over all of b's tables).
func exportBridge(ch chan<- prometheus.Metric, b ovs.Bridge, selected []ovs.Table, compat bool) {
	if compat {
		var total uint64
		for _, t := range b.Tables {
			total += t.Flows
		}
		ch <- prometheus.MustNewConstMetric(antreaTotalFlowsDesc, prometheus.GaugeValue, float64(total))
	}
	for _, t := range selected {
		labels := []string{b.Name, strconv.Itoa(int(t.ID)), t.Name}
		ch <- prometheus.MustNewConstMetric(ovsFlowsDesc, prometheus.GaugeValue, float64(t.Flows), labels...)
		ch <- prometheus.MustNewConstMetric(ovsLookupsDesc, prometheus.CounterValue, float64(t.Lookups), labels...)
		ch <- prometheus.MustNewConstMetric(ovsMatchesDesc, prometheus.CounterValue, float64(t.Matches), labels...)
		if t.HasLimit && t.Limit != ovsDefaultFlowLimit {
			ch <- prometheus.MustNewConstMetric(ovsLimitDesc, prometheus.GaugeValue, float64(t.Limit), labels...)
		}
		if compat {
			ch <- prometheus.MustNewConstMetric(antreaFlowCountDesc, prometheus.GaugeValue, float64(t.Flows), labels[1:]...)
		}
	}
}

// exportMeters sends the drops of b's meters (none for an OpenFlow
// 1.0-only bridge).
func exportMeters(ch chan<- prometheus.Metric, b ovs.BridgeMeters) {
	for _, m := range b.Meters {
		ch <- prometheus.MustNewConstMetric(ovsMeterDroppedDesc, prometheus.CounterValue, float64(m.Dropped),
			b.Name, strconv.FormatUint(uint64(m.ID), 10))
	}
}

// nameFromAgent returns tables with the names last learnt from the Antrea
// agent given to the tables OVS does not name (a real agent never names
// them in OVS; an operator's own names win). It reads the store, never the
// agent, so it never waits for it.
func (c *ovsCollector) nameFromAgent(tables []ovs.Table) []ovs.Table {
	names, _ := c.cfg.AntreaTables.Names()
	if len(names) == 0 {
		return tables
	}
	out := slices.Clone(tables)
	for i := range out {
		if n, ok := names[out[i].ID]; ok && out[i].Name == "" {
			out[i].Name = n
		}
	}
	return out
}

// selectTables returns the tables of b to export: all with --ovs.all-tables,
// else those with a name (OVS's or the agent's: every table the agent names
// is exported, 0 where OVS holds no flow), flows or lookups, and those
// exported before.
func (c *ovsCollector) selectTables(b ovs.Bridge) []ovs.Table {
	if c.cfg.AllTables {
		return b.Tables
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := c.exported[b.Name]
	if seen == nil {
		seen = map[uint8]bool{}
		c.exported[b.Name] = seen
	}
	var out []ovs.Table
	for _, t := range b.Tables {
		if t.Name != "" || t.Flows > 0 || t.Lookups > 0 || seen[t.ID] {
			seen[t.ID] = true
			out = append(out, t)
		}
	}
	return out
}

// forget drops the memory of bridges that no longer exist.
func (c *ovsCollector) forget(keep []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	maps.DeleteFunc(c.exported, func(b string, _ map[uint8]bool) bool { return !slices.Contains(keep, b) })
}

// Close stops the OVS source (the OVSDB monitor and the OpenFlow sessions
// kept between scrapes).
func (c *ovsCollector) Close() error { return c.source.Close() }
