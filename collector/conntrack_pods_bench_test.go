package collector

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/prometheus/client_golang/prometheus"
	ctnl "github.com/ti-mo/conntrack"
	"golang.org/x/sys/unix"

	"github.com/datapath-exporter/datapath-exporter/conntrack"
	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
	"github.com/datapath-exporter/datapath-exporter/ovs"
)

// podDumpPods is how many Pods the per-Pod dump benchmark joins with.
const podDumpPods = 100

// podDumpInventory is an OVSDB inventory of podDumpPods Pods as Antrea
// writes them, built in memory (the join reads only the Port rows' IPs
// and names, which the monitor's tests check against a real OVSDB). Pod 0
// is 127.0.0.1, the source of every entry FillUDP makes; Pod i > 0 is
// 127.1.0.i, the destination of one.
func podDumpInventory() ovs.Inventory {
	var ports []ovs.Port
	for i := range podDumpPods {
		ip := netip.MustParseAddr(fmt.Sprintf("127.1.0.%d", i))
		if i == 0 {
			ip = netip.MustParseAddr("127.0.0.1")
		}
		ports = append(ports, ovs.Port{Name: fmt.Sprintf("pod%d-abcdef", i), IPs: []netip.Addr{ip},
			ExternalIDs: map[string]string{ovs.ExternalIDPodName: fmt.Sprintf("pod-%d", i), ovs.ExternalIDPodNamespace: "bench"}})
	}
	return ovs.Inventory{Bridges: []string{"br-int"}, Ports: map[string][]ovs.Port{"br-int": ports}}
}

// BenchmarkPodDump compares the conntrack_pods collector's dump and join
// with two ways of having the same counts, at 10k, 100k and 250k entries
// (real UDP flows on loopback in a private namespace) and 100 Pods. Each
// call runs in a process of its own (this test binary again, running
// TestPodDumpChild), so that its peak RSS is its own; the methods take
// turns round after round (BENCH_ROUNDS, 3 by default):
//
//   - method=addrcounts: this project: conntrack.Reader.AddrCounts keeping
//     the Pods' addresses, joinPods and exportConntrackPods (top 10).
//   - method=ti-mo-dump: ti-mo/conntrack Dump, then a map per source and
//     destination address, joined with the same Pods.
//   - method=conntrack-L: `conntrack -L` forked in the namespace, its
//     output counted per src= and dst= of the original direction.
//
// The series of addrcounts are checked to be at most 2×top+2.
// scripts/bench.sh runs it (under BenchmarkPodDump) and benchreport turns
// the lines into docs/bench/README.md.
func BenchmarkPodDump(b *testing.B) {
	rounds := 3
	if v, err := strconv.Atoi(os.Getenv("BENCH_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{10_000, 100_000, 250_000} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			if limit := testenv.ConntrackMax(b); limit < uint64(n)+1000 {
				b.Skipf("nf_conntrack_max is %d: too small for %d entries", limit, n)
			}
			ns := testenv.NetnsForTest(b, testenv.NetnsOptions{})
			ctx := testenv.Context(b, 10*time.Minute)
			if err := ns.FillUDP(ctx, n, 0); err != nil {
				b.Fatal(err)
			}
			methods := []string{"addrcounts", "ti-mo-dump", "conntrack-L"}
			for i := range rounds {
				for j := range methods {
					m := methods[(i+j)%len(methods)]
					cmd := exec.CommandContext(ctx, self, "-test.run=^TestPodDumpChild$", "-test.count=1")
					cmd.Env = append(os.Environ(), "DPX_PODDUMP_METHOD="+m, "DPX_PODDUMP_NETNS="+ns.Path, "DPX_PODDUMP_NETNS_NAME="+ns.Name)
					out, err := cmd.Output()
					if err != nil {
						b.Fatalf("%s: %v\n%s", m, err, out)
					}
					var entries, top, series, nanos, rssKiB, childKiB int64
					line := lastLine(string(out), "poddump:")
					if _, err := fmt.Sscanf(line, "poddump: entries=%d top=%d series=%d ns=%d rss-kib=%d child-rss-kib=%d",
						&entries, &top, &series, &nanos, &rssKiB, &childKiB); err != nil {
						b.Fatalf("%s: %v in %q", m, err, out)
					}
					if entries < int64(n) || top < int64(n) {
						b.Fatalf("%s: %d entries, %d from Pod 0: want at least %d", m, entries, top, n)
					}
					if m == "addrcounts" && series > 2*10+2 {
						b.Fatalf("%d entry series, more than 2×top+2", series)
					}
					// The peak RSS of the process that holds the table:
					// conntrack -L's own, the others' in-process.
					peak := max(rssKiB, childKiB)
					fmt.Printf("BenchmarkPodDump/entries=%d/method=%s\t1\t%d ns/op\t%.1f peak-RSS-MiB\t%d series\n", n, m, nanos, float64(peak)/1024, series)
				}
			}
		})
	}
}

func lastLine(out, prefix string) string {
	var last string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix) {
			last = l
		}
	}
	return last
}

// TestPodDumpChild is one call of BenchmarkPodDump, in a process of its
// own; it does nothing unless that benchmark started it.
func TestPodDumpChild(t *testing.T) {
	method := os.Getenv("DPX_PODDUMP_METHOD")
	if method == "" {
		// Not a child of BenchmarkPodDump: nothing to do. Not a skip,
		// which CI=true turns into a failure (scripts/testreport).
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	inv := podDumpInventory()
	pods := podAddrs(inv)
	start := time.Now()
	var r podsReading
	switch method {
	case "addrcounts":
		reader, err := conntrack.NewReader(conntrack.Config{NetnsPath: os.Getenv("DPX_PODDUMP_NETNS")})
		if err != nil {
			t.Fatal(err)
		}
		defer reader.Close()
		counts, err := reader.AddrCounts(ctx, func(a netip.Addr) bool { _, ok := pods[a.Unmap()]; return ok })
		if err != nil {
			t.Fatal(err)
		}
		r = joinPods(counts, inv)
	case "ti-mo-dump":
		f, err := os.Open(os.Getenv("DPX_PODDUMP_NETNS"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		c, err := ctnl.Dial(&netlink.Config{NetNS: int(f.Fd())})
		if err != nil {
			t.Fatal(err)
		}
		flows, err := c.Dump(nil)
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		counts := conntrack.AddrCounts{Sources: map[netip.Addr]uint64{}, Destinations: map[netip.Addr]uint64{}}
		for _, fl := range flows {
			counts.Sources[fl.TupleOrig.IP.SourceAddress]++
			counts.Destinations[fl.TupleOrig.IP.DestinationAddress]++
			counts.Total++
		}
		r = joinPods(counts, inv)
	case "conntrack-L":
		cmd := exec.CommandContext(ctx, "ip", "netns", "exec", os.Getenv("DPX_PODDUMP_NETNS_NAME"), "conntrack", "-L")
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		counts := conntrack.AddrCounts{Sources: map[netip.Addr]uint64{}, Destinations: map[netip.Addr]uint64{}}
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			// The first src= and dst= of a line are the original
			// direction's.
			line := sc.Text()
			counts.Sources[fieldAddr(line, " src=")]++
			counts.Destinations[fieldAddr(line, " dst=")]++
			counts.Total++
		}
		if err := errors.Join(sc.Err(), cmd.Wait()); err != nil {
			t.Fatal(err)
		}
		r = joinPods(counts, inv)
	default:
		t.Fatalf("unknown method %q", method)
	}
	ms := collectMetrics(func(ch chan<- prometheus.Metric) { exportConntrackPods(ch, r, 10) })
	elapsed := time.Since(start)
	var self, children unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &self)
	_ = unix.Getrusage(unix.RUSAGE_CHILDREN, &children)
	fmt.Printf("poddump: entries=%d top=%d series=%d ns=%d rss-kib=%d child-rss-kib=%d\n", r.total,
		r.source.pods[podKey{"bench", "pod-0"}], len(ms)-2, elapsed.Nanoseconds(), self.Maxrss, children.Maxrss)
}

// fieldAddr is the address after the first key (" src=") of a line of
// conntrack -L.
func fieldAddr(line, key string) netip.Addr {
	_, v, ok := strings.Cut(line, key)
	if !ok {
		return netip.Addr{}
	}
	v, _, _ = strings.Cut(v, " ")
	a, _ := netip.ParseAddr(v)
	return a
}
