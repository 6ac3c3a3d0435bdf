package ovs

import (
	"fmt"
	"sort"
	"strings"
)

// This file reads OVSDB's JSON values (RFC 7047 §5.1) into an Inventory;
// monitor.go keeps the connection that brings them.

// inventoryOf turns OVSDB rows into an Inventory. Values are OVSDB's JSON: a
// uuid is ["uuid", "..."], an empty optional value ["set", []], a set of
// several ["set", [...]], a map ["map", [[key, value], ...]].
func inventoryOf(bridges, tables map[string]map[string]any) (Inventory, error) {
	flowTables := map[string]string{} // uuid -> "name/limit"
	for uuid, r := range tables {
		flowTables[uuid] = fmt.Sprintf("%v/%v", ovsdbScalar(r["name"]), ovsdbScalar(r["flow_limit"]))
	}
	inv := Inventory{Protocols: map[string][]string{}, TableConfig: map[string]string{}}
	for _, r := range bridges {
		name, ok := r["name"].(string)
		if !ok {
			return Inventory{}, fmt.Errorf("a Bridge row has no string name (%v)", r["name"])
		}
		inv.Bridges = append(inv.Bridges, name)
		pairs, ok := ovsdbMap(r["flow_tables"])
		if !ok {
			return Inventory{}, fmt.Errorf("bridge %s: flow_tables is not a map (%v)", name, r["flow_tables"])
		}
		var parts []string
		for _, p := range pairs {
			uuid, _ := ovsdbUUID(p[1])
			parts = append(parts, fmt.Sprintf("%v=%s", p[0], flowTables[uuid]))
		}
		sort.Strings(parts)
		inv.TableConfig[name] = strings.Join(parts, ",")
		if protocols := ovsdbStrings(r["protocols"]); len(protocols) > 0 {
			inv.Protocols[name] = protocols
		}
	}
	sort.Strings(inv.Bridges)
	return inv, nil
}

// ovsdbStrings returns the strings of a set column: "x" (a set of one) or
// ["set", ["x", "y"]].
func ovsdbStrings(v any) []string {
	if s, ok := v.(string); ok {
		return []string{s}
	}
	a, ok := v.([]any)
	if !ok || len(a) != 2 || a[0] != "set" {
		return nil
	}
	items, _ := a[1].([]any)
	var out []string
	for _, it := range items {
		if s, ok := it.(string); ok {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
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
