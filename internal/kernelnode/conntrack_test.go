package kernelnode

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
)

var reZone = regexp.MustCompile(`\bzone=(\d+)\b`)

// zoneCounts counts the lines of `conntrack -L` per zone (no zone= is
// zone 0), as "zone:count" pairs in zone order, so it compares with ==.
func zoneCounts(listing string) string {
	counts := map[int]int{}
	for _, line := range strings.Split(listing, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		zone := 0
		if m := reZone.FindStringSubmatch(line); m != nil {
			zone, _ = strconv.Atoi(m[1])
		}
		counts[zone]++
	}
	var zones []int
	for z := range counts {
		zones = append(zones, z)
	}
	sort.Ints(zones)
	var parts []string
	for _, z := range zones {
		parts = append(parts, fmt.Sprintf("%d:%d", z, counts[z]))
	}
	return strings.Join(parts, " ")
}

func parseZoneCounts(s string) map[string]int {
	out := map[string]int{}
	for _, p := range strings.Fields(s) {
		z, c, _ := strings.Cut(p, ":")
		out[z], _ = strconv.Atoi(c)
	}
	return out
}

// TestZoneEntriesEqualConntrackList checks datapath_conntrack_zone_entries
// against `conntrack -L` in the guest, for entries OVS's ct() committed in
// Antrea's zone: Pod-to-Pod UDP and Pod-to-Service TCP, DNATed by
// EndpointDNAT.
func TestZoneEntriesEqualConntrackList(t *testing.T) {
	n := nodeForTest(t)
	ctx := testenv.Context(t, 3*time.Minute)
	podTraffic(t, ctx, n)
	if err := n.PodUDPFlood(ctx, 0, testenv.PodIP(1), 30000, 50); err != nil {
		t.Fatal(err)
	}
	listing := ""
	m, truth := atOneMoment(t, ctx, func() (string, error) {
		out, err := n.Sh(ctx, "conntrack -L 2>/dev/null; echo ==; conntrack -L -w 65520 2>/dev/null | wc -l")
		if err != nil {
			return "", err
		}
		all, inZone, _ := strings.Cut(out, "==\n")
		listing = all
		return zoneCounts(all) + " -w65520:" + strings.TrimSpace(inZone), nil
	})
	counts := parseZoneCounts(truth)
	if counts["65520"] != counts["-w65520"] {
		t.Fatalf("conntrack -L counts %d in zone 65520, -L -w 65520 lists %d", counts["65520"], counts["-w65520"])
	}
	delete(counts, "-w65520")
	if counts["65520"] < 50 {
		t.Fatalf("%d entries in zone 65520 after 50 UDP flows through ct(commit,zone=65520):\n%s", counts["65520"], listing)
	}
	// The Service connection went through nat(dst=...): its reply tuple
	// comes from an endpoint Pod, not the ClusterIP.
	dnat := regexp.MustCompile(`dst=` + regexp.QuoteMeta(testenv.ServiceIP(0)) + ` .*dport=80 src=10\.10\.1\.[234] dst=` + regexp.QuoteMeta(testenv.PodIP(3)) + `.*zone=65520`)
	if !dnat.MatchString(listing) {
		t.Errorf("no DNATed Service entry in zone 65520:\n%s", listing)
	}
	exported := map[string]bool{}
	for _, s := range m["datapath_conntrack_zone_entries"].GetMetric() {
		z := label(s, "zone")
		exported[z] = true
		if got := testenv.MetricValue(s); got != float64(counts[z]) {
			t.Errorf("zone %s: exported %v entries, conntrack -L lists %d", z, got, counts[z])
		}
	}
	for z, c := range counts {
		if !exported[z] {
			t.Errorf("zone %s (%d entries) not exported", z, c)
		}
	}
}

// ctStats sums `conntrack -S` over CPUs: "stat:value" pairs in name order.
func ctStats(out string) string {
	sums := map[string]uint64{}
	for _, line := range strings.Split(out, "\n") {
		for _, f := range strings.Fields(line) {
			k, v, ok := strings.Cut(f, "=")
			if !ok || k == "cpu" {
				continue
			}
			n, err := strconv.ParseUint(v, 10, 64)
			if err == nil {
				sums[k] += n
			}
		}
	}
	var keys []string
	for k := range sums {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s:%d", k, sums[k]))
	}
	return strings.Join(parts, " ")
}

// TestConntrackSaturationThroughOVS lowers the guest's own
// nf_conntrack_max, floods it from a Pod through br-int's
// ct(commit,zone=65520) until it is full, and checks the entries against
// the limit and the drop statistics against `conntrack -S`, and that
// DatapathConntrackTableFull fires in a Prometheus scraping the guest.
func TestConntrackSaturationThroughOVS(t *testing.T) {
	n := nodeForTest(t)
	ctx := testenv.Context(t, 4*time.Minute)
	const limit = 512
	old, err := n.Run(ctx, "cat", "/proc/sys/net/netfilter/nf_conntrack_max")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = n.Signal(ctx, "flood", syscall.SIGKILL)
		if _, err := n.Sh(ctx, "sysctl -qw net.netfilter.nf_conntrack_max="+strings.TrimSpace(old)+"; conntrack -F 2>/dev/null"); err != nil {
			t.Errorf("restoring the guest's conntrack table: %v", err)
		}
	})
	// A real Prometheus scrapes the guest's exporter with the project's
	// table-full alert.
	prom := testenv.PrometheusForTest(t, testenv.PrometheusOptions{Targets: []string{n.Forwarded(exporterPort)}, RuleFiles: []string{tableFullRuleFile(t)}})
	if _, err := n.Run(ctx, "sysctl", "-qw", fmt.Sprintf("net.netfilter.nf_conntrack_max=%d", limit)); err != nil {
		t.Fatal(err)
	}
	// A flood that goes on while the test looks: the kernel's garbage
	// collector evicts unreplied entries of a full table, the flood
	// refills it.
	if err := n.Start(ctx, "flood", "ip", "netns", "exec", "pod0", "env", "DPX_KERNELNODE_AGENT=udpflood",
		n.GuestPath("agent"), testenv.PodIP(1), "1024", "100000000"); err != nil {
		t.Fatal(err)
	}
	count := func() (string, error) {
		out, err := n.Run(ctx, "cat", "/proc/sys/net/netfilter/nf_conntrack_count")
		return strings.TrimSpace(out), err
	}
	if err := testenv.WaitFor(ctx, func() bool { c, _ := count(); return c == strconv.Itoa(limit) }); err != nil {
		c, _ := count()
		t.Fatalf("the table never filled: %s of %d entries", c, limit)
	}
	m, c := whileFlooding(t, ctx, count, func(m metrics, c string) bool {
		got, _ := m.get("datapath_conntrack_entries")
		return c == strconv.Itoa(limit) && got == limit
	})
	if c != strconv.Itoa(limit) {
		t.Fatalf("nf_conntrack_count %s while flooding, limit %d", c, limit)
	}
	if got, _ := m.get("datapath_conntrack_entries"); got != limit {
		t.Errorf("datapath_conntrack_entries = %v with the table full (%d)", got, limit)
	}
	if got, _ := m.get("datapath_conntrack_entries_limit"); got != limit {
		t.Errorf("datapath_conntrack_entries_limit = %v, nf_conntrack_max %d", got, limit)
	}
	waitAlertFiring(t, ctx, prom, tableFullAlert)

	if err := n.Signal(ctx, "flood", syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	m, stats := atOneMoment(t, ctx, func() (string, error) {
		out, err := n.Run(ctx, "conntrack", "-S")
		return ctStats(out), err
	})
	want := parseZoneCounts(stats)
	if want["drop"]+want["early_drop"] == 0 {
		t.Fatalf("a full table dropped nothing: conntrack -S %s", stats)
	}
	// Kernel 6.1 reports every one of these, clash_resolve and
	// chaintoolong included (5.10 / 5.15).
	for _, stat := range []string{"drop", "early_drop", "insert_failed", "found", "invalid", "insert", "error", "search_restart", "clash_resolve", "chaintoolong"} {
		name := "datapath_conntrack_" + stat + "_total"
		if got, ok := m.get(name); !ok || got != float64(want[stat]) {
			t.Errorf("%s = %v (present %v), conntrack -S sums %d", name, got, ok, want[stat])
		}
	}
	t.Logf("conntrack -S summed: %s", stats)
}
