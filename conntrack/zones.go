package conntrack

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/datapath-exporter/datapath-exporter/internal/fault"
)

// Netlink constants for a ctnetlink dump (linux/netfilter/nfnetlink.h,
// nfnetlink_conntrack.h).
const (
	nfnlSubsysCTNetlink = 1
	ipctnlMsgCTGet      = 1
	ctaZone             = 18
	nlaTypeMask         = ^uint16(unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER)
	// zoneDumpBuffer holds one batch of dump messages; the kernel fills a
	// batch up to about 32 KiB.
	zoneDumpBuffer = 1 << 18
)

// ZonesOp is the operation of ZoneCounts's errors that come from no one
// step.
const ZonesOp = "counting conntrack zones"

// ZoneCounts returns the number of entries in each conntrack zone (zone 0
// is the default zone). Unlike Read it is O(n): the kernel keeps no
// per-zone count, so the whole table is dumped. The dump is streamed
// through a fixed buffer and only the zone attribute of each entry is read,
// so memory stays constant whatever the table size. A table that changes
// during the dump (as it always does under load) gives counts that are
// approximate in the same way `conntrack -L | wc -l` is.
func (r *Reader) ZoneCounts(ctx context.Context) (map[uint16]uint64, error) {
	counts := map[uint16]uint64{}
	err := r.dump(ctx, ZonesOp, func(entry []byte) error {
		zone, err := entryZone(entry)
		if err == nil {
			counts[zone]++
		}
		return err
	}, func() uint64 { return total(counts) })
	if err != nil {
		return nil, err
	}
	return counts, nil
}

// dump streams the whole table through one fixed buffer and gives visit
// each entry's attributes (after the nfgenmsg header), as they arrive: the
// one dump loop of ZoneCounts and AddrCounts. visit must not keep the
// slice. whole is the operation of the errors; read says how many entries
// were counted when the deadline struck.
func (r *Reader) dump(ctx context.Context, whole string, visit func(entry []byte) error, read func() uint64) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return fault.New(fault.Closed, whole, r.cfg.NetnsPath, errors.New("reader is closed"))
	}
	budget := budgetOf(ctx)
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: r.nsFD})
	if err != nil {
		return r.explain(whole, DialOp, err)
	}
	defer c.Close()
	if deadline, ok := ctx.Deadline(); ok {
		if err := c.SetDeadline(deadline); err != nil {
			return fault.Wrap(whole, r.cfg.NetnsPath, err)
		}
	}
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) })
	defer stop()

	req := netlink.Message{
		Header: netlink.Header{
			Type:  netlink.HeaderType(nfnlSubsysCTNetlink<<8 | ipctnlMsgCTGet),
			Flags: netlink.Request | netlink.Dump,
		},
		// nfgenmsg: family AF_UNSPEC (all), version 0, resource id 0.
		Data: []byte{unix.AF_UNSPEC, 0, 0, 0},
	}
	if _, err := c.Send(req); err != nil {
		return r.explain(whole, "requesting a dump", err)
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return fault.Wrap(whole, r.cfg.NetnsPath, err)
	}
	buf := make([]byte, zoneDumpBuffer)
	for {
		var n int
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			n, _, rerr = unix.Recvfrom(int(fd), buf, 0)
			return rerr != unix.EAGAIN
		})
		if err == nil {
			err = rerr
		}
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, syscall.ETIMEDOUT) {
				return fault.New(fault.Timeout, whole, r.cfg.NetnsPath, fmt.Errorf("the dump did not finish%s (%d entries counted): %w",
					budget, read(), errors.Join(ctx.Err(), err)))
			}
			return r.explain(whole, "reading the dump", err)
		}
		done, err := walkBatch(buf[:n], visit)
		if err != nil {
			return r.explain(whole, "reading the dump", err)
		}
		if done {
			return nil
		}
	}
}

func total(m map[uint16]uint64) uint64 {
	var t uint64
	for _, v := range m {
		t += v
	}
	return t
}

// countZones adds the entries of one batch of dump messages to counts. It
// reports whether the batch ended the dump.
func countZones(b []byte, counts map[uint16]uint64) (done bool, err error) {
	return walkBatch(b, func(entry []byte) error {
		zone, err := entryZone(entry)
		if err == nil {
			counts[zone]++
		}
		return err
	})
}

// walkBatch gives visit the body of each entry of one batch of dump
// messages. It reports whether the batch ended the dump.
func walkBatch(b []byte, visit func(entry []byte) error) (done bool, err error) {
	for len(b) > 0 {
		if len(b) < unix.NLMSG_HDRLEN {
			return false, fmt.Errorf("netlink message header: %d bytes left, need %d", len(b), unix.NLMSG_HDRLEN)
		}
		msgLen := int(binary.NativeEndian.Uint32(b[0:4]))
		typ := binary.NativeEndian.Uint16(b[4:6])
		if msgLen < unix.NLMSG_HDRLEN || msgLen > len(b) {
			return false, fmt.Errorf("netlink message length %d with %d bytes left", msgLen, len(b))
		}
		body := b[unix.NLMSG_HDRLEN:msgLen]
		switch typ {
		case unix.NLMSG_DONE:
			return true, nil
		case unix.NLMSG_ERROR:
			if len(body) < 4 {
				return false, errors.New("short netlink error message")
			}
			if code := int32(binary.NativeEndian.Uint32(body[0:4])); code != 0 {
				return false, syscall.Errno(-code)
			}
		case unix.NLMSG_NOOP:
		default:
			if err := visit(body); err != nil {
				return false, err
			}
		}
		b = b[min((msgLen+3)&^3, len(b)):]
	}
	return false, nil
}

// entryZone returns the CTA_ZONE attribute of one ctnetlink entry (after
// its 4-byte nfgenmsg), 0 when absent.
func entryZone(b []byte) (uint16, error) {
	if len(b) < 4 {
		return 0, fmt.Errorf("conntrack entry: %d bytes, need the 4-byte nfgenmsg", len(b))
	}
	b = b[4:]
	for len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b[0:2]))
		t := binary.NativeEndian.Uint16(b[2:4]) & nlaTypeMask
		if l < 4 || l > len(b) {
			return 0, fmt.Errorf("conntrack entry: attribute length %d with %d bytes left", l, len(b))
		}
		if t == ctaZone {
			if l < 6 {
				return 0, fmt.Errorf("conntrack entry: zone attribute of %d bytes", l)
			}
			return binary.BigEndian.Uint16(b[4:6]), nil
		}
		b = b[min((l+3)&^3, len(b)):]
	}
	return 0, nil
}
