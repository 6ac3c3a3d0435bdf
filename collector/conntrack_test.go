package collector_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/promslog"

	"github.com/datapath-exporter/datapath-exporter/collector"
	"github.com/datapath-exporter/datapath-exporter/conntrack"
	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
)

// conntrackStats are the stat labels of datapath_conntrack_stat_total.
var conntrackStats = []string{"drop", "early_drop", "error", "found", "insert", "insert_failed", "invalid", "search_restart"}

// TestConntrackCollector reads the conntrack table of a private network
// namespace and compares it with `conntrack -C` and nf_conntrack_max.
func TestConntrackCollector(t *testing.T) {
	ns := testenv.NetnsForTest(t)
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
		if got := mfs.labelValues("datapath_conntrack_stat_total", "stat"); strings.Join(got, ",") != strings.Join(conntrackStats, ",") {
			t.Errorf("stat labels %q, want %q", got, conntrackStats)
		}
		for name, typ := range map[string]dto.MetricType{
			"datapath_conntrack_entries":       dto.MetricType_GAUGE,
			"datapath_conntrack_entries_limit": dto.MetricType_GAUGE,
			"datapath_conntrack_stat_total":    dto.MetricType_COUNTER,
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
	before := inserted.value(t, "datapath_conntrack_stat_total", "stat", "insert")
	if got := before - empty.value(t, "datapath_conntrack_stat_total", "stat", "insert"); got != 35 {
		t.Errorf("stat insert grew by %v over 35 inserted entries, want 35", got)
	}

	if err := ns.InsertEntries(ctx, 7, 5); err != nil {
		t.Fatal(err)
	}
	more := scrape(t)
	if got := more.value(t, "datapath_conntrack_stat_total", "stat", "insert") - before; got != 5 {
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
	ns := testenv.NetnsForTest(t)
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

// TestAntreaCtZoneDefinedOnce checks the test harness's copy of Antrea's
// conntrack zone against the collector's (testenv cannot import collector).
func TestAntreaCtZoneDefinedOnce(t *testing.T) {
	if collector.AntreaCtZone != testenv.AntreaCtZone {
		t.Errorf("collector.AntreaCtZone = %d, testenv.AntreaCtZone = %d", collector.AntreaCtZone, testenv.AntreaCtZone)
	}
}
