package ovs

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// rows decodes a JSON list of OVSDB rows into rows by uuid, as the monitor
// keeps them; a row without _uuid gets one.
func rows(t *testing.T, js string) map[string]map[string]any {
	t.Helper()
	var list []map[string]any
	dec := json.NewDecoder(strings.NewReader(js))
	dec.UseNumber() // as applyTableUpdates decodes
	if err := dec.Decode(&list); err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]any{}
	for i, r := range list {
		uuid, ok := ovsdbUUID(r["_uuid"])
		if !ok {
			uuid = fmt.Sprintf("row%d", i)
		}
		out[uuid] = r
	}
	return out
}

// TestInventoryOf uses rows of the shape OVS 3.1's ovsdb-server sends
// (TestMonitorFollowsOVSDB reads real ones).
func TestInventoryOf(t *testing.T) {
	tables := rows(t, `[
		{"_uuid":["uuid","a"],"name":"SpoofGuard","flow_limit":["set",[]]},
		{"_uuid":["uuid","b"],"name":"EndpointDNAT","flow_limit":5000},
		{"_uuid":["uuid","c"],"name":["set",[]],"flow_limit":["set",[]]}]`)
	tests := []struct {
		name    string
		bridges string
		want    map[string]string
		wantErr bool
	}{
		{"named tables", `[{"name":"br-int","flow_tables":["map",[[11,["uuid","b"]],[1,["uuid","a"]]]]},{"name":"br-ex","flow_tables":["map",[]]}]`,
			map[string]string{"br-int": "11=EndpointDNAT/5000,1=SpoofGuard/", "br-ex": ""}, false},
		{"unnamed row", `[{"name":"br0","flow_tables":["map",[[3,["uuid","c"]]]]}]`, map[string]string{"br0": "3=/"}, false},
		{"no name", `[{"flow_tables":["map",[]]}]`, nil, true},
		{"flow_tables not a map", `[{"name":"br0","flow_tables":"x"}]`, nil, true},
		{"bad map pair", `[{"name":"br0","flow_tables":["map",[[1]]]}]`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, err := inventoryOf(monitoredRows{"Bridge": rows(t, tt.bridges), "Flow_Table": tables})
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			for br, want := range tt.want {
				if got := inv.TableConfig[br]; got != want {
					t.Errorf("%s: fingerprint %q, want %q", br, got, want)
				}
			}
		})
	}
}

// TestInventoryPorts reads Port and Interface rows of the shape OVS 3.1's
// ovsdb-server sends for the ports Antrea's agent makes: a Pod's (with its
// external IDs, dual-stack), the gateway, an interface ovs-vswitchd has not
// written statistics for yet, one it failed to add.
func TestInventoryPorts(t *testing.T) {
	r := monitoredRows{
		"Bridge": rows(t, `[{"name":"br-int","flow_tables":["map",[]],"ports":["set",[["uuid","p1"],["uuid","p2"],["uuid","p3"],["uuid","p4"]]]},
			{"name":"br-ex","flow_tables":["map",[]],"ports":["uuid","p5"]},
			{"name":"br-new","flow_tables":["map",[]],"ports":["set",[]]}]`),
		"Port": rows(t, `[
			{"_uuid":["uuid","p1"],"name":"coredns--e1f2a3","interfaces":["uuid","i1"],"external_ids":["map",[["antrea-type","container"],["attached-mac","e6:1b:d6:6e:3e:3c"],["container-id","c0ffee"],["ip-address","10.10.0.5,fd00:10:10::5"],["pod-name","coredns-5d78c9869d-x7k2p"],["pod-namespace","kube-system"]]]},
			{"_uuid":["uuid","p2"],"name":"antrea-gw0","interfaces":["uuid","i2"],"external_ids":["map",[["antrea-type","gateway"]]]},
			{"_uuid":["uuid","p3"],"name":"fresh","interfaces":["uuid","i3"],"external_ids":["map",[]]},
			{"_uuid":["uuid","p4"],"name":"broken","interfaces":["uuid","i4"],"external_ids":["map",[["ip-address","10.10.0.9, not-an-ip,,fd00::zz"]]]},
			{"_uuid":["uuid","p5"],"name":"bond0","interfaces":["set",[["uuid","i6"],["uuid","i5"]]],"external_ids":["map",[]]}]`),
		"Interface": rows(t, `[
			{"_uuid":["uuid","i1"],"name":"coredns--e1f2a3","type":"","ofport":3,"link_state":"up","statistics":["map",[["rx_dropped",7],["rx_packets",9007199254740993],["tx_errors",0],["tx_packets",-1]]]},
			{"_uuid":["uuid","i2"],"name":"antrea-gw0","type":"internal","ofport":2,"link_state":"down","statistics":["map",[["rx_packets",1]]]},
			{"_uuid":["uuid","i3"],"name":"fresh","type":"","ofport":["set",[]],"link_state":["set",[]],"statistics":["map",[]]},
			{"_uuid":["uuid","i4"],"name":"broken","type":"","ofport":-1,"link_state":["set",[]]},
			{"_uuid":["uuid","i5"],"name":"eth1","type":"","ofport":5,"link_state":"up","statistics":["map",[]]},
			{"_uuid":["uuid","i6"],"name":"eth0","type":"","ofport":4,"link_state":"up","statistics":["map",[]]}]`),
		"Open_vSwitch": rows(t, `[{"other_config":["map",[["flow-restore-wait","TRUE"],["stats-update-interval","5000"]]]}]`),
	}
	inv, err := inventoryOf(r)
	if err != nil {
		t.Fatal(err)
	}
	names := func(ps []Port) (out []string) {
		for _, p := range ps {
			out = append(out, p.Name)
		}
		return out
	}
	if got, want := names(inv.Ports["br-int"]), []string{"antrea-gw0", "broken", "coredns--e1f2a3", "fresh"}; !slices.Equal(got, want) {
		t.Errorf("br-int ports %q, want %q", got, want)
	}
	if got := inv.Ports["br-new"]; len(got) != 0 {
		t.Errorf("br-new ports %v, want none", got)
	}
	if b := inv.Ports["br-ex"]; len(b) != 1 || len(b[0].Interfaces) != 2 || b[0].Interfaces[0].Name != "eth0" {
		t.Errorf("br-ex ports %+v, want bond0 with eth0 and eth1 in that order", b)
	}

	pod := inv.Ports["br-int"][2]
	if pod.PodName() != "coredns-5d78c9869d-x7k2p" || pod.PodNamespace() != "kube-system" || pod.ExternalIDs[ExternalIDContainerID] != "c0ffee" ||
		pod.ExternalIDs[ExternalIDAttachedMAC] != "e6:1b:d6:6e:3e:3c" || pod.ExternalIDs[ExternalIDAntreaType] != "container" {
		t.Errorf("Pod port external IDs %v", pod.ExternalIDs)
	}
	if want := []netip.Addr{netip.MustParseAddr("10.10.0.5"), netip.MustParseAddr("fd00:10:10::5")}; !slices.Equal(pod.IPs, want) || pod.IPError != nil {
		t.Errorf("Pod port IPs %v (%v), want %v", pod.IPs, pod.IPError, want)
	}
	want := Interface{Name: "coredns--e1f2a3", OFPort: 3, LinkState: "up",
		// 2^53+1 is not a float64: the counters are read as integers.
		// -1 is how OVSDB holds a counter of 2^64-1.
		Statistics: map[string]uint64{"rx_dropped": 7, "rx_packets": 9007199254740993, "tx_errors": 0, "tx_packets": 1<<64 - 1}}
	if got := pod.Interfaces; len(got) != 1 || !interfaceEqual(got[0], want) {
		t.Errorf("Pod interface %+v, want %+v", got, want)
	}

	gw := inv.Ports["br-int"][0]
	if gw.PodName() != "" || len(gw.IPs) != 0 || gw.IPError != nil {
		t.Errorf("gateway port %+v: want no Pod and no addresses", gw)
	}
	if got := gw.Interfaces[0]; got.Type != "internal" || got.LinkState != "down" {
		t.Errorf("gateway interface %+v", got)
	}
	if got := inv.Ports["br-int"][3].Interfaces[0]; got.OFPort != 0 || got.LinkState != "" || len(got.Statistics) != 0 {
		t.Errorf("interface without statistics yet %+v: want ofport 0, no link state, no statistics", got)
	}

	broken := inv.Ports["br-int"][1]
	var ipErr *PortIPError
	if !errors.As(broken.IPError, &ipErr) || !slices.Equal(ipErr.Bad, []string{"not-an-ip", "fd00::zz"}) {
		t.Errorf("IPError %v, want the two bad entries", broken.IPError)
	}
	if broken.IPError != nil && !strings.Contains(broken.IPError.Error(), "port broken") {
		t.Errorf("IPError %q does not name the port", broken.IPError)
	}
	if !slices.Equal(broken.IPs, []netip.Addr{netip.MustParseAddr("10.10.0.9")}) {
		t.Errorf("IPs %v, want the entry that parses", broken.IPs)
	}
	if got := broken.Interfaces[0]; got.OFPort != -1 || len(got.Statistics) != 0 {
		t.Errorf("interface OVS failed to add %+v: want ofport -1, no statistics", got)
	}

	if !inv.FlowRestoreWait() || inv.OtherConfig["stats-update-interval"] != "5000" {
		t.Errorf("other_config %v: want flow-restore-wait (TRUE counts) and the stats interval", inv.OtherConfig)
	}
}

func interfaceEqual(a, b Interface) bool {
	return a.Name == b.Name && a.Type == b.Type && a.OFPort == b.OFPort && a.LinkState == b.LinkState && maps.Equal(a.Statistics, b.Statistics)
}

func TestInventoryPortsBad(t *testing.T) {
	bridge := `[{"name":"br0","flow_tables":["map",[]],"ports":["uuid","p"]}]`
	tests := []struct {
		name, ports, ifaces, ovs, want string
	}{
		{"port without name", `[{"_uuid":["uuid","p"],"name":3}]`, `[]`, `[]`, "Port row has no string name"},
		{"external_ids not a map", `[{"_uuid":["uuid","p"],"name":"p","external_ids":"x"}]`, `[]`, `[]`, "port p: external_ids: not a map"},
		{"external_ids not strings", `[{"_uuid":["uuid","p"],"name":"p","external_ids":["map",[["a",1]]]}]`, `[]`, `[]`, "not two strings"},
		{"interface without name", `[{"_uuid":["uuid","p"],"name":"p","interfaces":["uuid","i"]}]`, `[{"_uuid":["uuid","i"]}]`, `[]`, "Interface row has no string name"},
		{"statistics not a map", `[{"_uuid":["uuid","p"],"name":"p","interfaces":["uuid","i"]}]`, `[{"_uuid":["uuid","i"],"name":"i","statistics":7}]`, `[]`, "statistics is not a map"},
		{"statistic not an integer", `[{"_uuid":["uuid","p"],"name":"p","interfaces":["uuid","i"]}]`, `[{"_uuid":["uuid","i"],"name":"i","statistics":["map",[["rx_packets",1.5]]]}]`, `[]`, "rx_packets = \"1.5\""},
		{"statistic a string", `[{"_uuid":["uuid","p"],"name":"p","interfaces":["uuid","i"]}]`, `[{"_uuid":["uuid","i"],"name":"i","statistics":["map",[["rx_packets","1"]]]}]`, `[]`, "not a name and an integer"},
		{"ofport not an integer", `[{"_uuid":["uuid","p"],"name":"p","interfaces":["uuid","i"]}]`, `[{"_uuid":["uuid","i"],"name":"i","ofport":1.5}]`, `[]`, "ofport"},
		{"other_config not a map", `[]`, `[]`, `[{"other_config":"x"}]`, "other_config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := inventoryOf(monitoredRows{"Bridge": rows(t, bridge), "Port": rows(t, tt.ports), "Interface": rows(t, tt.ifaces), "Open_vSwitch": rows(t, tt.ovs)})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want it to say %q", err, tt.want)
			}
		})
	}
}
