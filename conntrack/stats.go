package conntrack

import (
	"encoding/binary"
	"fmt"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/datapath-exporter/datapath-exporter/internal/fault"
)

// The ctnetlink statistics requests and their attributes
// (include/uapi/linux/netfilter/nfnetlink_conntrack.h). ti-mo/conntrack
// v0.6.0 decodes the per-CPU statistics only up to CTA_STATS_SEARCH_RESTART,
// so this file decodes both replies itself.
const (
	ipctnlMsgCTGetStatsCPU = 4 // IPCTNL_MSG_CT_GET_STATS_CPU: one message per CPU
	ipctnlMsgCTGetStats    = 5 // IPCTNL_MSG_CT_GET_STATS: one message

	ctaStatsGlobalEntries    = 1 // CTA_STATS_GLOBAL_ENTRIES
	ctaStatsGlobalMaxEntries = 2 // CTA_STATS_GLOBAL_MAX_ENTRIES

	nfgenmsgLen = 4 // struct nfgenmsg: family, version, res_id (big endian)
)

// Stat is one of the kernel's per-CPU conntrack counters.
type Stat int

// The counters a 6.x kernel reports, in the order of enum ctattr_stats_cpu.
// CTA_STATS_SEARCHED, NEW, IGNORE, DELETE and DELETE_LIST are no longer
// sent (kernel commit 8e8118f).
const (
	StatFound         Stat = iota // CTA_STATS_FOUND
	StatInvalid                   // CTA_STATS_INVALID
	StatInsert                    // CTA_STATS_INSERT
	StatInsertFailed              // CTA_STATS_INSERT_FAILED
	StatDrop                      // CTA_STATS_DROP
	StatEarlyDrop                 // CTA_STATS_EARLY_DROP
	StatError                     // CTA_STATS_ERROR
	StatSearchRestart             // CTA_STATS_SEARCH_RESTART
	StatClashResolve              // CTA_STATS_CLASH_RESOLVE
	StatChainTooLong              // CTA_STATS_CHAIN_TOOLONG
	NumStats                      // the number of Stat values
)

// statNames are the names conntrack -S prints.
var statNames = [NumStats]string{
	"found", "invalid", "insert", "insert_failed", "drop", "early_drop",
	"error", "search_restart", "clash_resolve", "chaintoolong",
}

// String is the counter's name as conntrack -S prints it.
func (s Stat) String() string {
	if s < 0 || s >= NumStats {
		return fmt.Sprintf("Stat(%d)", int(s))
	}
	return statNames[s]
}

// statOfAttr maps a CTA_STATS_* attribute type to its Stat; -1 for the
// types the kernel no longer sends (they are known, and ignored).
var statOfAttr = [...]Stat{
	1:  -1, // CTA_STATS_SEARCHED
	2:  StatFound,
	3:  -1, // CTA_STATS_NEW
	4:  StatInvalid,
	5:  -1, // CTA_STATS_IGNORE
	6:  -1, // CTA_STATS_DELETE
	7:  -1, // CTA_STATS_DELETE_LIST
	8:  StatInsert,
	9:  StatInsertFailed,
	10: StatDrop,
	11: StatEarlyDrop,
	12: StatError,
	13: StatSearchRestart,
	14: StatClashResolve,
	15: StatChainTooLong,
}

// CPUStats are the kernel's per-CPU conntrack counters summed over CPUs.
// The kernel keeps each as a u32 per CPU, so a sum can go down when one
// CPU's counter wraps; they start at zero when the namespace is created. On
// the 6.x kernels tested, Insert counts entries created over ctnetlink
// (conntrack -I) but not those created by traffic.
type CPUStats struct {
	values   [NumStats]uint64
	reported [NumStats]bool
}

// Value is the counter's sum over CPUs, 0 if the kernel did not report it.
func (s CPUStats) Value(st Stat) uint64 {
	if st < 0 || st >= NumStats {
		return 0
	}
	return s.values[st]
}

// Reported says whether the kernel sent the counter (an older kernel sends
// fewer: CLASH_RESOLVE and CHAIN_TOOLONG are recent additions).
func (s CPUStats) Reported(st Stat) bool {
	return st >= 0 && st < NumStats && s.reported[st]
}

// Set records v as the counter's sum, reported: for building a snapshot
// without a kernel (the collector's conversion tests).
func (s *CPUStats) Set(st Stat, v uint64) {
	if st >= 0 && st < NumStats {
		s.values[st], s.reported[st] = v, true
	}
}

// A reply message is checked against what the kernel's ctnetlink writes
// for these requests: the message type of the request, an nfgenmsg of
// family AF_UNSPEC and version NFNETLINK_V0, then attributes.
func checkStatsMessage(m netlink.Message, msgType uint16) (resID uint16, attrs []byte, err error) {
	want := netlink.HeaderType(nfnlSubsysCTNetlink<<8 | msgType)
	if m.Header.Type != want {
		return 0, nil, fmt.Errorf("message type %#x, want %#x", uint16(m.Header.Type), uint16(want))
	}
	if len(m.Data) < nfgenmsgLen {
		return 0, nil, fmt.Errorf("message of %d bytes, shorter than its %d-byte nfgenmsg", len(m.Data), nfgenmsgLen)
	}
	if family := m.Data[0]; family != unix.AF_UNSPEC {
		return 0, nil, fmt.Errorf("nfgenmsg family %d, want AF_UNSPEC", family)
	}
	if version := m.Data[1]; version != 0 {
		return 0, nil, fmt.Errorf("nfgenmsg version %d, want NFNETLINK_V0", version)
	}
	return binary.BigEndian.Uint16(m.Data[2:4]), m.Data[nfgenmsgLen:], nil
}

// forEachU32 calls fn for each attribute of b that known(type) says this
// decoder reads, whose value must be a 4-byte big-endian u32. Types up to
// maxType that it does not read are ones the kernel retired (known, and
// ignored). A type above maxType fails the decode, naming it: the kernel
// grows these replies by adding attribute types (CLASH_RESOLVE and
// CHAIN_TOOLONG came that way), and a counter this exporter has not been
// taught is reported as such rather than passed over in silence.
func forEachU32(b []byte, maxType uint16, known func(uint16) bool, fn func(typ uint16, v uint32)) error {
	for len(b) > 0 {
		if len(b) < unix.NLA_HDRLEN {
			return fmt.Errorf("%d bytes left, shorter than an attribute header", len(b))
		}
		l := int(binary.NativeEndian.Uint16(b[0:2]))
		typ := binary.NativeEndian.Uint16(b[2:4]) & nlaTypeMask
		if l < unix.NLA_HDRLEN || l > len(b) {
			return fmt.Errorf("attribute %d of length %d with %d bytes left", typ, l, len(b))
		}
		if typ == 0 || typ > maxType {
			return fmt.Errorf("unknown attribute type %d (this exporter knows types 1 to %d): a newer kernel's counter, or not a statistics reply", typ, maxType)
		}
		if known(typ) {
			if l != unix.NLA_HDRLEN+4 {
				return fmt.Errorf("attribute %d of %d bytes, want a 4-byte u32", typ, l-unix.NLA_HDRLEN)
			}
			fn(typ, binary.BigEndian.Uint32(b[unix.NLA_HDRLEN:l]))
		}
		b = b[min((l+unix.NLA_ALIGNTO-1)&^(unix.NLA_ALIGNTO-1), len(b)):]
	}
	return nil
}

// isControl reports whether m is a netlink control message a reply may
// carry besides its data (an acknowledgement, a dump's end, a no-op);
// netlink.Conn.Execute has already turned error acknowledgements into
// errors.
func isControl(m netlink.Message) bool {
	switch m.Header.Type {
	case netlink.Noop, netlink.Done:
		return true
	case netlink.Error:
		return len(m.Data) >= 4 && binary.NativeEndian.Uint32(m.Data[0:4]) == 0
	}
	return false
}

const (
	opStatsGlobal = "ctnetlink IPCTNL_MSG_CT_GET_STATS"
	opStatsCPU    = "ctnetlink IPCTNL_MSG_CT_GET_STATS_CPU"
)

// decodeGlobal decodes the reply to IPCTNL_MSG_CT_GET_STATS: one message
// with the entry count and nf_conntrack_max. A reply without either fails
// rather than read as an empty table.
func decodeGlobal(msgs []netlink.Message) (Global, error) {
	var (
		g        Global
		got      int
		entries  bool
		maxEntry bool
	)
	for _, m := range msgs {
		if isControl(m) {
			continue
		}
		got++
		if got > 1 {
			return Global{}, fault.New(fault.Protocol, opStatsGlobal, "", fmt.Errorf("%d data messages, want one", got))
		}
		_, attrs, err := checkStatsMessage(m, ipctnlMsgCTGetStats)
		if err != nil {
			return Global{}, fault.New(fault.Protocol, opStatsGlobal, "", err)
		}
		known := func(t uint16) bool { return t == ctaStatsGlobalEntries || t == ctaStatsGlobalMaxEntries }
		err = forEachU32(attrs, ctaStatsGlobalMaxEntries, known, func(t uint16, v uint32) {
			if t == ctaStatsGlobalEntries {
				g.Entries, entries = uint64(v), true
			} else {
				g.Limit, maxEntry = uint64(v), true
			}
		})
		if err != nil {
			return Global{}, fault.New(fault.Protocol, opStatsGlobal, "", err)
		}
	}
	switch {
	case got == 0:
		return Global{}, fault.New(fault.Protocol, opStatsGlobal, "", fmt.Errorf("no statistics in a reply of %d messages", len(msgs)))
	case !entries:
		return Global{}, fault.New(fault.Protocol, opStatsGlobal, "", fmt.Errorf("reply without CTA_STATS_GLOBAL_ENTRIES"))
	case !maxEntry:
		return Global{}, fault.New(fault.Protocol, opStatsGlobal, "", fmt.Errorf("reply without CTA_STATS_GLOBAL_MAX_ENTRIES"))
	}
	return g, nil
}

// decodeCPUStats decodes the reply to the IPCTNL_MSG_CT_GET_STATS_CPU dump:
// one message per possible CPU, its number in the nfgenmsg's res_id. It
// sums each counter over CPUs and returns how many CPUs reported. A counter
// counts as reported only if every CPU sent it.
func decodeCPUStats(msgs []netlink.Message) (CPUStats, int, error) {
	var (
		s      CPUStats
		seen   = map[uint16]bool{}
		counts [NumStats]int
	)
	known := func(t uint16) bool { return int(t) < len(statOfAttr) && statOfAttr[t] >= 0 && t != 0 }
	for _, m := range msgs {
		if isControl(m) {
			continue
		}
		cpu, attrs, err := checkStatsMessage(m, ipctnlMsgCTGetStatsCPU)
		if err != nil {
			return CPUStats{}, 0, fault.New(fault.Protocol, opStatsCPU, "", err)
		}
		if seen[cpu] {
			return CPUStats{}, 0, fault.New(fault.Protocol, opStatsCPU, "", fmt.Errorf("CPU %d reported twice", cpu))
		}
		seen[cpu] = true
		var once [NumStats]bool
		err = forEachU32(attrs, uint16(len(statOfAttr)-1), known, func(t uint16, v uint32) {
			st := statOfAttr[t]
			s.values[st] += uint64(v)
			if !once[st] {
				once[st] = true
				counts[st]++
			}
		})
		if err != nil {
			return CPUStats{}, 0, fault.New(fault.Protocol, opStatsCPU, "", fmt.Errorf("CPU %d: %w", cpu, err))
		}
	}
	if len(seen) == 0 {
		return CPUStats{}, 0, fault.New(fault.Protocol, opStatsCPU, "", fmt.Errorf("no CPU in a reply of %d messages", len(msgs)))
	}
	for st := range NumStats {
		switch counts[st] {
		case len(seen):
			s.reported[st] = true
		case 0:
		default:
			return CPUStats{}, 0, fault.New(fault.Protocol, opStatsCPU, "",
				fmt.Errorf("%s reported by %d of %d CPUs", st, counts[st], len(seen)))
		}
	}
	return s, len(seen), nil
}
