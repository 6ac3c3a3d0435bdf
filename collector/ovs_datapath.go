package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/datapath-exporter/datapath-exporter/ovs"
)

func init() {
	register(registration{
		name:           "ovs_datapath",
		help:           "OVS datapath flow cache, upcall and coverage statistics read from ovs-vswitchd's control socket",
		defaultEnabled: true,
		// Shared with the ovs collector: --ovs.timeout bounds every
		// exchange with this OVS.
		timeout: ovsTimeoutFlag,
		flags: func(app *kingpin.Application, shared *Shared) builder {
			cfg := OVSDatapathConfig{}
			app.Flag("ovs.vswitchd-ctl", "ovs-vswitchd's control socket (unixctl). Default: <--ovs.rundir>/ovs-vswitchd.<pid>.ctl, the pid read from <--ovs.rundir>/ovs-vswitchd.pid at every read; set it for a daemon started with --unixctl=PATH.").
				StringVar(&cfg.CtlPath)
			app.Flag("ovs.coverage-events", "ovs-vswitchd coverage counter to export as datapath_ovs_coverage_total (repeatable), in addition to the built-in list (upcall_flow_limit_*, netlink_overflow, datapath_drop_*, drop_action_*, ...).").
				StringsVar(&cfg.CoverageEvents)
			durationFlag(app, "ovs.slow-stats-max-age", "Longest time the answers of ovs-vswitchd's upcall/show, memory/show and coverage/show (flow limit, revalidator dump duration, thread counts, coverage counters) are served from the last read before they are read again; dpctl/show is read at every read of the collector (--ovs.datapath-read-interval). Also how long a kernel without the openvswitch module is not asked again for its datapaths (unless dpctl/show lists a system@ one). 0 reads them at every read.",
				defaultSlowStatsMaxAge.String(), &cfg.SlowStatsMaxAge)
			durationFlag(app, "ovs.datapath-read-interval", "How often the ovs_datapath collector reads the datapaths' statistics (from the kernel over generic netlink, and ovs-vswitchd's control socket), in the background: a scrape serves the last reading (and its failure), never older than this plus --ovs.timeout. 0 reads them in every scrape.",
				defaultDatapathReadInterval.String(), &cfg.ReadInterval)
			return func(logger *slog.Logger) (Collector, error) {
				cfg.Source = shared.OVS
				cfg.ReadTimeout = shared.timeout("ovs_datapath")
				return NewOVSDatapathCollector(cfg, logger)
			}
		},
	})
}

// OVSDatapathConfig configures the ovs_datapath collector.
type OVSDatapathConfig struct {
	// RunDir holds ovs-vswitchd.pid, its control socket and the bridges'
	// .mgmt sockets; Source's when Source is set.
	RunDir  string
	CtlPath string // explicit control socket; "" = found from RunDir's pidfile
	// CoverageEvents extends DefaultCoverageEvents.
	CoverageEvents []string
	// SlowStatsMaxAge bounds the age of the answers of the slow commands
	// (see slowDatapathCommands); 0 reads them at every scrape.
	SlowStatsMaxAge time.Duration
	// ReadInterval is how often the datapaths are read in the background
	// (see periodicReader); 0 reads them in the scrape.
	ReadInterval time.Duration
	// ReadTimeout is the deadline of one background read (--ovs.timeout);
	// 0 takes that flag's default.
	ReadTimeout time.Duration
	// Source, if set, is the OVS source of the flags (Shared.OVS), whose
	// RunDir is used; this collector keeps no OpenFlow session.
	Source *OVSSource
}

// defaultDatapathReadInterval is --ovs.datapath-read-interval's default,
// for the reasons of defaultOpenFlowReadInterval's.
const defaultDatapathReadInterval = defaultOpenFlowReadInterval

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
	dpLookupsDesc = newDesc("ovs", "datapath_lookups_total", []string{"datapath", "result"},
		"Packets looked up in the OVS datapath's flow cache: hit (a megaflow matched), missed (sent up to ovs-vswitchd as an upcall), lost (dropped because the upcall could not be queued); for system@ datapaths read from the kernel over generic netlink (OVS_DP_CMD_GET), for others from ovs-vswitchd's dpctl/show over its control socket.")
	dpFlowsDesc = newDesc("ovs", "datapath_flows", []string{"datapath"},
		"Flows (megaflows) in the OVS datapath; for system@ datapaths read from the kernel over generic netlink (OVS_DP_CMD_GET), for others from ovs-vswitchd's dpctl/show over its control socket.")
	dpMasksDesc = newDesc("ovs", "datapath_masks", []string{"datapath"},
		"Masks (megaflow wildcard patterns) in the OVS datapath, each costing a lookup per packet; for system@ datapaths read from the kernel over generic netlink (OVS_DP_CMD_GET), for others from ovs-vswitchd's dpctl/show, for datapaths that report it.")
	dpMaskHitsDesc = newDesc("ovs", "datapath_mask_hits_total", []string{"datapath"},
		"Masks visited by packets looked up in the OVS datapath (divide by hit+missed for masks per packet); for system@ datapaths read from the kernel over generic netlink (OVS_DP_CMD_GET), for others from ovs-vswitchd's dpctl/show, for datapaths that report it.")
	dpFlowLimitDesc = newDesc("ovs", "datapath_flow_limit", []string{"datapath"},
		"ovs-vswitchd's current (dynamic) limit on the datapath's flows, beyond which it evicts them; read from upcall/show over its control socket.")
	dpDumpDurationDesc = newDesc("ovs", "revalidator_dump_duration_seconds", []string{"datapath"},
		"Duration of the revalidators' last dump of the datapath's flows (ovs-vswitchd lowers the flow limit when it exceeds 1s); read from upcall/show over its control socket (millisecond resolution).")
	dpHandlersDesc = newDesc("ovs", "handler_threads", nil,
		"ovs-vswitchd's upcall handler threads, read from memory/show over its control socket.")
	dpRevalidatorsDesc = newDesc("ovs", "revalidator_threads", nil,
		"ovs-vswitchd's revalidator threads, read from memory/show over its control socket.")
	dpCoverageDesc = newDesc("ovs", "coverage_total", []string{"event"},
		"ovs-vswitchd coverage counter (events since it started), for an allow-list of events; read from coverage/show over its control socket (0 for an event it has but never hit).")
)

// ovsDatapathCollector exports the datapath's state as ovs-vswitchd
// reports it on its control socket.
type ovsDatapathCollector struct {
	cfg     OVSDatapathConfig
	reader  *ovs.VswitchdReader
	slow    *slowStatsCache           // the slow commands' last answers
	kernel  *ovs.KernelDatapathReader // the system@ datapaths, over generic netlink
	absent  *kernelAbsence            // skips the kernel read a while where it has no ovs_datapath family
	logger  *slog.Logger
	reading *periodicReader[ovs.DatapathReading]
	built   builtMetrics // of the last reading served
}

// NewOVSDatapathCollector checks cfg and returns the ovs_datapath collector.
func NewOVSDatapathCollector(cfg OVSDatapathConfig, logger *slog.Logger) (Collector, error) {
	if cfg.Source != nil {
		cfg.RunDir = cfg.Source.RunDir
	}
	if cfg.ReadInterval < 0 {
		return nil, fmt.Errorf("--ovs.datapath-read-interval=%s: must not be negative (0 reads in every scrape)", cfg.ReadInterval)
	}
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
		reader: &ovs.VswitchdReader{
			Unixctl:          ovs.Unixctl{RunDir: cfg.RunDir, Path: cfg.CtlPath},
			CoverageEvents:   slices.Compact(events),
			CoveragePrefixes: defaultCoveragePrefixes,
		},
		slow:   newSlowStatsCache(cfg.SlowStatsMaxAge),
		kernel: &ovs.KernelDatapathReader{},
		absent: newKernelAbsence(cfg.SlowStatsMaxAge),
		logger: logger,
	}
	c.reading = newPeriodicReader(cfg.ReadInterval, ovsReadTimeout(cfg.ReadTimeout), c.read)
	return withOVSInfo(c, c.reader.Unixctl, cfg.ReadInterval, ovsReadTimeout(cfg.ReadTimeout)), nil
}

// Close stops the background reads, then ends the control socket
// connection and the generic netlink socket.
func (c *ovsDatapathCollector) Close() error {
	c.reading.Close()
	return errors.Join(c.reader.Close(), c.kernel.Close())
}

// Update serves the last reading of the datapaths (see read).
func (c *ovsDatapathCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	state, gen, err := c.reading.get(ctx)
	c.built.send(ch, gen, time.Time{}, func(ch chan<- prometheus.Metric) { exportDatapathReading(ch, state) })
	return withHint("ovs_datapath", err)
}

// read reads the datapaths: the kernel's and the control socket's
// statistics, and what it could of them with the failures.
func (c *ovsDatapathCollector) read(ctx context.Context) (ovs.DatapathReading, error) {
	// The kernel's statistics are read beside the control socket's, so
	// they come while ovs-vswitchd is stopped or restarting.
	var kernel []ovs.DatapathStats
	var kernelErr error
	done := make(chan struct{})
	skipKernel := c.absent.skip()
	go func() {
		defer close(done)
		if !skipKernel {
			kernel, kernelErr = c.kernel.Read(ctx)
		}
	}()
	state, err := c.slow.read(ctx, c.reader)
	<-done
	kernel, kernelErr = c.absent.result(ctx, c.kernel, skipKernel, state, kernel, kernelErr)
	state, kernelErr = withKernelDatapaths(state, kernel, kernelErr)
	c.logger.Debug("read datapath", "datapaths", len(state.Datapaths), "kernel_datapaths", len(kernel), "coverage_events", len(state.Coverage))
	return state, errors.Join(err, kernelErr)
}

// exportDatapathReading sends the metrics of st.
func exportDatapathReading(ch chan<- prometheus.Metric, st ovs.DatapathReading) {
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
