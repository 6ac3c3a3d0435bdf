package testenv

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Helpers that put real packets through the userspace (netdev) datapath of a
// private OVS and read its state with ovs-appctl, the ground truth for the
// ovs_datapath collector.

// VswitchdPidfile is where ovs-vswitchd writes its pid.
func (o *OVS) VswitchdPidfile() string { return filepath.Join(o.RunDir, "ovs-vswitchd.pid") }

// VswitchdCtl returns ovs-vswitchd's control socket as its pidfile names it
// now (RunDir/ovs-vswitchd.<pid>.ctl).
func (o *OVS) VswitchdCtl() (string, error) {
	b, err := os.ReadFile(o.VswitchdPidfile())
	if err != nil {
		return "", fmt.Errorf("reading ovs-vswitchd's pidfile: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return "", fmt.Errorf("ovs-vswitchd's pidfile holds %q: %w", b, err)
	}
	return filepath.Join(o.RunDir, fmt.Sprintf("ovs-vswitchd.%d.ctl", pid)), nil
}

// VswitchdPid returns the pid of the ovs-vswitchd this instance started
// last (0 if none).
func (o *OVS) VswitchdPid() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.vswitchd == nil {
		return 0
	}
	return o.vswitchd.cmd.Process.Pid
}

// Appctl runs `ovs-appctl -t <control socket> args...` against this
// instance's ovs-vswitchd and returns its standard output.
func (o *OVS) Appctl(args ...string) (string, error) {
	ctl, err := o.VswitchdCtl()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	return o.run(ctx, "ovs-appctl", append([]string{"-t", ctl, "--timeout=10"}, args...)...)
}

// SignalVswitchd sends sig (e.g. SIGSTOP, SIGCONT) to the ovs-vswitchd this
// instance started.
func (o *OVS) SignalVswitchd(sig syscall.Signal) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.vswitchd == nil {
		return errors.New("ovs-vswitchd was not started")
	}
	return o.vswitchd.cmd.Process.Signal(sig)
}

// TrafficPort is a veth pair inside the OVS's network namespace: Port is an
// OVS port of Bridge, Peer (with address Addr) sends packets into it.
type TrafficPort struct {
	o      *OVS
	Bridge string
	Port   string // the veth end that is an OVS port
	Peer   string // the veth end packets are sent from
	Addr   netip.Addr
	// Dst is the address datagrams go to, with a static neighbour entry so
	// that no ARP is needed: every datagram reaches the bridge.
	Dst netip.Addr
}

// AddTrafficPort creates a veth pair named <name>a/<name>b in the OVS's
// network namespace, adds <name>a to bridge and sets <name>b up with
// 10.<index>.0.1/24 (index 1..250 keeps ports apart) and a static neighbour
// 10.<index>.0.2. The pair goes away with the namespace (OVS.Close).
func (o *OVS) AddTrafficPort(ctx context.Context, bridge, name string, index int) (*TrafficPort, error) {
	if len(name) > 13 || index < 1 || index > 250 {
		return nil, fmt.Errorf("traffic port %q index %d: want a name of at most 13 bytes and an index in 1..250", name, index)
	}
	p := &TrafficPort{o: o, Bridge: bridge, Port: name + "a", Peer: name + "b",
		Addr: netip.AddrFrom4([4]byte{10, byte(index), 0, 1}),
		Dst:  netip.AddrFrom4([4]byte{10, byte(index), 0, 2})}
	ns := []string{"-n", o.Netns}
	steps := [][]string{
		append(ns, "link", "add", p.Port, "type", "veth", "peer", "name", p.Peer),
		// No IPv6 link-local addresses: no router solicitations or MLD
		// reports, so only the datagrams SendUDP sends reach the datapath.
		append(ns, "link", "set", p.Port, "addrgenmode", "none"),
		append(ns, "link", "set", p.Peer, "addrgenmode", "none"),
		append(ns, "link", "set", p.Port, "up"),
		append(ns, "link", "set", p.Peer, "up"),
		append(ns, "addr", "add", p.Addr.String()+"/24", "dev", p.Peer),
		append(ns, "neigh", "replace", p.Dst.String(), "lladdr", "02:00:00:00:00:02", "dev", p.Peer),
	}
	for _, args := range steps {
		if _, err := o.run(ctx, "ip", args...); err != nil {
			return nil, fmt.Errorf("adding traffic port %s: %w", name, err)
		}
	}
	if _, err := o.Vsctl("add-port", bridge, p.Port); err != nil {
		return nil, fmt.Errorf("adding %s to bridge %s: %w", p.Port, bridge, err)
	}
	return p, nil
}

// SendUDP sends count one-byte UDP datagrams from Peer to Dst, to
// destination ports 10000, 10001, ... 10000+ports-1 in turn (ports ≥ 1), so
// the datapath sees `count` packets of `ports` flows. It runs in a thread
// locked into the OVS's network namespace and moved back afterwards.
func (p *TrafficPort) SendUDP(ctx context.Context, count, ports int) error {
	return p.SendUDPPorts(ctx, count, 10000, ports)
}

// SendUDPPorts is SendUDP to destination ports firstPort ...
// firstPort+ports-1.
func (p *TrafficPort) SendUDPPorts(ctx context.Context, count, firstPort, ports int) error {
	if ports < 1 {
		ports = 1
	}
	if firstPort < 1 || firstPort+ports > 65536 {
		return fmt.Errorf("UDP ports %d..%d out of range", firstPort, firstPort+ports-1)
	}
	return InNetns(netnsPath(p.o.Netns), func() error {
		return SendDatagrams(ctx, count, time.Millisecond, func(i int) *unix.SockaddrInet4 {
			return &unix.SockaddrInet4{Port: firstPort + i%ports, Addr: p.Dst.As4()}
		})
	})
}

// AddMeter adds an OpenFlow meter to bridge with ovs-ofctl (over the
// highest version the bridge allows, which must be 1.3 or later), e.g. spec
// "meter=1,pktps,band=type=drop,rate=1".
func (o *OVS) AddMeter(bridge, spec string) error {
	if _, err := o.Ofctl(o.versionFlag(bridge), "add-meter", bridge, spec); err != nil {
		return fmt.Errorf("adding meter %q to bridge %s: %w", spec, bridge, err)
	}
	return nil
}

// MeterBandPackets returns, per meter of bridge, the packet count of each
// band as `ovs-ofctl meter-stats` prints them (OpenFlow 1.3+):
//
//	OFPST_METER reply (OF1.5) (xid=0x2):
//	meter:1 flow_count:1 packet_in_count:70 byte_in_count:3080 duration:156.010s bands:
//	0: packet_count:68 byte_count:2992
func (o *OVS) MeterBandPackets(bridge string) (map[uint32][]uint64, error) {
	out, err := o.Ofctl(o.versionFlag(bridge), "meter-stats", bridge)
	if err != nil {
		return nil, fmt.Errorf("reading meter stats of bridge %s: %w", bridge, err)
	}
	return parseMeterStats(out)
}

func parseMeterStats(out string) (map[uint32][]uint64, error) {
	meters := map[uint32][]uint64{}
	var cur uint32
	have := false
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "meter:"):
			f := strings.Fields(line)
			id, err := strconv.ParseUint(strings.TrimPrefix(f[0], "meter:"), 10, 32)
			if err != nil {
				return nil, fmt.Errorf("meter line %q: %w", line, err)
			}
			cur, have = uint32(id), true
			meters[cur] = nil
		case strings.Contains(line, "packet_count:"):
			if !have {
				return nil, fmt.Errorf("band line %q before any meter", line)
			}
			_, rest, _ := strings.Cut(line, "packet_count:")
			n, err := strconv.ParseUint(strings.Fields(rest)[0], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("band line %q: %w", line, err)
			}
			meters[cur] = append(meters[cur], n)
		}
	}
	return meters, nil
}
