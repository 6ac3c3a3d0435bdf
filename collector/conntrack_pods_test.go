package collector_test

import (
	"context"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/promslog"

	"github.com/datapath-exporter/datapath-exporter/collector"
	"github.com/datapath-exporter/datapath-exporter/conntrack"
	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
)

// podPort is an OVS port carrying a Pod's Antrea external IDs.
type podPort struct {
	port, namespace, pod, ips string // ips: external_ids:ip-address as Antrea writes it
}

// addPodPorts adds ports (without a device: only their OVSDB rows
// matter) to br-int with Antrea's external IDs.
func addPodPorts(t *testing.T, o *testenv.OVS, ports ...podPort) {
	t.Helper()
	for _, p := range ports {
		args := append([]string{"add-port", "br-int", p.port}, testenv.SetExternalIDs("Port", p.port,
			map[string]string{"pod-name": p.pod, "pod-namespace": p.namespace, "ip-address": p.ips})...)
		if _, err := o.Vsctl(args...); err != nil {
			t.Fatal(err)
		}
	}
}

// insertFlows adds n UDP entries from src to dst (each its own source
// port, from sport up) with `conntrack -I`, in Antrea's Pod zone.
func insertFlows(t *testing.T, ctx context.Context, ns *testenv.Netns, src, dst string, sport, n int) {
	t.Helper()
	for i := range n {
		if _, err := ns.Exec(ctx, "conntrack", "-I", "-p", "udp", "-s", src, "-d", dst,
			"--sport", strconv.Itoa(sport+i), "--dport", "53", "-t", "3600", "-w", "65520"); err != nil {
			t.Fatal(err)
		}
	}
}

// listed counts the entries `conntrack -L` lists with the given filter.
func listed(t *testing.T, ctx context.Context, ns *testenv.Netns, args ...string) float64 {
	t.Helper()
	out, err := ns.Exec(ctx, append([]string{"conntrack", "-L"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	return float64(strings.Count(out, "\n"))
}

// listedFor counts what `conntrack -L` lists for the addresses of a Pod
// as source (-s) or destination (-d).
func listedFor(t *testing.T, ctx context.Context, ns *testenv.Netns, flag, ips string) float64 {
	t.Helper()
	var n float64
	for _, ip := range strings.Split(ips, ",") {
		a, err := netip.ParseAddr(ip)
		if err != nil {
			continue // the malformed entry of an ip-address
		}
		family := "ipv4"
		if a.Is6() {
			family = "ipv6"
		}
		n += listed(t, ctx, ns, "-f", family, flag, ip)
	}
	return n
}

func newPodsCollector(t *testing.T, cfg collector.ConntrackPodsConfig, logs io.Writer) collector.Collector {
	t.Helper()
	c, err := collector.NewConntrackPodsCollector(cfg, promslog.New(&promslog.Config{Writer: logs}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.(io.Closer).Close() })
	return c
}

// TestConntrackPodsCollector fills a real conntrack table with entries
// from and to the addresses that real OVS ports carry in Antrea's external
// IDs, IPv4 and IPv6, and checks each Pod's count against `conntrack -L`
// for its addresses, the top and rest against the table, that three
// concurrent scrapes share one dump, and that a malformed ip-address is
// logged once and skipped.
func TestConntrackPodsCollector(t *testing.T) {
	ns := testenv.NetnsForTest(t, testenv.NetnsOptions{})
	o := testenv.OVSForTest(t, testenv.OVSOptions{})
	if err := o.AddBridge("br-int"); err != nil {
		t.Fatal(err)
	}
	ctx := testenv.Context(t, 2*time.Minute)
	pods := []podPort{
		{"web-a1", "shop", "web", "10.10.0.2,fd00::2"},
		{"db-b2", "shop", "db", "10.10.0.3"},
		{"dns-c3", "kube-system", "dns", "10.10.0.4"},
		{"odd-d4", "shop", "odd", "10.10.0.9,not-an-address"},
	}
	addPodPorts(t, o, pods...)
	insertFlows(t, ctx, ns, "10.10.0.2", "10.10.0.4", 1000, 6)
	insertFlows(t, ctx, ns, "fd00::2", "fd00::99", 1000, 2)
	insertFlows(t, ctx, ns, "10.10.0.3", "10.10.0.4", 2000, 3)
	insertFlows(t, ctx, ns, "192.0.2.1", "10.10.0.2", 3000, 2)
	insertFlows(t, ctx, ns, "10.10.0.9", "10.10.0.4", 4000, 1)

	logs := &testenv.SyncBuffer{}
	c := newPodsCollector(t, collector.ConntrackPodsConfig{Config: conntrack.Config{NetnsPath: ns.Path}, RunDir: o.RunDir,
		Refresh: time.Hour, Top: 2, Timeout: 10 * time.Second}, logs)
	reg := newRegistry(t, promslog.NewNopLogger(), map[string]collector.Collector{"conntrack_pods": c})
	mfs := gather(t, reg)
	if got := mfs.value(t, "datapath_scrape_collector_success", "collector", "conntrack_pods"); got != 1 {
		t.Fatalf("success = %v", got)
	}
	total := listed(t, ctx, ns, "-f", "ipv4") + listed(t, ctx, ns, "-f", "ipv6")
	const name = "datapath_conntrack_pod_entries"
	top := map[string][]string{"source": {"web", "db"}, "destination": {"dns", "web"}}
	for dir, names := range top {
		flag := map[string]string{"source": "-s", "destination": "-d"}[dir]
		var sum float64
		for _, pod := range names {
			var p podPort
			for _, q := range pods {
				if q.pod == pod {
					p = q
				}
			}
			want := listedFor(t, ctx, ns, flag, p.ips)
			if got := mfs.value(t, name, "direction", dir, "pod", pod, "namespace", p.namespace); got != want || want == 0 {
				t.Errorf("%s %s/%s = %v, conntrack -L %s lists %v for %s", dir, p.namespace, pod, got, flag, want, p.ips)
			}
			sum += want
		}
		if got := mfs.value(t, name, "direction", dir, "pod", "", "namespace", ""); got != total-sum {
			t.Errorf("%s rest = %v, want the table's %v less the top's %v", dir, got, total, sum)
		}
		if n := len(mfs.series(name, "direction", dir)); n != 3 {
			t.Errorf("%s: %d series, want the top 2 and the rest", dir, n)
		}
	}
	at := mfs.value(t, "datapath_conntrack_pods_read_timestamp_seconds")
	if d := mfs.value(t, "datapath_conntrack_pods_read_duration_seconds"); d <= 0 || d > 10 {
		t.Errorf("read duration %v s", d)
	}

	// Three scrapers within one refresh interval: one dump, whose values
	// they all serve even though the table has grown since.
	insertFlows(t, ctx, ns, "10.10.0.3", "10.10.0.4", 5000, 4)
	var wg sync.WaitGroup
	got := make([]families, 3)
	for i := range got {
		wg.Go(func() { got[i] = gather(t, reg) })
	}
	wg.Wait()
	for i, mfs := range got {
		if ts := mfs.value(t, "datapath_conntrack_pods_read_timestamp_seconds"); ts != at {
			t.Errorf("scraper %d: read at %v, want the one dump at %v", i, ts, at)
		}
		if v := mfs.value(t, name, "direction", "source", "pod", "db", "namespace", "shop"); v != 3 {
			t.Errorf("scraper %d: db has %v source entries, want the first dump's 3", i, v)
		}
	}
	const warning = "OVS port with an address that is not one"
	if n := strings.Count(logs.String(), warning); n != 1 || !strings.Contains(logs.String(), "not-an-address") {
		t.Errorf("logged the malformed ip-address %d times, want once:\n%s", n, logs)
	}
}

// TestConntrackPodsDeletedPod deletes a Pod's port between dumps: it
// leaves the top at the next dump, and its entries count in the rest.
func TestConntrackPodsDeletedPod(t *testing.T) {
	ns := testenv.NetnsForTest(t, testenv.NetnsOptions{})
	o := testenv.OVSForTest(t, testenv.OVSOptions{})
	if err := o.AddBridge("br-int"); err != nil {
		t.Fatal(err)
	}
	ctx := testenv.Context(t, 2*time.Minute)
	addPodPorts(t, o, podPort{"web-a1", "shop", "web", "10.10.0.2"}, podPort{"db-b2", "shop", "db", "fd00::3"})
	insertFlows(t, ctx, ns, "10.10.0.2", "10.10.0.4", 1000, 5)
	insertFlows(t, ctx, ns, "fd00::3", "fd00::4", 1000, 2)
	c := newPodsCollector(t, collector.ConntrackPodsConfig{Config: conntrack.Config{NetnsPath: ns.Path}, RunDir: o.RunDir,
		Refresh: 500 * time.Millisecond, Top: 10, Timeout: 10 * time.Second}, io.Discard)
	reg := newRegistry(t, promslog.NewNopLogger(), map[string]collector.Collector{"conntrack_pods": c})
	const name = "datapath_conntrack_pod_entries"
	mfs := gather(t, reg)
	if got := mfs.value(t, name, "direction", "source", "pod", "web", "namespace", "shop"); got != 5 {
		t.Fatalf("web: %v source entries, want 5", got)
	}
	if got := mfs.value(t, name, "direction", "source", "pod", "db", "namespace", "shop"); got != 2 {
		t.Fatalf("db (IPv6): %v source entries, want 2", got)
	}
	if _, err := o.Vsctl("del-port", "br-int", "web-a1"); err != nil {
		t.Fatal(err)
	}
	deleted := float64(time.Now().UnixNano()) / 1e9
	deadline := time.Now().Add(20 * time.Second)
	for {
		mfs = gather(t, reg)
		end := mfs.value(t, "datapath_conntrack_pods_read_timestamp_seconds")
		if end-mfs.value(t, "datapath_conntrack_pods_read_duration_seconds") > deleted+0.2 {
			break // a dump that began after OVSDB had the deletion
		}
		if time.Now().After(deadline) {
			t.Fatal("no new dump within 20s of a 500ms refresh")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if s := mfs.series(name, "pod", "web"); len(s) != 0 {
		t.Errorf("deleted Pod still exported: %v", s)
	}
	if got := mfs.value(t, name, "direction", "source", "pod", "", "namespace", ""); got != 5 {
		t.Errorf("rest = %v, want the deleted Pod's 5 entries", got)
	}
}

// TestConntrackPodsTimeout dumps a 50k-entry table with a 1ms deadline:
// the dump fails this collector alone, with the hint naming its flag,
// and the conntrack collector on the same table still succeeds.
func TestConntrackPodsTimeout(t *testing.T) {
	ns := testenv.NetnsForTest(t, testenv.NetnsOptions{})
	o := testenv.OVSForTest(t, testenv.OVSOptions{})
	if err := o.AddBridge("br-int"); err != nil {
		t.Fatal(err)
	}
	ctx := testenv.Context(t, 2*time.Minute)
	if err := ns.FillUDP(ctx, 50000, 0); err != nil {
		t.Fatal(err)
	}
	cfg := conntrack.Config{NetnsPath: ns.Path}
	pods := newPodsCollector(t, collector.ConntrackPodsConfig{Config: cfg, RunDir: o.RunDir,
		Refresh: time.Hour, Top: 10, Timeout: time.Millisecond}, io.Discard)
	ct, err := collector.NewConntrackCollector(collector.ConntrackConfig{Config: cfg}, promslog.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ct.(io.Closer).Close() })
	logs := &testenv.SyncBuffer{}
	reg := newRegistry(t, promslog.New(&promslog.Config{Writer: logs}), map[string]collector.Collector{"conntrack_pods": pods, "conntrack": ct})
	mfs := gather(t, reg)
	if got := mfs.value(t, "datapath_scrape_collector_success", "collector", "conntrack_pods"); got != 0 {
		t.Errorf("conntrack_pods success = %v, want 0", got)
	}
	if got := mfs.value(t, "datapath_scrape_collector_success", "collector", "conntrack"); got != 1 {
		t.Errorf("conntrack success = %v, want 1", got)
	}
	if len(mfs.series("datapath_conntrack_pod_entries")) != 0 {
		t.Error("per-Pod series from a dump that did not finish")
	}
	if !strings.Contains(logs.String(), "--conntrack.pods-timeout") {
		t.Errorf("no hint naming --conntrack.pods-timeout in the log:\n%s", logs)
	}
}

func TestNewConntrackPodsCollectorErrors(t *testing.T) {
	for _, tt := range []struct {
		cfg  collector.ConntrackPodsConfig
		flag string
	}{
		{collector.ConntrackPodsConfig{Refresh: 0, Top: 10, Timeout: time.Second}, "--conntrack.pods-refresh=0s"},
		{collector.ConntrackPodsConfig{Refresh: time.Minute, Top: 0, Timeout: time.Second}, "--conntrack.pods-top=0"},
		{collector.ConntrackPodsConfig{Refresh: time.Minute, Top: 10, Timeout: -time.Second}, "--conntrack.pods-timeout=-1s"},
	} {
		tt.cfg.RunDir = t.TempDir()
		c, err := collector.NewConntrackPodsCollector(tt.cfg, promslog.NewNopLogger())
		if err == nil {
			c.(io.Closer).Close()
			t.Errorf("%+v: no error", tt.cfg)
			continue
		}
		if !strings.Contains(err.Error(), tt.flag) {
			t.Errorf("error %q does not name %s", err, tt.flag)
		}
	}
}
