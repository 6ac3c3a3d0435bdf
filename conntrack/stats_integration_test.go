package conntrack

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
)

// conntrackS runs `conntrack -S` in the namespace and sums each counter
// over CPUs.
func conntrackS(ctx context.Context, t *testing.T, ns *testenv.Netns) map[string]uint64 {
	t.Helper()
	out, err := ns.Exec(ctx, "conntrack", "-S")
	if err != nil {
		t.Fatal(err)
	}
	sums := map[string]uint64{}
	cpus := 0
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		cpus++
		for _, f := range strings.Fields(line) {
			k, v, ok := strings.Cut(f, "=")
			if !ok || k == "cpu" {
				continue
			}
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				t.Fatalf("conntrack -S: %q: %v", f, err)
			}
			sums[k] += n
		}
	}
	if cpus == 0 {
		t.Fatalf("conntrack -S printed nothing")
	}
	return sums
}

// checkStatsAgainstConntrackS reads the statistics with r, runs
// `conntrack -S`, and reads again: every counter conntrack -S prints must be
// one Read reports, between the two reads (equal when the counter did not
// move). It returns the second read.
func checkStatsAgainstConntrackS(ctx context.Context, t *testing.T, r *Reader, ns *testenv.Netns) CPUStats {
	t.Helper()
	before, err := r.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tool := conntrackS(ctx, t, ns)
	after, err := r.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]Stat{}
	for st := range NumStats {
		names[st.String()] = st
	}
	for name, v := range tool {
		st, ok := names[name]
		if !ok {
			t.Errorf("conntrack -S prints %s=%d, which Read does not decode", name, v)
			continue
		}
		lo, hi := before.Stats.Value(st), after.Stats.Value(st)
		if !before.Stats.Reported(st) || !after.Stats.Reported(st) || v < lo || v > hi {
			t.Errorf("%s: conntrack -S says %d, Read said %d before and %d after", name, v, lo, hi)
		}
	}
	for st := range NumStats {
		if _, ok := tool[st.String()]; !ok && after.Stats.Reported(st) {
			t.Errorf("Read reports %s, which conntrack -S does not print", st)
		}
	}
	return after.Stats
}

// TestStatsMatchConntrackS makes the kernel count by real packets in a
// private namespace and compares every per-CPU counter with conntrack -S.
// With DPX_RECORD_SEEDS=1 it also writes the replies it got into the fuzz
// corpus (testdata/fuzz/FuzzDecode*/kernel-*).
func TestStatsMatchConntrackS(t *testing.T) {
	ns := testenv.NetnsForTest(t, testenv.NetnsOptions{})
	ctx := testenv.Context(t, 2*time.Minute)
	r := readerForTest(t, Config{NetnsPath: ns.Path})

	first := checkStatsAgainstConntrackS(ctx, t, r, ns)
	recordSeeds(t, r)

	// insert: entries made over ctnetlink.
	if err := ns.InsertEntries(ctx, 65520, 5); err != nil {
		t.Fatal(err)
	}
	// Traffic: new UDP flows, each datagram sent twice (the second is a
	// lookup that finds its entry).
	for range 2 {
		if err := ns.SendUDP(ctx, 500, 0); err != nil {
			t.Fatal(err)
		}
	}
	// invalid: a TCP segment with SYN and FIN set; error: an ICMP error
	// about a connection that was never tracked.
	binary := copyExecutable(t, os.Args[0])
	for _, kind := range []string{"invalid-tcp", "icmp-error"} {
		cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns.Name, binary)
		cmd.Env = append(os.Environ(), rawPacketEnv+"="+kind)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("sending %s: %v\n%s", kind, err, out)
		}
	}
	got := checkStatsAgainstConntrackS(ctx, t, r, ns)
	t.Logf("counters after traffic: %s", statsString(got))
	for _, st := range []Stat{StatInsert, StatInvalid, StatError} {
		if got.Value(st) <= first.Value(st) {
			t.Errorf("%s did not grow (%d → %d)", st, first.Value(st), got.Value(st))
		}
	}
}

// TestStatsTableFull fills a private namespace's table to the limit (which
// is global, nf_conntrack_max, and never changed here: the count is the
// namespace's own) with assured entries that cannot be evicted, plus a few
// unassured ones from real traffic, then floods it: new flows are dropped
// (drop) or evict an unassured entry (early_drop), as conntrack -S says.
func TestStatsTableFull(t *testing.T) {
	ns := testenv.NetnsForTest(t, testenv.NetnsOptions{})
	ctx := testenv.Context(t, 5*time.Minute)
	r := readerForTest(t, Config{NetnsPath: ns.Path})
	limit := testenv.ConntrackMax(t)
	const unassured = 2000
	if limit < 2*unassured || limit > 1<<20 {
		t.Fatalf("nf_conntrack_max is %d: this test fills the table and needs it between %d and %d", limit, 2*unassured, 1<<20)
	}

	start := time.Now()
	loadAssured(ctx, t, ns, int(limit)-unassured)
	t.Logf("loaded %d assured entries in %v", int(limit)-unassured, time.Since(start))
	start = time.Now()
	if err := ns.SendUDP(ctx, 4*unassured, 0); err != nil {
		t.Fatal(err)
	}
	t.Logf("sent %d new flows in %v", 4*unassured, time.Since(start))

	snap, err := r.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Global.Entries != limit {
		t.Errorf("entries = %d, want the limit %d", snap.Global.Entries, limit)
	}
	got := checkStatsAgainstConntrackS(ctx, t, r, ns)
	t.Logf("counters of the full table: %s", statsString(got))
	for _, st := range []Stat{StatDrop, StatEarlyDrop} {
		if got.Value(st) == 0 {
			t.Errorf("%s is 0 after flooding a full table", st)
		}
	}
}

// loadAssured inserts n UDP entries marked ASSURED (which early_drop never
// evicts) with one `conntrack -R` of a file of -I lines.
func loadAssured(ctx context.Context, t *testing.T, ns *testenv.Netns, n int) {
	t.Helper()
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "-I -p udp -s 10.%d.%d.%d -d 10.250.0.1 --sport 1000 --dport 53 -t 3600 --status ASSURED\n",
			1+i>>16, (i>>8)&0xff, i&0xff)
	}
	file := filepath.Join(t.TempDir(), "assured.txt")
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ns.Exec(ctx, "conntrack", "-R", file); err != nil {
		t.Fatal(err)
	}
}

func statsString(s CPUStats) string {
	var parts []string
	for st := range NumStats {
		parts = append(parts, fmt.Sprintf("%s=%d", st, s.Value(st)))
	}
	return strings.Join(parts, " ")
}

// recordSeeds writes the kernel's raw replies to both requests into the
// fuzz corpus when DPX_RECORD_SEEDS=1, on a socket of its own.
func recordSeeds(t *testing.T, r *Reader) {
	t.Helper()
	if os.Getenv("DPX_RECORD_SEEDS") != "1" {
		return
	}
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: r.nsFD})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		t.Fatal(err)
	}
	release, _, _ := strings.Cut(unix.ByteSliceToString(uts.Release[:]), "-")
	release = strings.Join(strings.SplitN(release, ".", 3)[:2], ".")
	for _, req := range []struct {
		target, name string
		msg          netlink.Message
	}{
		{"FuzzDecodeGlobal", "kernel-" + release, statsRequest(ipctnlMsgCTGetStats, netlink.Request|netlink.Dump|netlink.Acknowledge)},
		{"FuzzDecodeCPUStats", fmt.Sprintf("kernel-%s-%dcpu", release, r.mustCPUs(t)), statsRequest(ipctnlMsgCTGetStatsCPU, netlink.Request|netlink.Dump)},
	} {
		msgs, err := c.Execute(req.msg)
		if err != nil {
			t.Fatal(err)
		}
		b, err := joinMessages(msgs)
		if err != nil {
			t.Fatal(err)
		}
		writeSeed(t, filepath.Join("testdata", "fuzz", req.target, req.name), b)
		t.Logf("recorded %d bytes into testdata/fuzz/%s/%s", len(b), req.target, req.name)
	}
}

func (r *Reader) mustCPUs(t *testing.T) int {
	t.Helper()
	s, err := r.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s.cpus
}

const rawPacketEnv = "DPX_CONNTRACK_RAW_PACKET"

// sendRawPacket runs in a child process inside the test's namespace (see
// TestMain): it sends one packet that conntrack counts as invalid
// ("invalid-tcp") or as an error ("icmp-error") to 127.0.0.1.
func sendRawPacket(kind string) error {
	var proto int
	var pkt []byte
	switch kind {
	case "invalid-tcp":
		proto = unix.IPPROTO_TCP
		pkt = make([]byte, 20)
		binary.BigEndian.PutUint16(pkt[0:2], 40000)
		binary.BigEndian.PutUint16(pkt[2:4], 5555)
		binary.BigEndian.PutUint32(pkt[4:8], 1)
		pkt[12] = 5 << 4
		pkt[13] = 0x03 // SYN|FIN: no TCP state accepts both
		binary.BigEndian.PutUint16(pkt[14:16], 1024)
		pseudo := []byte{127, 0, 0, 1, 127, 0, 0, 1, 0, unix.IPPROTO_TCP, 0, 20}
		binary.BigEndian.PutUint16(pkt[16:18], inetChecksum(append(pseudo, pkt...)))
	case "icmp-error":
		proto = unix.IPPROTO_ICMP
		// Destination unreachable (port) about a UDP datagram
		// 127.0.0.1:40000 → 10.99.0.1:5678 that was never sent.
		inner := []byte{0x45, 0, 0, 28, 0, 1, 0, 0, 64, unix.IPPROTO_UDP, 0, 0, 127, 0, 0, 1, 10, 99, 0, 1}
		binary.BigEndian.PutUint16(inner[10:12], inetChecksum(inner))
		inner = append(inner, 0x9c, 0x40, 0x16, 0x2e, 0, 8, 0, 0)
		pkt = append([]byte{3, 3, 0, 0, 0, 0, 0, 0}, inner...)
		binary.BigEndian.PutUint16(pkt[2:4], inetChecksum(pkt))
	default:
		return fmt.Errorf("unknown raw packet %q", kind)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, proto)
	if err != nil {
		return fmt.Errorf("raw socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Sendto(fd, pkt, 0, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return fmt.Errorf("sending %s: %w", kind, err)
	}
	return nil
}

func inetChecksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}
