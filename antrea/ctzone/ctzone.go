// Package ctzone names the conntrack zones an Antrea node uses (Antrea's
// pkg/agent/openflow: CtZone, SNATCtZone, CtZoneV6, SNATCtZoneV6). It is a
// package of its own, importing nothing, so that both collector and the
// test harness can use it: package antrea's own tests import the harness.
package ctzone

const (
	// Pod is the zone of Pod traffic (Services' DNAT commits there too),
	// which the Antrea agent's antrea_connection_count counts.
	Pod = 0xfff0
	// SNAT is the zone of SNATed traffic.
	SNAT = 0xfff1
	// PodV6 and SNATV6 are their IPv6 counterparts.
	PodV6  = 0xffe6
	SNATV6 = 0xffe7
)
