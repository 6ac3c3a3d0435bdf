package collector

import (
	"context"
	"errors"
	"fmt"
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
		help:           "per-table flow counts of OVS bridges, read over OpenFlow",
		defaultEnabled: true,
		timeout:        ovsTimeoutFlag,
		flags: func(app *kingpin.Application, shared *Shared) builder {
			cfg := OVSConfig{}
			app.Flag("ovs.rundir", "Directory holding OVS's db.sock, the bridges' <bridge>.mgmt OpenFlow sockets, and ovs-vswitchd's pidfile and control socket.").
				Default("/var/run/openvswitch").StringVar(&shared.OVSRunDir)
			app.Flag("ovs.bridge", "Bridge to read (repeatable). Default: every bridge in OVSDB.").
				StringsVar(&shared.OVSBridges)
			app.Flag("ovs.all-tables", "Export all tables, not only those that have a name, hold flows or have seen lookups.").
				Default("false").BoolVar(&cfg.AllTables)
			durationFlag(app, "ovs.table-names-refresh", "How long table names and limits read with a table-features request (OpenFlow 1.3+ bridges) are reused.",
				ovs.DefaultNamesMaxAge.String(), &shared.OVSNamesMaxAge)
			return func(logger *slog.Logger) (Collector, error) {
				cfg.CompatAntrea = shared.CompatAntrea
				cfg.AntreaTables = shared.AntreaTables
				cfg.RunDir, cfg.Bridges, cfg.NamesMaxAge = shared.OVSRunDir, shared.OVSBridges, shared.OVSNamesMaxAge
				cfg.Sources = shared.OVS
				return NewOVSCollector(cfg, logger)
			}
		},
	})
}

// OVSConfig configures the ovs collector.
type OVSConfig struct {
	RunDir      string
	Bridges     []string // empty: discover from OVSDB
	AllTables   bool
	NamesMaxAge time.Duration
	// CompatAntrea also exports the Antrea agent's flow-count names for
	// AntreaBridge.
	CompatAntrea bool
	// AntreaTables, if set, names the tables of AntreaBridge that OVS
	// leaves unnamed, with the names last learnt from the Antrea agent.
	AntreaTables *antrea.Tables
	// Sources, if set, gives the OpenFlow client and OVSDB monitor shared
	// with the other collectors reading OVS (Shared.OVS); unset, the
	// collector makes its own from RunDir, Bridges and NamesMaxAge.
	Sources func() (*ovs.Client, *ovs.Monitor)
}

// ovsSources returns cfg's sources, or new ones of its own.
func ovsSources(cfg OVSConfig) (*ovs.Client, *ovs.Monitor) {
	if cfg.Sources != nil {
		return cfg.Sources()
	}
	client := &ovs.Client{RunDir: cfg.RunDir, NamesMaxAge: cfg.NamesMaxAge}
	var monitor *ovs.Monitor
	if len(cfg.Bridges) == 0 {
		monitor = ovs.StartMonitor(client.DBSocketPath())
	}
	return client, monitor
}

// ovsTimeoutFlag is the deadline of both collectors that read OVS.
var ovsTimeoutFlag = timeoutFlag{name: "ovs.timeout", def: "2s",
	help: "Deadline of one scrape of each OVS collector: every bridge in parallel (connect, handshake, statistics) for ovs; the commands on ovs-vswitchd's control socket and the meter statistics for ovs_datapath."}

// AntreaBridge is the bridge whose tables the Antrea agent's metrics
// describe (they carry no bridge label).
const AntreaBridge = "br-int"

var ovsTableLabels = []string{"bridge", "table_id", "table_name"}

var (
	ovsFlowsDesc = prometheus.NewDesc(
		prometheus.BuildFQName(Namespace, "ovs", "table_flows"),
		"Flows in the OpenFlow table (active entries), read from OVS over OpenFlow table statistics.",
		ovsTableLabels, nil)
	ovsLookupsDesc = prometheus.NewDesc(
		prometheus.BuildFQName(Namespace, "ovs", "table_lookups_total"),
		"Packets looked up in the OpenFlow table, read from OVS over OpenFlow table statistics.",
		ovsTableLabels, nil)
	ovsMatchesDesc = prometheus.NewDesc(
		prometheus.BuildFQName(Namespace, "ovs", "table_matches_total"),
		"Packets that matched a flow of the OpenFlow table, read from OVS over OpenFlow table statistics.",
		ovsTableLabels, nil)
	ovsLimitDesc = prometheus.NewDesc(
		prometheus.BuildFQName(Namespace, "ovs", "table_flows_limit"),
		"Maximum number of flows OVS reports for the table (OpenFlow 1.0 table statistics, or table features for 1.3+); only for tables with a limit other than OVS's default of 1000000 (a flow_limit set in OVSDB Flow_Table).",
		ovsTableLabels, nil)
)

// ovsDefaultFlowLimit is the max_entries OVS reports for a table without a
// flow_limit in OVSDB (ofproto's query_tables). Such a table has no real
// limit worth a series per table and node: OVS does not enforce it.
const ovsDefaultFlowLimit = 1000000

// Antrea agent names (--compat.antrea) for AntreaBridge.
var (
	antreaFlowCountDesc = prometheus.NewDesc("antrea_agent_ovs_flow_count",
		"Flow count for each OVS flow table (Antrea agent name, served by datapath-exporter --compat.antrea; read from OVS over OpenFlow for br-int).",
		[]string{"table_id", "table_name"}, nil)
	antreaTotalFlowsDesc = prometheus.NewDesc("antrea_agent_ovs_total_flow_count",
		"Total flow count of all OVS flow tables (Antrea agent name, served by datapath-exporter --compat.antrea; read from OVS over OpenFlow for br-int).",
		nil, nil)
)

// ovsCollector exports per-table statistics of OVS bridges.
type ovsCollector struct {
	cfg    OVSConfig
	client *ovs.Client
	// monitor keeps the bridge inventory from OVSDB; nil with
	// --ovs.bridge, which skips OVSDB.
	monitor *ovs.Monitor
	logger  *slog.Logger

	mu sync.Mutex
	// exported remembers, per bridge, the tables exported so far: a table
	// keeps being exported (with 0) after its flows are deleted.
	exported map[string]map[uint8]bool
}

// NewOVSCollector checks cfg and returns the ovs collector.
func NewOVSCollector(cfg OVSConfig, logger *slog.Logger) (Collector, error) {
	if cfg.RunDir == "" {
		return nil, errors.New("--ovs.rundir is empty: give the directory holding OVS's sockets, e.g. /var/run/openvswitch")
	}
	if cfg.NamesMaxAge < 0 {
		return nil, fmt.Errorf("--ovs.table-names-refresh=%s: must not be negative", cfg.NamesMaxAge)
	}
	for _, b := range cfg.Bridges {
		if b == "" {
			return nil, errors.New("--ovs.bridge is empty: give a bridge name such as br-int")
		}
	}
	c := &ovsCollector{cfg: cfg, logger: logger, exported: map[string]map[uint8]bool{}}
	c.client, c.monitor = ovsSources(cfg)
	return c, nil
}

// inventory returns the bridges to read and their OVSDB table
// configuration: from the OVSDB monitor, or --ovs.bridge. A stale inventory
// (ovsdb-server gone) is returned with its error: its bridges are still read
// over OpenFlow, and the collector fails so that the staleness shows.
func (c *ovsCollector) inventory(ctx context.Context) (ovs.Inventory, error) {
	if c.monitor == nil {
		return ovs.Inventory{Bridges: c.cfg.Bridges}, nil
	}
	return c.monitor.Inventory(ctx)
}

func (c *ovsCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	inv, invErr := c.inventory(ctx)
	var stale *ovs.StaleError
	if invErr != nil && !errors.As(invErr, &stale) {
		return withHint("ovs", invErr)
	}
	bridges := inv.Bridges
	if c.monitor != nil {
		c.client.Forget(bridges)
		c.forget(bridges)
	}

	// Bridges are read in parallel, so one stuck bridge costs at most what
	// is left of --ovs.timeout and the others are read meanwhile.
	results := make([]ovs.Bridge, len(bridges))
	errs := make([]error, len(bridges))
	var wg sync.WaitGroup
	for i, name := range bridges {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = c.client.Tables(ctx, name, inv.TableConfig[name])
		}()
	}
	wg.Wait()

	for i, b := range results {
		if errs[i] != nil {
			continue
		}
		c.logger.Debug("read bridge", "bridge", b.Name, "openflow", b.Version.String(), "tables", len(b.Tables))
		if b.Name == AntreaBridge {
			b.Tables = c.nameFromAgent(b.Tables)
		}
		compat := c.cfg.CompatAntrea && b.Name == AntreaBridge
		if compat {
			var total uint64
			for _, t := range b.Tables {
				total += t.Flows
			}
			ch <- prometheus.MustNewConstMetric(antreaTotalFlowsDesc, prometheus.GaugeValue, float64(total))
		}
		for _, t := range c.selectTables(b) {
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
	return withHint("ovs", errors.Join(append(errs, invErr)...))
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

// Close stops the OVSDB monitor and ends the OpenFlow sessions kept between
// scrapes.
func (c *ovsCollector) Close() error {
	if c.monitor != nil {
		c.monitor.Close()
	}
	return c.client.Close()
}
