package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Pod is what Antrea's CNI makes of a Pod on a node, on a private OVS: a
// network namespace of its own whose eth0 is one end of a veth pair, the
// other end (Port, in the OVS's network namespace) a port of an OVS bridge
// carrying the external IDs Antrea's agent writes on the Port row
// (pod-name, pod-namespace, container-id, ip-address, attached-mac,
// antrea-type=container).
type Pod struct {
	o      *OVS
	Bridge string
	Port   string // the OVS port and interface, in the OVS's namespace
	Netns  string // the Pod's network namespace, holding eth0
	IP     netip.Addr
	MAC    string

	closeOnce sync.Once
	closeErr  error
}

// PodOptions configures AddPod.
type PodOptions struct {
	// Name and Namespace are the Pod's, written to external_ids as they
	// are (odd characters included).
	Name, Namespace string
	// Port names the OVS port (at most 15 bytes); "" makes one up.
	Port string
	// Index (1..250) gives the Pod 10.244.0.<Index>/24 and MAC
	// 0a:58:0a:f4:00:<Index>, as Antrea's IPAM would.
	Index int
	// ExternalIDs are set on the Port row after (over) Antrea's.
	ExternalIDs map[string]string
}

// AddPod adds a Pod to bridge. It is removed by Close (do call it: the
// Pod's namespace is not the OVS's); the OVS port goes with the OVS.
func (o *OVS) AddPod(ctx context.Context, bridge string, opts PodOptions) (_ *Pod, err error) {
	if opts.Index < 1 || opts.Index > 250 {
		return nil, fmt.Errorf("pod %q: index %d, want 1..250", opts.Name, opts.Index)
	}
	suffix, err := randomHex(4)
	if err != nil {
		return nil, fmt.Errorf("naming a Pod's network namespace: %w", err)
	}
	p := &Pod{o: o, Bridge: bridge, Port: opts.Port, Netns: "dpx-pod-" + suffix,
		IP:  netip.AddrFrom4([4]byte{10, 244, 0, byte(opts.Index)}),
		MAC: fmt.Sprintf("0a:58:0a:f4:00:%02x", opts.Index)}
	if p.Port == "" {
		p.Port = "pod" + suffix
	}
	if len(p.Port) > 15 {
		return nil, fmt.Errorf("pod port name %q: longer than 15 bytes", p.Port)
	}
	defer undoOnError(&err, p)
	_ = recordOwned(kindNetns, p.Netns)
	steps := [][]string{
		{"netns", "add", p.Netns},
		{"-n", p.Netns, "link", "set", "lo", "up"},
		// The veth is made in the OVS's namespace, its eth0 end moved to
		// the Pod's; no IPv6 link-local addresses, so that no router
		// solicitation or MLD report moves a counter behind a test.
		{"-n", o.Netns, "link", "add", p.Port, "type", "veth", "peer", "name", "eth0", "netns", p.Netns},
		{"-n", o.Netns, "link", "set", p.Port, "addrgenmode", "none"},
		{"-n", p.Netns, "link", "set", "eth0", "addrgenmode", "none"},
		{"-n", p.Netns, "link", "set", "eth0", "address", p.MAC},
		{"-n", p.Netns, "addr", "add", p.IP.String() + "/24", "dev", "eth0"},
		{"-n", o.Netns, "link", "set", p.Port, "up"},
		{"-n", p.Netns, "link", "set", "eth0", "up"},
	}
	for _, args := range steps {
		if _, err := o.run(ctx, "ip", args...); err != nil {
			return nil, fmt.Errorf("adding pod %q: %w", opts.Name, err)
		}
	}
	ids := map[string]string{
		"antrea-type":   "container",
		"pod-name":      opts.Name,
		"pod-namespace": opts.Namespace,
		"container-id":  fmt.Sprintf("%064x", opts.Index),
		"ip-address":    p.IP.String(),
		"attached-mac":  p.MAC,
	}
	maps.Copy(ids, opts.ExternalIDs)
	args := append([]string{"add-port", bridge, p.Port}, SetExternalIDs("Port", p.Port, ids)...)
	if _, err := o.Vsctl(args...); err != nil {
		return nil, fmt.Errorf("adding pod %q's port %s to %s: %w", opts.Name, p.Port, bridge, err)
	}
	return p, nil
}

// SetExternalIDs returns the ovs-vsctl arguments ("--", "set", ...) that
// set ids on the row of table named record, each value quoted as OVSDB
// strings are (so that any character, a quote or a newline, gets there
// as it is).
func SetExternalIDs(table, record string, ids map[string]string) []string {
	keys := make([]string, 0, len(ids))
	for k := range ids {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	args := []string{"--", "set", table, record}
	for _, k := range keys {
		args = append(args, "external_ids:"+strconv.Quote(k)+"="+ovsdbQuote(ids[k]))
	}
	return args
}

// ovsdbQuote quotes s as ovs-vsctl parses a string (a C-like quoted
// string, with \uXXXX for anything else): its parser takes JSON string
// escapes, which strconv.Quote's \x and \U forms are not.
func ovsdbQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r < 0x20:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// SendUDP sends count one-byte UDP datagrams from the Pod to dst, another
// Pod of the bridge, through OVS. dst's MAC is put in the Pod's neighbour
// table, so that no ARP is needed and each datagram is one packet on the
// Pod's port, whether dst answers or not.
func (p *Pod) SendUDP(ctx context.Context, dst *Pod, count int) error {
	if _, err := p.Exec(ctx, "ip", "neigh", "replace", dst.IP.String(), "lladdr", dst.MAC, "dev", "eth0"); err != nil {
		return err
	}
	return InNetns(netnsPath(p.Netns), func() error {
		return SendDatagrams(ctx, count, time.Millisecond, func(int) *unix.SockaddrInet4 {
			return &unix.SockaddrInet4{Port: 9, Addr: dst.IP.As4()}
		})
	})
}

// SetLinkDown sets the Pod's eth0 down (or up again): the OVS end of the
// veth loses its carrier (link_state down), and what OVS sends to the Pod
// is dropped on it (tx_dropped).
func (p *Pod) SetLinkDown(ctx context.Context, down bool) error {
	state := "up"
	if down {
		state = "down"
	}
	_, err := p.Exec(ctx, "ip", "link", "set", "eth0", state)
	return err
}

// Exec runs a command in the Pod's network namespace.
func (p *Pod) Exec(ctx context.Context, args ...string) (string, error) {
	return p.o.run(ctx, "ip", append([]string{"netns", "exec", p.Netns}, args...)...)
}

// Close deletes the Pod's network namespace (and with it the veth pair)
// and its OVS port if the OVS still runs. Safe to call more than once.
func (p *Pod) Close() error {
	p.closeOnce.Do(func() {
		p.closeErr = removeOwnedNetns(p.Netns)
		if !p.o.isClosed() {
			_, _ = p.o.Vsctl("--if-exists", "del-port", p.Bridge, p.Port)
		}
	})
	return p.closeErr
}

// PodForTest is AddPod, closed when t ends.
func PodForTest(t T, o *OVS, bridge string, opts PodOptions) *Pod {
	t.Helper()
	addPod := func(ctx context.Context, opts PodOptions) (*Pod, error) { return o.AddPod(ctx, bridge, opts) }
	return forTest(t, "pod "+opts.Name, addPod, opts)
}

func (o *OVS) isClosed() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.closed
}

// InterfaceStatistics is `ovs-vsctl get Interface NAME statistics`, parsed:
// {collisions=0, rx_bytes=1234, ...}.
func (o *OVS) InterfaceStatistics(name string) (map[string]uint64, error) {
	out, err := o.Vsctl("get", "Interface", name, "statistics")
	if err != nil {
		return nil, err
	}
	text := strings.TrimSpace(out)
	if !strings.HasPrefix(text, "{") || !strings.HasSuffix(text, "}") {
		return nil, fmt.Errorf("statistics of %s: %q is not {key=value, ...}", name, text)
	}
	stats := map[string]uint64{}
	for entry := range strings.SplitSeq(text[1:len(text)-1], ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		k, v, ok := strings.Cut(entry, "=")
		n, err := strconv.ParseInt(v, 10, 64)
		if !ok || err != nil {
			return nil, fmt.Errorf("statistics of %s: entry %q is not key=integer", name, entry)
		}
		stats[k] = uint64(n)
	}
	return stats, nil
}

// PortExternalID is `ovs-vsctl get Port NAME external_ids:KEY`, unquoted
// (ovs-vsctl quotes a string that is not a plain word as JSON does).
func (o *OVS) PortExternalID(name, key string) (string, error) {
	out, err := o.Vsctl("get", "Port", name, "external_ids:"+strconv.Quote(key))
	if err != nil {
		return "", err
	}
	text := strings.TrimSuffix(out, "\n")
	if !strings.HasPrefix(text, `"`) {
		return text, nil
	}
	var s string
	if err := json.Unmarshal([]byte(text), &s); err != nil {
		return "", fmt.Errorf("external_ids:%s of port %s: %q: %w", key, name, text, err)
	}
	return s, nil
}

// OddPodName is a Pod name with what label values and OVSDB strings must
// carry through unchanged: quotes, a newline, a backslash, braces, and
// characters beyond ASCII.
const OddPodName = "we\"ird\nname-ünï-😀\\{x=\"y\"}"

// TwoPodsForTest is a private OVS with bridge br-int (netdev datapath) and
// two Pods on it: client (Pod "client" in "default", port client-1a2b,
// 10.244.0.1) and server (Pod OddPodName in "ns-ü", port server-3c4d,
// dual-stack 10.244.0.2 and fd00:10:244::2). Removed when t ends.
func TwoPodsForTest(t T) (o *OVS, client, server *Pod) {
	t.Helper()
	o = OVSForTest(t, OVSOptions{})
	if err := o.AddBridge("br-int"); err != nil {
		t.Fatalf("%v", err)
	}
	client = PodForTest(t, o, "br-int", PodOptions{Name: "client", Namespace: "default", Port: "client-1a2b", Index: 1})
	server = PodForTest(t, o, "br-int", PodOptions{Name: OddPodName, Namespace: "ns-ü", Port: "server-3c4d", Index: 2,
		ExternalIDs: map[string]string{"ip-address": "10.244.0.2,fd00:10:244::2"}})
	return o, client, server
}
