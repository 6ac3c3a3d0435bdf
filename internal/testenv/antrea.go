package testenv

import "fmt"

// AntreaTableNames is an Antrea-like OpenFlow pipeline for br-int: table IDs
// and the names Antrea gives them through OVSDB Flow_Table, with SpoofGuard
// as table 1 and EndpointDNAT as table 11.
var AntreaTableNames = map[int]string{
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
