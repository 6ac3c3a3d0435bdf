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

	"github.com/datapath-exporter/datapath-exporter/ovs"
)

func init() {
	register(registration{
		name:           "ovs",
		help:           "per-table flow counts of OVS bridges, read over OpenFlow",
		defaultEnabled: true,
		flags: func(app *kingpin.Application, shared *Shared) builder {
			cfg := OVSConfig{}
			app.Flag("ovs.rundir", "Directory holding OVS's db.sock, the bridges' <bridge>.mgmt OpenFlow sockets, and ovs-vswitchd's pidfile and control socket.").
				Default("/var/run/openvswitch").StringVar(&shared.OVSRunDir)
			app.Flag("ovs.bridge", "Bridge to read (repeatable). Default: every bridge in OVSDB.").
				StringsVar(&shared.OVSBridges)
			app.Flag("ovs.all-tables", "Export all tables, not only those that have a name, hold flows or have seen lookups.").
				Default("false").BoolVar(&cfg.AllTables)
			durationFlag(app, "ovs.timeout", "Deadline for reading one bridge (connect, handshake, statistics), and for the commands of one scrape on ovs-vswitchd's control socket.",
				"2s", &shared.OVSTimeout)
			durationFlag(app, "ovs.table-names-refresh", "How long table names and limits read with a table-features request (OpenFlow 1.3+ bridges) are reused.",
				ovs.DefaultNamesMaxAge.String(), &cfg.NamesMaxAge)
			return func(logger *slog.Logger) (Collector, error) {
				cfg.CompatAntrea = shared.CompatAntrea
				cfg.RunDir, cfg.Timeout, cfg.Bridges = shared.OVSRunDir, shared.OVSTimeout, shared.OVSBridges
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
	Timeout     time.Duration
	NamesMaxAge time.Duration
	// CompatAntrea also exports the Antrea agent's flow-count names for
	// AntreaBridge.
	CompatAntrea bool
}

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
		"Maximum number of flows OVS reports for the table (OpenFlow 1.0 table statistics, or table features for 1.3+).",
		ovsTableLabels, nil)
)

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
	logger *slog.Logger

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
	if cfg.Timeout <= 0 {
		return nil, fmt.Errorf("--ovs.timeout=%s: must be positive, e.g. 2s", cfg.Timeout)
	}
	if cfg.NamesMaxAge < 0 {
		return nil, fmt.Errorf("--ovs.table-names-refresh=%s: must not be negative", cfg.NamesMaxAge)
	}
	for _, b := range cfg.Bridges {
		if b == "" {
			return nil, errors.New("--ovs.bridge is empty: give a bridge name such as br-int")
		}
	}
	return &ovsCollector{
		cfg:      cfg,
		client:   &ovs.Client{RunDir: cfg.RunDir, NamesMaxAge: cfg.NamesMaxAge},
		logger:   logger,
		exported: map[string]map[uint8]bool{},
	}, nil
}

func (c *ovsCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	bridges := c.cfg.Bridges
	if len(bridges) == 0 {
		dctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
		var err error
		bridges, err = c.client.Bridges(dctx)
		cancel()
		if err != nil {
			return err
		}
		c.client.Forget(bridges)
		c.forget(bridges)
	}

	// Bridges are read in parallel, each within its own deadline, so one
	// stuck bridge costs at most --ovs.timeout.
	results := make([]ovs.Bridge, len(bridges))
	errs := make([]error, len(bridges))
	var wg sync.WaitGroup
	for i, name := range bridges {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
			defer cancel()
			results[i], errs[i] = c.client.Tables(bctx, name)
		}()
	}
	wg.Wait()

	for i, b := range results {
		if errs[i] != nil {
			continue
		}
		c.logger.Debug("read bridge", "bridge", b.Name, "openflow", b.Version.String(), "tables", len(b.Tables))
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
			if t.HasLimit {
				ch <- prometheus.MustNewConstMetric(ovsLimitDesc, prometheus.GaugeValue, float64(t.Limit), labels...)
			}
			if compat {
				ch <- prometheus.MustNewConstMetric(antreaFlowCountDesc, prometheus.GaugeValue, float64(t.Flows), labels[1:]...)
			}
		}
	}
	return errors.Join(errs...)
}

// selectTables returns the tables of b to export: all with --ovs.all-tables,
// else those with a name, flows or lookups, and those exported before.
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
