package kernelnode

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
)

// What runs on a kernel node: OVS at its Debian default paths (as on a
// Kubernetes node), br-int on the kernel datapath with an Antrea-like
// pipeline, a gateway port and Pods.
const (
	// GuestOVSRunDir is OVS's run directory in the guest: db.sock,
	// <bridge>.mgmt, ovs-vswitchd.pid and ovs-vswitchd.<pid>.ctl.
	GuestOVSRunDir = "/run/openvswitch"
	// AntreaGatewayPort is antrea-gw0's OpenFlow port, as Antrea numbers it.
	AntreaGatewayPort = 2
	antreaGatewayIP   = "10.10.1.1"
	antreaGatewayMAC  = "aa:bb:cc:ff:ff:01"
)

// StartOVS starts ovsdb-server and ovs-vswitchd in the guest. ovs-vswitchd
// starts only once the guest has been up for more than 10 s: OVS 3.1.0
// (Debian's) counts 0 CPU cores before that, starts no upcall handler and
// loses every upcall for its whole life (fixed in 3.1.1).
func (n *Node) StartOVS(ctx context.Context) error {
	if _, err := n.Sh(ctx, `
ovsdb-tool create /etc/openvswitch/conf.db /usr/share/openvswitch/vswitch.ovsschema
ovsdb-server /etc/openvswitch/conf.db --remote=punix:`+GuestOVSRunDir+`/db.sock --pidfile --detach --log-file
ovs-vsctl --timeout=10 --no-wait init`); err != nil {
		return fmt.Errorf("starting ovsdb-server in the guest: %w", err)
	}
	return n.StartVswitchd(ctx)
}

// StartVswitchd starts (or starts again) ovs-vswitchd in the guest and
// waits until it answers on its control socket.
func (n *Node) StartVswitchd(ctx context.Context) error {
	for {
		up, err := n.Uptime(ctx)
		if err != nil {
			return err
		}
		if up > 10.5 {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration((10.6 - up) * float64(time.Second))):
		}
	}
	if _, err := n.Run(ctx, "ovs-vswitchd", "--pidfile", "--detach", "--log-file"); err != nil {
		return fmt.Errorf("starting ovs-vswitchd in the guest: %w", err)
	}
	return testenv.WaitFor(ctx, func() bool {
		_, err := n.Run(ctx, "ovs-appctl", "--timeout=2", "version")
		return err == nil
	})
}

// VswitchdPid is ovs-vswitchd's pid in the guest, from its pidfile.
func (n *Node) VswitchdPid(ctx context.Context) (int, error) {
	out, err := n.Run(ctx, "cat", GuestOVSRunDir+"/ovs-vswitchd.pid")
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(out))
}

// Uptime is the guest's /proc/uptime in seconds.
func (n *Node) Uptime(ctx context.Context) (float64, error) {
	out, err := n.Run(ctx, "cat", "/proc/uptime")
	if err != nil {
		return 0, err
	}
	f := strings.Fields(out)
	if len(f) == 0 {
		return 0, fmt.Errorf("guest /proc/uptime: %q", out)
	}
	return strconv.ParseFloat(f[0], 64)
}

// AntreaNodeOptions describe the Antrea-like node SetupAntrea builds.
type AntreaNodeOptions struct {
	Flows []string // the pipeline, e.g. ReadFlowsFile("testdata/antrea/br-int.flows")
	Pods  int      // Pods 0..Pods-1 (at most 20: the flows file's)
	// ServiceEndpoints are the Pods behind Service 0 (testenv.ServiceIP(0), TCP
	// 80): selected by an OpenFlow group and DNATed in EndpointDNAT,
	// each serving HTTP on port 80.
	ServiceEndpoints []int
}

// antreaGatewayFlows are the flows Antrea installs for antrea-gw0 that
// the pipeline needs for Pods to reach the gateway (ARP both ways) and
// for replies to the gateway: its spoof guard, its Classifier mark and
// its L2 output.
func antreaGatewayFlows() []string {
	gw := AntreaGatewayPort
	return []string{
		fmt.Sprintf("table=1,priority=200,arp,in_port=%d,arp_spa=%s,arp_sha=%s,actions=goto_table:2", gw, antreaGatewayIP, antreaGatewayMAC),
		fmt.Sprintf("table=1,priority=200,ip,in_port=%d,actions=goto_table:3", gw),
		fmt.Sprintf("table=3,priority=200,in_port=%d,actions=load:0x1->NXM_NX_REG0[0..3],goto_table:4", gw),
		fmt.Sprintf("table=21,priority=200,dl_dst=%s,actions=load:0x%x->NXM_NX_REG1[],load:0x1->NXM_NX_REG0[8],goto_table:22", antreaGatewayMAC, gw),
	}
}

// antreaServiceGroup is Service 0 as Antrea programs a Service without
// session affinity: ServiceLB sends to a select group whose buckets set
// the endpoint (reg3) and port (reg4[0..15]) and resubmit to
// EndpointDNAT, whose flows (in the flows file) commit to zone 65520
// with nat(dst=endpoint:80).
func antreaServiceGroup(endpoints []int) (group, flow string) {
	var buckets []string
	for i, ep := range endpoints {
		var a, b, c, d uint32
		fmt.Sscanf(testenv.PodIP(ep), "%d.%d.%d.%d", &a, &b, &c, &d)
		buckets = append(buckets, fmt.Sprintf("bucket=bucket_id:%d,weight:100,actions=load:0x%x->NXM_NX_REG3[],load:0x50->NXM_NX_REG4[0..15],resubmit(,11)",
			i, a<<24|b<<16|c<<8|d))
	}
	group = "group_id=1,type=select," + strings.Join(buckets, ",")
	flow = fmt.Sprintf("table=10,priority=200,tcp,reg4=0x10000/0x70000,nw_dst=%s,tp_dst=80,actions=load:0x2->NXM_NX_REG4[16..18],group:1", testenv.ServiceIP(0))
	return group, flow
}

// SetupAntrea builds br-int on the kernel datapath (protocols OpenFlow10
// and OpenFlow15, fail_mode secure, no table names in OVS), antrea-gw0,
// the Pods as network namespaces pod<i> with a veth port each carrying
// the external IDs Antrea writes, loads the pipeline and starts the
// Service's endpoints. IPv6 is off in the guest so that no router
// solicitation or MLD report moves a counter while a test compares.
func (n *Node) SetupAntrea(ctx context.Context, opts AntreaNodeOptions) error {
	var root, vsctl strings.Builder
	fmt.Fprintf(&vsctl, `ovs-vsctl --timeout=30 add-br br-int -- set Bridge br-int protocols=OpenFlow10,OpenFlow15 fail_mode=secure \
  -- add-port br-int antrea-gw0 -- set Interface antrea-gw0 type=internal ofport_request=%d mac='"%s"' \
  -- set Port antrea-gw0 external_ids:antrea-type=gateway`, AntreaGatewayPort, antreaGatewayMAC)
	var pods strings.Builder
	for i := 0; i < opts.Pods; i++ {
		name, veth := fmt.Sprintf("pod%d", i), fmt.Sprintf("veth-pod%d", i)
		fmt.Fprintf(&root, "netns add %[1]s\nlink add %[2]s type veth peer name eth0 netns %[1]s\nlink set %[2]s up\n", name, veth)
		fmt.Fprintf(&pods, "ip -n %[1]s -b - <<EOF\nlink set lo up\nlink set eth0 address %[2]s\naddr add %[3]s/24 dev eth0\nlink set eth0 up\nroute add default via %[4]s\nEOF\n",
			name, testenv.PodMAC(i), testenv.PodIP(i), antreaGatewayIP)
		fmt.Fprintf(&vsctl, ` \
  -- add-port br-int %[2]s -- set Interface %[2]s ofport_request=%[6]d \
  -- set Port %[2]s external_ids:antrea-type=container external_ids:pod-name=%[1]s external_ids:pod-namespace=default \
     external_ids:container-id=%[5]s external_ids:ip-address=%[4]s external_ids:attached-mac=%[3]s`,
			name, veth, testenv.PodMAC(i), testenv.PodIP(i), fmt.Sprintf("%064x", 0xc0ffee00+i), testenv.PodPort(i))
	}
	script := "sysctl -qw net.core.devconf_inherit_init_net=1 net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1\n" +
		vsctl.String() + "\n" +
		"ip addr add " + antreaGatewayIP + "/24 dev antrea-gw0\nip link set antrea-gw0 up\n" +
		"ip -b - <<EOF\n" + root.String() + "EOF\n" + pods.String()
	if _, err := n.Sh(ctx, script); err != nil {
		return fmt.Errorf("building br-int and Pods in the guest: %w", err)
	}
	if err := n.LoadAntreaFlows(ctx, opts); err != nil {
		return err
	}
	for _, ep := range opts.ServiceEndpoints {
		name := fmt.Sprintf("pod%d", ep)
		if err := n.Start(ctx, "http-"+name, "ip", "netns", "exec", name, "env", envAgent+"=httpserve", n.GuestPath("agent")); err != nil {
			return err
		}
	}
	return nil
}

// LoadAntreaFlows (re)loads the pipeline, the gateway's flows and Service
// 0's group into br-int: what the Antrea agent does again after
// ovs-vswitchd restarts, which keeps no OpenFlow state.
func (n *Node) LoadAntreaFlows(ctx context.Context, opts AntreaNodeOptions) error {
	flows := append(append([]string{}, opts.Flows...), antreaGatewayFlows()...)
	if len(opts.ServiceEndpoints) > 0 {
		group, lb := antreaServiceGroup(opts.ServiceEndpoints)
		if _, err := n.Run(ctx, "ovs-ofctl", "-O", "OpenFlow15", "add-group", "br-int", group); err != nil {
			return fmt.Errorf("adding Service 0's group: %w", err)
		}
		// Replaces the flows file's ServiceLB flow for Service 0 (same
		// match and priority), which has no group.
		flows = append(flows, lb)
	}
	if _, err := n.RunStdin(ctx, strings.Join(flows, "\n")+"\n", "ovs-ofctl", "-O", "OpenFlow15", "add-flows", "br-int", "-"); err != nil {
		return fmt.Errorf("loading the pipeline: %w", err)
	}
	return nil
}

// InPod runs a command in Pod i's network namespace.
func (n *Node) InPod(ctx context.Context, i int, args ...string) (string, error) {
	return n.Run(ctx, append([]string{"ip", "netns", "exec", fmt.Sprintf("pod%d", i)}, args...)...)
}

// PodUDPFlood sends count datagrams from Pod i to count distinct ports of
// dst (from port first) through br-int: count new connections for
// conntrack in zone 65520.
func (n *Node) PodUDPFlood(ctx context.Context, i int, dst string, first, count int) error {
	_, err := n.InPod(ctx, i, "env", envAgent+"=udpflood", n.GuestPath("agent"), dst, strconv.Itoa(first), strconv.Itoa(count))
	return err
}

// PodHTTPGet fetches http://addr/ from Pod i (a Service VIP or a Pod IP)
// and returns the body: the name of the Pod that answered.
func (n *Node) PodHTTPGet(ctx context.Context, i int, addr string) (string, error) {
	return n.InPod(ctx, i, "env", envAgent+"=httpget", n.GuestPath("agent"), "http://"+addr+"/")
}
