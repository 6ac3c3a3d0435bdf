package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Captured from OVS 3.1 with `ovs-ofctl --no-names -O <version> dump-tables`
// after naming table 1 "SpoofGuard" and adding flows to tables 0, 1, 5 and 10.
const (
	dumpTablesOF10 = `OFPST_TABLE reply (xid=0x2):
  table 0:
    active=2, lookup=1, matched=1
    max_entries=1000000
    matching:
      exact match or wildcard: in_port eth_{src,dst,type} vlan_{vid,pcp} ip_{src,dst} nw_{proto,tos} tcp_{src,dst}

  table 1 ("SpoofGuard"): ditto
  table 2:
    active=0, lookup=0, matched=0
    (same features)

  tables 3...4: ditto

  table 5:
    active=1, lookup=1, matched=1
    (same features)

  table 6:
    active=0, lookup=0, matched=0
    (same features)

  tables 7...9: ditto

  table 10:
    active=1, lookup=0, matched=0
    (same features)

  table 11:
    active=0, lookup=0, matched=0
    (same features)

  tables 12...253: ditto
`
	dumpTablesOF13 = `OFPST_TABLE reply (OF1.3) (xid=0x2):
  table 0:
    active=2, lookup=1, matched=1

  table 1: ditto

  table 2:
    active=0, lookup=0, matched=0

  tables 3...4: ditto

  table 5:
    active=1, lookup=1, matched=1

  table 6:
    active=0, lookup=0, matched=0

  tables 7...9: ditto

  table 10:
    active=1, lookup=0, matched=0

  table 11:
    active=0, lookup=0, matched=0

  tables 12...253: ditto
`
	// Abridged: the "instructions" and "matching" blocks of table 0 and
	// 253 are cut to one line each.
	dumpTableFeaturesOF14 = `  table 0:
    metadata: match=0xffffffffffffffff write=0xffffffffffffffff
    eviction: not supported
    vacancy events: not supported
    max_entries=1000000
    instructions (table miss and others):
      next tables: 1-253
    matching:
      exact match or wildcard: recirc_id packet_type conj_id in_{port,port_oxm}

  tables 1...2: ditto

  table 3 ("Egress"): ditto
  tables 4...252: ditto

  table 253:
    metadata: match=0xffffffffffffffff write=0xffffffffffffffff
    eviction: not supported
    vacancy events: not supported
    max_entries=1000000
    instructions (table miss and others):
      instructions: meter apply_actions clear_actions write_actions write_metadata
      (same actions)
    (same matching)
`
)

func TestParseDumpTables(t *testing.T) {
	dumpTablesOF14 := strings.Replace(dumpTablesOF13, "(OF1.3)", "(OF1.4)", 1)
	dumpTablesOF15 := strings.Replace(dumpTablesOF13, "(OF1.3)", "(OF1.5)", 1)
	tests := []struct {
		name        string
		out         string
		wantVersion int
		want        map[int]TableStats // a sample of the tables
	}{
		{
			name: "OpenFlow10", out: dumpTablesOF10, wantVersion: 0,
			want: map[int]TableStats{
				0:   {ID: 0, Active: 2, Lookups: 1, Matches: 1, MaxEntries: 1000000},
				1:   {ID: 1, Name: "SpoofGuard", Active: 2, Lookups: 1, Matches: 1, MaxEntries: 1000000},
				4:   {ID: 4, MaxEntries: 1000000},
				5:   {ID: 5, Active: 1, Lookups: 1, Matches: 1, MaxEntries: 1000000},
				10:  {ID: 10, Active: 1, MaxEntries: 1000000},
				253: {ID: 253, MaxEntries: 1000000},
			},
		},
		{
			name: "OpenFlow13", out: dumpTablesOF13, wantVersion: 3,
			want: map[int]TableStats{
				0:   {ID: 0, Active: 2, Lookups: 1, Matches: 1},
				1:   {ID: 1, Active: 2, Lookups: 1, Matches: 1},
				9:   {ID: 9},
				10:  {ID: 10, Active: 1},
				253: {ID: 253},
			},
		},
		{
			name: "OpenFlow14", out: dumpTablesOF14, wantVersion: 4,
			want: map[int]TableStats{5: {ID: 5, Active: 1, Lookups: 1, Matches: 1}},
		},
		{
			name: "OpenFlow15", out: dumpTablesOF15, wantVersion: 5,
			want: map[int]TableStats{0: {ID: 0, Active: 2, Lookups: 1, Matches: 1}, 200: {ID: 200}},
		},
		{
			name: "table features OpenFlow14", out: dumpTableFeaturesOF14, wantVersion: 0,
			want: map[int]TableStats{
				0:   {ID: 0, MaxEntries: 1000000},
				3:   {ID: 3, Name: "Egress", MaxEntries: 1000000},
				252: {ID: 252, MaxEntries: 1000000},
				253: {ID: 253, MaxEntries: 1000000},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDumpTables(tt.out)
			if err != nil {
				t.Fatalf("ParseDumpTables: %v", err)
			}
			if len(got) != 254 {
				t.Errorf("got %d tables, want 254 (0...253)", len(got))
			}
			for id, want := range tt.want {
				if got[id] != want {
					t.Errorf("table %d = %+v, want %+v", id, got[id], want)
				}
			}
			if v := dumpVersion(tt.out); v != tt.wantVersion {
				t.Errorf("dumpVersion = %d, want %d", v, tt.wantVersion)
			}
		})
	}
}

func TestParseDumpTablesErrors(t *testing.T) {
	tests := []struct{ name, out string }{
		{"empty", ""},
		{"header only", "OFPST_TABLE reply (OF1.3) (xid=0x2):\n"},
		{"ditto first", "  tables 1...3: ditto\n"},
		{"counters first", "    active=1, lookup=0, matched=0\n"},
		{"bad header", "  table zero:\n"},
		{"range without ditto", "  tables 1...3:\n"},
		{"reversed range", "  table 0:\n  tables 5...3: ditto\n"},
		{"bad counters", "  table 0:\n    active=1, lookup=x, matched=0\n"},
		{"counter overflow", "  table 0:\n    active=99999999999999999999, lookup=0, matched=0\n"},
		{"bad max_entries", "  table 0:\n    max_entries=-1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := ParseDumpTables(tt.out); err == nil {
				t.Errorf("ParseDumpTables(%q) = %v, want an error", tt.out, got)
			}
		})
	}
}

func TestParseFlowCounts(t *testing.T) {
	out := `OFPST_FLOW reply (OF1.3) (xid=0x2):
 cookie=0x0, duration=8.592s, table=0, n_packets=0, n_bytes=0, priority=0 actions=NORMAL
 cookie=0x5, duration=1.2s, table=1, n_packets=3, n_bytes=180, priority=5,ip actions=learn(table=7,NXM_OF_IP_SRC[])
 cookie=0x0, duration=1.2s, table=1, n_packets=0, n_bytes=0, priority=4,ip actions=resubmit(,2)
`
	got, err := parseFlowCounts(out)
	if err != nil {
		t.Fatalf("parseFlowCounts: %v", err)
	}
	if want := map[int]int{0: 1, 1: 2}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("parseFlowCounts = %v, want %v", got, want)
	}
	if _, err := parseFlowCounts(" priority=0 actions=NORMAL\n"); err == nil {
		t.Error("parseFlowCounts accepted a flow line without statistics")
	}
}

// TestOVS runs the harness against the real OVS: bridges with different
// OpenFlow versions, table names, flows in several tables, and shutdown.
func TestOVS(t *testing.T) {
	start := time.Now()
	o := OVSForTest(t, OVSOptions{})
	t.Logf("StartOVS took %v (dir %s, netns %s)", time.Since(start).Round(time.Millisecond), o.Dir, o.Netns)

	bridges := []struct {
		name      string
		protocols []string
		versions  []string // versions DumpTablesVersion must agree across
	}{
		{"br0", []string{"OpenFlow10", "OpenFlow15"}, []string{"OpenFlow10", "OpenFlow15"}},
		{"br1", []string{"OpenFlow13"}, []string{"OpenFlow13"}},
		{"br2", nil, []string{"OpenFlow10", "OpenFlow13", "OpenFlow14", "OpenFlow15"}},
	}
	names := map[int]string{1: "SpoofGuard", 5: "Classifier", 10: "Egress Rules"}
	flows := []string{
		"table=0,priority=10,ip,actions=resubmit(,1)",
		"table=1,priority=5,ip,nw_src=10.0.0.1,actions=resubmit(,5)",
		"table=1,priority=5,ip,nw_src=10.0.0.2,actions=drop",
		"table=5,actions=drop",
		"cookie=0x7,table=10,priority=1,actions=drop",
	}
	// A new bridge holds one flow of its own: priority=0 actions=NORMAL in
	// table 0.
	wantCounts := map[int]int{0: 2, 1: 2, 5: 1, 10: 1}

	for _, b := range bridges {
		if err := o.AddBridge(b.name, b.protocols...); err != nil {
			t.Fatal(err)
		}
		if err := o.SetTableNames(b.name, names); err != nil {
			t.Fatal(err)
		}
		if err := o.AddFlows(b.name, flows); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.SetTableName("br0", 7, "Renamed"); err != nil {
		t.Fatal(err)
	}
	// One packet through the pipeline: table 0 -> 1 -> 5.
	packet := "ffffffffffff00000000000108004500001c000100004001f9780a0000010a0000020800f7ff00000000"
	if _, err := o.Ofctl("-O", "OpenFlow15", "packet-out", "br0", "in_port=LOCAL packet="+packet+" actions=table"); err != nil {
		t.Fatal(err)
	}

	for _, b := range bridges {
		t.Run(b.name, func(t *testing.T) {
			wantNames := names
			if b.name == "br0" {
				wantNames = map[int]string{1: "SpoofGuard", 5: "Classifier", 7: "Renamed", 10: "Egress Rules"}
			}
			tables := checkTablesMatchFlows(t, o, b.name, wantCounts)
			for id := range 254 {
				if got := tables[id].Name; got != wantNames[id] {
					t.Errorf("table %d name = %q, want %q", id, got, wantNames[id])
				}
				if got := tables[id].MaxEntries; got != 1000000 {
					t.Errorf("table %d max_entries = %d, want 1000000", id, got)
				}
			}
			if b.name == "br0" {
				for _, id := range []int{0, 1, 5} {
					if tables[id].Lookups != 1 || tables[id].Matches != 1 {
						t.Errorf("table %d after one packet: lookups=%d matches=%d, want 1 and 1", id, tables[id].Lookups, tables[id].Matches)
					}
				}
			}
			var first map[int]TableStats
			for _, v := range b.versions {
				got, err := o.DumpTablesVersion(b.name, v)
				if err != nil {
					t.Fatal(err)
				}
				if first == nil {
					first = got
					continue
				}
				for id := range 254 {
					if got[id] != first[id] {
						t.Errorf("%s table %d = %+v, but over %s %+v", v, id, got[id], b.versions[0], first[id])
					}
				}
			}
		})
	}

	if _, err := o.DumpTablesVersion("br1", "OpenFlow10"); err == nil {
		t.Error("dump-tables over OpenFlow10 succeeded on a bridge that allows only OpenFlow13")
	}

	t.Run("20k flows", func(t *testing.T) {
		const n = 20000
		many := make([]string, n)
		want := map[int]int{0: 2, 1: 2, 5: 1, 10: 1}
		for i := range many {
			table := 20 + i%4
			many[i] = fmt.Sprintf("table=%d,priority=100,ip,nw_src=10.%d.%d.%d,actions=drop", table, i>>16&255, i>>8&255, i&255)
			want[table]++
		}
		start := time.Now()
		if err := o.AddFlows("br1", many); err != nil {
			t.Fatal(err)
		}
		t.Logf("adding %d flows took %v", n, time.Since(start).Round(time.Millisecond))
		checkTablesMatchFlows(t, o, "br1", want)

		if err := o.DelFlows("br1", "table=20", "table=21,ip,nw_src=10.0.0.1"); err != nil {
			t.Fatal(err)
		}
		delete(want, 20)
		want[21]--
		checkTablesMatchFlows(t, o, "br1", want)
	})

	t.Run("stop vswitchd", func(t *testing.T) {
		vswitchd, ovsdb := o.vswitchd.cmd.Process.Pid, o.ovsdb.cmd.Process.Pid
		if err := o.StopVswitchd(); err != nil {
			t.Fatal(err)
		}
		if processAlive(vswitchd) {
			t.Errorf("ovs-vswitchd (pid %d) still running after StopVswitchd", vswitchd)
		}
		if _, err := o.DumpTables("br0"); err == nil {
			t.Error("DumpTables succeeded with ovs-vswitchd stopped")
		}
		if _, err := o.Vsctl("br-exists", "br0"); err != nil {
			t.Errorf("ovsdb-server should still answer: %v", err)
		}
		if err := o.StopVswitchd(); err != nil {
			t.Errorf("second StopVswitchd: %v", err)
		}
		checkClosed(t, o, ovsdb)
	})
}

// TestStartOVSConcurrent starts two instances at once, each with a bridge
// of the same name, as parallel test packages would.
func TestStartOVSConcurrent(t *testing.T) {
	Require(t, "ovsdb-server", "ovs-vswitchd", "ovsdb-tool", "ovs-vsctl", "ovs-ofctl", "ip")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	instances := make([]*OVS, 2)
	errs := make([]error, len(instances))
	var wg sync.WaitGroup
	for i := range instances {
		wg.Go(func() {
			o, err := StartOVS(ctx, OVSOptions{})
			if err != nil {
				errs[i] = err
				return
			}
			instances[i] = o
			errs[i] = o.AddBridge("br0")
		})
	}
	wg.Wait()
	for _, o := range instances {
		if o != nil {
			t.Cleanup(func() { o.Close() })
		}
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if instances[0].Dir == instances[1].Dir || instances[0].Netns == instances[1].Netns {
		t.Fatalf("instances share a directory or netns: %s %s, %s %s", instances[0].Dir, instances[0].Netns, instances[1].Dir, instances[1].Netns)
	}
	if err := instances[0].AddFlows("br0", []string{"table=3,actions=drop"}); err != nil {
		t.Fatal(err)
	}
	checkTablesMatchFlows(t, instances[0], "br0", map[int]int{0: 1, 3: 1})
	checkTablesMatchFlows(t, instances[1], "br0", map[int]int{0: 1})
	for _, o := range instances {
		checkClosed(t, o, o.ovsdb.cmd.Process.Pid, o.vswitchd.cmd.Process.Pid)
	}
}

// TestStartOVSFailsCleanly stops StartOVS at each of its steps, in two
// ways, and checks that it leaves nothing behind of what it made: its
// directory, its network namespace, its daemons. A hook picks the step, so
// every case runs every time (a short deadline would land somewhere at
// random, or nowhere on a fast machine).
//   - "canceled after": the context ends once the step has done its work,
//     so the next command is killed or never starts;
//   - "fails after": the step fails although its command took effect, as
//     when `ip netns add` is killed by a deadline after the kernel made the
//     namespace: the case that once leaked a namespace.
//
// It asserts only on what this StartOVS made, never on machine-wide lists:
// other test packages create and delete their own namespaces meanwhile.
func TestStartOVSFailsCleanly(t *testing.T) {
	Require(t, "ovsdb-server", "ovs-vswitchd", "ovsdb-tool", "ovs-vsctl", "ovs-ofctl", "ip")
	errInjected := errors.New("injected failure")
	for _, step := range startSteps {
		for _, mode := range []string{"canceled after", "fails after"} {
			if mode == "canceled after" && step == stepVswitchdReady {
				continue // nothing follows: StartOVS has succeeded
			}
			t.Run(mode+" "+step, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				var made *OVS
				var pids []int
				reached := false
				o, err := StartOVS(ctx, OVSOptions{afterStep: func(o *OVS, s string) error {
					made = o
					pids = o.daemonPids()
					if s != step {
						return nil
					}
					reached = true
					if mode == "canceled after" {
						cancel()
						return nil
					}
					return errInjected
				}})
				if err == nil {
					o.Close()
					t.Fatalf("StartOVS succeeded, want it to fail after %q", step)
				}
				if !reached {
					t.Fatalf("StartOVS failed before reaching step %q: %v", step, err)
				}
				if mode == "fails after" && !errors.Is(err, errInjected) {
					t.Errorf("StartOVS error = %v, want the injected one", err)
				}
				if mode == "canceled after" && !errors.Is(err, context.Canceled) && !strings.Contains(err.Error(), "killed") {
					t.Errorf("StartOVS error = %v, want the context's cancellation", err)
				}
				t.Logf("StartOVS error (expected): %v", firstLine(err.Error()))
				checkGone(t, made, pids)
			})
		}
	}
}

// TestStartOVSStepsInOrder checks that a StartOVS that succeeds passes the
// hook every step, in order, so TestStartOVSFailsCleanly covers them all.
func TestStartOVSStepsInOrder(t *testing.T) {
	Require(t, "ovsdb-server", "ovs-vswitchd", "ovsdb-tool", "ovs-vsctl", "ovs-ofctl", "ip")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var seen []string
	o, err := StartOVS(ctx, OVSOptions{afterStep: func(_ *OVS, s string) error {
		seen = append(seen, s)
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	checkClosed(t, o, o.daemonPids()...)
	if !slices.Equal(seen, startSteps) {
		t.Errorf("steps seen = %q, want %q", seen, startSteps)
	}
}

// checkGone checks that the directory, network namespace and daemons of o
// are gone.
func checkGone(t *testing.T, o *OVS, pids []int) {
	t.Helper()
	for _, pid := range pids {
		if processAlive(pid) {
			t.Errorf("pid %d still running", pid)
		}
	}
	if _, err := os.Stat(o.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still exists (stat: %v)", o.Dir, err)
	}
	if _, err := os.Lstat(netnsPath(o.Netns)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("network namespace %s still exists (lstat: %v)", o.Netns, err)
	}
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}

// checkTablesMatchFlows checks that dump-tables and dump-flows agree on the
// number of flows in every table of bridge and that they are wantCounts.
func checkTablesMatchFlows(t *testing.T, o *OVS, bridge string, wantCounts map[int]int) map[int]TableStats {
	t.Helper()
	tables, err := o.DumpTables(bridge)
	if err != nil {
		t.Fatal(err)
	}
	counts, err := o.FlowCountsPerTable(bridge)
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) != 254 {
		t.Errorf("%s: DumpTables returned %d tables, want 254", bridge, len(tables))
	}
	for id := range 254 {
		if tables[id].ID != id {
			t.Errorf("%s: table %d has ID %d", bridge, id, tables[id].ID)
		}
		if tables[id].Active != uint64(counts[id]) || counts[id] != wantCounts[id] {
			t.Errorf("%s table %d: dump-tables active=%d, dump-flows lists %d, want %d", bridge, id, tables[id].Active, counts[id], wantCounts[id])
		}
	}
	return tables
}

// checkClosed closes o twice and checks that its processes, netns and
// directory are gone.
func checkClosed(t *testing.T, o *OVS, pids ...int) {
	t.Helper()
	if err := o.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := o.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	checkGone(t, o, pids)
}

func processAlive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}

// startSteps lists the steps of StartOVS in the order it takes them.
var startSteps = []string{stepCreateDB, stepOvsdbServer, stepInitDB, stepAddNetns, stepVswitchd, stepVswitchdReady}

// daemonPids returns the pids of the daemons started so far.
func (o *OVS) daemonPids() []int {
	o.mu.Lock()
	defer o.mu.Unlock()
	var pids []int
	for _, d := range []*daemon{o.ovsdb, o.vswitchd} {
		if d != nil {
			pids = append(pids, d.cmd.Process.Pid)
		}
	}
	return pids
}
