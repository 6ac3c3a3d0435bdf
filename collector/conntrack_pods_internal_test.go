package collector

import (
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/datapath-exporter/datapath-exporter/conntrack"
	"github.com/datapath-exporter/datapath-exporter/ovs"
)

// TestExportConntrackPods joins a dump's counts with an inventory and
// converts them, as the conntrack_pods collector does after its dump: no
// socket, no root. Real dumps and OVSDB are in conntrack_pods_test.go.
func TestExportConntrackPods(t *testing.T) {
	a := netip.MustParseAddr
	pod := func(bridge, name, ns string, ips ...string) ovs.Port {
		p := ovs.Port{Name: name + "-port", ExternalIDs: map[string]string{ovs.ExternalIDPodName: name, ovs.ExternalIDPodNamespace: ns}}
		for _, ip := range ips {
			p.IPs = append(p.IPs, a(ip))
		}
		return p
	}
	inv := ovs.Inventory{Bridges: []string{"br-int"}, Ports: map[string][]ovs.Port{"br-int": {
		pod("br-int", "web", "shop", "10.10.0.2", "fd00::2"), // dual-stack: both count for the Pod
		pod("br-int", "db", "shop", "10.10.0.3"),
		pod("br-int", "dns", "kube-system", "10.10.0.4"),
		{Name: "antrea-gw0", IPs: []netip.Addr{a("10.10.0.1")}}, // an address, but no Pod
	}}}
	counts := conntrack.AddrCounts{
		Sources: map[netip.Addr]uint64{a("10.10.0.2"): 5, a("fd00::2"): 2, a("10.10.0.3"): 3, a("10.10.0.4"): 1,
			a("10.10.0.1"): 4, a("192.0.2.9"): 6},
		Destinations: map[netip.Addr]uint64{a("10.10.0.4"): 20, a("::ffff:10.10.0.3"): 1},
		Total:        21,
	}
	r := joinPods(counts, inv)
	r.at, r.duration = time.Unix(1700000000, 500000000), 250*time.Millisecond
	got := seriesOf(t, func(ch chan<- prometheus.Metric) { exportConntrackPods(ch, r, 2) })
	want := map[string]float64{
		"datapath_conntrack_pod_entries/source/shop/web": 7,
		"datapath_conntrack_pod_entries/source/shop/db":  3,
		// dns (1) is third: with top 2 it is in the rest, with the
		// gateway's 4 and the outside address's 6.
		"datapath_conntrack_pod_entries/source//":                    11,
		"datapath_conntrack_pod_entries/destination/kube-system/dns": 20,
		"datapath_conntrack_pod_entries/destination/shop/db":         1, // an IPv4-mapped IPv6 address is the Pod's IPv4 one
		"datapath_conntrack_pod_entries/destination//":               0,
		"datapath_conntrack_pods_read_timestamp_seconds":             1700000000.5,
		"datapath_conntrack_pods_read_duration_seconds":              0.25,
	}
	if len(got) != len(want) {
		t.Errorf("got %d series %v, want %d %v", len(got), got, len(want), want)
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	for _, dir := range []string{"source", "destination"} {
		var sum float64
		for k, v := range got {
			if len(k) > len("datapath_conntrack_pod_entries/"+dir+"/") && k[:len("datapath_conntrack_pod_entries/"+dir+"/")] == "datapath_conntrack_pod_entries/"+dir+"/" {
				sum += v
			}
		}
		if sum != 21 {
			t.Errorf("%s sums to %v, want the 21 entries read", dir, sum)
		}
	}
}

// TestExportConntrackPodsBounded checks the series budget: whatever the
// number of Pods, at most top+1 per direction, ties broken by name.
func TestExportConntrackPodsBounded(t *testing.T) {
	r := podsReading{source: podDirection{pods: map[podKey]uint64{}}, destination: podDirection{pods: map[podKey]uint64{}}}
	for i := range 500 {
		k := podKey{"ns", string(rune('a'+i%26)) + string(rune('a'+i/26))}
		r.source.pods[k] = 1
		r.destination.pods[k] = uint64(i)
	}
	const top = 10
	got := seriesOf(t, func(ch chan<- prometheus.Metric) { exportConntrackPods(ch, r, top) })
	if n := len(got) - 2; n != 2*top+2 {
		t.Errorf("%d entry series, want 2×%d+2", n, top)
	}
	if _, ok := got["datapath_conntrack_pod_entries/source/ns/aa"]; !ok {
		t.Errorf("ties not broken by name: %v", got)
	}
	if got["datapath_conntrack_pod_entries/destination/ns/"+string(rune('a'+499%26))+string(rune('a'+499/26))] != 499 {
		t.Errorf("the Pod with the most destination entries is not named: %v", got)
	}
}
