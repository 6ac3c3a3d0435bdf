package conntrack

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
)

// ctnetlink attributes of an entry's original tuple
// (linux/netfilter/nfnetlink_conntrack.h).
const (
	ctaTupleOrig = 1 // CTA_TUPLE_ORIG, nested
	ctaTupleIP   = 1 // CTA_TUPLE_IP, nested in a tuple
	ctaIPv4Src   = 1 // CTA_IP_V4_SRC
	ctaIPv4Dst   = 2 // CTA_IP_V4_DST
	ctaIPv6Src   = 3 // CTA_IP_V6_SRC
	ctaIPv6Dst   = 4 // CTA_IP_V6_DST
)

// AddrsOp is the operation of AddrCounts's errors that come from no one
// step.
const AddrsOp = "counting conntrack entries per address"

// AddrCounts is what one dump counted per address of the original
// direction (who opened the connection, and to whom), and per zone.
type AddrCounts struct {
	Sources      map[netip.Addr]uint64
	Destinations map[netip.Addr]uint64
	// OtherSources and OtherDestinations count the entries whose address
	// the dump's keep function did not keep.
	OtherSources, OtherDestinations uint64
	Zones                           map[uint16]uint64
	// Total is the entries read: the sum over Sources and OtherSources,
	// over Destinations and OtherDestinations, and over Zones.
	Total uint64

	keep func(netip.Addr) bool
}

// AddrCounts counts the entries of the whole table by the source and the
// destination address of their original direction, through the same
// streamed dump as ZoneCounts: only those addresses and the zone of each
// entry are decoded, and the result grows with the number of distinct
// addresses, not with the table. With keep set, only the addresses it
// keeps (say, those of the node's Pods) get a count of their own, the
// others are summed in OtherSources and OtherDestinations: memory is then
// bounded by keep, whatever a flood of spoofed addresses puts in the
// table. An entry without an address in its original tuple (none that the
// kernel makes) counts under the zero netip.Addr.
func (r *Reader) AddrCounts(ctx context.Context, keep func(netip.Addr) bool) (AddrCounts, error) {
	c := newAddrCounts()
	c.keep = keep
	err := r.dump(ctx, AddrsOp, c.add, func() uint64 { return c.Total })
	if err != nil {
		return AddrCounts{}, err
	}
	return c, nil
}

func newAddrCounts() AddrCounts {
	return AddrCounts{Sources: map[netip.Addr]uint64{}, Destinations: map[netip.Addr]uint64{}, Zones: map[uint16]uint64{}}
}

// add counts one entry (its attributes after the nfgenmsg).
func (c *AddrCounts) add(entry []byte) error {
	src, dst, zone, err := entryAddrs(entry)
	if err != nil {
		return err
	}
	if c.keep == nil || c.keep(src) {
		c.Sources[src]++
	} else {
		c.OtherSources++
	}
	if c.keep == nil || c.keep(dst) {
		c.Destinations[dst]++
	} else {
		c.OtherDestinations++
	}
	c.Zones[zone]++
	c.Total++
	return nil
}

// countAddrs adds the entries of one batch of dump messages to c; it
// reports whether the batch ended the dump.
func countAddrs(b []byte, c *AddrCounts) (done bool, err error) {
	return walkBatch(b, c.add)
}

// entryAddrs returns the original tuple's source and destination address
// and the CTA_ZONE (0 when absent) of one ctnetlink entry.
func entryAddrs(b []byte) (src, dst netip.Addr, zone uint16, err error) {
	if len(b) < 4 {
		return src, dst, 0, fmt.Errorf("conntrack entry: %d bytes, need the 4-byte nfgenmsg", len(b))
	}
	err = eachAttr(b[4:], "conntrack entry", func(typ uint16, v []byte) error {
		switch typ {
		case ctaZone:
			if len(v) < 2 {
				return fmt.Errorf("conntrack entry: zone attribute of %d bytes", len(v)+4)
			}
			zone = binary.BigEndian.Uint16(v[0:2])
		case ctaTupleOrig:
			return eachAttr(v, "original tuple", func(typ uint16, v []byte) error {
				if typ != ctaTupleIP {
					return nil
				}
				return eachAttr(v, "original tuple's addresses", func(typ uint16, v []byte) error {
					var a *netip.Addr
					var size int
					switch typ {
					case ctaIPv4Src:
						a, size = &src, 4
					case ctaIPv4Dst:
						a, size = &dst, 4
					case ctaIPv6Src:
						a, size = &src, 16
					case ctaIPv6Dst:
						a, size = &dst, 16
					default:
						return nil
					}
					if len(v) < size {
						return fmt.Errorf("original tuple: address attribute %d of %d bytes, want %d", typ, len(v), size)
					}
					*a, _ = netip.AddrFromSlice(v[:size])
					return nil
				})
			})
		}
		return nil
	})
	return src, dst, zone, err
}

// eachAttr gives f the type (without the nested and byte-order flags)
// and the value of each netlink attribute in b; what names b in errors.
func eachAttr(b []byte, what string, f func(typ uint16, value []byte) error) error {
	for len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b[0:2]))
		t := binary.NativeEndian.Uint16(b[2:4]) & nlaTypeMask
		if l < 4 || l > len(b) {
			return fmt.Errorf("%s: attribute length %d with %d bytes left", what, l, len(b))
		}
		if err := f(t, b[4:l]); err != nil {
			return err
		}
		b = b[min((l+3)&^3, len(b)):]
	}
	return nil
}
