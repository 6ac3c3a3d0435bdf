package ovs

import (
	"encoding/json"
	"testing"
)

// FuzzTableUpdates feeds arbitrary table updates, as ovsdb-server's monitor
// replies and update notifications carry them, to the inventory decoder:
// it must return an inventory or an error, never panic, every bridge of an
// inventory must have a table config, and its ports valid addresses only.
func FuzzTableUpdates(f *testing.F) {
	f.Add([]byte(`{"Bridge":{"u1":{"new":{"name":"br-int","protocols":["set",["OpenFlow10","OpenFlow15"]],"flow_tables":["map",[[1,["uuid","u2"]]]]}}},"Flow_Table":{"u2":{"new":{"name":"SpoofGuard","flow_limit":["set",[]]}}}}`))
	f.Add([]byte(`{"Bridge":{"u1":{"old":{"name":"br-int"}}}}`))
	f.Add([]byte(`{"Bridge":{"u1":{"new":{"name":"br0","protocols":"OpenFlow13","flow_tables":["map",[]]}}}}`))
	f.Add([]byte(`{"Bridge":{"u1":{"new":{"name":7}}}}`))
	f.Add([]byte(`{"Bridge":{"u1":{"new":{"name":"br-int","flow_tables":["map",[]],"ports":["set",[["uuid","p1"]]]}}},` +
		`"Port":{"p1":{"new":{"name":"pod1-abc","interfaces":["uuid","i1"],"external_ids":["map",[["pod-name","pod1"],["ip-address","10.0.0.1,fd00::1,bad"]]]}}},` +
		`"Interface":{"i1":{"new":{"name":"pod1-abc","ofport":3,"link_state":"up","statistics":["map",[["rx_dropped",4]]]}}},` +
		`"Open_vSwitch":{"o":{"new":{"other_config":["map",[["flow-restore-wait","true"]]]}}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		inv, err := applyTableUpdates(newMonitoredRows(), json.RawMessage(b))
		if err != nil {
			return
		}
		for _, name := range inv.Bridges {
			if _, ok := inv.TableConfig[name]; !ok {
				t.Errorf("bridge %q has no table config entry", name)
			}
			for _, p := range inv.Ports[name] {
				for _, ip := range p.IPs {
					if !ip.IsValid() {
						t.Errorf("port %q has an invalid address", p.Name)
					}
				}
				for _, iface := range p.Interfaces {
					if iface.Statistics == nil {
						t.Errorf("interface %q has a nil statistics map", iface.Name)
					}
				}
			}
		}
	})
}
