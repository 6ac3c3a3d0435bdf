// Package collector turns readings of Open vSwitch and kernel conntrack into
// Prometheus metrics, after node_exporter's collector package: one file per
// collector, a registry of collectors that `--collector.NAME` and
// `--no-collector.NAME` switch on and off, descriptors built once, const
// metrics built at scrape time, and per collector
// datapath_scrape_collector_success and _duration_seconds. A failing
// collector never breaks the others.
//
// It knows nothing of sockets or wire formats: that is packages ovs,
// conntrack and antrea.
package collector

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/datapath-exporter/datapath-exporter/antrea"
	"github.com/datapath-exporter/datapath-exporter/internal/fault"
)

// Namespace prefixes every metric name.
const Namespace = "datapath"

// newDesc is the descriptor of the metric Namespace_subsystem_name.
func newDesc(subsystem, name string, labels []string, help string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(Namespace, subsystem, name), help, labels, nil)
}

var (
	scrapeDurationDesc = newDesc("scrape", "collector_duration_seconds", []string{"collector"},
		"How long the collector's last scrape took, in seconds.")
	scrapeSuccessDesc = newDesc("scrape", "collector_success", []string{"collector"},
		"1 if the collector's last scrape worked, 0 if it failed (the exporter's log says why).")
)

// Collector reads one source and sends its metrics. Update must honour ctx,
// whose deadline is the collector's --X.timeout (the Exporter sets it; a
// collector sets none of its own), and return an error, not partial
// silence, when the source cannot be read.
type Collector interface {
	Update(ctx context.Context, ch chan<- prometheus.Metric) error
}

// Scraper is an enabled collector and the deadline of each of its runs.
type Scraper struct {
	Collector Collector
	Timeout   time.Duration
}

// builder builds a collector from the flags its registration bound.
type builder func(logger *slog.Logger) (Collector, error)

type registration struct {
	name           string
	help           string
	defaultEnabled bool
	// timeout declares the collector's deadline flag.
	timeout timeoutFlag
	// flags binds the collector's own flags and returns how to build it;
	// shared holds the flags that concern every collector.
	flags func(app *kingpin.Application, shared *Shared) builder
}

// timeoutFlag is a collector's --X.timeout: the deadline the Exporter gives
// each of its runs.
type timeoutFlag struct {
	name, help, def string
}

var registry []registration

// register is called from the init func of each collector's file.
func register(r registration) { registry = append(registry, r) }

// Names returns the names of all known collectors, sorted.
func Names() []string {
	out := make([]string, 0, len(registry))
	for _, r := range registry {
		out = append(out, r.name)
	}
	sort.Strings(out)
	return out
}

// durationValue is a kingpin value whose parse error names the flag, which
// kingpin's own duration flags do not.
type durationValue struct {
	flag string
	d    *time.Duration
}

func (v durationValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("--%s=%s: not a duration: use e.g. 2s or 500ms", v.flag, s)
	}
	*v.d = d
	return nil
}

func (v durationValue) String() string { return v.d.String() }

// durationFlag declares a duration flag on app, stored in d.
func durationFlag(app *kingpin.Application, name, help, def string, d *time.Duration) {
	app.Flag(name, help).Default(def).SetValue(durationValue{flag: name, d: d})
}

// Shared is what more than one collector uses, each piece with one owner:
// options of several collectors, the OVS source (the owner of the OVS
// connections and of the flags saying where OVS is) and the store of the
// names the antrea_agent collector learns for the ovs collector. It opens
// nothing itself.
type Shared struct {
	// CompatAntrea makes the collectors also export the Antrea agent's
	// metric names (--compat.antrea).
	CompatAntrea bool
	// ConntrackNetns is the network namespace file whose conntrack table
	// the conntrack collectors read ("": the exporter's own).
	ConntrackNetns string
	// AntreaBridge is the bridge Antrea's agent programs (--antrea.bridge,
	// its ovsBridge setting): the agent's metrics carry no bridge label,
	// and its names and the compat series apply to this bridge.
	AntreaBridge string
	// AntreaTables holds the AntreaBridge table names learnt from the Antrea
	// agent: the antrea_agent collector records them, the ovs collector
	// names the tables OVS leaves unnamed with them. Empty (and never
	// filled) when the antrea_agent collector is off.
	AntreaTables *antrea.Tables
	// AgentConntrack holds which conntrack metrics the Antrea agent serves
	// itself: the antrea_agent collector records them, the conntrack
	// collectors leave those names out of --compat.antrea.
	AgentConntrack *AgentConntrack
	// OVS owns what the collectors reading OVS keep between scrapes,
	// and the flags saying where that OVS is.
	OVS *OVSSource

	timeouts map[string]*time.Duration // each collector's --X.timeout
}

// timeout returns the deadline of one run of the named collector (its
// --X.timeout, parsed), which is also that of one of its background reads;
// 0 outside RegisterFlags.
func (s *Shared) timeout(collector string) time.Duration {
	if d := s.timeouts[collector]; d != nil {
		return *d
	}
	return 0
}

// Flags holds the command-line state of every registered collector.
type Flags struct {
	shared   *Shared
	enabled  map[string]*bool
	timeouts map[string]*time.Duration
	builders map[string]builder
}

// RegisterFlags binds --collector.NAME (with its --no- form) and every
// collector's own flags to app.
func RegisterFlags(app *kingpin.Application) *Flags {
	shared := &Shared{AntreaTables: &antrea.Tables{}, AgentConntrack: &AgentConntrack{}, OVS: registerOVSSourceFlags(app)}
	f := &Flags{shared: shared, enabled: map[string]*bool{}, timeouts: map[string]*time.Duration{}, builders: map[string]builder{}}
	declared := map[string]*time.Duration{}
	app.Flag("compat.antrea", "Also export the Antrea agent's metric names (antrea_agent_ovs_flow_count, antrea_agent_conntrack_*), "+
		"so dashboards written for them work when the agent's Flow Exporter is off. With the antrea_agent collector on, the antrea_agent_conntrack_* names the agent serves itself are left out.").
		Default("false").BoolVar(&shared.CompatAntrea)
	app.Flag("antrea.bridge", "The bridge Antrea's agent programs (its ovsBridge setting): the agent's table names and the --compat.antrea flow counts apply to it.").
		Default(DefaultAntreaBridge).StringVar(&shared.AntreaBridge)
	app.Flag("conntrack.netns", "Read the conntrack table of the network namespace at this path (e.g. /run/netns/NAME or a host's /proc/1/ns/net). Default: the exporter's own.").
		StringVar(&shared.ConntrackNetns)
	for _, r := range registry {
		state := "disabled"
		if r.defaultEnabled {
			state = "enabled"
		}
		f.enabled[r.name] = app.Flag("collector."+r.name,
			fmt.Sprintf("Enable the %s collector: %s (default: %s).", r.name, r.help, state)).
			Default(fmt.Sprint(r.defaultEnabled)).Bool()
		// Collectors of one source may share a timeout flag.
		if d, ok := declared[r.timeout.name]; ok {
			f.timeouts[r.name] = d
		} else {
			f.timeouts[r.name] = new(time.Duration)
			durationFlag(app, r.timeout.name, r.timeout.help, r.timeout.def, f.timeouts[r.name])
			declared[r.timeout.name] = f.timeouts[r.name]
		}
		f.builders[r.name] = r.flags(app, shared)
	}
	shared.timeouts = f.timeouts
	return f
}

// Build builds every enabled collector. An error here (a bad flag value, a
// netns path that cannot be opened) should stop the exporter at start; the
// collectors built before it are closed (their background readers stopped).
func (f *Flags) Build(logger *slog.Logger) (map[string]Scraper, error) {
	out := map[string]Scraper{}
	fail := func(err error) (map[string]Scraper, error) {
		for _, s := range out {
			if c, ok := s.Collector.(io.Closer); ok {
				_ = c.Close()
			}
		}
		return nil, err
	}
	for _, r := range registry {
		if !*f.enabled[r.name] {
			continue
		}
		timeout := *f.timeouts[r.name]
		if timeout <= 0 {
			return fail(fmt.Errorf("collector %s: --%s=%s: must be positive, e.g. %s", r.name, r.timeout.name, timeout, r.timeout.def))
		}
		c, err := f.builders[r.name](logger.With("collector", r.name))
		if err != nil {
			return fail(fmt.Errorf("collector %s: %w", r.name, err))
		}
		out[r.name] = Scraper{Collector: c, Timeout: timeout}
	}
	return out, nil
}

// Exporter is the prometheus.Collector that runs the enabled collectors.
// Concurrent scrapes share one in-flight run per collector, so N parallel
// scrapes never open N OpenFlow sessions or N netlink requests at once.
type Exporter struct {
	scrapers map[string]Scraper
	logger   *slog.Logger
	flight   singleflight.Group

	mu      sync.Mutex
	lastErr map[string][]string // failureKeys of the last failure per collector, nil when healthy
}

// NewExporter returns an Exporter running scrapers.
func NewExporter(logger *slog.Logger, scrapers map[string]Scraper) *Exporter {
	return &Exporter{scrapers: scrapers, logger: logger, lastErr: map[string][]string{}}
}

// Describe sends nothing: which metrics the collectors send depends on what
// the sources hold, so the Exporter is an unchecked collector (a registry,
// pedantic or not, accepts whatever it collects, and still checks that the
// metrics are consistent).
func (e *Exporter) Describe(chan<- *prometheus.Desc) {}

// Collect runs every collector in parallel and sends their metrics.
func (e *Exporter) Collect(ch chan<- prometheus.Metric) {
	var wg sync.WaitGroup
	for name, s := range e.scrapers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, m := range e.run(name, s) {
				ch <- m
			}
		}()
	}
	wg.Wait()
}

// run returns the metrics of one collector run, shared with every scrape
// that asks while it is in flight.
func (e *Exporter) run(name string, s Scraper) []prometheus.Metric {
	v, _, _ := e.flight.Do(name, func() (any, error) {
		// The run's deadline is the collector's --X.timeout, not the
		// scrape's: a scrape that gives up does not cancel the run
		// others wait for.
		ctx, cancel := context.WithTimeout(context.Background(), s.Timeout)
		defer cancel()
		buf := make(chan prometheus.Metric, 64)
		var out []prometheus.Metric
		done := make(chan struct{})
		go func() {
			for m := range buf {
				out = append(out, m)
			}
			close(done)
		}()
		start := time.Now()
		err := safeUpdate(ctx, s.Collector, buf)
		close(buf)
		<-done
		duration := time.Since(start).Seconds()
		success := 1.0
		if err != nil {
			success = 0
		}
		e.logResult(name, err)
		out = append(out,
			prometheus.MustNewConstMetric(scrapeDurationDesc, prometheus.GaugeValue, duration, name),
			prometheus.MustNewConstMetric(scrapeSuccessDesc, prometheus.GaugeValue, success, name))
		return out, nil
	})
	return v.([]prometheus.Metric)
}

// safeUpdate runs c.Update and turns a panic (a bug in a collector or in
// a library under it) into the collector's failure, so that it cannot take
// the exporter and the other collectors down.
func safeUpdate(ctx context.Context, c Collector, ch chan<- prometheus.Metric) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("collector panicked (a bug: please report it): %v", p)
		}
	}()
	return c.Update(ctx, ch)
}

// logResult logs a failure at error level when it starts or its kind or
// operation changes, and at debug level while it repeats, so a down OVS
// does not fill the log with one line per scrape; recovery is logged once,
// and so is the recovery of some of the failures joined in one (a bridge
// back, OVSDB still down). Failures are told apart by failureKeys, never by
// their text, which may carry a changing duration or a remaining budget.
func (e *Exporter) logResult(name string, err error) {
	var keys []string
	if err != nil {
		keys = failureKeys(err)
	}
	e.mu.Lock()
	prev := e.lastErr[name]
	e.lastErr[name] = keys
	e.mu.Unlock()
	if err == nil {
		if prev != nil {
			e.logger.Info("collector recovered", "collector", name)
		}
		return
	}
	attrs := []any{"collector", name, "faults", strings.Join(keys, "; "), "err", err.Error()}
	switch {
	case !subset(keys, prev):
		e.logger.Error("collector failed", attrs...)
	case len(keys) < len(prev):
		e.logger.Info("collector partly recovered", attrs...)
	default:
		e.logger.Debug("collector still failing", attrs...)
	}
}

// subset reports whether every element of the sorted a is in the sorted b.
func subset(a, b []string) bool {
	for _, k := range a {
		if _, found := slices.BinarySearch(b, k); !found {
			return false
		}
	}
	return true
}

// failureKeys identify a failure for the log by the kinds and operations
// of the failures joined in err (one per bridge, say), sorted and without
// repeats; an error that carries neither (not from a source: a panic, a
// bad configuration) is identified by its text.
func failureKeys(err error) []string {
	var keys []string
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		kind, op := fault.KindOf(err), fault.OpOf(err)
		if kind == fault.Unknown && op == "" {
			keys = append(keys, "text: "+err.Error())
			return
		}
		keys = append(keys, kind.String()+": "+op)
	}
	walk(err)
	sort.Strings(keys)
	return slices.Compact(keys)
}
