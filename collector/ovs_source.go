package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/datapath-exporter/datapath-exporter/ovs"
)

// OVSSource is the one owner of what the collectors reading one OVS keep
// between scrapes: the OpenFlow client with its per-bridge sessions, and
// the OVSDB monitor that lists the bridges (none with a fixed list of
// bridges), and the reader of the bridges' tables and meters (see
// periodicReader). It declares the flags that say where that OVS is
// (--ovs.rundir, --ovs.bridge, --ovs.table-names-refresh) and how often it
// is read (--ovs.openflow-read-interval), and it forgets the sessions of
// deleted bridges whichever of those collectors are on.
type OVSSource struct {
	RunDir      string
	Bridges     []string // empty: discover from OVSDB
	NamesMaxAge time.Duration
	// ReadInterval is how often the bridges' tables and meters are read
	// in the background; 0 reads them in the scrape.
	ReadInterval time.Duration
	// ReadTimeout is the deadline of one background read (--ovs.timeout);
	// 0 takes that flag's default.
	ReadTimeout time.Duration

	openOnce sync.Once
	client   *ovs.Client
	monitor  *ovs.Monitor // nil with Bridges

	readerOnce sync.Once
	reader     *periodicReader[bridgesReading]

	closeOnce sync.Once

	// monitorOnce starts monitor, with fixed Bridges too when a collector
	// reads OVSDB itself (openMonitor).
	monitorOnce sync.Once

	badIPsMu sync.Mutex
	// badIPs are the ip-address problems logged, by port, so each is
	// logged once whichever collectors read the ports (again if the value
	// changes).
	badIPs map[string]string
}

// defaultOpenFlowReadInterval is --ovs.openflow-read-interval's default:
// shorter than any scrape interval in common use (10s–1m), so that
// nearly every scrape serves a new reading, no older than 5s plus one
// read; and still one read per 5s, some 1 ms of ovs-vswitchd's and the
// exporter's time.
const defaultOpenFlowReadInterval = 5 * time.Second

// registerOVSSourceFlags declares the OVS source's flags on app.
func registerOVSSourceFlags(app *kingpin.Application) *OVSSource {
	s := &OVSSource{}
	app.Flag("ovs.rundir", "Directory holding OVS's db.sock, the bridges' <bridge>.mgmt OpenFlow sockets, and ovs-vswitchd's pidfile and control socket.").
		Default("/var/run/openvswitch").StringVar(&s.RunDir)
	app.Flag("ovs.bridge", "Bridge to read (repeatable). Default: every bridge in OVSDB.").
		StringsVar(&s.Bridges)
	durationFlag(app, "ovs.table-names-refresh", "How long table names and limits read with a table-features request (OpenFlow 1.3+ bridges) are reused.",
		ovs.DefaultNamesMaxAge.String(), &s.NamesMaxAge)
	durationFlag(app, "ovs.openflow-read-interval", "How often the ovs collector reads the bridges' table and meter statistics over OpenFlow, in the background: a scrape serves the last reading (and its failure), never older than this plus --ovs.timeout. 0 reads them in every scrape.",
		defaultOpenFlowReadInterval.String(), &s.ReadInterval)
	return s
}

// check checks the source's flags.
func (s *OVSSource) check() error {
	if s.RunDir == "" {
		return errors.New("--ovs.rundir is empty: give the directory holding OVS's sockets, e.g. /var/run/openvswitch")
	}
	if s.ReadInterval < 0 {
		return fmt.Errorf("--ovs.openflow-read-interval=%s: must not be negative (0 reads in every scrape)", s.ReadInterval)
	}
	if s.NamesMaxAge < 0 {
		return fmt.Errorf("--ovs.table-names-refresh=%s: must not be negative", s.NamesMaxAge)
	}
	for _, b := range s.Bridges {
		if b == "" {
			return errors.New("--ovs.bridge is empty: give a bridge name such as br-int")
		}
	}
	return nil
}

// open makes the client and starts the monitor, once: the constructor of
// every collector reading OVS calls it, so that with none enabled nothing
// connects to OVS.
func (s *OVSSource) open() {
	s.openOnce.Do(func() {
		s.client = &ovs.Client{RunDir: s.RunDir, NamesMaxAge: s.NamesMaxAge}
		if len(s.Bridges) == 0 {
			s.openMonitor()
		}
	})
}

// openMonitor starts the OVSDB monitor, once, whether or not the bridges
// are fixed: the constructor of a collector that reads OVSDB itself (the
// ports, other_config) calls it.
func (s *OVSSource) openMonitor() {
	s.monitorOnce.Do(func() {
		s.monitor = ovs.StartMonitor((&ovs.Client{RunDir: s.RunDir}).DBSocketPath())
	})
}

// OVSDB returns the OVSDB monitor's inventory (after openMonitor), all of
// it: every bridge, even with a fixed list. While ovsdb-server is away the
// last inventory is returned with stale (a *ovs.StaleError); err is set
// when there is no inventory at all.
func (s *OVSSource) OVSDB(ctx context.Context) (inv ovs.Inventory, stale, err error) {
	inv, err = s.monitor.Inventory(ctx)
	var se *ovs.StaleError
	switch {
	case err == nil:
	case errors.As(err, &se):
		stale, err = err, nil
	default:
		return inv, nil, err
	}
	return inv, stale, nil
}

// Discovers reports whether the bridges come from OVSDB (no --ovs.bridge).
func (s *OVSSource) Discovers() bool { return len(s.Bridges) == 0 }

// Client returns the OpenFlow client (nil before open).
func (s *OVSSource) Client() *ovs.Client { return s.client }

// Inventory returns the bridges to read and their OVSDB table
// configuration, from the OVSDB monitor or the fixed list, and closes the
// sessions of bridges that are gone. While ovsdb-server is away the last
// inventory is returned with stale (a *ovs.StaleError): its bridges are
// still read, and the staleness is for one collector (ovs) to report. err
// is set when there is no inventory at all.
func (s *OVSSource) Inventory(ctx context.Context) (inv ovs.Inventory, stale, err error) {
	if !s.Discovers() {
		return ovs.Inventory{Bridges: s.Bridges}, nil, nil
	}
	if inv, stale, err = s.OVSDB(ctx); err != nil {
		return inv, nil, err
	}
	s.client.Forget(inv.Bridges)
	return inv, stale, nil
}

// bridgesReading is one read of every bridge of the inventory.
type bridgesReading struct {
	listed   bool            // there was an inventory (maybe stale)
	bridges  []string        // the inventory's
	readings []bridgeReading // by bridge, where read
}

// bridgeReading is what one read of a bridge got: its tables, then its
// meters on the same session (nil where the read failed).
type bridgeReading struct {
	tables *ovs.Bridge
	meters *ovs.BridgeMeters
}

// bridgesReader returns the reader of the bridges' tables and meters,
// started (with a positive ReadInterval) on the first call: the ovs
// collector's constructor calls it, after open. The reading's error joins
// the bridges' failures and a stale inventory's (its bridges are read all
// the same); with no inventory at all, it is that failure alone.
func (s *OVSSource) bridgesReader() *periodicReader[bridgesReading] {
	s.readerOnce.Do(func() {
		s.reader = newPeriodicReader(s.ReadInterval, ovsReadTimeout(s.ReadTimeout), s.readBridges)
	})
	return s.reader
}

// readBridges reads the tables and meters of every bridge of the
// inventory, in parallel.
func (s *OVSSource) readBridges(ctx context.Context) (bridgesReading, error) {
	inv, stale, err := s.Inventory(ctx)
	if err != nil {
		return bridgesReading{}, err
	}
	readings, errs := eachBridge(ctx, inv.Bridges, func(ctx context.Context, name string) (bridgeReading, error) {
		var r bridgeReading
		b, err := s.client.Tables(ctx, name, inv.TableConfig[name])
		if err != nil {
			return r, err // the session is gone: the meters would fail the same way
		}
		r.tables = &b
		m, err := s.client.Meters(ctx, name)
		if err != nil {
			return r, fmt.Errorf("meters: %w", err)
		}
		r.meters = &m
		return r, nil
	})
	return bridgesReading{listed: true, bridges: inv.Bridges, readings: readings}, errors.Join(append(errs, stale)...)
}

// Close stops the bridges' reader and the monitor, and ends the sessions.
// Every collector that reads OVS closes it when it is closed: closing
// twice is harmless.
func (s *OVSSource) Close() error {
	s.monitorOnce.Do(func() {}) // never started: never to be
	s.closeOnce.Do(func() {
		s.openOnce.Do(func() {})   // never opened: never to be
		s.readerOnce.Do(func() {}) // nor read
		if s.reader != nil {
			s.reader.Close()
		}
		if s.monitor != nil {
			s.monitor.Close()
		}
		if s.client != nil {
			s.client.Close()
		}
	})
	return nil
}

// eachBridge is the one bridge loop: it runs read for every bridge in
// parallel, so one stuck bridge costs at most what is left of ctx and the
// others are read meanwhile, and returns the results and errors by index.
func eachBridge[T any](ctx context.Context, bridges []string, read func(ctx context.Context, bridge string) (T, error)) ([]T, []error) {
	results := make([]T, len(bridges))
	errs := make([]error, len(bridges))
	var wg sync.WaitGroup
	for i, name := range bridges {
		wg.Go(func() {
			results[i], errs[i] = read(ctx, name)
		})
	}
	wg.Wait()
	return results, errs
}

// logBadIPs logs once each port whose external_ids:ip-address holds
// something that is not an address, and forgets the ports that are fixed
// or gone: the collectors reading the ports of inv (ovs_interfaces,
// conntrack_pods) call it, and a port is logged once for all of them.
func (s *OVSSource) logBadIPs(logger *slog.Logger, inv ovs.Inventory) {
	s.badIPsMu.Lock()
	defer s.badIPsMu.Unlock()
	if s.badIPs == nil {
		s.badIPs = map[string]string{}
	}
	seen := map[string]bool{}
	for _, ports := range inv.Ports {
		for _, p := range ports {
			if p.IPError == nil {
				continue
			}
			seen[p.Name] = true
			text := p.IPError.Error()
			if s.badIPs[p.Name] != text {
				s.badIPs[p.Name] = text
				logger.Warn("OVS port with an address that is not one", "port", p.Name, "pod", p.PodName(), "namespace", p.PodNamespace(), "err", text)
			}
		}
	}
	maps.DeleteFunc(s.badIPs, func(port, _ string) bool { return !seen[port] })
}
