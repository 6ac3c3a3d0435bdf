package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/datapath-exporter/datapath-exporter/ovs"
)

func init() {
	register(registration{
		name:           "ovs_datapath",
		help:           "OVS datapath flow cache, upcall and coverage statistics read from ovs-vswitchd's control socket, and OpenFlow meter drops",
		defaultEnabled: true,
		// Shared with the ovs collector: --ovs.timeout bounds every
		// exchange with this OVS.
		timeout: ovsTimeoutFlag,
		flags: func(app *kingpin.Application, shared *Shared) builder {
			cfg := OVSDatapathConfig{}
			app.Flag("ovs.vswitchd-ctl", "ovs-vswitchd's control socket (unixctl). Default: <--ovs.rundir>/ovs-vswitchd.<pid>.ctl, the pid read from <--ovs.rundir>/ovs-vswitchd.pid at every scrape; set it for a daemon started with --unixctl=PATH.").
				StringVar(&cfg.CtlPath)
			app.Flag("ovs.coverage-events", "ovs-vswitchd coverage counter to export as datapath_ovs_coverage_total (repeatable), in addition to the built-in list (upcall_flow_limit_*, netlink_overflow, datapath_drop_*, drop_action_*, ...).").
				StringsVar(&cfg.CoverageEvents)
			app.Flag("ovs.slow-stats-max-age", "Longest time the answers of ovs-vswitchd's upcall/show, memory/show and coverage/show (flow limit, revalidator dump duration, thread counts, coverage counters) are served from the last read before they are read again; dpctl/show is read at every scrape. Also how long a kernel without the openvswitch module is not asked again for its datapaths (unless dpctl/show lists a system@ one). 0 reads them at every scrape.").
				Default(defaultSlowStatsMaxAge.String()).DurationVar(&cfg.SlowStatsMaxAge)
			return func(logger *slog.Logger) (Collector, error) {
				cfg.RunDir, cfg.Bridges = shared.OVSRunDir, shared.OVSBridges
				cfg.Sources = shared.OVS
				return NewOVSDatapathCollector(cfg, logger)
			}
		},
	})
}

// OVSDatapathConfig configures the ovs_datapath collector.
type OVSDatapathConfig struct {
	RunDir  string // holds ovs-vswitchd.pid, its control socket and the bridges' .mgmt sockets
	CtlPath string // explicit control socket; "" = found from RunDir's pidfile
	// CoverageEvents extends DefaultCoverageEvents.
	CoverageEvents []string
	// SlowStatsMaxAge bounds the age of the answers of the slow commands
	// (see slowDatapathCommands); 0 reads them at every scrape.
	SlowStatsMaxAge time.Duration
	// Bridges whose meters are read; empty: every bridge in OVSDB.
	Bridges []string
	// Sources, if set, gives the OpenFlow client and OVSDB monitor shared
	// with the ovs collector (Shared.OVS): meters are read on the same kept
	// sessions. Unset, the collector makes its own.
	Sources func() (*ovs.Client, *ovs.Monitor)
}

// DefaultCoverageEvents are the ovs-vswitchd coverage counters exported
// by default: the upcall flow limit, netlink socket overflows (upcalls lost
// between the kernel and the handlers) and every drop reason OVS 3.1
// counts. Counters whose name starts with one of defaultCoveragePrefixes
// are exported too, once they are hit (newer OVS versions add drop
// reasons).
var DefaultCoverageEvents = []string{
	"upcall_flow_limit_hit",
	"upcall_flow_limit_kill",
	"upcall_ukey_contention",
	"upcall_ukey_replace",
	"netlink_overflow",
	"revalidate_missed_dp_flow",
	"datapath_drop_invalid_bond",
	"datapath_drop_invalid_port",
	"datapath_drop_invalid_tnl_port",
	"datapath_drop_lock_error",
	"datapath_drop_meter",
	"datapath_drop_nsh_decap_error",
	"datapath_drop_recirc_error",
	"datapath_drop_rx_invalid_packet",
	"datapath_drop_sample_error",
	"datapath_drop_tunnel_pop_error",
	"datapath_drop_tunnel_push_error",
	"datapath_drop_upcall_error",
	"datapath_drop_userspace_action_error",
	"drop_action_bridge_not_found",
	"drop_action_congestion",
	"drop_action_forwarding_disabled",
	"drop_action_invalid_tunnel_metadata",
	"drop_action_no_recirculation_context",
	"drop_action_of_pipeline",
	"drop_action_recirculation_conflict",
	"drop_action_recursion_too_deep",
	"drop_action_stack_too_deep",
	"drop_action_too_many_mpls_labels",
	"drop_action_too_many_resubmit",
	"drop_action_unsupported_packet_type",
}

var defaultCoveragePrefixes = []string{"datapath_drop_", "drop_action_"}

var (
	dpLookupsDesc = prometheus.NewDesc(
		prometheus.BuildFQName(Namespace, "ovs", "datapath_lookups_total"),
		"Packets looked up in the OVS datapath's flow cache: hit (a megaflow matched), missed (sent up to ovs-vswitchd as an upcall), lost (dropped because the upcall could not be queued); for system@ datapaths read from the kernel over generic netlink (OVS_DP_CMD_GET), for others from ovs-vswitchd's dpctl/show over its control socket.",
		[]string{"datapath", "result"}, nil)
	dpFlowsDesc = prometheus.NewDesc(
		prometheus.BuildFQName(Namespace, "ovs", "datapath_flows"),
		"Flows (megaflows) in the OVS datapath; for system@ datapaths read from the kernel over generic netlink (OVS_DP_CMD_GET), for others from ovs-vswitchd's dpctl/show over its control socket.",
		[]string{"datapath"}, nil)
	dpMasksDesc = prometheus.NewDesc(
		prometheus.BuildFQName(Namespace, "ovs", "datapath_masks"),
		"Masks (megaflow wildcard patterns) in the OVS datapath, each costing a lookup per packet; for system@ datapaths read from the kernel over generic netlink (OVS_DP_CMD_GET), for others from ovs-vswitchd's dpctl/show, for datapaths that report it.",
		[]string{"datapath"}, nil)
	dpMaskHitsDesc = prometheus.NewDesc(
		prometheus.BuildFQName(Namespace, "ovs", "datapath_mask_hits_total"),
		"Masks visited by packets looked up in the OVS datapath (divide by hit+missed for masks per packet); for system@ datapaths read from the kernel over generic netlink (OVS_DP_CMD_GET), for others from ovs-vswitchd's dpctl/show, for datapaths that report it.",
		[]string{"datapath"}, nil)
	dpFlowLimitDesc = prometheus.NewDesc(
		prometheus.BuildFQName(Namespace, "ovs", "datapath_flow_limit"),
		"ovs-vswitchd's current (dynamic) limit on the datapath's flows, beyond which it evicts them; read from upcall/show over its control socket.",
		[]string{"datapath"}, nil)
	dpDumpDurationDesc = prometheus.NewDesc(
		prometheus.BuildFQName(Namespace, "ovs", "revalidator_dump_duration_seconds"),
		"Duration of the revalidators' last dump of the datapath's flows (ovs-vswitchd lowers the flow limit when it exceeds 1s); read from upcall/show over its control socket (millisecond resolution).",
		[]string{"datapath"}, nil)
	dpHandlersDesc = prometheus.NewDesc(
		prometheus.BuildFQName(Namespace, "ovs", "handler_threads"),
		"ovs-vswitchd's upcall handler threads, read from memory/show over its control socket.",
		nil, nil)
	dpRevalidatorsDesc = prometheus.NewDesc(
		prometheus.BuildFQName(Namespace, "ovs", "revalidator_threads"),
		"ovs-vswitchd's revalidator threads, read from memory/show over its control socket.",
		nil, nil)
	dpCoverageDesc = prometheus.NewDesc(
		prometheus.BuildFQName(Namespace, "ovs", "coverage_total"),
		"ovs-vswitchd coverage counter (events since it started), for an allow-list of events; read from coverage/show over its control socket (0 for an event it has but never hit).",
		[]string{"event"}, nil)
	dpMeterDroppedDesc = prometheus.NewDesc(
		prometheus.BuildFQName(Namespace, "ovs", "meter_packets_dropped_total"),
		"Packets dropped by the drop bands of an OpenFlow meter, read from OVS over OpenFlow 1.3+ meter statistics.",
		[]string{"bridge", "meter_id"}, nil)
)

// ovsDatapathCollector exports the datapath's state as ovs-vswitchd
// reports it on its control socket, and the bridges' meter drops.
type ovsDatapathCollector struct {
	cfg     OVSDatapathConfig
	reader  *ovs.DatapathReader
	slow    *slowStatsCache           // the slow commands' last answers
	kernel  *ovs.KernelDatapathReader // the system@ datapaths, over generic netlink
	absent  *kernelAbsence            // skips the kernel read a while where it has no ovs_datapath family
	client  *ovs.Client
	monitor *ovs.Monitor // nil with --ovs.bridge
	logger  *slog.Logger
}

// NewOVSDatapathCollector checks cfg and returns the ovs_datapath collector.
func NewOVSDatapathCollector(cfg OVSDatapathConfig, logger *slog.Logger) (Collector, error) {
	if cfg.RunDir == "" && cfg.CtlPath == "" {
		return nil, errors.New("--ovs.rundir is empty: give the directory holding ovs-vswitchd.pid, e.g. /var/run/openvswitch, or --ovs.vswitchd-ctl")
	}
	events := slices.Clone(DefaultCoverageEvents)
	for _, e := range cfg.CoverageEvents {
		if e == "" || strings.ContainsAny(e, " \t/") {
			return nil, fmt.Errorf("--ovs.coverage-events=%q: not a coverage counter name (see `ovs-appctl coverage/show`)", e)
		}
		events = append(events, e)
	}
	slices.Sort(events)
	c := &ovsDatapathCollector{
		cfg: cfg,
		reader: &ovs.DatapathReader{
			Unixctl:          ovs.Unixctl{RunDir: cfg.RunDir, Path: cfg.CtlPath},
			CoverageEvents:   slices.Compact(events),
			CoveragePrefixes: defaultCoveragePrefixes,
		},
		slow:   newSlowStatsCache(cfg.SlowStatsMaxAge),
		kernel: &ovs.KernelDatapathReader{},
		absent: newKernelAbsence(cfg.SlowStatsMaxAge),
		logger: logger,
	}
	c.client, c.monitor = ovsSources(OVSConfig{RunDir: cfg.RunDir, Bridges: cfg.Bridges, Sources: cfg.Sources})
	return c, nil
}

// Close stops the OVSDB monitor and ends the kept sessions and the control
// socket connection.
func (c *ovsDatapathCollector) Close() error {
	if c.monitor != nil {
		c.monitor.Close()
	}
	c.reader.Close()
	c.kernel.Close()
	return c.client.Close()
}

func (c *ovsDatapathCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	var wg sync.WaitGroup
	var meters []ovs.BridgeMeters
	var meterErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		meters, meterErr = c.readMeters(ctx)
	}()
	var kernel []ovs.DatapathStats
	var kernelErr error
	skipKernel := c.absent.skip()
	if !skipKernel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			kernel, kernelErr = c.kernel.Read(ctx)
		}()
	}
	state, err := c.slow.read(ctx, c.reader)
	wg.Wait()
	kernel, kernelErr = c.absent.result(ctx, c.kernel, skipKernel, state, kernel, kernelErr)
	state, kernelErr = withKernelDatapaths(state, kernel, kernelErr)
	c.logger.Debug("read datapath", "datapaths", len(state.Datapaths), "kernel_datapaths", len(kernel), "coverage_events", len(state.Coverage), "bridges_with_meters", len(meters))
	exportDatapathState(ch, state)
	exportMeters(ch, meters)
	return errors.Join(c.explain(err), kernelErr, meterErr)
}

// exportDatapathState sends the metrics of st.
func exportDatapathState(ch chan<- prometheus.Metric, st ovs.DatapathState) {
	for _, d := range st.Datapaths {
		ch <- prometheus.MustNewConstMetric(dpLookupsDesc, prometheus.CounterValue, float64(d.Hit), d.Name, "hit")
		ch <- prometheus.MustNewConstMetric(dpLookupsDesc, prometheus.CounterValue, float64(d.Missed), d.Name, "missed")
		ch <- prometheus.MustNewConstMetric(dpLookupsDesc, prometheus.CounterValue, float64(d.Lost), d.Name, "lost")
		ch <- prometheus.MustNewConstMetric(dpFlowsDesc, prometheus.GaugeValue, float64(d.Flows), d.Name)
		if d.HasMasks {
			ch <- prometheus.MustNewConstMetric(dpMasksDesc, prometheus.GaugeValue, float64(d.Masks), d.Name)
			ch <- prometheus.MustNewConstMetric(dpMaskHitsDesc, prometheus.CounterValue, float64(d.MaskHits), d.Name)
		}
		if d.HasCache {
			ch <- prometheus.MustNewConstMetric(dpCacheHitsDesc, prometheus.CounterValue, float64(d.CacheHits), d.Name)
		}
	}
	for _, u := range st.Upcalls {
		ch <- prometheus.MustNewConstMetric(dpFlowLimitDesc, prometheus.GaugeValue, float64(u.FlowLimit), u.Datapath)
		ch <- prometheus.MustNewConstMetric(dpDumpDurationDesc, prometheus.GaugeValue, u.DumpDuration.Seconds(), u.Datapath)
	}
	if st.Memory != nil {
		ch <- prometheus.MustNewConstMetric(dpHandlersDesc, prometheus.GaugeValue, float64(st.Memory.Handlers))
		ch <- prometheus.MustNewConstMetric(dpRevalidatorsDesc, prometheus.GaugeValue, float64(st.Memory.Revalidators))
	}
	for event, v := range st.Coverage {
		ch <- prometheus.MustNewConstMetric(dpCoverageDesc, prometheus.CounterValue, float64(v), event)
	}
}

func exportMeters(ch chan<- prometheus.Metric, bridges []ovs.BridgeMeters) {
	for _, b := range bridges {
		for _, m := range b.Meters {
			ch <- prometheus.MustNewConstMetric(dpMeterDroppedDesc, prometheus.CounterValue, float64(m.Dropped),
				b.Name, strconv.FormatUint(uint64(m.ID), 10))
		}
	}
}

// readMeters reads the meters of every bridge in parallel, on the kept
// sessions. Bridges that allow only OpenFlow 1.0 have none. While the OVSDB
// inventory is stale its bridges are still read, and the staleness is the
// ovs collector's to report.
func (c *ovsDatapathCollector) readMeters(ctx context.Context) ([]ovs.BridgeMeters, error) {
	bridges := c.cfg.Bridges
	if c.monitor != nil {
		inv, err := c.monitor.Inventory(ctx)
		var stale *ovs.StaleError
		if err != nil && !errors.As(err, &stale) {
			return nil, fmt.Errorf("listing bridges for their meters: %w", ovsHint(err, true))
		}
		bridges = inv.Bridges
	}
	results := make([]ovs.BridgeMeters, len(bridges))
	errs := make([]error, len(bridges))
	var wg sync.WaitGroup
	for i, name := range bridges {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = c.client.Meters(ctx, name)
			if errs[i] != nil {
				errs[i] = fmt.Errorf("meters: %w", errs[i])
			}
		}()
	}
	wg.Wait()
	var out []ovs.BridgeMeters
	for i, b := range results {
		if errs[i] == nil {
			out = append(out, b)
		}
	}
	return out, errors.Join(errs...)
}

// explain adds to a control-socket error what to do about it, naming the
// flags this collector owns.
func (c *ovsDatapathCollector) explain(err error) error {
	var fe *ovs.FormatError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ovs.ErrUnixctlTimeout):
		return fmt.Errorf("%w; raise --ovs.timeout if ovs-vswitchd is only slow", err)
	case errors.Is(err, ovs.ErrUnixctlNoDaemon) && c.cfg.CtlPath == "":
		return fmt.Errorf("%w; --ovs.rundir must be the directory holding ovs-vswitchd.pid, or give the socket with --ovs.vswitchd-ctl", err)
	case errors.Is(err, ovs.ErrUnixctlNoDaemon):
		return fmt.Errorf("%w; check --ovs.vswitchd-ctl", err)
	case errors.Is(err, ovs.ErrUnixctlStale):
		return fmt.Errorf("%w; ovs-vswitchd is not running or is restarting", err)
	case errors.As(err, &fe):
		return fmt.Errorf("%w; this exporter does not know this OVS version's output: please report it with the line above (the datapath metrics of this scrape are incomplete)", err)
	}
	return err
}
