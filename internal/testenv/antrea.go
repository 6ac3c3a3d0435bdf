package testenv

import (
	"fmt"
	"os"
	"strings"

	"github.com/datapath-exporter/datapath-exporter/antrea/ctzone"
)

// AntreaAgentTableNames is an Antrea-like OpenFlow pipeline for br-int: table
// IDs and the names the Antrea agent gives them, with SpoofGuard as table 1
// and EndpointDNAT as table 11. A real agent keeps these names in its memory
// and publishes them only on its /metrics (the AntreaAgent stand-in serves
// them): it never writes them to OVSDB Flow_Table, so an Antrea-like br-int
// in a test carries no names in OVS.
var AntreaAgentTableNames = map[int]string{
	0: "PipelineRootClassifier", 1: "SpoofGuard", 2: "ARPResponder", 3: "Classifier",
	4: "UnSNAT", 5: "ConntrackZone", 6: "ConntrackState", 7: "PreRoutingClassifier",
	8: "NodePortMark", 9: "SessionAffinity", 10: "ServiceLB", 11: "EndpointDNAT",
	12: "AntreaPolicyEgressRule", 13: "EgressRule", 14: "EgressDefaultRule", 15: "EgressMetric",
	16: "L3Forwarding", 17: "EgressMark", 18: "L3DecTTL", 19: "SNATMark", 20: "SNAT",
	21: "L2ForwardingCalc", 22: "TrafficControl", 23: "IngressSecurityClassifier",
	24: "AntreaPolicyIngressRule", 25: "IngressRule", 26: "IngressDefaultRule",
	27: "IngressMetric", 28: "ConntrackCommit", 29: "Output",
}

// DropFlows returns n distinct flows for table, each matching its own IPv4
// source, numbered from first so that several calls can add to one table.
func DropFlows(table, first, n int) []string {
	out := make([]string, 0, n)
	for i := first; i < first+n; i++ {
		out = append(out, fmt.Sprintf("table=%d,priority=100,ip,nw_src=10.%d.%d.%d,actions=drop",
			table, (i>>16)&0xff, (i>>8)&0xff, i&0xff))
	}
	return out
}

// PodIP, PodMAC and PodPort number the Pods of an Antrea-like node
// (testdata/antrea/br-int.flows has flows for Pods 0-19).
func PodIP(i int) string { return fmt.Sprintf("10.10.%d.%d", 1+i/250, 2+i%250) }
func PodMAC(i int) string {
	return fmt.Sprintf("aa:bb:cc:%02x:%02x:%02x", (i>>16)&0xff, (i>>8)&0xff, i&0xff)
}
func PodPort(i int) int { return 10 + i }

// AntreaBaseFlows are the per-table default flows of the Antrea-like
// pipeline, in ovs-ofctl add-flows syntax for OpenFlow 1.5.
func AntreaBaseFlows() []string {
	return []string{
		"table=0,priority=200,arp,actions=goto_table:1",
		"table=0,priority=200,ip,actions=goto_table:1",
		"table=0,priority=0,actions=drop",
		"table=1,priority=0,actions=drop",
		"table=2,priority=190,arp,actions=NORMAL",
		"table=3,priority=0,actions=goto_table:4",
		"table=4,priority=0,actions=goto_table:5",
		"table=5,priority=200,ip,actions=ct(table=6,zone=65520,nat)",
		"table=6,priority=190,ct_state=+inv+trk,ip,actions=drop",
		"table=6,priority=0,actions=goto_table:7",
		"table=7,priority=0,actions=goto_table:9",
		"table=9,priority=0,actions=load:0x1->NXM_NX_REG4[16..18],goto_table:10",
		"table=10,priority=0,actions=goto_table:12",
		"table=11,priority=0,actions=goto_table:12",
		"table=12,priority=0,actions=goto_table:13",
		"table=13,priority=0,actions=goto_table:14",
		"table=14,priority=0,actions=goto_table:15",
		"table=15,priority=0,actions=goto_table:16",
		"table=16,priority=0,actions=goto_table:17",
		"table=17,priority=0,actions=goto_table:18",
		"table=18,priority=210,ip,actions=dec_ttl,goto_table:19",
		"table=18,priority=0,actions=goto_table:19",
		"table=19,priority=0,actions=goto_table:20",
		"table=20,priority=0,actions=goto_table:21",
		"table=21,priority=0,actions=goto_table:22",
		"table=22,priority=0,actions=goto_table:23",
		"table=23,priority=0,actions=goto_table:24",
		"table=24,priority=0,actions=goto_table:25",
		"table=25,priority=0,actions=goto_table:26",
		"table=26,priority=0,actions=goto_table:27",
		"table=27,priority=0,actions=goto_table:28",
		"table=28,priority=200,ct_state=+new+trk,ip,actions=ct(commit,table=29,zone=65520,exec(load:0x1->NXM_NX_CT_MARK[0..3]))",
		"table=28,priority=0,actions=goto_table:29",
		"table=29,priority=200,reg0=0x100/0x100,actions=output:NXM_NX_REG1[]",
		"table=29,priority=0,actions=note:00.00.00.01",
	}
}

// AntreaPodFlows are the flows Antrea installs for Pod i: ARP and IP spoof
// guard on its port (SpoofGuard, table 1), L3 forwarding to it and L2
// output calculation.
func AntreaPodFlows(i int) []string {
	ip, mac, port := PodIP(i), PodMAC(i), PodPort(i)
	return []string{
		fmt.Sprintf("table=1,priority=200,arp,in_port=%d,arp_spa=%s,arp_sha=%s,actions=goto_table:2", port, ip, mac),
		fmt.Sprintf("table=1,priority=200,ip,in_port=%d,dl_src=%s,nw_src=%s,actions=goto_table:3", port, mac, ip),
		fmt.Sprintf("table=3,priority=190,in_port=%d,actions=load:0x2->NXM_NX_REG0[0..3],goto_table:4", port),
		fmt.Sprintf("table=16,priority=200,ip,nw_dst=%s,actions=set_field:%s->eth_dst,goto_table:17", ip, mac),
		fmt.Sprintf("table=21,priority=200,dl_dst=%s,actions=load:0x%x->NXM_NX_REG1[],load:0x1->NXM_NX_REG0[8],goto_table:22", mac, port),
	}
}

// AntreaPodMatches are ovs-ofctl del-flows matches removing Pod i's flows.
func AntreaPodMatches(i int) []string {
	ip, mac, port := PodIP(i), PodMAC(i), PodPort(i)
	return []string{
		fmt.Sprintf("table=1,arp,in_port=%d", port),
		fmt.Sprintf("table=1,ip,in_port=%d", port),
		fmt.Sprintf("table=3,in_port=%d", port),
		fmt.Sprintf("table=16,ip,nw_dst=%s", ip),
		fmt.Sprintf("table=21,dl_dst=%s", mac),
	}
}

// ServiceIP is the ClusterIP of Service s (TCP port 80).
func ServiceIP(s int) string { return fmt.Sprintf("10.96.%d.%d", s/250, 1+s%250) }

// AntreaServiceFlows are the flows of Service s (TCP port 80) whose
// endpoints are the given Pods: session affinity learning and load
// balancing (ServiceLB, table 10) and one DNAT flow per endpoint
// (EndpointDNAT, table 11) committing to Antrea's zone.
func AntreaServiceFlows(s int, endpoints []int) []string {
	vip := ServiceIP(s)
	out := []string{
		fmt.Sprintf("table=10,priority=200,tcp,reg4=0x10000/0x70000,nw_dst=%s,tp_dst=80,actions="+
			"learn(table=9,idle_timeout=300,priority=200,delete_learned,cookie=0x%x,eth_type=0x800,nw_proto=6,"+
			"NXM_OF_TCP_DST[],NXM_OF_IP_DST[],NXM_OF_IP_SRC[],load:NXM_NX_REG3[]->NXM_NX_REG3[],load:0x2->NXM_NX_REG4[16..18]),"+
			"load:0x2->NXM_NX_REG4[16..18],goto_table:11", vip, 0x7000000+s),
	}
	for _, ep := range endpoints {
		ip := PodIP(ep)
		var reg3 uint32
		var a, b, c, d uint32
		fmt.Sscanf(ip, "%d.%d.%d.%d", &a, &b, &c, &d)
		reg3 = a<<24 | b<<16 | c<<8 | d
		out = append(out, fmt.Sprintf("table=11,priority=200,tcp,reg3=0x%x,reg4=0x20050/0x7ffff,nw_dst=%s,"+
			"actions=ct(commit,table=12,zone=%d,nat(dst=%s:80),exec(load:0x1->NXM_NX_CT_MARK[4]))", reg3, vip, ctzone.Pod, ip))
	}
	return out
}

// AntreaServiceMatch removes Service s's flows.
func AntreaServiceMatches(s int) []string {
	vip := ServiceIP(s)
	return []string{fmt.Sprintf("table=10,tcp,nw_dst=%s", vip), fmt.Sprintf("table=11,tcp,nw_dst=%s", vip)}
}

// ReadFlowsFile reads an ovs-ofctl add-flows file, leaving out comments and
// blank lines.
func ReadFlowsFile(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading flows: %w", err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, line)
	}
	return out, nil
}
