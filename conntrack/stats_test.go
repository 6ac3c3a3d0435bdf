package conntrack

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/datapath-exporter/datapath-exporter/internal/fault"
)

// statsMsg builds one reply message as ctnetlink writes it: the nfgenmsg
// (family, version, res_id), then u32 attributes in network byte order.
func statsMsg(msgType uint16, family, version byte, resID uint16, attrs ...[2]uint32) netlink.Message {
	data := []byte{family, version, byte(resID >> 8), byte(resID)}
	for _, a := range attrs {
		data = append(data, u32Attr(uint16(a[0]), a[1])...)
	}
	return netlink.Message{
		Header: netlink.Header{
			Length: uint32(unix.NLMSG_HDRLEN + len(data)),
			Type:   netlink.HeaderType(nfnlSubsysCTNetlink<<8 | msgType),
			Flags:  netlink.Multi,
		},
		Data: data,
	}
}

func u32Attr(typ uint16, v uint32) []byte {
	b := make([]byte, 8)
	binary.NativeEndian.PutUint16(b[0:2], 8)
	binary.NativeEndian.PutUint16(b[2:4], typ)
	binary.BigEndian.PutUint32(b[4:8], v)
	return b
}

// cpuMsg is a 6.x kernel's message for one CPU: every counter it sends,
// CTA_STATS_FOUND (2) … CTA_STATS_CHAIN_TOOLONG (15) but the retired ones,
// with value base+type.
func cpuMsg(cpu uint16, base uint32) netlink.Message {
	var attrs [][2]uint32
	for _, t := range []uint32{2, 4, 8, 9, 10, 11, 12, 13, 14, 15} {
		attrs = append(attrs, [2]uint32{t, base + t})
	}
	return statsMsg(ipctnlMsgCTGetStatsCPU, unix.AF_UNSPEC, 0, cpu, attrs...)
}

func withData(m netlink.Message, data []byte) netlink.Message {
	m.Data = data
	m.Header.Length = uint32(unix.NLMSG_HDRLEN + len(data))
	return m
}

func TestDecodeCPUStats(t *testing.T) {
	twoCPUs := []netlink.Message{cpuMsg(0, 100), cpuMsg(1, 1000)}
	got, cpus, err := decodeCPUStats(twoCPUs)
	if err != nil {
		t.Fatal(err)
	}
	if cpus != 2 {
		t.Errorf("cpus = %d, want 2", cpus)
	}
	attrOf := map[Stat]uint32{StatFound: 2, StatInvalid: 4, StatInsert: 8, StatInsertFailed: 9, StatDrop: 10,
		StatEarlyDrop: 11, StatError: 12, StatSearchRestart: 13, StatClashResolve: 14, StatChainTooLong: 15}
	for st := range NumStats {
		want := uint64(100 + attrOf[st] + 1000 + attrOf[st])
		if !got.Reported(st) || got.Value(st) != want {
			t.Errorf("%s = %d (reported %v), want %d", st, got.Value(st), got.Reported(st), want)
		}
	}

	// What a kernel before CLASH_RESOLVE and CHAIN_TOOLONG sends, with a
	// retired counter.
	old := statsMsg(ipctnlMsgCTGetStatsCPU, unix.AF_UNSPEC, 0, 0, [2]uint32{2, 5}, [2]uint32{5, 77}, [2]uint32{10, 3})
	got, _, err = decodeCPUStats([]netlink.Message{old})
	if err != nil {
		t.Fatal(err)
	}
	if got.Value(StatFound) != 5 || got.Value(StatDrop) != 3 || got.Reported(StatClashResolve) || got.Reported(StatChainTooLong) {
		t.Errorf("old kernel: found %d drop %d clash_resolve reported %v, want 5, 3, false",
			got.Value(StatFound), got.Value(StatDrop), got.Reported(StatClashResolve))
	}

	ack := netlink.Message{Header: netlink.Header{Type: netlink.Error, Length: 36}, Data: make([]byte, 20)}
	if _, cpus, err := decodeCPUStats(append([]netlink.Message{ack}, twoCPUs...)); err != nil || cpus != 2 {
		t.Errorf("with an acknowledgement: cpus %d, err %v; want 2, nil", cpus, err)
	}

	bad := []struct {
		name string
		msgs []netlink.Message
		want string
	}{
		{"empty reply", nil, "no CPU"},
		{"only an acknowledgement", []netlink.Message{ack}, "no CPU"},
		{"wrong message type", []netlink.Message{statsMsg(ipctnlMsgCTGetStats, unix.AF_UNSPEC, 0, 0)}, "message type"},
		{"wrong family", []netlink.Message{statsMsg(ipctnlMsgCTGetStatsCPU, unix.AF_INET, 0, 0, [2]uint32{2, 1})}, "family"},
		{"wrong version", []netlink.Message{statsMsg(ipctnlMsgCTGetStatsCPU, unix.AF_UNSPEC, 1, 0, [2]uint32{2, 1})}, "version"},
		{"short nfgenmsg", []netlink.Message{withData(cpuMsg(0, 0), []byte{0, 0})}, "nfgenmsg"},
		{"truncated attribute header", []netlink.Message{withData(cpuMsg(0, 0), append(cpuMsg(0, 0).Data, 8, 0))}, "attribute header"},
		{"attribute past the end", []netlink.Message{withData(cpuMsg(0, 0), cpuMsg(0, 0).Data[:len(cpuMsg(0, 0).Data)-2])}, "bytes left"},
		{"counter of 2 bytes", []netlink.Message{withData(cpuMsg(0, 0), []byte{0, 0, 0, 0, 6, 0, 2, 0, 0, 1, 0, 0})}, "4-byte u32"},
		{"CPU twice", []netlink.Message{cpuMsg(0, 0), cpuMsg(0, 0)}, "twice"},
		{"attribute of a newer kernel", []netlink.Message{statsMsg(ipctnlMsgCTGetStatsCPU, unix.AF_UNSPEC, 0, 0, [2]uint32{2, 5}, [2]uint32{16, 1})}, "unknown attribute type 16"},
		{"attribute type 0", []netlink.Message{statsMsg(ipctnlMsgCTGetStatsCPU, unix.AF_UNSPEC, 0, 0, [2]uint32{0, 5})}, "unknown attribute type 0"},
		{"counter from one CPU only", []netlink.Message{cpuMsg(0, 0), statsMsg(ipctnlMsgCTGetStatsCPU, unix.AF_UNSPEC, 0, 1, [2]uint32{2, 1})}, "of 2 CPUs"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := decodeCPUStats(tt.msgs)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one saying %q", err, tt.want)
			}
			if fault.KindOf(err) != fault.Protocol || !strings.Contains(fault.OpOf(err), "IPCTNL_MSG_CT_GET_STATS_CPU") {
				t.Errorf("err %v: kind %v op %q, want a protocol fault naming the command", err, fault.KindOf(err), fault.OpOf(err))
			}
		})
	}
}

func TestDecodeGlobal(t *testing.T) {
	ack := netlink.Message{Header: netlink.Header{Type: netlink.Error, Length: 36}, Data: make([]byte, 20)}
	good := statsMsg(ipctnlMsgCTGetStats, unix.AF_UNSPEC, 0, 0, [2]uint32{1, 42}, [2]uint32{2, 262144})
	g, err := decodeGlobal([]netlink.Message{good, ack})
	if err != nil {
		t.Fatal(err)
	}
	if g != (Global{Entries: 42, Limit: 262144}) {
		t.Errorf("Global = %+v, want 42 of 262144", g)
	}
	bad := []struct {
		name string
		msgs []netlink.Message
		want string
	}{
		{"empty reply", nil, "no statistics"},
		{"unknown attribute", []netlink.Message{statsMsg(ipctnlMsgCTGetStats, unix.AF_UNSPEC, 0, 0, [2]uint32{1, 42}, [2]uint32{2, 262144}, [2]uint32{7, 9})}, "unknown attribute type 7"},
		{"no entries", []netlink.Message{statsMsg(ipctnlMsgCTGetStats, unix.AF_UNSPEC, 0, 0, [2]uint32{2, 1})}, "CTA_STATS_GLOBAL_ENTRIES"},
		{"no limit", []netlink.Message{statsMsg(ipctnlMsgCTGetStats, unix.AF_UNSPEC, 0, 0, [2]uint32{1, 1})}, "CTA_STATS_GLOBAL_MAX_ENTRIES"},
		{"two messages", []netlink.Message{good, good}, "want one"},
		{"per-CPU message", []netlink.Message{cpuMsg(0, 0)}, "message type"},
		{"wrong family", []netlink.Message{statsMsg(ipctnlMsgCTGetStats, unix.AF_INET6, 0, 0, [2]uint32{1, 1}, [2]uint32{2, 1})}, "family"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeGlobal(tt.msgs)
			if err == nil || !strings.Contains(err.Error(), tt.want) || fault.KindOf(err) != fault.Protocol {
				t.Fatalf("err = %v (kind %v), want a protocol fault saying %q", err, fault.KindOf(err), tt.want)
			}
		})
	}
}

func TestStatNames(t *testing.T) {
	// The names conntrack -S prints, which the metric names are made of.
	want := "found invalid insert insert_failed drop early_drop error search_restart clash_resolve chaintoolong"
	var got []string
	for st := range NumStats {
		got = append(got, st.String())
	}
	if strings.Join(got, " ") != want {
		t.Errorf("names %q, want %q", got, want)
	}
	if s := NumStats.String(); !strings.HasPrefix(s, "Stat(") {
		t.Errorf("NumStats.String() = %q", s)
	}
}

// TestRecordedReplies decodes the kernel replies recorded into the fuzz
// corpus by TestStatsMatchConntrackS (DPX_RECORD_SEEDS=1).
func TestRecordedReplies(t *testing.T) {
	for _, tt := range []struct{ target, file string }{
		{"FuzzDecodeCPUStats", "kernel-6.18-2cpu"},
		{"FuzzDecodeGlobal", "kernel-6.18"},
	} {
		t.Run(tt.target, func(t *testing.T) {
			b := readSeed(t, filepath.Join("testdata", "fuzz", tt.target, tt.file))
			msgs, err := splitMessages(b)
			if err != nil {
				t.Fatal(err)
			}
			if tt.target == "FuzzDecodeGlobal" {
				if _, err := decodeGlobal(msgs); err != nil {
					t.Fatal(err)
				}
				return
			}
			s, cpus, err := decodeCPUStats(msgs)
			if err != nil {
				t.Fatal(err)
			}
			if cpus != 2 {
				t.Errorf("cpus = %d, want the 2 of the recording machine", cpus)
			}
			for st := range NumStats {
				if !s.Reported(st) {
					t.Errorf("the 6.18 kernel did not report %s", st)
				}
			}
		})
	}
}

func FuzzDecodeCPUStats(f *testing.F) {
	f.Add(mustJoin(f, []netlink.Message{cpuMsg(0, 1), cpuMsg(1, 2)}))
	f.Fuzz(func(t *testing.T, b []byte) {
		msgs, err := splitMessages(b)
		if err != nil {
			return
		}
		s, cpus, err := decodeCPUStats(msgs)
		if err != nil {
			if fault.KindOf(err) != fault.Protocol {
				t.Fatalf("error of kind %v: %v", fault.KindOf(err), err)
			}
			return
		}
		if cpus < 1 || cpus > len(msgs) {
			t.Fatalf("%d CPUs from %d messages", cpus, len(msgs))
		}
		for st := range NumStats {
			if !s.Reported(st) && s.Value(st) != 0 {
				t.Fatalf("%s not reported but %d", st, s.Value(st))
			}
		}
	})
}

func FuzzDecodeGlobal(f *testing.F) {
	f.Add(mustJoin(f, []netlink.Message{statsMsg(ipctnlMsgCTGetStats, unix.AF_UNSPEC, 0, 0, [2]uint32{1, 3}, [2]uint32{2, 4})}))
	f.Fuzz(func(t *testing.T, b []byte) {
		msgs, err := splitMessages(b)
		if err != nil {
			return
		}
		if _, err := decodeGlobal(msgs); err != nil && fault.KindOf(err) != fault.Protocol {
			t.Fatalf("error of kind %v: %v", fault.KindOf(err), err)
		}
	})
}

func mustJoin(tb testing.TB, msgs []netlink.Message) []byte {
	tb.Helper()
	b, err := joinMessages(msgs)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// writeSeed writes b as a Go fuzz corpus file.
func writeSeed(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("go test fuzz v1\n[]byte("+strconv.Quote(string(b))+")\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// readSeed reads a Go fuzz corpus file of one []byte.
func readSeed(t *testing.T, path string) []byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitN(strings.TrimSpace(string(raw)), "\n", 2)
	if len(lines) != 2 || lines[0] != "go test fuzz v1" || !strings.HasPrefix(lines[1], "[]byte(") || !strings.HasSuffix(lines[1], ")") {
		t.Fatalf("%s: not a fuzz corpus file of one []byte", path)
	}
	s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return []byte(s)
}

// splitMessages cuts a buffer of netlink messages as the kernel writes them
// into messages, with netlink.Message's own checks.
func splitMessages(b []byte) ([]netlink.Message, error) {
	var msgs []netlink.Message
	for len(b) > 0 {
		if len(b) < unix.NLMSG_HDRLEN {
			return nil, fmt.Errorf("netlink message header: %d bytes left, need %d", len(b), unix.NLMSG_HDRLEN)
		}
		l := int(binary.NativeEndian.Uint32(b[0:4]))
		if l < unix.NLMSG_HDRLEN || l > len(b) {
			return nil, fmt.Errorf("netlink message length %d with %d bytes left", l, len(b))
		}
		var m netlink.Message
		if err := m.UnmarshalBinary(b[:l]); err != nil {
			return nil, err
		}
		msgs = append(msgs, m)
		b = b[l:]
	}
	return msgs, nil
}

// joinMessages is splitMessages's inverse, for recording replies.
func joinMessages(msgs []netlink.Message) ([]byte, error) {
	var out []byte
	for _, m := range msgs {
		b, err := m.MarshalBinary()
		if err != nil {
			return nil, err
		}
		out = append(out, b...)
	}
	return out, nil
}
