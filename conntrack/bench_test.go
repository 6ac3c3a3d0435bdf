package conntrack

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	ctnl "github.com/ti-mo/conntrack"

	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
)

// BenchmarkConntrackCount measures what one scrape of the conntrack entry
// count costs in a private network namespace holding 1k, 10k and 100k
// entries (real UDP flows on loopback), two ways:
//
//   - method=statsglobal: this project, Reader.Read: the global and per-CPU
//     statistics requests, O(1) in the table size.
//   - method=dump: a full ti-mo/conntrack Dump and len(), which is how a
//     count is had from a dump (Antrea's Flow Exporter dumps the table to
//     build its connection store): O(n) in time, memory and kernel work.
//
// scripts/bench.sh turns the output into docs/bench/README.md.
func BenchmarkConntrackCount(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			if limit := testenv.ConntrackMax(b); limit < uint64(n)+1000 {
				b.Skipf("nf_conntrack_max is %d: too small for %d entries", limit, n)
			}
			ns := testenv.NetnsForTest(b, testenv.NetnsOptions{})
			ctx := testenv.Context(b, 5*time.Minute)
			if err := ns.FillUDP(ctx, n, 0); err != nil {
				b.Fatal(err)
			}

			b.Run("method=statsglobal", func(b *testing.B) {
				r, err := NewReader(Config{NetnsPath: ns.Path})
				if err != nil {
					b.Fatal(err)
				}
				defer r.Close()
				var entries uint64
				b.ReportAllocs()
				for b.Loop() {
					snap, err := r.Read(ctx)
					if err != nil {
						b.Fatal(err)
					}
					entries = snap.Global.Entries
				}
				reportEntries(b, n, entries)
			})

			b.Run("method=dump", func(b *testing.B) {
				f, err := os.Open(ns.Path)
				if err != nil {
					b.Fatal(err)
				}
				defer f.Close()
				var entries uint64
				b.ReportAllocs()
				for b.Loop() {
					// Dial per op, as Read does, so both pay for a socket.
					c, err := ctnl.Dial(&netlink.Config{NetNS: int(f.Fd())})
					if err != nil {
						b.Fatal(err)
					}
					flows, err := c.Dump(nil)
					c.Close()
					if err != nil {
						b.Fatalf("dumping conntrack: %v", err)
					}
					entries = uint64(len(flows))
				}
				reportEntries(b, n, entries)
			})
		})
	}
}

// reportEntries checks that a method saw the n entries FillUDP made (and
// only a handful more) and reports the count.
func reportEntries(b *testing.B, n int, entries uint64) {
	b.Helper()
	if entries < uint64(n) || entries > uint64(n)+100 {
		b.Fatalf("saw %d conntrack entries, FillUDP made %d", entries, n)
	}
	b.ReportMetric(float64(entries), "entries/op")
}
