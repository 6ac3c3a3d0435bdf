package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/datapath-exporter/datapath-exporter/antrea"
)

func init() {
	register(registration{
		name:           "antrea_agent",
		help:           "table names and the agent's own flow counts of --antrea.bridge (br-int), read from the Antrea agent's /metrics (names the ovs collector's tables of that bridge)",
		defaultEnabled: false,
		timeout:        timeoutFlag{name: "antrea.timeout", def: "5s", help: "Deadline for one read of the agent's /metrics."},
		flags: func(app *kingpin.Application, shared *Shared) builder {
			cfg := AntreaAgentConfig{}
			app.Flag("antrea.agent-url", "Base URL of the Antrea agent's API server, whose /metrics publishes table names and flow counts.").
				Default("https://127.0.0.1:10350").StringVar(&cfg.URL)
			app.Flag("antrea.token-file", "File holding the bearer token for the agent's API (the pod's service-account token; read again when it rotates).").
				Default("/var/run/secrets/kubernetes.io/serviceaccount/token").StringVar(&cfg.TokenFile)
			app.Flag("antrea.ca-file", "PEM file of the CA that signs the agent's certificate. Without it the agent's self-signed certificate is accepted unverified, only on a loopback --antrea.agent-url.").
				StringVar(&cfg.CAFile)
			durationFlag(app, "antrea.refresh", "How long a read of the agent's /metrics is reused: the agent is read at most once per interval, whatever the scrape rate.",
				"30s", &cfg.Refresh)
			return func(logger *slog.Logger) (Collector, error) {
				cfg.Bridge = shared.AntreaBridge
				cfg.CompatAntrea, cfg.Conntrack = shared.CompatAntrea, shared.AgentConntrack
				return NewAntreaAgentCollector(cfg, shared.AntreaTables, logger)
			}
		},
	})
}

// AntreaAgentConfig configures the antrea_agent collector.
type AntreaAgentConfig struct {
	URL       string
	TokenFile string
	CAFile    string
	Refresh   time.Duration
	// Bridge is the bridge the agent programs, its ovsBridge setting
	// ("": DefaultAntreaBridge); the agent's metrics carry no bridge label.
	Bridge string
	// Conntrack, if set, records which conntrack metrics the agent serves
	// itself, for the conntrack collectors' --compat.antrea (CompatAntrea:
	// the changes are logged).
	Conntrack    *AgentConntrack
	CompatAntrea bool
}

var antreaAgentFlowsDesc = newDesc("antrea_agent", "table_flows", ovsTableLabels,
	"Flows the Antrea agent counts in the OpenFlow table (its own bookkeeping, not read from OVS), read from antrea_agent_ovs_flow_count on the agent's /metrics.")

// antreaAgentCollector reads the agent's tables and stores their names for
// the ovs collector.
type antreaAgentCollector struct {
	client    *antrea.Client
	bridge    string
	tables    *antrea.Tables
	conntrack *AgentConntrack // nil: not recorded
	compat    bool
	logger    *slog.Logger
}

// NewAntreaAgentCollector checks cfg and returns the antrea_agent
// collector, which records the names it learns in tables.
func NewAntreaAgentCollector(cfg AntreaAgentConfig, tables *antrea.Tables, logger *slog.Logger) (Collector, error) {
	if cfg.Refresh < 0 {
		return nil, fmt.Errorf("--antrea.refresh=%s: must not be negative", cfg.Refresh)
	}
	if cfg.TokenFile == "" {
		return nil, errors.New("--antrea.token-file is empty: give the file of the pod's service-account token, e.g. /var/run/secrets/kubernetes.io/serviceaccount/token")
	}
	if tables == nil {
		return nil, errors.New("no table store to record the agent's names in (a bug: please report it)")
	}
	client, err := antrea.NewClient(antrea.Config{URL: cfg.URL, TokenFile: cfg.TokenFile, CAFile: cfg.CAFile, Refresh: cfg.Refresh})
	if err != nil {
		return nil, fmt.Errorf("--antrea.agent-url / --antrea.ca-file: %w", err)
	}
	if cfg.Conntrack != nil {
		cfg.Conntrack.expect()
	}
	return &antreaAgentCollector{client: client, bridge: antreaBridge(cfg.Bridge), tables: tables,
		conntrack: cfg.Conntrack, compat: cfg.CompatAntrea, logger: logger}, nil
}

func (c *antreaAgentCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	r, err := c.client.Read(ctx)
	if err != nil {
		return withHint("antrea_agent", err)
	}
	c.tables.Learn(r, time.Now())
	if c.conntrack != nil {
		c.conntrack.learn(r.Conntrack, c.compat, c.logger)
	}
	exportAgentTables(ch, c.bridge, r)
	return nil
}

// Close releases the client's idle connection.
func (c *antreaAgentCollector) Close() error { return c.client.Close() }

// exportAgentTables sends the agent's own flow count of each table of
// bridge.
func exportAgentTables(ch chan<- prometheus.Metric, bridge string, r antrea.Reading) {
	for _, t := range r.Tables {
		ch <- prometheus.MustNewConstMetric(antreaAgentFlowsDesc, prometheus.GaugeValue, t.Flows,
			bridge, strconv.Itoa(int(t.ID)), t.Name)
	}
}
