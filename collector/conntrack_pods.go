package collector

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/datapath-exporter/datapath-exporter/conntrack"
	"github.com/datapath-exporter/datapath-exporter/ovs"
)

// Defaults of the conntrack_pods collector's flags.
const (
	defaultPodsRefresh = 60 * time.Second
	defaultPodsTop     = 10
	podsTimeoutDefault = "30s"
)

func init() {
	register(registration{
		name:           "conntrack_pods",
		help:           "conntrack entries per Pod (the top --conntrack.pods-top by source and by destination, and the rest), from one dump of the whole table per --conntrack.pods-refresh joined with the Pods' addresses in OVSDB (O(n): opt-in)",
		defaultEnabled: false,
		timeout: timeoutFlag{name: "conntrack.pods-timeout", def: podsTimeoutDefault,
			help: "Deadline of one per-Pod dump of the conntrack table, in the background (conntrack_pods collector); a scrape before the first dump waits for it as long."},
		flags: func(app *kingpin.Application, shared *Shared) builder {
			var refresh time.Duration
			var top int
			durationFlag(app, "conntrack.pods-refresh", "How often the conntrack_pods collector dumps the whole conntrack table, in the background: every scrape until the next serves that dump, whatever the number of scrapers.",
				defaultPodsRefresh.String(), &refresh)
			app.Flag("conntrack.pods-top", "How many Pods the conntrack_pods collector names per direction (source, destination); the entries of all other addresses are summed in one series with empty pod and namespace.").
				Default(fmt.Sprint(defaultPodsTop)).IntVar(&top)
			return func(logger *slog.Logger) (Collector, error) {
				return NewConntrackPodsCollector(ConntrackPodsConfig{Config: conntrack.Config{NetnsPath: shared.ConntrackNetns},
					Source: shared.OVS, Refresh: refresh, Top: top, Timeout: shared.timeout("conntrack_pods")}, logger)
			}
		},
	})
}

// ConntrackPodsConfig configures the conntrack_pods collector.
type ConntrackPodsConfig struct {
	conntrack.Config
	// Source is the OVS source whose OVSDB inventory maps addresses to
	// Pods (Shared.OVS); RunDir is used when it is nil.
	Source *OVSSource
	RunDir string
	// Refresh is how often the table is dumped (--conntrack.pods-refresh),
	// Top how many Pods are named per direction (--conntrack.pods-top),
	// Timeout the deadline of one dump (--conntrack.pods-timeout).
	Refresh time.Duration
	Top     int
	Timeout time.Duration
}

const podsHelp = " counted by dumping the whole kernel conntrack table over netlink once per --conntrack.pods-refresh (O(n)), " +
	"the address of each entry's original direction mapped to a Pod by Antrea's external_ids:ip-address, pod-name and pod-namespace on the OVS Port rows (OVSDB)."

var (
	ctPodEntriesDesc = newDesc("conntrack", "pod_entries", []string{"namespace", "pod", "direction"},
		"Conntrack entries whose original direction has the Pod's address as its source (direction=source, the Pod opened them) or destination (direction=destination), "+
			"for the --conntrack.pods-top Pods with the most entries in each direction; namespace=\"\" and pod=\"\" sum all other entries, so each direction sums to the entries the dump read;"+podsHelp)
	ctPodsReadTimestampDesc = newDesc("conntrack", "pods_read_timestamp_seconds", nil,
		"When the dump behind datapath_conntrack_pod_entries ended, in seconds since the Unix epoch (the collector dumps the conntrack table over netlink once per --conntrack.pods-refresh, in the background).")
	ctPodsReadDurationDesc = newDesc("conntrack", "pods_read_duration_seconds", nil,
		"How long the dump behind datapath_conntrack_pod_entries took: the whole kernel conntrack table over netlink, and the join with OVSDB's Pod addresses.")
)

// podKey names a Pod as Antrea's external IDs do.
type podKey struct{ namespace, pod string }

// podDirection is one direction's entries per Pod, and those of every
// address of no Pod.
type podDirection struct {
	pods map[podKey]uint64
	rest uint64
}

// podsReading is one dump joined with the Pods of the inventory.
type podsReading struct {
	source, destination podDirection
	total               uint64
	at                  time.Time
	duration            time.Duration
	stale               error // the inventory was OVSDB's last before it went away
}

// joinPods maps the addresses counted to the Pods of inv (any bridge): an
// address of no Pod, or of a port without pod-name, counts in the rest.
// Two Pods claiming one address (which Antrea does not write) resolve to
// the first by bridge and port name.
func joinPods(counts conntrack.AddrCounts, inv ovs.Inventory) podsReading {
	byAddr := podAddrs(inv)
	direction := func(m map[netip.Addr]uint64, other uint64) podDirection {
		d := podDirection{pods: map[podKey]uint64{}, rest: other}
		for a, n := range m {
			if k, ok := byAddr[a.Unmap()]; ok {
				d.pods[k] += n
			} else {
				d.rest += n
			}
		}
		return d
	}
	return podsReading{source: direction(counts.Sources, counts.OtherSources),
		destination: direction(counts.Destinations, counts.OtherDestinations), total: counts.Total}
}

// podAddrs maps the addresses of the Pods of inv to the Pods.
func podAddrs(inv ovs.Inventory) map[netip.Addr]podKey {
	byAddr := map[netip.Addr]podKey{}
	for _, bridge := range slices.Sorted(maps.Keys(inv.Ports)) {
		for _, p := range inv.Ports[bridge] {
			if p.PodName() == "" {
				continue
			}
			k := podKey{strings.ToValidUTF8(p.PodNamespace(), "\uFFFD"), strings.ToValidUTF8(p.PodName(), "\uFFFD")}
			for _, a := range p.IPs {
				if _, ok := byAddr[a.Unmap()]; !ok {
					byAddr[a.Unmap()] = k
				}
			}
		}
	}
	return byAddr
}

// exportConntrackPods sends the top Pods of each direction, the rest, and
// when the dump ended and how long it took: at most 2×top+2 entry series.
func exportConntrackPods(ch chan<- prometheus.Metric, r podsReading, top int) {
	for _, d := range []struct {
		name string
		d    podDirection
	}{{"source", r.source}, {"destination", r.destination}} {
		keys := slices.SortedFunc(maps.Keys(d.d.pods), func(a, b podKey) int {
			return cmp.Or(cmp.Compare(d.d.pods[b], d.d.pods[a]), cmp.Compare(a.namespace, b.namespace), cmp.Compare(a.pod, b.pod))
		})
		rest := d.d.rest
		for i, k := range keys {
			if i >= top {
				rest += d.d.pods[k]
				continue
			}
			ch <- prometheus.MustNewConstMetric(ctPodEntriesDesc, prometheus.GaugeValue, float64(d.d.pods[k]), k.namespace, k.pod, d.name)
		}
		ch <- prometheus.MustNewConstMetric(ctPodEntriesDesc, prometheus.GaugeValue, float64(rest), "", "", d.name)
	}
	ch <- prometheus.MustNewConstMetric(ctPodsReadTimestampDesc, prometheus.GaugeValue, float64(r.at.UnixNano())/1e9)
	ch <- prometheus.MustNewConstMetric(ctPodsReadDurationDesc, prometheus.GaugeValue, r.duration.Seconds())
}

// conntrackPodsCollector exports the conntrack entries per Pod of the
// last background dump.
type conntrackPodsCollector struct {
	reader  *conntrack.Reader
	source  *OVSSource
	logger  *slog.Logger
	top     int
	reading *periodicReader[podsReading]
	built   builtMetrics
}

// NewConntrackPodsCollector checks cfg, opens the network namespace and
// starts the OVSDB monitor and the background dumps (the first at once).
func NewConntrackPodsCollector(cfg ConntrackPodsConfig, logger *slog.Logger) (Collector, error) {
	switch {
	case cfg.Refresh <= 0:
		return nil, fmt.Errorf("--conntrack.pods-refresh=%s: must be positive: each dump reads the whole table, give e.g. 60s", cfg.Refresh)
	case cfg.Top < 1:
		return nil, fmt.Errorf("--conntrack.pods-top=%d: must be at least 1 (the Pods named per direction)", cfg.Top)
	case cfg.Timeout <= 0:
		return nil, fmt.Errorf("--conntrack.pods-timeout=%s: must be positive, e.g. %s", cfg.Timeout, podsTimeoutDefault)
	}
	s := cfg.Source
	if s == nil {
		s = &OVSSource{RunDir: cfg.RunDir}
	}
	if err := s.check(); err != nil {
		return nil, err
	}
	r, err := conntrack.NewReader(cfg.Config)
	if err != nil {
		return nil, fmt.Errorf("--conntrack.netns=%s: %w", cfg.NetnsPath, withHint("conntrack_pods", err))
	}
	s.openMonitor()
	c := &conntrackPodsCollector{reader: r, source: s, logger: logger, top: cfg.Top}
	c.reading = newPeriodicReader(cfg.Refresh, cfg.Timeout, c.read)
	return c, nil
}

// read takes the Pods of the inventory OVSDB holds now, dumps the table
// counting only their addresses one by one (the others summed: memory is
// bounded by the Pods, not the table), and joins the two.
func (c *conntrackPodsCollector) read(ctx context.Context) (podsReading, error) {
	start := time.Now()
	inv, stale, err := c.source.OVSDB(ctx)
	if err != nil {
		return podsReading{}, err
	}
	c.source.logBadIPs(c.logger, inv)
	pods := podAddrs(inv)
	counts, err := c.reader.AddrCounts(ctx, func(a netip.Addr) bool { _, ok := pods[a.Unmap()]; return ok })
	if err != nil {
		return podsReading{}, err
	}
	r := joinPods(counts, inv)
	r.at, r.duration, r.stale = time.Now(), time.Since(start), stale
	return r, nil
}

// Update serves the last dump (see periodicReader); with OVSDB away, its
// Pods are those of OVSDB's last inventory and the collector fails so
// that it shows.
func (c *conntrackPodsCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	r, gen, err := c.reading.get(ctx)
	if err != nil {
		return withHint("conntrack_pods", err)
	}
	c.built.send(ch, gen, time.Time{}, func(ch chan<- prometheus.Metric) { exportConntrackPods(ch, r, c.top) })
	return withHint("conntrack_pods", r.stale)
}

// Close stops the dumps, releases the namespace and the OVS source.
func (c *conntrackPodsCollector) Close() error {
	c.reading.Close()
	err := c.reader.Close()
	if serr := c.source.Close(); err == nil {
		err = serr
	}
	return err
}
