package kernelnode

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
)

// podsTruth is the guest's conntrack table as the conntrack_pods
// collector should have counted it: the entries whose original direction
// has the flooding Pod's address as source, the target Pod's as
// destination, and all entries (every zone).
type podsTruth struct{ source, destination, total int }

// readPodsTruth counts `conntrack -L` (all zones) in the guest, then reads
// the guest's clock: a dump that started after that moment started after
// the counts were read.
func readPodsTruth(ctx context.Context, src, dst string) (podsTruth, float64, error) {
	out, err := node.Sh(ctx, fmt.Sprintf("conntrack -L -s %s 2>/dev/null | wc -l; conntrack -L -d %s 2>/dev/null | wc -l; conntrack -L 2>/dev/null | wc -l; date +%%s.%%N", src, dst))
	if err != nil {
		return podsTruth{}, 0, err
	}
	f := strings.Fields(out)
	if len(f) != 4 {
		return podsTruth{}, 0, fmt.Errorf("counting the guest's conntrack table: %q", out)
	}
	var v [4]float64
	for i := range f {
		if v[i], err = strconv.ParseFloat(f[i], 64); err != nil {
			return podsTruth{}, 0, fmt.Errorf("counting the guest's conntrack table: %q: %w", out, err)
		}
	}
	return podsTruth{int(v[0]), int(v[1]), int(v[2])}, v[3], nil
}

// dumpStart is when the dump behind the scrape's
// datapath_conntrack_pod_entries started, on the guest's clock.
func dumpStart(m metrics) (float64, bool) {
	at, ok1 := m.get("datapath_conntrack_pods_read_timestamp_seconds")
	took, ok2 := m.get("datapath_conntrack_pods_read_duration_seconds")
	return at - took, ok1 && ok2
}

// TestConntrackPodsThroughOVS floods from Pod 0 to Pod 1 through br-int's
// ct(commit,zone=65520) and checks datapath_conntrack_pod_entries against
// the guest's own table: Pod 0 is the top source with exactly the entries
// `conntrack -L -s` lists for its address, Pod 1 is a destination with
// exactly those `conntrack -L -d` lists, and each direction sums to the
// table's entries. The flood's entries are kept for minutes (the guest's
// UDP timeout raised) so the table holds still; what else expires is
// caught by reading the counts before and after a dump that started after
// the first reading, and retrying until the two agree.
func TestConntrackPodsThroughOVS(t *testing.T) {
	n := nodeForTest(t)
	ctx := testenv.Context(t, 3*time.Minute)
	const flood = 300
	src, dst := testenv.PodIP(0), testenv.PodIP(1)
	old, err := n.Run(ctx, "cat", "/proc/sys/net/netfilter/nf_conntrack_udp_timeout")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := n.Sh(ctx, "sysctl -qw net.netfilter.nf_conntrack_udp_timeout="+strings.TrimSpace(old)+"; conntrack -D -s "+src+" -d "+dst+" -p udp >/dev/null 2>&1; true"); err != nil {
			t.Errorf("restoring the guest's conntrack table: %v", err)
		}
	})
	if _, err := n.Run(ctx, "sysctl", "-qw", "net.netfilter.nf_conntrack_udp_timeout=600"); err != nil {
		t.Fatal(err)
	}
	// The flood ends before any reading: each of its datagrams is a new
	// unreplied entry in zone 65520, kept 600 s.
	if err := n.PodUDPFlood(ctx, 0, dst, 40000, flood); err != nil {
		t.Fatal(err)
	}

	var last string
	for attempt := 0; attempt < 20; attempt++ {
		before, since, err := readPodsTruth(ctx, src, dst)
		if err != nil {
			t.Fatal(err)
		}
		// Wait for a dump that started after the counts were read: one
		// starts every second (--conntrack.pods-refresh=1s), so 20 s is
		// a dump that hangs or fails, not a slow guest.
		var m metrics
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		werr := testenv.WaitFor(wctx, func() bool {
			m = scrape(t, ctx)
			if start, ok := dumpStart(m); ok && start >= since {
				return true
			}
			time.Sleep(200 * time.Millisecond)
			return false
		})
		cancel()
		if werr != nil {
			start, _ := dumpStart(m)
			t.Fatalf("no conntrack_pods dump started after %.3f (guest clock) in 20 s: the last served started at %.3f; collector success %v",
				since, start, success(m, "conntrack_pods"))
		}
		after, _, err := readPodsTruth(ctx, src, dst)
		if err != nil {
			t.Fatal(err)
		}
		if before != after {
			last = fmt.Sprintf("the table moved around the dump: %+v then %+v", before, after)
			continue
		}
		if before.source < flood {
			t.Fatalf("%d entries from Pod 0 (%s) after %d UDP flows through ct(commit,zone=65520)", before.source, src, flood)
		}
		checkPodEntries(t, m, before)
		t.Logf("conntrack -L: %+v (attempt %d)", before, attempt+1)
		return
	}
	t.Fatal(last)
}

// checkPodEntries compares one scrape's datapath_conntrack_pod_entries
// with the guest's table, read before and after its dump and unchanged.
func checkPodEntries(t *testing.T, m metrics, want podsTruth) {
	t.Helper()
	if got := success(m, "conntrack_pods"); got != 1 {
		t.Fatalf("conntrack_pods collector success %v", got)
	}
	type series struct {
		namespace, pod string
		v              float64
	}
	byDir := map[string][]series{}
	for _, s := range m["datapath_conntrack_pod_entries"].GetMetric() {
		d := label(s, "direction")
		byDir[d] = append(byDir[d], series{label(s, "namespace"), label(s, "pod"), testenv.MetricValue(s)})
	}
	var dump strings.Builder
	for d, ss := range byDir {
		for _, s := range ss {
			fmt.Fprintf(&dump, "  {namespace=%q,pod=%q,direction=%q} %v\n", s.namespace, s.pod, d, s.v)
		}
	}
	for _, d := range []string{"source", "destination"} {
		sum := 0.0
		for _, s := range byDir[d] {
			sum += s.v
		}
		if sum != float64(want.total) {
			t.Errorf("direction=%s sums to %v, conntrack -L lists %d entries:\n%s", d, sum, want.total, dump.String())
		}
	}
	// The flooding Pod is the top source, with exactly its entries.
	var top series
	for _, s := range byDir["source"] {
		if s.v > top.v {
			top = s
		}
	}
	if top.namespace != "default" || top.pod != "pod0" || top.v != float64(want.source) {
		t.Errorf("top direction=source series is %s/%s with %v, want default/pod0 with %d (conntrack -L -s %s):\n%s",
			top.namespace, top.pod, top.v, want.source, testenv.PodIP(0), dump.String())
	}
	found := false
	for _, s := range byDir["destination"] {
		if s.namespace == "default" && s.pod == "pod1" {
			found = true
			if s.v != float64(want.destination) {
				t.Errorf("default/pod1 direction=destination = %v, conntrack -L -d %s lists %d", s.v, testenv.PodIP(1), want.destination)
			}
		}
	}
	if !found {
		t.Errorf("default/pod1, the flood's destination, has no direction=destination series:\n%s", dump.String())
	}
}
