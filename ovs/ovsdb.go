package ovs

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"

	"github.com/digitalocean/go-openvswitch/ovsdb"
)

// inventory is what one OVSDB read tells: the bridges, and per bridge a
// fingerprint of its tables' configuration (Flow_Table names and flow
// limits), which changes whenever a table is named, renamed or limited.
type inventory struct {
	bridges     []string
	tableConfig map[string]string
}

func readInventory(ctx context.Context, dbSock string) (inventory, error) {
	if ctx == nil {
		// go-openvswitch's client panics on a nil context.
		ctx = context.Background()
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", dbSock)
	if err != nil {
		return inventory{}, fmt.Errorf("listing bridges: %w (is ovsdb-server running?)", explainDialError(dbSock, err))
	}
	client, err := ovsdb.New(nc)
	if err != nil {
		nc.Close()
		return inventory{}, fmt.Errorf("listing bridges from %s: %w", dbSock, err)
	}
	defer client.Close()

	// Two transactions: go-openvswitch flattens the rows of several
	// selects into one slice, which would mix Bridge and Flow_Table rows.
	bridges, err := client.Transact(ctx, "Open_vSwitch", []ovsdb.TransactOp{ovsdb.Select{Table: "Bridge"}})
	if err != nil {
		return inventory{}, fmt.Errorf("listing bridges from %s: %w", dbSock, err)
	}
	tables, err := client.Transact(ctx, "Open_vSwitch", []ovsdb.TransactOp{ovsdb.Select{Table: "Flow_Table"}})
	if err != nil {
		return inventory{}, fmt.Errorf("reading Flow_Table from %s: %w", dbSock, err)
	}
	inv, err := parseInventory(bridges, tables)
	if err != nil {
		return inventory{}, fmt.Errorf("reading %s: %w", dbSock, err)
	}
	return inv, nil
}

// parseInventory turns OVSDB rows into an inventory. Values are OVSDB's
// JSON: a uuid is ["uuid", "..."], an empty optional value ["set", []], a
// map ["map", [[key, value], ...]].
func parseInventory(bridges, tables []ovsdb.Row) (inventory, error) {
	flowTables := map[string]string{} // uuid -> "name/limit"
	for _, r := range tables {
		uuid, ok := ovsdbUUID(r["_uuid"])
		if !ok {
			return inventory{}, fmt.Errorf("a Flow_Table row has no _uuid (%v)", r["_uuid"])
		}
		flowTables[uuid] = fmt.Sprintf("%v/%v", ovsdbScalar(r["name"]), ovsdbScalar(r["flow_limit"]))
	}
	inv := inventory{tableConfig: map[string]string{}}
	for _, r := range bridges {
		name, ok := r["name"].(string)
		if !ok {
			return inventory{}, fmt.Errorf("a Bridge row has no string name (%v)", r["name"])
		}
		inv.bridges = append(inv.bridges, name)
		pairs, ok := ovsdbMap(r["flow_tables"])
		if !ok {
			return inventory{}, fmt.Errorf("bridge %s: flow_tables is not a map (%v)", name, r["flow_tables"])
		}
		var parts []string
		for _, p := range pairs {
			uuid, _ := ovsdbUUID(p[1])
			parts = append(parts, fmt.Sprintf("%v=%s", p[0], flowTables[uuid]))
		}
		sort.Strings(parts)
		inv.tableConfig[name] = strings.Join(parts, ",")
	}
	sort.Strings(inv.bridges)
	return inv, nil
}

// ovsdbUUID returns the id of ["uuid", id].
func ovsdbUUID(v any) (string, bool) {
	a, ok := v.([]any)
	if !ok || len(a) != 2 || a[0] != "uuid" {
		return "", false
	}
	s, ok := a[1].(string)
	return s, ok
}

// ovsdbMap returns the pairs of ["map", [[k, v], ...]].
func ovsdbMap(v any) ([][2]any, bool) {
	a, ok := v.([]any)
	if !ok || len(a) != 2 || a[0] != "map" {
		return nil, false
	}
	items, ok := a[1].([]any)
	if !ok {
		return nil, false
	}
	out := make([][2]any, 0, len(items))
	for _, it := range items {
		kv, ok := it.([]any)
		if !ok || len(kv) != 2 {
			return nil, false
		}
		out = append(out, [2]any{kv[0], kv[1]})
	}
	return out, true
}

// ovsdbScalar returns an optional scalar, or "" for the empty set.
func ovsdbScalar(v any) any {
	if a, ok := v.([]any); ok && len(a) == 2 && a[0] == "set" {
		return ""
	}
	return v
}
