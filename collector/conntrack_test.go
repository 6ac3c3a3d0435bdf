package collector_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/promslog"

	"github.com/datapath-exporter/datapath-exporter/collector"
	"github.com/datapath-exporter/datapath-exporter/conntrack"
	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
)

// conntrackStats are the kernel's per-CPU counters, each exported as
// datapath_conntrack_<stat>_total; the 6.18 kernel of CI reports them all.
var conntrackStats = []string{"found", "invalid", "insert", "insert_failed", "drop", "early_drop", "error", "search_restart", "clash_resolve", "chaintoolong"}

// conntrackS runs `conntrack -S` in the namespace and sums each counter
// over CPUs.
func conntrackS(t *testing.T, ctx context.Context, ns *testenv.Netns) map[string]float64 {
	t.Helper()
	out, err := ns.Exec(ctx, "conntrack", "-S")
	if err != nil {
		t.Fatal(err)
	}
	sums := map[string]float64{}
	for _, f := range strings.Fields(out) {
		if k, v, ok := strings.Cut(f, "="); ok && k != "cpu" {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				t.Fatalf("conntrack -S: %q: %v", f, err)
			}
			sums[k] += float64(n)
		}
	}
	return sums
}

// TestConntrackCollector reads the conntrack table of a private network
// namespace and compares it with `conntrack -C` and nf_conntrack_max.
func TestConntrackCollector(t *testing.T) {
	ns := testenv.NetnsForTest(t, testenv.NetnsOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	limit := testenv.ConntrackMax(t)

	c, err := collector.NewConntrackCollector(collector.ConntrackConfig{Config: conntrack.Config{NetnsPath: ns.Path}}, promslog.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	reg := newRegistry(t, promslog.NewNopLogger(), map[string]collector.Collector{"conntrack": c})

	// scrape gathers and checks what must hold at every scrape.
	scrape := func(t *testing.T) families {
		t.Helper()
		mfs := gather(t, reg)
		if got := mfs.value(t, "datapath_scrape_collector_success", "collector", "conntrack"); got != 1 {
			t.Fatalf("success = %v, want 1", got)
		}
		want, err := ns.Count(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := mfs.value(t, "datapath_conntrack_entries"); got != float64(want) {
			t.Errorf("datapath_conntrack_entries = %v, conntrack -C says %d", got, want)
		}
		if got := mfs.value(t, "datapath_conntrack_entries_limit"); got != float64(limit) {
			t.Errorf("datapath_conntrack_entries_limit = %v, nf_conntrack_max is %d", got, limit)
		}
		// Nothing moves in the namespace between the scrape and
		// conntrack -S, so they must agree exactly.
		tool := conntrackS(t, ctx, ns)
		for _, st := range conntrackStats {
			name := "datapath_conntrack_" + st + "_total"
			mf := mfs[name]
			if mf.GetType() != dto.MetricType_COUNTER || !strings.Contains(mf.GetHelp(), "read from the kernel over netlink, summed over CPUs") {
				t.Errorf("%s: type %v, help %q; want a counter whose help says it is read from the kernel over netlink, summed over CPUs", name, mf.GetType(), mf.GetHelp())
			}
			if want, ok := tool[st]; !ok || mfs.value(t, name) != want {
				t.Errorf("%s = %v, conntrack -S says %v (printed: %v)", name, mfs.value(t, name), want, ok)
			}
		}
		if len(tool) != len(conntrackStats) {
			t.Errorf("conntrack -S prints %d counters (%v), the collector exports %d", len(tool), tool, len(conntrackStats))
		}
		if _, ok := mfs["datapath_conntrack_stat_total"]; ok {
			t.Error("datapath_conntrack_stat_total is still exported")
		}
		for name, typ := range map[string]dto.MetricType{
			"datapath_conntrack_entries":       dto.MetricType_GAUGE,
			"datapath_conntrack_entries_limit": dto.MetricType_GAUGE,
		} {
			if mf := mfs[name]; mf.GetType() != typ || !strings.Contains(mf.GetHelp(), "netlink") {
				t.Errorf("%s: type %v, help %q; want %v, with help saying it is read over netlink", name, mf.GetType(), mf.GetHelp(), typ)
			}
		}
		return mfs
	}

	empty := scrape(t)
	if got := empty.value(t, "datapath_conntrack_entries"); got != 0 {
		t.Errorf("a new namespace has %v entries, want 0", got)
	}

	// Zones 0 (default), 65520 (Antrea's) and 7 all count in one table.
	for _, z := range []struct {
		zone  uint16
		count int
	}{{0, 10}, {65520, 20}, {7, 5}} {
		if err := ns.InsertEntries(ctx, z.zone, z.count); err != nil {
			t.Fatal(err)
		}
	}
	inserted := scrape(t)
	if got := inserted.value(t, "datapath_conntrack_entries"); got != 35 {
		t.Errorf("datapath_conntrack_entries = %v after inserting 35 entries, want 35", got)
	}
	before := inserted.value(t, "datapath_conntrack_insert_total")
	if got := before - empty.value(t, "datapath_conntrack_insert_total"); got != 35 {
		t.Errorf("stat insert grew by %v over 35 inserted entries, want 35", got)
	}

	if err := ns.InsertEntries(ctx, 7, 5); err != nil {
		t.Fatal(err)
	}
	more := scrape(t)
	if got := more.value(t, "datapath_conntrack_insert_total") - before; got != 5 {
		t.Errorf("stat insert grew by %v over 5 more inserted entries, want 5", got)
	}
}

func TestNewConntrackCollectorErrors(t *testing.T) {
	regular := filepath.Join(t.TempDir(), "not-a-netns")
	if err := os.WriteFile(regular, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "no-such-netns")
	tests := []struct {
		name string
		cfg  conntrack.Config
		want []string
	}{
		{"missing netns file", conntrack.Config{NetnsPath: missing}, []string{"--conntrack.netns=" + missing, "no such file", "/run/netns/NAME"}},
		{"not a namespace", conntrack.Config{NetnsPath: regular}, []string{"--conntrack.netns=" + regular, "not a namespace file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := collector.NewConntrackCollector(collector.ConntrackConfig{Config: tt.cfg}, promslog.NewNopLogger())
			if err == nil {
				t.Fatalf("NewConntrackCollector(%+v) = %v, want an error", tt.cfg, c)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestConntrackTimeoutsNameTheirFlag runs both conntrack collectors with a
// deadline already spent, as the Exporter gives it from --conntrack.timeout
// and --conntrack.zones-timeout: each error must name its own flag.
func TestConntrackTimeoutsNameTheirFlag(t *testing.T) {
	ns := testenv.NetnsForTest(t, testenv.NetnsOptions{})
	cfg := collector.ConntrackConfig{Config: conntrack.Config{NetnsPath: ns.Path}}
	ct, err := collector.NewConntrackCollector(cfg, promslog.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	zones, err := collector.NewConntrackZonesCollector(cfg, promslog.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		c    collector.Collector
		want string
	}{
		{"conntrack", ct, "raise --conntrack.timeout"},
		{"conntrack_zones", zones, "raise --conntrack.zones-timeout, or disable the conntrack_zones collector"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := updateWithin(t, tt.c, time.Nanosecond)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Update with a spent deadline = %v, want an error saying %q", err, tt.want)
			}
		})
	}
}

// TestConntrackZonesCollector puts real entries into some of Antrea's zones
// and one other zone of a private namespace: Antrea's five zones are
// exported always (0 when empty), the other one because it has entries,
// each equal to `conntrack -L -w ZONE`.
func TestConntrackZonesCollector(t *testing.T) {
	ns := testenv.NetnsForTest(t, testenv.NetnsOptions{})
	ctx := testenv.Context(t, time.Minute)
	for zone, n := range map[uint16]int{65520: 4, 65511: 2, 9: 3} {
		if err := ns.InsertEntries(ctx, zone, n); err != nil {
			t.Fatal(err)
		}
	}
	cfg := collector.ConntrackConfig{Config: conntrack.Config{NetnsPath: ns.Path}, CompatAntrea: true}
	c, err := collector.NewConntrackZonesCollector(cfg, promslog.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	reg := newRegistry(t, promslog.NewNopLogger(), map[string]collector.Collector{"conntrack_zones": c})
	mfs := gather(t, reg)
	if got := mfs.value(t, "datapath_scrape_collector_success", "collector", "conntrack_zones"); got != 1 {
		t.Fatalf("success = %v, want 1", got)
	}
	wantZones := []string{"0", "65510", "65511", "65520", "65521", "9"}
	if got := mfs.labelValues("datapath_conntrack_zone_entries", "zone"); strings.Join(got, ",") != strings.Join(wantZones, ",") {
		t.Errorf("zones %q, want %q", got, wantZones)
	}
	for _, zone := range wantZones {
		out, err := ns.Exec(ctx, "conntrack", "-L", "-w", zone)
		if err != nil {
			t.Fatal(err)
		}
		want := float64(strings.Count(out, "\n"))
		if got := mfs.value(t, "datapath_conntrack_zone_entries", "zone", zone); got != want {
			t.Errorf("zone %s: %v entries, conntrack -L -w %s lists %v", zone, got, zone, want)
		}
	}
	if got := mfs.value(t, "antrea_agent_conntrack_antrea_connection_count"); got != 4 {
		t.Errorf("antrea_agent_conntrack_antrea_connection_count = %v, want the 4 entries of zone 65520", got)
	}
}
