package conntrack

import (
	"encoding/binary"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
)

// attr builds one netlink attribute.
func attr(typ uint16, v []byte) []byte {
	b := make([]byte, 4, 4+len(v)+3)
	binary.NativeEndian.PutUint16(b[0:2], uint16(4+len(v)))
	binary.NativeEndian.PutUint16(b[2:4], typ)
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

const nlaFNested = 0x8000

// addrEntry builds a ctnetlink entry whose original tuple goes from src
// to dst, with a reply tuple the other way round (to be ignored) and a
// zone when zone >= 0.
func addrEntry(src, dst string, zone int) []byte {
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	srcT, dstT := uint16(ctaIPv4Src), uint16(ctaIPv4Dst)
	if s.Is6() {
		srcT, dstT = ctaIPv6Src, ctaIPv6Dst
	}
	tuple := func(a, b netip.Addr) []byte {
		ip := cat(attr(srcT|unix_NLA_F_NET_BYTEORDER, a.AsSlice()), attr(dstT|unix_NLA_F_NET_BYTEORDER, b.AsSlice()))
		proto := attr(2|nlaFNested, attr(1, []byte{17})) // CTA_TUPLE_PROTO { CTA_PROTO_NUM udp }
		return cat(attr(ctaTupleIP|nlaFNested, ip), proto)
	}
	b := []byte{2, 0, 0, 0}
	b = append(b, attr(ctaTupleOrig|nlaFNested, tuple(s, d))...)
	b = append(b, attr(2|nlaFNested, tuple(d, s))...) // CTA_TUPLE_REPLY
	if zone >= 0 {
		b = append(b, attr(ctaZone|unix_NLA_F_NET_BYTEORDER, []byte{byte(zone >> 8), byte(zone)})...)
	}
	return b
}

func TestCountAddrs(t *testing.T) {
	a := netip.MustParseAddr
	tests := []struct {
		name     string
		batch    []byte
		done     bool
		src, dst map[netip.Addr]uint64
		zones    map[uint16]uint64
		wantErr  bool
	}{
		{"v4 and v6, then done",
			cat(nlmsg(0x100, addrEntry("10.0.0.1", "10.0.0.2", 65520)), nlmsg(0x100, addrEntry("10.0.0.1", "10.0.0.3", -1)),
				nlmsg(0x100, addrEntry("fd00::1", "fd00::2", 65510)), nlmsg(3, []byte{0, 0, 0, 0})),
			true,
			map[netip.Addr]uint64{a("10.0.0.1"): 2, a("fd00::1"): 1},
			map[netip.Addr]uint64{a("10.0.0.2"): 1, a("10.0.0.3"): 1, a("fd00::2"): 1},
			map[uint16]uint64{65520: 1, 0: 1, 65510: 1}, false},
		{"no tuple counts under the zero address", nlmsg(0x100, entry(7)), false,
			map[netip.Addr]uint64{{}: 1}, map[netip.Addr]uint64{{}: 1}, map[uint16]uint64{7: 1}, false},
		{"short nfgenmsg", nlmsg(0x100, []byte{2}), false, nil, nil, nil, true},
		{"short IPv4 address", nlmsg(0x100, cat([]byte{2, 0, 0, 0},
			attr(ctaTupleOrig|nlaFNested, attr(ctaTupleIP|nlaFNested, attr(ctaIPv4Src, []byte{10, 0}))))), false, nil, nil, nil, true},
		{"short IPv6 address", nlmsg(0x100, cat([]byte{2, 0, 0, 0},
			attr(ctaTupleOrig|nlaFNested, attr(ctaTupleIP|nlaFNested, attr(ctaIPv6Dst, make([]byte, 8)))))), false, nil, nil, nil, true},
		{"nested length past its parent", nlmsg(0x100, cat([]byte{2, 0, 0, 0},
			attr(ctaTupleOrig|nlaFNested, []byte{200, 0, 1, 0}))), false, nil, nil, nil, true},
		{"short zone", nlmsg(0x100, cat([]byte{2, 0, 0, 0}, attr(ctaZone, []byte{1}))), false, nil, nil, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := newAddrCounts()
			done, err := countAddrs(tt.batch, &got)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if done != tt.done {
				t.Errorf("done = %v, want %v", done, tt.done)
			}
			equal(t, "sources", got.Sources, tt.src)
			equal(t, "destinations", got.Destinations, tt.dst)
			equal(t, "zones", got.Zones, tt.zones)
			var n uint64
			for _, v := range tt.src {
				n += v
			}
			if got.Total != n {
				t.Errorf("total %d, want %d", got.Total, n)
			}
		})
	}
}

func equal[K comparable](t *testing.T, what string, got, want map[K]uint64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s %v, want %v", what, got, want)
		return
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s %v, want %v", what, got, want)
			return
		}
	}
}

func FuzzCountAddrs(f *testing.F) {
	f.Add(cat(nlmsg(0x100, addrEntry("10.0.0.1", "10.0.0.2", 65520)), nlmsg(3, []byte{0, 0, 0, 0})))
	f.Add(nlmsg(0x100, addrEntry("fd00::1", "fd00::2", -1)))
	f.Fuzz(func(t *testing.T, b []byte) {
		c := newAddrCounts()
		if _, err := countAddrs(b, &c); err != nil {
			return
		}
		var s, d uint64
		for _, v := range c.Sources {
			s += v
		}
		for _, v := range c.Destinations {
			d += v
		}
		if s != c.Total || d != c.Total {
			t.Fatalf("sources add up to %d, destinations to %d, total %d", s, d, c.Total)
		}
	})
}

// TestAddrsFuzzSeeds checks that FuzzCountAddrs has a checked-in seed
// corpus (entries as the kernel sends them, and broken ones).
func TestAddrsFuzzSeeds(t *testing.T) {
	files, err := filepath.Glob("testdata/fuzz/FuzzCountAddrs/*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no seed corpus in testdata/fuzz/FuzzCountAddrs: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil || !strings.HasPrefix(string(b), "go test fuzz v1\n") {
			t.Errorf("%s: not a go fuzz seed (%v)", f, err)
		}
	}
}

// TestAddrCounts counts a real table per address, IPv4 and IPv6, and
// compares each count with `conntrack -L` listing that address.
func TestAddrCounts(t *testing.T) {
	ns := testenv.NetnsForTest(t, testenv.NetnsOptions{})
	ctx := testenv.Context(t, time.Minute)
	type flow struct{ family, src, dst string } // family: for reading only (-I takes it from the addresses)
	flows := []flow{}
	for i := range 5 {
		flows = append(flows, flow{"ipv4", "10.1.0.1", "10.2.0." + strconv.Itoa(1+i%2)})
	}
	for i := range 3 {
		flows = append(flows, flow{"ipv6", "fd00::1", "fd00::" + string(rune('a'+i))})
	}
	flows = append(flows, flow{"ipv4", "10.1.0.2", "10.2.0.1"})
	for i, f := range flows {
		if _, err := ns.Exec(ctx, "conntrack", "-I", "-p", "udp", "-s", f.src, "-d", f.dst,
			"--sport", strconv.Itoa(2000+i), "--dport", "53", "-t", "3600", "-w", "65520"); err != nil {
			t.Fatal(err)
		}
	}
	r, err := NewReader(Config{NetnsPath: ns.Path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	got, err := r.AddrCounts(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	listed := func(args ...string) uint64 {
		out, err := ns.Exec(ctx, append([]string{"conntrack", "-L"}, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		return uint64(strings.Count(out, "\n"))
	}
	for _, a := range []string{"10.1.0.1", "10.1.0.2", "fd00::1"} {
		fam := "ipv4"
		if strings.Contains(a, ":") {
			fam = "ipv6"
		}
		if want := listed("-f", fam, "-s", a); got.Sources[netip.MustParseAddr(a)] != want || want == 0 {
			t.Errorf("source %s: %d entries, conntrack -L -s lists %d", a, got.Sources[netip.MustParseAddr(a)], want)
		}
	}
	for _, a := range []string{"10.2.0.1", "10.2.0.2", "fd00::a", "fd00::c"} {
		fam := "ipv4"
		if strings.Contains(a, ":") {
			fam = "ipv6"
		}
		if want := listed("-f", fam, "-d", a); got.Destinations[netip.MustParseAddr(a)] != want || want == 0 {
			t.Errorf("destination %s: %d entries, conntrack -L -d lists %d", a, got.Destinations[netip.MustParseAddr(a)], want)
		}
	}
	all := listed("-f", "ipv4") + listed("-f", "ipv6")
	if got.Total != all || got.Zones[65520] != uint64(len(flows)) {
		t.Errorf("total %d (zones %v), conntrack -L lists %d; inserted %d in zone 65520", got.Total, got.Zones, all, len(flows))
	}
}

// TestAddrCountsKeep keeps the counts of chosen addresses only: the others
// are summed, so a table of distinct addresses costs no map entry each.
func TestAddrCountsKeep(t *testing.T) {
	ns := testenv.NetnsForTest(t, testenv.NetnsOptions{})
	ctx := testenv.Context(t, time.Minute)
	if err := ns.FillUDP(ctx, 2000, 0); err != nil { // 127.0.0.1 to 2000 addresses
		t.Fatal(err)
	}
	r, err := NewReader(Config{NetnsPath: ns.Path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	kept := netip.MustParseAddr("127.1.0.7")
	got, err := r.AddrCounts(ctx, func(a netip.Addr) bool { return a == kept })
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Sources) != 0 || len(got.Destinations) != 1 || got.Destinations[kept] != 1 {
		t.Errorf("sources %v, destinations %v: want only %s, once", got.Sources, got.Destinations, kept)
	}
	if got.OtherSources != got.Total || got.OtherDestinations != got.Total-1 || got.Total < 2000 {
		t.Errorf("others %d and %d of %d", got.OtherSources, got.OtherDestinations, got.Total)
	}
}
