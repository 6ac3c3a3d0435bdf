package ovs

import (
	"encoding/json"
	"testing"
)

// FuzzTableUpdates feeds arbitrary table updates, as ovsdb-server's monitor
// replies and update notifications carry them, to the inventory decoder:
// it must return an inventory or an error, never panic, and every bridge of
// an inventory must have a name.
func FuzzTableUpdates(f *testing.F) {
	f.Add([]byte(`{"Bridge":{"u1":{"new":{"name":"br-int","protocols":["set",["OpenFlow10","OpenFlow15"]],"flow_tables":["map",[[1,["uuid","u2"]]]]}}},"Flow_Table":{"u2":{"new":{"name":"SpoofGuard","flow_limit":["set",[]]}}}}`))
	f.Add([]byte(`{"Bridge":{"u1":{"old":{"name":"br-int"}}}}`))
	f.Add([]byte(`{"Bridge":{"u1":{"new":{"name":"br0","protocols":"OpenFlow13","flow_tables":["map",[]]}}}}`))
	f.Add([]byte(`{"Bridge":{"u1":{"new":{"name":7}}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		rows := map[string]map[string]map[string]any{"Bridge": {}, "Flow_Table": {}}
		inv, err := applyTableUpdates(rows, json.RawMessage(b))
		if err != nil {
			return
		}
		for _, name := range inv.Bridges {
			if _, ok := inv.TableConfig[name]; !ok {
				t.Errorf("bridge %q has no table config entry", name)
			}
		}
	})
}
