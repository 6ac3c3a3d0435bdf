package collector_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/promslog"

	"github.com/datapath-exporter/datapath-exporter/collector"
	"github.com/datapath-exporter/datapath-exporter/conntrack"
	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
)

// icmpPacket is an Ethernet/IPv4/ICMP echo from 10.0.0.1 to 10.0.0.2.
const icmpPacket = "ffffffffffff00000000000108004500001c000100004001f9780a0000010a0000020800f7ff00000000"

// ovsTableMetrics have a series for every exported table;
// datapath_ovs_table_flows_limit only for tables with a limit other than
// OVS's default.
var ovsTableMetrics = []string{
	"datapath_ovs_table_flows",
	"datapath_ovs_table_lookups_total",
	"datapath_ovs_table_matches_total",
}

func TestOVSCollector(t *testing.T) {
	o := testenv.OVSForTest(t, testenv.OVSOptions{})
	// br0 is like Antrea's br-int (OpenFlow 1.0 and 1.5), with tables
	// named in OVSDB as an operator may name them (a real Antrea agent
	// names none: see antrea_agent_test.go for that case).
	if err := o.AddBridge("br0", "OpenFlow10", "OpenFlow15"); err != nil {
		t.Fatal(err)
	}
	if err := o.SetTableNames("br0", map[int]string{1: "SpoofGuard", 5: "Classifier"}); err != nil {
		t.Fatal(err)
	}
	// Table 9 gets lookups but no flows: the resubmit misses there.
	if err := o.AddFlows("br0", []string{
		"table=0,priority=10,ip,actions=resubmit(,9)",
		"table=3,priority=1,actions=drop",
		"table=7,priority=1,actions=drop",
	}); err != nil {
		t.Fatal(err)
	}
	// One table with a flow limit of its own: the only one with a
	// datapath_ovs_table_flows_limit series (OVS reports 1000000 for the
	// others, its default, which the collector leaves out).
	if err := o.SetFlowLimit("br0", 3, "", 5000); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := o.Ofctl("--protocols=OpenFlow15", "packet-out", "br0", "in_port=LOCAL packet="+icmpPacket+" actions=table"); err != nil {
			t.Fatal(err)
		}
	}
	// br1 allows only OpenFlow 1.3 and holds only OVS's own flow.
	if err := o.AddBridge("br1", "OpenFlow13"); err != nil {
		t.Fatal(err)
	}

	newCollector := func(t *testing.T, cfg collector.OVSConfig) (collector.Collector, *prometheus.Registry) {
		t.Helper()
		cfg.RunDir = o.RunDir
		c, err := newOVSCollector(t, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return c, newRegistry(t, promslog.NewNopLogger(), map[string]collector.Collector{"ovs": c})
	}

	// The default collector is shared by the subtests that follow each
	// other: "sticky" relies on what "default selection" exported.
	_, defaultReg := newCollector(t, collector.OVSConfig{})

	t.Run("default selection", func(t *testing.T) {
		mfs := gather(t, defaultReg)
		if got := mfs.value(t, "datapath_scrape_collector_success", "collector", "ovs"); got != 1 {
			t.Fatalf("success = %v, want 1", got)
		}
		// Tables with a name (1, 5), flows (0, 3, 7) or lookups (9).
		wantIDs := map[string]string{"br0": "0,1,3,5,7,9", "br1": "0"}
		for _, name := range ovsTableMetrics {
			for br, want := range wantIDs {
				if got := tableIDs(mfs, name, br); got != want {
					t.Errorf("%s{bridge=%q}: tables %s, want %s", name, br, got, want)
				}
			}
		}
		if got := mfs.labelValues("datapath_ovs_table_flows", "bridge", "table_id", "0"); strings.Join(got, ",") != "br0,br1" {
			t.Errorf("discovered bridges %q, want br0 and br1", got)
		}
		checkTable(t, mfs, "br0", 0, "", 2, 2, 2)
		checkTable(t, mfs, "br0", 1, "SpoofGuard", 0, 0, 0)
		checkTable(t, mfs, "br0", 3, "", 1, 0, 0)
		checkTable(t, mfs, "br0", 5, "Classifier", 0, 0, 0)
		checkTable(t, mfs, "br0", 9, "", 0, 2, 0)
		checkTable(t, mfs, "br1", 0, "", 1, -1, -1)
		limits := mfs.series("datapath_ovs_table_flows_limit")
		if len(limits) != 1 || labelOf(limits[0], "bridge") != "br0" || labelOf(limits[0], "table_id") != "3" || testenv.MetricValue(limits[0]) != 5000 {
			var got []string
			for _, m := range limits {
				got = append(got, fmt.Sprintf("{bridge=%q,table_id=%q} %v", labelOf(m, "bridge"), labelOf(m, "table_id"), testenv.MetricValue(m)))
			}
			t.Errorf("datapath_ovs_table_flows_limit = %v, want only {bridge=\"br0\",table_id=\"3\"} 5000 (tables at OVS's default 1000000 are left out)", got)
		}
		checkOVSFamilies(t, mfs)
	})

	t.Run("sticky", func(t *testing.T) {
		if err := o.DelFlows("br0", "table=7"); err != nil {
			t.Fatal(err)
		}
		mfs := gather(t, defaultReg)
		if got := tableIDs(mfs, "datapath_ovs_table_flows", "br0"); got != "0,1,3,5,7,9" {
			t.Errorf("after deleting table 7's flows: tables %s, want table 7 still there", got)
		}
		if got := mfs.value(t, "datapath_ovs_table_flows", "bridge", "br0", "table_id", "7"); got != 0 {
			t.Errorf("table 7 flows = %v after deleting them, want 0", got)
		}
		// A collector that never saw table 7 with flows leaves it out.
		_, fresh := newCollector(t, collector.OVSConfig{})
		if got := tableIDs(gather(t, fresh), "datapath_ovs_table_flows", "br0"); got != "0,1,3,5,9" {
			t.Errorf("fresh collector: tables %s, want 0,1,3,5,9", got)
		}
	})

	t.Run("all tables", func(t *testing.T) {
		_, reg := newCollector(t, collector.OVSConfig{AllTables: true})
		mfs := gather(t, reg)
		for _, name := range ovsTableMetrics {
			for _, br := range []string{"br0", "br1"} {
				if got := len(mfs.series(name, "bridge", br)); got != 254 {
					t.Errorf("%s{bridge=%q}: %d tables, want 254", name, br, got)
				}
			}
		}
		if got := mfs.value(t, "datapath_ovs_table_flows", "bridge", "br1", "table_id", "253", "table_name", ""); got != 0 {
			t.Errorf("br1 table 253 flows = %v, want 0", got)
		}
	})

	t.Run("explicit bridges", func(t *testing.T) {
		_, reg := newCollector(t, collector.OVSConfig{Bridges: []string{"br1"}})
		mfs := gather(t, reg)
		if got := mfs.labelValues("datapath_ovs_table_flows", "bridge"); strings.Join(got, ",") != "br1" {
			t.Errorf("bridges %q, want only br1", got)
		}

		c, reg := newCollector(t, collector.OVSConfig{Bridges: []string{"br1", "nosuchbr"}})
		err := update(t, c)
		if err == nil || !strings.Contains(err.Error(), "nosuchbr") || !strings.Contains(err.Error(), "no socket at") {
			t.Errorf("Update with a missing bridge = %v, want an error naming nosuchbr and the missing socket", err)
		}
		mfs = gather(t, reg)
		if got := mfs.labelValues("datapath_ovs_table_flows", "bridge"); strings.Join(got, ",") != "br1" {
			t.Errorf("with a missing bridge: bridges %q, want br1 still exported", got)
		}
		if got := mfs.value(t, "datapath_scrape_collector_success", "collector", "ovs"); got != 0 {
			t.Errorf("with a missing bridge: success = %v, want 0", got)
		}
	})
}

// TestOVSCollectorBridgeFails checks that a bridge the exporter cannot read
// fails the ovs collector but keeps the other bridge's metrics and the
// conntrack collector.
func TestOVSCollectorBridgeFails(t *testing.T) {
	o := testenv.OVSForTest(t, testenv.OVSOptions{})
	if err := o.AddBridge("br0", "OpenFlow13"); err != nil {
		t.Fatal(err)
	}
	// brbad allows only versions the exporter does not speak.
	if err := o.AddBridge("brbad", "OpenFlow11", "OpenFlow12"); err != nil {
		t.Fatal(err)
	}
	ns := testenv.NetnsForTest(t, testenv.NetnsOptions{})

	ovsC, err := newOVSCollector(t, collector.OVSConfig{RunDir: o.RunDir})
	if err != nil {
		t.Fatal(err)
	}
	ctC, err := collector.NewConntrackCollector(collector.ConntrackConfig{Config: conntrack.Config{NetnsPath: ns.Path}}, promslog.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}

	err = update(t, ovsC)
	if err == nil {
		t.Fatal("Update succeeded with a bridge that allows none of our OpenFlow versions")
	}
	for _, want := range []string{"brbad", "allows no OpenFlow version", "OpenFlow11, OpenFlow12"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Update error %q does not mention %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "br0") {
		t.Errorf("Update error %q mentions br0, which works", err)
	}

	reg := newRegistry(t, promslog.NewNopLogger(), map[string]collector.Collector{"ovs": ovsC, "conntrack": ctC})
	mfs := gather(t, reg)
	if got := mfs.value(t, "datapath_scrape_collector_success", "collector", "ovs"); got != 0 {
		t.Errorf("success{collector=ovs} = %v, want 0", got)
	}
	if got := mfs.value(t, "datapath_scrape_collector_success", "collector", "conntrack"); got != 1 {
		t.Errorf("success{collector=conntrack} = %v, want 1", got)
	}
	if got := mfs.labelValues("datapath_ovs_table_flows", "bridge", "table_id", "0"); strings.Join(got, ",") != "br0" {
		t.Errorf("datapath_ovs_table_flows for table 0 from bridges %q, want br0 only", got)
	}
	if got := mfs.value(t, "datapath_ovs_table_flows", "bridge", "br0", "table_id", "0"); got != 1 {
		t.Errorf("br0 table 0 flows = %v, want 1", got)
	}
	if len(mfs.series("datapath_conntrack_entries")) != 1 {
		t.Error("datapath_conntrack_entries missing")
	}
}

// TestOVSCollectorErrorsNameTheFlag checks that failures of a real OVS reach
// the log with the flag that changes their cause: package ovs names causes,
// the collector owns the flags.
func TestOVSCollectorErrorsNameTheFlag(t *testing.T) {
	o := testenv.OVSForTest(t, testenv.OVSOptions{})
	if err := o.AddBridge("br0", "OpenFlow13"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  collector.OVSConfig
		hang bool // SIGSTOP ovs-vswitchd first
		want []string
	}{
		{"no OVSDB in rundir", collector.OVSConfig{RunDir: t.TempDir()}, false, []string{"db.sock", "check --ovs.rundir", "pass --ovs.bridge"}},
		{"no such bridge", collector.OVSConfig{RunDir: o.RunDir, Bridges: []string{"nosuchbr"}}, false, []string{"nosuchbr.mgmt", "check --ovs.rundir"}},
		{"vswitchd hung", collector.OVSConfig{RunDir: o.RunDir, Bridges: []string{"br0"}}, true, []string{"timed out", "raise --ovs.timeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.hang {
				b, err := os.ReadFile(filepath.Join(o.Dir, "ovs-vswitchd.pid"))
				if err != nil {
					t.Fatal(err)
				}
				pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
				if err != nil {
					t.Fatal(err)
				}
				if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
			}
			c, err := newOVSCollector(t, tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			err = updateWithin(t, c, 300*time.Millisecond)
			if err == nil {
				t.Fatal("Update succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestOVSCollectorInventory checks the collector's bridge inventory, kept
// by an OVSDB monitor, against a real ovsdb-server: a bridge added shows
// within a scrape or two (the update is pushed, not asked for), a bridge
// deleted goes, and while ovsdb-server is down the collector fails with the
// inventory called stale (it still tries the known bridges over OpenFlow,
// though here ovs-vswitchd stalls without its database); it recovers by
// itself once ovsdb-server is back.
func TestOVSCollectorInventory(t *testing.T) {
	o := testenv.OVSForTest(t, testenv.OVSOptions{})
	if err := o.AddBridge("br0", "OpenFlow13"); err != nil {
		t.Fatal(err)
	}
	c, err := newOVSCollector(t, collector.OVSConfig{RunDir: o.RunDir})
	if err != nil {
		t.Fatal(err)
	}
	reg := newRegistry(t, promslog.NewNopLogger(), map[string]collector.Collector{"ovs": c})
	// scrapeUntil scrapes until ok holds, for at most 10s.
	scrapeUntil := func(what string, ok func(families) bool) families {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			mfs := gather(t, reg)
			if ok(mfs) {
				return mfs
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: bridges %q, success %v", what, mfs.labelValues("datapath_ovs_table_flows", "bridge", "table_id", "0"),
					mfs.labelValues("datapath_scrape_collector_success", "collector"))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	bridges := func(mfs families) string {
		return strings.Join(mfs.labelValues("datapath_ovs_table_flows", "bridge", "table_id", "0"), ",")
	}
	up := func(mfs families) bool {
		return mfs.value(t, "datapath_scrape_collector_success", "collector", "ovs") == 1
	}

	scrapeUntil("first scrape", func(mfs families) bool { return up(mfs) && bridges(mfs) == "br0" })
	if err := o.AddBridge("br1", "OpenFlow10"); err != nil {
		t.Fatal(err)
	}
	scrapeUntil("bridge added", func(mfs families) bool { return up(mfs) && bridges(mfs) == "br0,br1" })
	if _, err := o.Vsctl("del-br", "br1"); err != nil {
		t.Fatal(err)
	}
	scrapeUntil("bridge deleted", func(mfs families) bool { return up(mfs) && bridges(mfs) == "br0" })

	if err := o.StopOVSDB(); err != nil {
		t.Fatal(err)
	}
	err = updateWithin(t, c, time.Second)
	for _, want := range []string{"stale", "db.sock", "--ovs.bridge"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Update with ovsdb-server down = %v, want it to mention %q", err, want)
		}
	}
	if err := o.StartOVSDBAgain(); err != nil {
		t.Fatal(err)
	}
	scrapeUntil("ovsdb-server back", func(mfs families) bool { return up(mfs) && bridges(mfs) == "br0" })
}

func TestNewOVSCollectorRejects(t *testing.T) {
	valid := collector.OVSConfig{RunDir: "/var/run/openvswitch"}
	tests := []struct {
		name   string
		change func(*collector.OVSConfig)
		want   string
	}{
		{"empty rundir", func(c *collector.OVSConfig) { c.RunDir = "" }, "--ovs.rundir is empty"},
		{"empty bridge", func(c *collector.OVSConfig) { c.Bridges = []string{"br-int", ""} }, "--ovs.bridge is empty"},
		{"negative names refresh", func(c *collector.OVSConfig) { c.NamesMaxAge = -time.Minute }, "--ovs.table-names-refresh=-1m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid
			tt.change(&cfg)
			c, err := collector.NewOVSCollector(cfg, promslog.NewNopLogger())
			if err == nil {
				t.Fatalf("NewOVSCollector(%+v) = %v, want an error", cfg, c)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
		})
	}
	if _, err := newOVSCollector(t, valid); err != nil {
		t.Errorf("NewOVSCollector(%+v): %v", valid, err)
	}
}

// checkTable checks the flows, lookups and matches of one table and its
// table_name label; a negative want is not checked.
func checkTable(t *testing.T, mfs families, bridge string, id int, name string, flows, lookups, matches float64) {
	t.Helper()
	for metric, want := range map[string]float64{
		"datapath_ovs_table_flows":         flows,
		"datapath_ovs_table_lookups_total": lookups,
		"datapath_ovs_table_matches_total": matches,
	} {
		ms := mfs.series(metric, "bridge", bridge, "table_id", strconv.Itoa(id))
		if len(ms) != 1 {
			t.Errorf("%s{bridge=%q,table_id=\"%d\"}: %d series, want 1", metric, bridge, id, len(ms))
			continue
		}
		if got := labelOf(ms[0], "table_name"); got != name {
			t.Errorf("%s{bridge=%q,table_id=\"%d\"}: table_name %q, want %q", metric, bridge, id, got, name)
		}
		if got := testenv.MetricValue(ms[0]); want >= 0 && got != want {
			t.Errorf("%s{bridge=%q,table_id=\"%d\"} = %v, want %v", metric, bridge, id, got, want)
		}
	}
}

// checkOVSFamilies checks the types and help texts of the ovs metrics.
func checkOVSFamilies(t *testing.T, mfs families) {
	t.Helper()
	types := map[string]dto.MetricType{
		"datapath_ovs_table_flows":         dto.MetricType_GAUGE,
		"datapath_ovs_table_lookups_total": dto.MetricType_COUNTER,
		"datapath_ovs_table_matches_total": dto.MetricType_COUNTER,
		"datapath_ovs_table_flows_limit":   dto.MetricType_GAUGE,
	}
	for name, typ := range types {
		mf := mfs[name]
		if mf == nil {
			t.Errorf("%s missing", name)
			continue
		}
		if mf.GetType() != typ {
			t.Errorf("%s is a %v, want %v", name, mf.GetType(), typ)
		}
		if !strings.Contains(mf.GetHelp(), "OVS") {
			t.Errorf("%s help %q does not say where the number comes from", name, mf.GetHelp())
		}
		for _, m := range mf.GetMetric() {
			var names []string
			for _, lp := range m.GetLabel() {
				names = append(names, lp.GetName())
			}
			if strings.Join(names, ",") != "bridge,table_id,table_name" {
				t.Errorf("%s has labels %q, want bridge, table_id, table_name", name, names)
				break
			}
		}
	}
}

// tableIDs returns the table_id labels of metric name for bridge, as a
// comma-separated list in numeric order.
func tableIDs(mfs families, name, bridge string) string {
	var ids []int
	for _, m := range mfs.series(name, "bridge", bridge) {
		id, _ := strconv.Atoi(labelOf(m, "table_id"))
		ids = append(ids, id)
	}
	slices.Sort(ids)
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.Itoa(id)
	}
	return strings.Join(s, ",")
}

// update runs c.Update once, discarding the metrics, and returns its error.
// newOVSCollector builds the ovs collector and closes it (its OVSDB monitor
// and OpenFlow sessions) when the test ends.
func newOVSCollector(t *testing.T, cfg collector.OVSConfig) (collector.Collector, error) {
	t.Helper()
	c, err := collector.NewOVSCollector(cfg, promslog.NewNopLogger())
	if err == nil {
		t.Cleanup(func() { c.(io.Closer).Close() })
	}
	return c, err
}

func update(t *testing.T, c collector.Collector) error {
	t.Helper()
	return updateWithin(t, c, testTimeout)
}

// updateWithin runs c.Update with the deadline the Exporter would give it
// for --X.timeout=d.
func updateWithin(t *testing.T, c collector.Collector, d time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	ch := make(chan prometheus.Metric)
	done := make(chan struct{})
	go func() {
		for range ch {
		}
		close(done)
	}()
	err := c.Update(ctx, ch)
	close(ch)
	<-done
	return err
}

// TestOVSCollectorAntreaBridge checks that the compat series follow
// --antrea.bridge: an agent configured with another ovsBridge than br-int.
func TestOVSCollectorAntreaBridge(t *testing.T) {
	o := testenv.OVSForTest(t, testenv.OVSOptions{})
	for _, br := range []string{"br-int", "br-antrea"} {
		if err := o.AddBridge(br, "OpenFlow13"); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.AddFlows("br-antrea", []string{"table=0,priority=1,actions=drop", "table=0,priority=2,ip,actions=drop"}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		bridge string
		want   float64 // antrea_agent_ovs_total_flow_count
	}{
		{"br-antrea", 3}, // its own 2 and the NORMAL flow of a new bridge
		{"", 1},          // br-int: the NORMAL flow alone
	} {
		t.Run("bridge="+tt.bridge, func(t *testing.T) {
			c, err := newOVSCollector(t, collector.OVSConfig{RunDir: o.RunDir, Bridges: []string{"br-int", "br-antrea"}, CompatAntrea: true, AntreaBridge: tt.bridge})
			if err != nil {
				t.Fatal(err)
			}
			mfs := gather(t, newRegistry(t, promslog.NewNopLogger(), map[string]collector.Collector{"ovs": c}))
			if got := mfs.value(t, "antrea_agent_ovs_total_flow_count"); got != tt.want {
				t.Errorf("antrea_agent_ovs_total_flow_count = %v, want %v", got, tt.want)
			}
		})
	}
}
