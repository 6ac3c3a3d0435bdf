package ovs

import (
	"encoding/json"
	"fmt"
	"testing"
)

// rows decodes a JSON list of OVSDB rows into rows by uuid, as the monitor
// keeps them; a row without _uuid gets one.
func rows(t *testing.T, js string) map[string]map[string]any {
	t.Helper()
	var list []map[string]any
	if err := json.Unmarshal([]byte(js), &list); err != nil {
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
			inv, err := inventoryOf(rows(t, tt.bridges), tables)
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
