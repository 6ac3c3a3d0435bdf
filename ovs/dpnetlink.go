package ovs

// Statistics of the kernel datapaths (system@...) read from the kernel
// itself over generic netlink, the way `ovs-dpctl show` reads them: one
// OVS_DP_CMD_GET dump of the "ovs_datapath" family lists every datapath of
// the caller's network namespace with its lookups, flows, masks, mask hits
// and mask-cache hits. ovs-vswitchd is not involved, so these numbers keep
// coming while it is stopped or restarting.
//
// Why not go-openvswitch's ovsnl (which speaks the same family): at
// v0.0.0-20241021184246-19e734367535 it decodes OVS_DP_ATTR_MEGAFLOW_STATS
// into a struct whose n_cache_hit is padding (the cache hits are lost),
// silently skips attributes it does not know, returns a datapath with zero
// statistics when the kernel sends none, does not check that a reply is of
// the ovs_datapath family, and resolves the family by listing all of them
// on every client. The decoder below checks each of those and fails with a
// fault.Protocol error instead of a made-up 0.
//
// The request needs no capability: the kernel's dp_datapath_genl_ops mark
// OVS_DP_CMD_GET with flags 0 ("OK for unprivileged users"), unlike
// NEW/DEL/SET (GENL_UNS_ADMIN_PERM). It does need the caller to be in the
// datapath's network namespace: in another one the dump is empty.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/datapath-exporter/datapath-exporter/internal/fault"
)

// The "ovs_datapath" generic netlink family (linux/openvswitch.h).
const (
	ovsDatapathFamily = "ovs_datapath"
	ovsDpCmdGet       = 3 // OVS_DP_CMD_GET

	ovsDpAttrName           = 1 // NUL-terminated string
	ovsDpAttrUpcallPID      = 2
	ovsDpAttrStats          = 3 // struct ovs_dp_stats
	ovsDpAttrMegaflowStats  = 4 // struct ovs_dp_megaflow_stats
	ovsDpAttrUserFeatures   = 5 // u32
	ovsDpAttrPad            = 6 // alignment of the 64-bit structures
	ovsDpAttrMasksCacheSize = 7 // u32
	ovsDpAttrPerCPUPIDs     = 8
	ovsDpAttrIfindex        = 9
	ovsDpAttrMax            = ovsDpAttrIfindex

	genlHeaderLen = 4 // struct genlmsghdr: cmd, version, reserved
	ovsHeaderLen  = 4 // struct ovs_header: int dp_ifindex

	// struct ovs_dp_stats: n_hit, n_missed, n_lost, n_flows (u64 each).
	ovsDpStatsLen = 32
	// struct ovs_dp_megaflow_stats: n_mask_hit u64, n_masks u32, pad0 u32,
	// n_cache_hit u64 (Linux 5.9; padding before), pad1 u64. 32 bytes on
	// every kernel.
	ovsDpMegaflowStatsLen = 32

	ifNameSize = 16 // IFNAMSIZ, with the NUL

	attrTypeMask = 0x3fff // without NLA_F_NESTED / NLA_F_NET_BYTEORDER
)

// KernelOp is the operation named in the errors of KernelDatapathReader.
const KernelOp = "OVS_DP_CMD_GET dump"

// kernelPath names what KernelDatapathReader talks to, in its errors.
const kernelPath = "generic netlink family " + ovsDatapathFamily

// ErrNoKernelDatapathFamily says that the kernel has no "ovs_datapath"
// generic netlink family: the openvswitch module is not loaded, so there is
// no kernel datapath. It comes wrapped in a fault.NotFound error.
var ErrNoKernelDatapathFamily = errors.New("the kernel has no " + ovsDatapathFamily + " generic netlink family (openvswitch module not loaded)")

// KernelDatapathReader reads the statistics of the kernel datapaths over
// generic netlink. It keeps one socket and the family's id between reads
// (its only state) and redials after a failure. The zero value is ready;
// Close releases the socket. Reads are serialised.
type KernelDatapathReader struct {
	// familyName, if set, replaces "ovs_datapath" (tests: a family no
	// kernel has).
	familyName string

	sem    chan struct{} // holds the socket; made by init
	once   sync.Once
	conn   *netlink.Conn   // the dump's own bytes, unparsed by genetlink
	genl   *genetlink.Conn // the same socket, for listing the families
	family genetlink.Family
}

func (r *KernelDatapathReader) init() {
	r.once.Do(func() { r.sem = make(chan struct{}, 1) })
}

// Read dumps every datapath of the kernel (in the caller's network
// namespace) in one request and returns them named as dpctl/show names
// them ("system@ovs-system"), with HasMasks set, and HasCache on kernels
// that count cache hits (5.9 and later). A kernel
// without the family is a fault.NotFound error wrapping
// ErrNoKernelDatapathFamily; a reply this decoder does not understand is a
// fault.Protocol error; EPERM is fault.Permission.
func (r *KernelDatapathReader) Read(ctx context.Context) ([]DatapathStats, error) {
	r.init()
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fault.Wrap(KernelOp, kernelPath, fmt.Errorf("another read held the socket: %w", ctx.Err()))
	}
	defer func() { <-r.sem }()

	dps, err := r.read(ctx)
	if err != nil {
		// The socket may hold a late reply: start afresh next time. A
		// finished list of families without ours leaves it clean, and
		// kept: a node without the module lists them at every read.
		if !errors.Is(err, ErrNoKernelDatapathFamily) {
			r.closeConn()
		}
		if ctx.Err() != nil && fault.KindOf(err) != fault.Protocol {
			err = fmt.Errorf("%w (%w)", err, ctx.Err())
		}
		return nil, fault.Wrap(KernelOp, kernelPath, err)
	}
	return dps, nil
}

func (r *KernelDatapathReader) read(ctx context.Context) ([]DatapathStats, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if r.conn == nil || r.family.ID == 0 {
		if err := r.connect(ctx); err != nil {
			return nil, err
		}
	}
	if err := r.setDeadline(ctx); err != nil {
		return nil, err
	}
	c := r.conn // not r.conn in the func: it may run after read returns
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	req := genetlink.Message{
		Header: genetlink.Header{Command: ovsDpCmdGet, Version: r.family.Version},
		Data:   make([]byte, ovsHeaderLen), // dp_ifindex 0: all datapaths
	}
	raw, err := r.exchange(req)
	if err != nil {
		return nil, err
	}
	return decodeKernelDatapaths(raw, r.family.ID)
}

// exchange sends req as a dump request and returns the raw replies (the
// final NLMSG_DONE removed), so that decodeKernelDatapaths sees every byte
// of them, their netlink headers (the family id) included: genetlink's
// Receive would fail on a short generic netlink header with an error of
// its own.
func (r *KernelDatapathReader) exchange(req genetlink.Message) ([]netlink.Message, error) {
	body, err := req.MarshalBinary()
	if err != nil {
		return nil, err
	}
	sent, err := r.conn.Send(netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(r.family.ID), Flags: netlink.Request | netlink.Dump},
		Data:   body,
	})
	if err != nil {
		return nil, err
	}
	msgs, err := r.conn.Receive()
	if err != nil {
		return nil, err
	}
	if err := netlink.Validate(sent, msgs); err != nil {
		return nil, fault.New(fault.Protocol, "", "", err)
	}
	return msgs, nil
}

// connect dials if needed and finds the family by listing the families (a dump),
// not by asking for it by name: CTRL_CMD_GETFAMILY by name makes the kernel
// load the openvswitch module, which an exporter must not do to a node.
func (r *KernelDatapathReader) connect(ctx context.Context) error {
	if r.conn == nil {
		c, err := netlink.Dial(unix.NETLINK_GENERIC, nil)
		if err != nil {
			return err
		}
		r.conn, r.genl = c, genetlink.NewConn(c)
	}
	c := r.conn
	if err := r.setDeadline(ctx); err != nil {
		r.closeConn()
		return err
	}
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	families, err := r.genl.ListFamilies()
	if err != nil {
		r.closeConn()
		return fmt.Errorf("listing generic netlink families: %w", err)
	}
	want := ovsDatapathFamily
	if r.familyName != "" {
		want = r.familyName
	}
	for _, f := range families {
		if f.Name == want {
			r.family = f
			return nil
		}
	}
	r.family = genetlink.Family{}
	return fault.New(fault.NotFound, "", "", ErrNoKernelDatapathFamily)
}

func (r *KernelDatapathReader) setDeadline(ctx context.Context) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Time{}
	}
	return r.conn.SetDeadline(deadline)
}

func (r *KernelDatapathReader) closeConn() {
	if r.conn != nil {
		_ = r.conn.Close()
		r.conn, r.genl = nil, nil
	}
}

// Close releases the socket.
func (r *KernelDatapathReader) Close() error {
	r.init()
	r.sem <- struct{}{}
	defer func() { <-r.sem }()
	r.closeConn()
	return nil
}

// decodeKernelDatapaths decodes the replies of an OVS_DP_CMD_GET dump, one
// netlink message per datapath, each of netlink type family. Anything
// short, of another family or command, with an attribute this decoder does
// not know, a wrong length, a repeated attribute or datapath, or without
// the name and both statistics is a fault.Protocol error: never a 0.
func decodeKernelDatapaths(msgs []netlink.Message, family uint16) ([]DatapathStats, error) {
	out := make([]DatapathStats, 0, len(msgs))
	seen := make(map[string]bool, len(msgs))
	for i, m := range msgs {
		d, err := decodeKernelDatapath(m, family)
		if err != nil {
			return nil, fault.New(fault.Protocol, "", "", fmt.Errorf("reply %d: %w", i+1, err))
		}
		if seen[d.Name] {
			return nil, fault.New(fault.Protocol, "", "", fmt.Errorf("reply %d: datapath %s listed twice", i+1, d.Name))
		}
		seen[d.Name] = true
		out = append(out, d)
	}
	return out, nil
}

func decodeKernelDatapath(m netlink.Message, family uint16) (DatapathStats, error) {
	var d DatapathStats
	if uint16(m.Header.Type) != family {
		return d, fmt.Errorf("netlink message type %d, not the %s family (%d)", m.Header.Type, ovsDatapathFamily, family)
	}
	b := m.Data
	if len(b) < genlHeaderLen+ovsHeaderLen {
		return d, fmt.Errorf("short reply: %d bytes, want at least %d for the generic netlink and ovs headers", len(b), genlHeaderLen+ovsHeaderLen)
	}
	if cmd := b[0]; cmd != ovsDpCmdGet {
		return d, fmt.Errorf("reply to command %d, want OVS_DP_CMD_GET (%d)", cmd, ovsDpCmdGet)
	}
	attrs, err := netlink.UnmarshalAttributes(b[genlHeaderLen+ovsHeaderLen:])
	if err != nil {
		return d, fmt.Errorf("attributes: %w", err)
	}
	var seen [ovsDpAttrMax + 1]bool
	for _, a := range attrs {
		t := a.Type & attrTypeMask
		if t != a.Type || t == 0 || t > ovsDpAttrMax {
			return d, fmt.Errorf("unknown attribute type %d (%d bytes)", a.Type, len(a.Data))
		}
		if seen[t] && t != ovsDpAttrPad {
			return d, fmt.Errorf("attribute %d repeated", t)
		}
		seen[t] = true
		switch t {
		case ovsDpAttrName:
			name, err := decodeDatapathName(a.Data)
			if err != nil {
				return d, err
			}
			d.Name = "system@" + name
		case ovsDpAttrStats:
			if len(a.Data) != ovsDpStatsLen {
				return d, fmt.Errorf("OVS_DP_ATTR_STATS of %d bytes, want %d", len(a.Data), ovsDpStatsLen)
			}
			ne := binary.NativeEndian
			d.Hit = ne.Uint64(a.Data[0:])
			d.Missed = ne.Uint64(a.Data[8:])
			d.Lost = ne.Uint64(a.Data[16:])
			d.Flows = ne.Uint64(a.Data[24:])
		case ovsDpAttrMegaflowStats:
			if len(a.Data) != ovsDpMegaflowStatsLen {
				return d, fmt.Errorf("OVS_DP_ATTR_MEGAFLOW_STATS of %d bytes, want %d", len(a.Data), ovsDpMegaflowStatsLen)
			}
			ne := binary.NativeEndian
			d.MaskHits = ne.Uint64(a.Data[0:])
			d.Masks = uint64(ne.Uint32(a.Data[8:]))
			d.CacheHits = ne.Uint64(a.Data[16:])
			d.HasMasks = true
		case ovsDpAttrUserFeatures, ovsDpAttrMasksCacheSize:
			if len(a.Data) != 4 {
				return d, fmt.Errorf("attribute %d of %d bytes, want a u32", t, len(a.Data))
			}
		case ovsDpAttrPad, ovsDpAttrUpcallPID, ovsDpAttrPerCPUPIDs, ovsDpAttrIfindex:
			// Known, carry nothing exported.
		}
	}
	// n_cache_hit was padding before Linux 5.9, which added it together
	// with OVS_DP_ATTR_MASKS_CACHE_SIZE: without that attribute the 0 is
	// not a count. (ovs-dpctl hides a 0 instead, losing a real 0.)
	d.HasCache = seen[ovsDpAttrMasksCacheSize]
	switch {
	case !seen[ovsDpAttrName]:
		return d, errors.New("no OVS_DP_ATTR_NAME")
	case !seen[ovsDpAttrStats]:
		return d, fmt.Errorf("datapath %s: no OVS_DP_ATTR_STATS", d.Name)
	case !seen[ovsDpAttrMegaflowStats]:
		return d, fmt.Errorf("datapath %s: no OVS_DP_ATTR_MEGAFLOW_STATS", d.Name)
	}
	return d, nil
}

// decodeDatapathName checks OVS_DP_ATTR_NAME: a NUL-terminated interface
// name (the datapath's local port).
func decodeDatapathName(b []byte) (string, error) {
	n := len(b)
	if n < 2 || n > ifNameSize || b[n-1] != 0 {
		return "", fmt.Errorf("OVS_DP_ATTR_NAME of %d bytes is not a NUL-terminated interface name", n)
	}
	name := b[:n-1]
	for _, c := range name {
		if c <= ' ' || c >= 0x7f || c == '/' || c == '@' || c == ':' {
			return "", fmt.Errorf("OVS_DP_ATTR_NAME %q is not an interface name", name)
		}
	}
	return string(name), nil
}
