package testenv

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// This file is ovs-ofctl as the tests' ground truth: running it against a
// private OVS and parsing what it prints. ovs.go is the daemons' lifecycle.

// allOpenFlowVersions is what ovs-ofctl is offered for a bridge created
// without an explicit protocol list: the bridge picks the highest it allows.
var allOpenFlowVersions = []string{"OpenFlow10", "OpenFlow11", "OpenFlow12", "OpenFlow13", "OpenFlow14", "OpenFlow15"}

// TableStats is one OpenFlow table as printed by `ovs-ofctl dump-tables`.
type TableStats struct {
	ID      int
	Name    string // "" when OVS prints no name (unnamed tables, OF1.3+ dump-tables without features)
	Active  uint64 // flows in the table
	Lookups uint64
	Matches uint64
	// MaxEntries is the table's flow limit, 0 if OVS did not print one.
	MaxEntries uint64
}

// Ofctl runs ovs-ofctl with OVS_RUNDIR set to RunDir, so a bare bridge name
// resolves to RunDir/<bridge>.mgmt. Pass -O (--protocols) yourself for bridges that do not
// allow OpenFlow 1.0; the bridge helpers below do that.
func (o *OVS) Ofctl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	return o.run(ctx, "ovs-ofctl", args...)
}

// AddFlows adds flows (ovs-ofctl syntax, one per element) to bridge with a
// single ovs-ofctl call reading them from a file in Dir.
func (o *OVS) AddFlows(bridge string, flows []string) error {
	f, err := os.CreateTemp(o.Dir, "flows-*.txt")
	if err != nil {
		return fmt.Errorf("writing flows for bridge %s: %w", bridge, err)
	}
	defer os.Remove(f.Name())
	w := bufio.NewWriter(f)
	for _, fl := range flows {
		w.WriteString(fl)
		w.WriteByte('\n')
	}
	if err := errors.Join(w.Flush(), f.Close()); err != nil {
		return fmt.Errorf("writing flows for bridge %s: %w", bridge, err)
	}
	if _, err := o.Ofctl(o.versionFlag(bridge), "add-flows", bridge, f.Name()); err != nil {
		return fmt.Errorf("adding %d flows to bridge %s: %w", len(flows), bridge, err)
	}
	return nil
}

// DelFlows deletes the flows of bridge that match each match; with none it
// deletes all flows.
func (o *OVS) DelFlows(bridge string, match ...string) error {
	if len(match) == 0 {
		if _, err := o.Ofctl(o.versionFlag(bridge), "del-flows", bridge); err != nil {
			return fmt.Errorf("deleting flows of bridge %s: %w", bridge, err)
		}
		return nil
	}
	for _, m := range match {
		if _, err := o.Ofctl(o.versionFlag(bridge), "del-flows", bridge, m); err != nil {
			return fmt.Errorf("deleting flows %q of bridge %s: %w", m, bridge, err)
		}
	}
	return nil
}

// DumpTables returns the table statistics of bridge as ovs-ofctl prints
// them, using the OpenFlow versions the bridge was created with (ovs-ofctl
// negotiates the highest).
func (o *OVS) DumpTables(bridge string) (map[int]TableStats, error) {
	return o.DumpTablesVersion(bridge, "")
}

// DumpTablesVersion is DumpTables over a given OpenFlow version such as
// "OpenFlow13" ("" = the bridge's own). OpenFlow 1.3+ table statistics
// carry no names or limits, so for those it also reads
// `dump-table-features` and fills in Name and MaxEntries from there.
func (o *OVS) DumpTablesVersion(bridge, version string) (map[int]TableStats, error) {
	flag := o.versionFlag(bridge)
	if version != "" {
		flag = "--protocols=" + version
	}
	out, err := o.Ofctl(flag, "--no-names", "dump-tables", bridge)
	if err != nil {
		return nil, fmt.Errorf("dumping tables of bridge %s: %w", bridge, err)
	}
	tables, err := ParseDumpTables(out)
	if err != nil {
		return nil, fmt.Errorf("parsing dump-tables of bridge %s: %w", bridge, err)
	}
	if dumpVersion(out) < 3 {
		return tables, nil
	}
	out, err = o.Ofctl(flag, "--no-names", "dump-table-features", bridge)
	if err != nil {
		return nil, fmt.Errorf("dumping table features of bridge %s: %w", bridge, err)
	}
	features, err := ParseDumpTables(out)
	if err != nil {
		return nil, fmt.Errorf("parsing dump-table-features of bridge %s: %w", bridge, err)
	}
	for id, t := range tables {
		f := features[id]
		t.Name, t.MaxEntries = f.Name, f.MaxEntries
		tables[id] = t
	}
	return tables, nil
}

// FlowCountsPerTable counts the flows `ovs-ofctl dump-flows` lists for each
// table of bridge; tables without flows are absent. Hidden flows (OVS
// internal, priority above 65535) are not listed by dump-flows.
func (o *OVS) FlowCountsPerTable(bridge string) (map[int]int, error) {
	out, err := o.Ofctl(o.versionFlag(bridge), "--no-names", "dump-flows", bridge)
	if err != nil {
		return nil, fmt.Errorf("dumping flows of bridge %s: %w", bridge, err)
	}
	counts, err := parseFlowCounts(out)
	if err != nil {
		return nil, fmt.Errorf("parsing dump-flows of bridge %s: %w", bridge, err)
	}
	return counts, nil
}

// flowTableRE finds the table of a dump-flows line printed with statistics,
// which always includes "table=N" even for table 0:
//
//	cookie=0x0, duration=8.592s, table=0, n_packets=0, n_bytes=0, priority=0 actions=NORMAL
var flowTableRE = regexp.MustCompile(`^\s*cookie=\S+, duration=\S+, table=(\d+),`)

func parseFlowCounts(out string) (map[int]int, error) {
	counts := map[int]int{}
	for line := range strings.Lines(out) {
		if !strings.HasPrefix(line, " ") { // "OFPST_FLOW reply (OF1.3) (xid=0x2):" headers
			continue
		}
		m := flowTableRE.FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("flow line without table: %q", strings.TrimSpace(line))
		}
		id, err := strconv.Atoi(m[1])
		if err != nil {
			return nil, fmt.Errorf("flow line %q: %w", strings.TrimSpace(line), err)
		}
		counts[id]++
	}
	return counts, nil
}

// tableHeaderRE matches the line that starts a table (or a run of tables
// identical to the previous one) in dump-tables / dump-table-features:
//
//	table 0:
//	table 1 ("SpoofGuard"):
//	table 1 ("SpoofGuard"): ditto
//	tables 12...253: ditto
var tableHeaderRE = regexp.MustCompile(`^tables? (\d+)(?:\.\.\.(\d+))?(?: \("(.*)"\))?:( ditto)?$`)

// tableStatsRE matches a table's counters: "active=2, lookup=1, matched=1".
var tableStatsRE = regexp.MustCompile(`^active=(\d+), lookup=(\d+), matched=(\d+)$`)

// ParseDumpTables parses the output of `ovs-ofctl --no-names dump-tables`
// for OpenFlow 1.0 to 1.5, and of `dump-table-features` (which yields names
// and max_entries with zero counters). OpenFlow 1.0 prints names and
// features:
//
//	OFPST_TABLE reply (xid=0x2):
//	  table 0:
//	    active=2, lookup=1, matched=1
//	    max_entries=1000000
//	    matching:
//	      exact match or wildcard: in_port eth_{src,dst,type} ...
//
//	  table 1 ("SpoofGuard"): ditto
//	  table 2:
//	    active=0, lookup=0, matched=0
//	    (same features)
//
//	  tables 3...253: ditto
//
// OpenFlow 1.3 to 1.5 print counters only ("OFPST_TABLE reply (OF1.5)
// (xid=0x2):", then "  table 0:", "    active=2, lookup=1, matched=1", ...).
// "ditto" means the same counters and features as the table printed just
// before (the name is not compared, so a named table can be a ditto); "(same
// features)" means the previous table's features, max_entries included.
func ParseDumpTables(out string) (map[int]TableStats, error) {
	tables := map[int]TableStats{}
	var cur *TableStats // the last table printed in full
	var prevMax uint64  // max_entries of the table printed in full before cur
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "table ") || strings.HasPrefix(line, "tables "):
			m := tableHeaderRE.FindStringSubmatch(line)
			if m == nil {
				return nil, fmt.Errorf("unrecognized table header %q", line)
			}
			first, err := strconv.Atoi(m[1])
			if err != nil {
				return nil, fmt.Errorf("table header %q: %w", line, err)
			}
			last := first
			if m[2] != "" {
				if last, err = strconv.Atoi(m[2]); err != nil {
					return nil, fmt.Errorf("table header %q: %w", line, err)
				}
			}
			if last < first || last > 255 {
				return nil, fmt.Errorf("table header %q: bad table range", line)
			}
			if m[4] == "" {
				if m[2] != "" {
					return nil, fmt.Errorf("table header %q: range without ditto", line)
				}
				if cur != nil {
					prevMax = cur.MaxEntries
				}
				cur = &TableStats{ID: first, Name: m[3]}
				tables[first] = *cur
				continue
			}
			if cur == nil {
				return nil, fmt.Errorf("table header %q: ditto before any table", line)
			}
			for id := first; id <= last; id++ {
				t := *cur
				t.ID, t.Name = id, m[3]
				tables[id] = t
			}
		case strings.HasPrefix(line, "active="):
			if cur == nil {
				return nil, fmt.Errorf("counters %q before any table", line)
			}
			m := tableStatsRE.FindStringSubmatch(line)
			if m == nil {
				return nil, fmt.Errorf("table %d: unrecognized counters %q", cur.ID, line)
			}
			var err error
			for i, dst := range []*uint64{&cur.Active, &cur.Lookups, &cur.Matches} {
				if *dst, err = strconv.ParseUint(m[i+1], 10, 64); err != nil {
					return nil, fmt.Errorf("table %d: counters %q: %w", cur.ID, line, err)
				}
			}
			tables[cur.ID] = *cur
		case strings.HasPrefix(line, "max_entries="):
			if cur == nil {
				return nil, fmt.Errorf("%q before any table", line)
			}
			n, err := strconv.ParseUint(strings.TrimPrefix(line, "max_entries="), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("table %d: %q: %w", cur.ID, line, err)
			}
			cur.MaxEntries = n
			tables[cur.ID] = *cur
		case line == "(same features)":
			if cur == nil {
				return nil, fmt.Errorf("%q before any table", line)
			}
			cur.MaxEntries = prevMax
			tables[cur.ID] = *cur
		}
	}
	if len(tables) == 0 {
		return nil, fmt.Errorf("no tables in output %q", truncate(out, 200))
	}
	return tables, nil
}

// dumpVersion returns the OpenFlow 1.x minor version of an ovs-ofctl reply
// from its first line: "OFPST_TABLE reply (OF1.5) (xid=0x2):"; OpenFlow 1.0
// replies carry no "(OF1.x)".
func dumpVersion(out string) int {
	first, _, _ := strings.Cut(out, "\n")
	if _, rest, ok := strings.Cut(first, "(OF1."); ok && rest != "" && rest[0] >= '0' && rest[0] <= '9' {
		return int(rest[0] - '0')
	}
	return 0
}

// versionFlag is the -O option offering ovs-ofctl the OpenFlow versions
// bridge allows (all of them if AddBridge was given none, or if the bridge
// was made some other way); ovs-ofctl then negotiates the highest.
func (o *OVS) versionFlag(bridge string) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	versions := o.protocols[bridge]
	if len(versions) == 0 {
		versions = allOpenFlowVersions
	}
	return "--protocols=" + strings.Join(versions, ",")
}
