package ovs

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

// This file reads OVSDB's JSON values (RFC 7047 §5.1) into an Inventory;
// monitor.go keeps the connection that brings them.

// inventoryOf turns OVSDB rows into an Inventory. Values are OVSDB's JSON: a
// uuid is ["uuid", "..."], an empty optional value ["set", []], a set of
// several ["set", [...]], a map ["map", [[key, value], ...]]; numbers are
// json.Number. A column a row lacks counts as empty.
func inventoryOf(rows monitoredRows) (Inventory, error) {
	flowTables := map[string]string{} // uuid -> "name/limit"
	for uuid, r := range rows["Flow_Table"] {
		flowTables[uuid] = fmt.Sprintf("%v/%v", ovsdbScalar(r["name"]), ovsdbScalar(r["flow_limit"]))
	}
	inv := Inventory{Protocols: map[string][]string{}, TableConfig: map[string]string{}, Ports: map[string][]Port{}, OtherConfig: map[string]string{}}
	for _, r := range rows["Bridge"] {
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
		ports, err := portsOf(rows, r["ports"])
		if err != nil {
			return Inventory{}, fmt.Errorf("bridge %s: %w", name, err)
		}
		inv.Ports[name] = ports
	}
	sort.Strings(inv.Bridges)
	for _, r := range rows["Open_vSwitch"] { // one row
		cfg, err := ovsdbStringMap(r["other_config"])
		if err != nil {
			return Inventory{}, fmt.Errorf("Open_vSwitch other_config: %w", err)
		}
		inv.OtherConfig = cfg
	}
	return inv, nil
}

// portsOf returns the Port rows that refs (a bridge's ports column) names,
// sorted by name. A reference to a row not (or no longer) among rows is
// skipped: ovsdb-server sends each transaction whole, so it does not
// happen with a real one.
func portsOf(rows monitoredRows, refs any) ([]Port, error) {
	var out []Port
	for _, uuid := range ovsdbUUIDs(refs) {
		r, ok := rows["Port"][uuid]
		if !ok {
			continue
		}
		name, ok := r["name"].(string)
		if !ok {
			return nil, fmt.Errorf("a Port row has no string name (%v)", r["name"])
		}
		p := Port{Name: name}
		var err error
		if p.ExternalIDs, err = ovsdbStringMap(r["external_ids"]); err != nil {
			return nil, fmt.Errorf("port %s: external_ids: %w", name, err)
		}
		p.IPs, p.IPError = parsePortIPs(name, p.ExternalIDs[ExternalIDIPAddress])
		for _, iuuid := range ovsdbUUIDs(r["interfaces"]) {
			ir, ok := rows["Interface"][iuuid]
			if !ok {
				continue
			}
			iface, err := interfaceOf(ir)
			if err != nil {
				return nil, fmt.Errorf("port %s: %w", name, err)
			}
			p.Interfaces = append(p.Interfaces, iface)
		}
		sort.Slice(p.Interfaces, func(i, j int) bool { return p.Interfaces[i].Name < p.Interfaces[j].Name })
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// interfaceOf reads an Interface row.
func interfaceOf(r map[string]any) (Interface, error) {
	name, ok := r["name"].(string)
	if !ok {
		return Interface{}, fmt.Errorf("an Interface row has no string name (%v)", r["name"])
	}
	iface := Interface{Name: name, Statistics: map[string]uint64{}}
	iface.Type, _ = ovsdbScalar(r["type"]).(string)
	iface.LinkState, _ = ovsdbScalar(r["link_state"]).(string)
	if n, ok := ovsdbScalar(r["ofport"]).(json.Number); ok {
		v, err := n.Int64()
		if err != nil {
			return Interface{}, fmt.Errorf("interface %s: ofport %q is not an integer", name, n)
		}
		iface.OFPort = v
	}
	if r["statistics"] == nil {
		return iface, nil
	}
	pairs, ok := ovsdbMap(r["statistics"])
	if !ok {
		return Interface{}, fmt.Errorf("interface %s: statistics is not a map (%.100v)", name, r["statistics"])
	}
	for _, kv := range pairs {
		key, ok := kv[0].(string)
		n, isNum := kv[1].(json.Number)
		if !ok || !isNum {
			return Interface{}, fmt.Errorf("interface %s: statistics entry %.60v is not a name and an integer", name, kv)
		}
		v, err := strconv.ParseInt(string(n), 10, 64)
		if err != nil {
			return Interface{}, fmt.Errorf("interface %s: statistics %s = %q is not a 64-bit integer", name, key, n)
		}
		// ovs-vswitchd stores its unsigned counters as OVSDB's signed
		// integers: the bits are the count.
		iface.Statistics[key] = uint64(v)
	}
	return iface, nil
}

// PortIPError is Port.IPError: entries of a port's external_ids:ip-address
// that are not IP addresses.
type PortIPError struct {
	Port  string
	Value string   // the whole external_ids:ip-address
	Bad   []string // the entries that are not addresses
}

func (e *PortIPError) Error() string {
	return fmt.Sprintf("port %s: external_ids:%s=%q: %q not an IP address", e.Port, ExternalIDIPAddress, e.Value, e.Bad)
}

// parsePortIPs parses Antrea's ip-address, addresses separated by commas
// ("10.10.0.5" or "10.10.0.5,fd00:10:10::5"). The entries that parse are
// returned, and an error listing those that do not.
func parsePortIPs(port, value string) ([]netip.Addr, error) {
	if value == "" {
		return nil, nil
	}
	var ips []netip.Addr
	var bad []string
	for entry := range strings.SplitSeq(value, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		ip, err := netip.ParseAddr(entry)
		if err != nil {
			bad = append(bad, entry)
			continue
		}
		ips = append(ips, ip)
	}
	if len(bad) > 0 {
		return ips, &PortIPError{Port: port, Value: value, Bad: bad}
	}
	return ips, nil
}

// ovsdbUUIDs returns the ids of a set of uuids: ["uuid", id] (a set of one)
// or ["set", [["uuid", id], ...]].
func ovsdbUUIDs(v any) []string { return ovsdbSet(v, ovsdbUUID) }

// ovsdbSet returns the members of a set column that elem accepts: a set of
// one is its member itself, any other ["set", [...]].
func ovsdbSet[T any](v any, elem func(any) (T, bool)) []T {
	if x, ok := elem(v); ok {
		return []T{x}
	}
	a, ok := v.([]any)
	if !ok || len(a) != 2 || a[0] != "set" {
		return nil
	}
	items, _ := a[1].([]any)
	var out []T
	for _, it := range items {
		if x, ok := elem(it); ok {
			out = append(out, x)
		}
	}
	return out
}

// ovsdbStringMap returns a map of strings to strings, e.g. external_ids;
// nil (a column not sent) is an empty map.
func ovsdbStringMap(v any) (map[string]string, error) {
	out := map[string]string{}
	if v == nil {
		return out, nil
	}
	pairs, ok := ovsdbMap(v)
	if !ok {
		return nil, fmt.Errorf("not a map (%.100v)", v)
	}
	for _, kv := range pairs {
		k, ok1 := kv[0].(string)
		val, ok2 := kv[1].(string)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("entry %.60v is not two strings", kv)
		}
		out[k] = val
	}
	return out, nil
}

// ovsdbStrings returns the strings of a set column, sorted: "x" (a set of
// one) or ["set", ["x", "y"]].
func ovsdbStrings(v any) []string {
	out := ovsdbSet(v, func(x any) (string, bool) { s, ok := x.(string); return s, ok })
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
