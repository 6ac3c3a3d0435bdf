package ovs

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// BenchmarkStatisticsUpdate is what the monitor does every 5 s on a node
// with 110 Pods (Kubernetes' default maximum): ovs-vswitchd rewrites every
// interface's statistics, ovsdb-server sends the rows, the monitor decodes
// them and builds the inventory anew.
func BenchmarkStatisticsUpdate(b *testing.B) {
	const pods = 110
	rows := newMonitoredRows()
	var ports, ifaces, refs []string
	for i := range pods {
		refs = append(refs, fmt.Sprintf(`["uuid","p%d"]`, i))
		ports = append(ports, fmt.Sprintf(`"p%d":{"new":{"name":"pod%d-1a2b3c","interfaces":["uuid","i%d"],"external_ids":["map",[["antrea-type","container"],["attached-mac","0a:58:0a:f4:00:%02x"],["container-id","%064x"],["ip-address","10.244.0.%d"],["pod-name","web-%d-5d78c9869d-x7k2p"],["pod-namespace","shop"]]]}}`, i, i, i, i%256, i, i%250+1, i))
		ifaces = append(ifaces, interfaceRow(i, 0))
	}
	initial := `{"Bridge":{"b":{"new":{"name":"br-int","flow_tables":["map",[]],"ports":["set",[` + strings.Join(refs, ",") + `]]}}},` +
		`"Port":{` + strings.Join(ports, ",") + `},"Interface":{` + strings.Join(ifaces, ",") + `}}`
	if _, err := applyTableUpdates(rows, json.RawMessage(initial)); err != nil {
		b.Fatal(err)
	}
	updates := make([]json.RawMessage, 2)
	for n := range updates {
		var rs []string
		for i := range pods {
			rs = append(rs, interfaceRow(i, n+1))
		}
		updates[n] = json.RawMessage(`{"Interface":{` + strings.Join(rs, ",") + `}}`)
	}
	b.SetBytes(int64(len(updates[0])))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		inv, err := applyTableUpdates(rows, updates[i%2])
		if err != nil || len(inv.Ports["br-int"]) != pods {
			b.Fatalf("%d ports, %v", len(inv.Ports["br-int"]), err)
		}
	}
}

// interfaceRow is an Interface row update with the 14 counters OVS writes
// for a veth, moved by n.
func interfaceRow(i, n int) string {
	var stats []string
	for j, k := range []string{"collisions", "rx_bytes", "rx_crc_err", "rx_dropped", "rx_errors", "rx_frame_err", "rx_missed_errors",
		"rx_multicast_packets", "rx_over_err", "rx_packets", "tx_bytes", "tx_dropped", "tx_errors", "tx_packets"} {
		stats = append(stats, fmt.Sprintf(`[%q,%d]`, k, (i+j)*1000003+n*17))
	}
	return fmt.Sprintf(`"i%d":{"new":{"name":"pod%d-1a2b3c","type":"","ofport":%d,"link_state":"up","statistics":["map",[%s]]}}`, i, i, i+3, strings.Join(stats, ","))
}
