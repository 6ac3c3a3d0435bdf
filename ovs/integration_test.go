package ovs_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
	"github.com/datapath-exporter/datapath-exporter/ovs"
)

// These tests run the OpenFlow client against a private OVS
// (testenv.OVSForTest) and hold it to what ovs-ofctl reports for the same
// bridge: dump-tables (+ dump-table-features) for counters, names and limits,
// dump-flows for the number of flows per table.

// antreaTableNames are the names Antrea gives br-int's tables.
var antreaTableNames = map[int]string{
	0: "PipelineRootClassifier", 1: "SpoofGuard", 2: "ARPResponder", 3: "Classifier", 4: "UnSNAT",
	5: "ConntrackZone", 6: "ConntrackState", 7: "PreRoutingClassifier", 8: "NodePortMark", 9: "SessionAffinity",
	10: "ServiceLB", 11: "EndpointDNAT", 12: "AntreaPolicyEgressRule", 13: "EgressRule", 14: "EgressDefaultRule",
	15: "EgressMetric", 16: "L3Forwarding", 17: "EgressMark", 18: "L3DecTTL", 19: "SNATMark",
	20: "SNAT", 21: "L2ForwardingCalc", 22: "TrafficControl", 23: "IngressSecurityClassifier", 24: "AntreaPolicyIngressRule",
	25: "IngressRule", 26: "IngressDefaultRule", 27: "IngressMetric", 28: "ConntrackCommit", 29: "Output",
}

// ourVersions is what the client offers, as ovs-ofctl's --protocols.
const ourVersions = "OpenFlow10,OpenFlow13,OpenFlow14,OpenFlow15"

// icmpPacket is an Ethernet/IPv4/ICMP echo from 10.0.0.1 to 10.0.0.2.
const icmpPacket = "ffffffffffff00000000000108004500001c000100004001f9780a0000010a0000020800f7ff00000000"

// testBridge is one bridge of TestTablesMatchOVSCTL.
type testBridge struct {
	name      string
	protocols []string // for AddBridge; none = OVS's default
	names     map[int]string
	bulk      int // flows the "50k" step adds
	// ofctl is the --protocols value for ovs-ofctl commands of the test
	// itself (packet-out).
	ofctl string
}

func TestTablesMatchOVSCTL(t *testing.T) {
	o := testenv.OVSForTest(t, testenv.OVSOptions{})
	ctx := testenv.Context(t, 5*time.Minute)

	bridges := []*testBridge{
		// Like Antrea's br-int.
		{name: "brint", protocols: []string{"OpenFlow10", "OpenFlow15"}, names: antreaTableNames, bulk: 50000, ofctl: "OpenFlow15"},
		{name: "br13", protocols: []string{"OpenFlow13"}, names: antreaTableNames, bulk: 5000, ofctl: "OpenFlow13"},
		{name: "brall", names: nil, bulk: 5000, ofctl: ourVersions},
	}
	for _, b := range bridges {
		if err := o.AddBridge(b.name, b.protocols...); err != nil {
			t.Fatal(err)
		}
		if b.names != nil {
			if err := o.SetTableNames(b.name, b.names); err != nil {
				t.Fatal(err)
			}
		}
	}

	// ovs-ofctl offered exactly our versions negotiates what the client
	// must negotiate; for brall this is OVS's default.
	wantVersion := map[string]ovs.Version{"brint": ovs.OpenFlow15, "br13": ovs.OpenFlow13}
	out, err := o.Ofctl("--protocols="+ourVersions, "dump-tables", "brall")
	if err != nil {
		t.Fatal(err)
	}
	wantVersion["brall"] = ofctlVersion(t, out)
	t.Logf("brall (no protocols set) negotiates %s with ovs-ofctl offered %s", wantVersion["brall"], ourVersions)

	c := &ovs.Client{RunDir: o.RunDir}

	mon := ovs.StartMonitor(filepath.Join(o.RunDir, "db.sock"))
	t.Cleanup(func() { mon.Close() })
	t.Run("bridges", func(t *testing.T) {
		inv, err := mon.Inventory(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"br13", "brall", "brint"}; !slices.Equal(inv.Bridges, want) {
			t.Errorf("Bridges = %q, want %q", inv.Bridges, want)
		}
	})

	// want[bridge][table] is the number of flows each step leaves; it
	// starts with the flow OVS adds to a new bridge.
	want := map[string]map[int]int{}
	for _, b := range bridges {
		want[b.name] = map[int]int{0: 1}
	}
	// seq makes every flow's match distinct.
	seq := 0
	flow := func(table int) string {
		seq++
		return fmt.Sprintf("table=%d,priority=100,ip,nw_src=10.%d.%d.%d,actions=drop", table, seq>>16&255, seq>>8&255, seq&255)
	}
	addFlows := func(t *testing.T, b *testBridge, perTable map[int]int) {
		t.Helper()
		var flows []string
		for table, n := range perTable {
			for range n {
				flows = append(flows, flow(table))
			}
			want[b.name][table] += n
		}
		if err := o.AddFlows(b.name, flows); err != nil {
			t.Fatal(err)
		}
	}

	steps := []struct {
		name  string
		apply func(t *testing.T, b *testBridge)
		// after runs once the readings were compared.
		after func(t *testing.T)
	}{
		{"empty", func(t *testing.T, b *testBridge) {
			if err := o.DelFlows(b.name); err != nil {
				t.Fatal(err)
			}
			want[b.name] = map[int]int{}
		}, nil},
		{"few", func(t *testing.T, b *testBridge) {
			// A pipeline the test packet walks: table 0 -> 3 -> 10.
			flows := []string{
				"table=0,priority=10,ip,actions=resubmit(,3)",
				"table=3,priority=5,ip,nw_src=10.0.0.1,actions=resubmit(,10)",
				"table=3,priority=5,ip,nw_src=10.0.0.9,actions=drop",
				"table=10,priority=1,actions=drop",
			}
			if err := o.AddFlows(b.name, flows); err != nil {
				t.Fatal(err)
			}
			want[b.name][0]++
			want[b.name][3] += 2
			want[b.name][10]++
		}, nil},
		{"consecutive equal counts", func(t *testing.T, b *testBridge) {
			// ovs-ofctl prints tables 12 and 13 as "ditto" of 11.
			addFlows(t, b, map[int]int{11: 7, 12: 7, 13: 7})
		}, func(t *testing.T) {
			// Make sure the comparison went through the harness's
			// expansion of "ditto".
			out, err := o.Ofctl("--protocols="+ourVersions, "--no-names", "dump-tables", "brint")
			if err != nil {
				t.Fatal(err)
			}
			if !regexp.MustCompile(`(?m)^\s*tables? 12(\.\.\.13)?( \(.*\))?: ditto$`).MatchString(out) {
				t.Errorf("ovs-ofctl did not print table 12 as ditto:\n%s", out)
			}
		}},
		{"many tables", func(t *testing.T, b *testBridge) {
			perTable := map[int]int{50: 2, 100: 1, 200: 3, 253: 1}
			for id := 14; id < 50; id++ {
				perTable[id] = id%3 + 1
			}
			if len(perTable) != 40 {
				t.Fatalf("test bug: %d tables, want 40", len(perTable))
			}
			addFlows(t, b, perTable)
		}, nil},
		{"50k", func(t *testing.T, b *testBridge) {
			const tables = 25
			perTable := map[int]int{}
			for i := range b.bulk {
				perTable[60+i%tables]++
			}
			start := time.Now()
			addFlows(t, b, perTable)
			t.Logf("%s: adding %d flows to %d tables took %v", b.name, b.bulk, tables, time.Since(start).Round(time.Millisecond))
		}, func(t *testing.T) {
			// What one scrape costs on a bridge with 50k flows,
			// without ovs-ofctl around it.
			const reads = 10
			start := time.Now()
			for range reads {
				if _, err := c.Tables(ctx, "brint", ""); err != nil {
					t.Fatal(err)
				}
			}
			t.Logf("Tables(brint) with %d flows: %v per read", sum(want["brint"]), (time.Since(start) / reads).Round(time.Microsecond))
		}},
		{"deleted", func(t *testing.T, b *testBridge) {
			match := []string{"table=11", "table=100"}
			delete(want[b.name], 11)
			delete(want[b.name], 100)
			for id := 60; id < 70; id++ {
				match = append(match, "table="+strconv.Itoa(id))
				delete(want[b.name], id)
			}
			if err := o.DelFlows(b.name, match...); err != nil {
				t.Fatal(err)
			}
		}, nil},
	}
	pipelineBuilt := false
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			for _, b := range bridges {
				step.apply(t, b)
				sendPackets(t, o, b, 3)
			}
			pipelineBuilt = pipelineBuilt || step.name == "few"
			for _, b := range bridges {
				start := time.Now()
				got := checkTables(t, ctx, o, c, b, want[b.name])
				if got.Version != wantVersion[b.name] {
					t.Errorf("%s: negotiated %s, want %s", b.name, got.Version, wantVersion[b.name])
				}
				// The packets sent so far must show, so that the
				// comparison of counters compares something.
				if got.Tables[0].Lookups == 0 {
					t.Errorf("%s: table 0 has no lookups after packets were sent", b.name)
				}
				if pipelineBuilt && (got.Tables[3].Matches == 0 || got.Tables[10].Matches == 0) {
					t.Errorf("%s: tables 3 and 10 matched %d and %d packets, want some", b.name, got.Tables[3].Matches, got.Tables[10].Matches)
				}
				t.Logf("%s: %d flows, compared in %v", b.name, sum(want[b.name]), time.Since(start).Round(time.Millisecond))
			}
			if step.after != nil {
				step.after(t)
			}
		})
	}

	t.Run("names cache", func(t *testing.T) {
		// config returns br's Flow_Table fingerprint as the monitor
		// has it once it differs from old ("" accepts any).
		config := func(br, old string) string {
			t.Helper()
			deadline := time.Now().Add(10 * time.Second)
			for {
				inv, err := mon.Inventory(ctx)
				if err == nil && inv.TableConfig[br] != old {
					return inv.TableConfig[br]
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s: the monitor did not see the table configuration change (%v)", br, err)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		before := map[string]string{"br13": config("br13", "-"), "brint": config("brint", "-")}
		cached := &ovs.Client{RunDir: o.RunDir, NamesMaxAge: time.Hour}
		short := &ovs.Client{RunDir: o.RunDir, NamesMaxAge: time.Millisecond}
		for _, cl := range []*ovs.Client{cached, short} {
			if got := tableName(t, ctx, cl, "br13", before["br13"], 3); got != "Classifier" {
				t.Fatalf("br13 table 3 = %q before the rename, want Classifier", got)
			}
		}
		// brint negotiates OpenFlow 1.5 as well: the rename there must
		// be cached too.
		if got := tableName(t, ctx, cached, "brint", before["brint"], 3); got != "Classifier" {
			t.Fatalf("brint table 3 = %q before the rename, want Classifier", got)
		}
		for _, br := range []string{"br13", "brint"} {
			if err := o.SetTableName(br, 3, "Renamed"); err != nil {
				t.Fatal(err)
			}
		}
		for _, br := range []string{"br13", "brint"} {
			if got := tableName(t, ctx, cached, br, before[br], 3); got != "Classifier" {
				t.Errorf("NamesMaxAge=1h, same table configuration: %s table 3 = %q right after the rename, want the cached Classifier", br, got)
			}
		}
		// The monitor (the collector's inventory) sees the changed
		// Flow_Table configuration in OVSDB: given it, the names are
		// read again at once, whatever NamesMaxAge.
		after := map[string]string{"br13": config("br13", before["br13"]), "brint": config("brint", before["brint"])}
		for _, br := range []string{"br13", "brint"} {
			if got := tableName(t, ctx, cached, br, after[br], 3); got != "Renamed" {
				t.Errorf("NamesMaxAge=1h, new table configuration: %s table 3 = %q, want Renamed", br, got)
			}
		}
		if got := tableName(t, ctx, &ovs.Client{RunDir: o.RunDir}, "br13", "", 3); got != "Renamed" {
			t.Errorf("fresh client: br13 table 3 = %q, want Renamed", got)
		}
		time.Sleep(20 * time.Millisecond)
		if got := tableName(t, ctx, short, "br13", before["br13"], 3); got != "Renamed" {
			t.Errorf("NamesMaxAge=1ms, 20ms later: br13 table 3 = %q, want Renamed", got)
		}
		// After a forget, the cache is read again.
		if err := o.SetTableName("br13", 3, "RenamedAgain"); err != nil {
			t.Fatal(err)
		}
		cached.Forget(nil)
		if got := tableName(t, ctx, cached, "br13", after["br13"], 3); got != "RenamedAgain" {
			t.Errorf("after Forget: br13 table 3 = %q, want RenamedAgain", got)
		}
	})
}

// TestTablesNamesOpenFlow10 checks that a bridge that speaks only OpenFlow
// 1.0 reports renames at once: 1.0 statistics carry the names, nothing is
// cached.
func TestTablesNamesOpenFlow10(t *testing.T) {
	o := testenv.OVSForTest(t, testenv.OVSOptions{})
	ctx := testenv.Context(t, time.Minute)
	if err := o.AddBridge("br10", "OpenFlow10"); err != nil {
		t.Fatal(err)
	}
	if err := o.SetTableName("br10", 3, "Classifier"); err != nil {
		t.Fatal(err)
	}
	c := &ovs.Client{RunDir: o.RunDir, NamesMaxAge: time.Hour}
	b, err := c.Tables(ctx, "br10", "")
	if err != nil {
		t.Fatal(err)
	}
	if b.Version != ovs.OpenFlow10 {
		t.Errorf("negotiated %s, want OpenFlow10", b.Version)
	}
	checkTables(t, ctx, o, c, &testBridge{name: "br10", names: map[int]string{3: "Classifier"}}, map[int]int{0: 1})
	if err := o.SetTableName("br10", 3, "Renamed"); err != nil {
		t.Fatal(err)
	}
	if got := tableName(t, ctx, c, "br10", "", 3); got != "Renamed" {
		t.Errorf("table 3 = %q after the rename, want Renamed", got)
	}
}

// TestTablesErrors checks that each way a read can fail returns promptly
// with an error naming the cause and the fix.
func TestTablesErrors(t *testing.T) {
	// shared serves the cases that leave the switch running.
	shared := testenv.OVSForTest(t, testenv.OVSOptions{})
	if err := shared.AddBridge("brold", "OpenFlow11", "OpenFlow12"); err != nil {
		t.Fatal(err)
	}

	// startedClient starts an OVS of the test's own with bridge br0 and
	// returns a client that has read br0 once.
	startedClient := func(t *testing.T) (*testenv.OVS, *ovs.Client) {
		t.Helper()
		o := testenv.OVSForTest(t, testenv.OVSOptions{})
		if err := o.AddBridge("br0", "OpenFlow13"); err != nil {
			t.Fatal(err)
		}
		c := &ovs.Client{RunDir: o.RunDir}
		if _, err := c.Tables(testenv.Context(t, 2*time.Second), "br0", ""); err != nil {
			t.Fatalf("read before breaking ovs-vswitchd: %v", err)
		}
		return o, c
	}

	tests := []struct {
		name string
		// prepare sets the failure up and returns the read that fails.
		prepare func(t *testing.T) func(ctx context.Context) error
		timeout time.Duration // of the failing read's context
		within  time.Duration // how soon it must return
		want    []string      // substrings of the error
		check   func(t *testing.T, err error)
	}{
		{
			name: "no such bridge",
			prepare: func(t *testing.T) func(ctx context.Context) error {
				c := &ovs.Client{RunDir: shared.RunDir}
				return func(ctx context.Context) error { _, err := c.Tables(ctx, "nosuchbr", ""); return err }
			},
			timeout: 2 * time.Second, within: 200 * time.Millisecond,
			want: []string{"bridge nosuchbr", "no socket at " + shared.MgmtSocket("nosuchbr"), "does the bridge exist", ".mgmt sockets"},
			check: func(t *testing.T, err error) {
				if !errors.Is(err, os.ErrNotExist) {
					t.Errorf("errors.Is(err, os.ErrNotExist) = false")
				}
			},
		},
		{
			name: "bridge refuses our versions",
			prepare: func(t *testing.T) func(ctx context.Context) error {
				c := &ovs.Client{RunDir: shared.RunDir}
				return func(ctx context.Context) error { _, err := c.Tables(ctx, "brold", ""); return err }
			},
			timeout: 2 * time.Second, within: time.Second,
			want: []string{"bridge brold", "brold.mgmt", "allows no OpenFlow version", "OpenFlow11, OpenFlow12", "protocols column"},
			check: func(t *testing.T, err error) {
				var ve *ovs.VersionError
				if !errors.As(err, &ve) {
					t.Errorf("error is a %T, want an *ovs.VersionError", err)
				}
			},
		},
		{
			name: "vswitchd stopped mid-run",
			prepare: func(t *testing.T) func(ctx context.Context) error {
				o, c := startedClient(t)
				if err := o.StopVswitchd(); err != nil {
					t.Fatal(err)
				}
				return func(ctx context.Context) error { _, err := c.Tables(ctx, "br0", ""); return err }
			},
			timeout: 2 * time.Second, within: 500 * time.Millisecond,
			want: []string{"bridge br0"},
			check: func(t *testing.T, err error) {
				msg := err.Error()
				if !strings.Contains(msg, "connection refused") && !strings.Contains(msg, "no socket at") && !strings.Contains(msg, "closed the connection") {
					t.Errorf("error says neither connection refused, no socket nor closed")
				}
			},
		},
		{
			// Connect and HELLO go into the socket buffers of a stopped
			// process; the answer never comes.
			name: "vswitchd hung",
			prepare: func(t *testing.T) func(ctx context.Context) error {
				o, c := startedClient(t)
				// Registered after OVSForTest, so SIGCONT comes
				// before the harness stops ovs-vswitchd.
				stopProcess(t, filepath.Join(o.Dir, "ovs-vswitchd.pid"))
				return func(ctx context.Context) error { _, err := c.Tables(ctx, "br0", ""); return err }
			},
			timeout: 300 * time.Millisecond, within: time.Second,
			want: []string{"bridge br0", "timed out"},
			check: func(t *testing.T, err error) {
				if !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("error wraps neither os.ErrDeadlineExceeded nor context.DeadlineExceeded")
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			read := tt.prepare(t)
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			start := time.Now()
			err := read(ctx)
			elapsed := time.Since(start)
			if err == nil {
				t.Fatal("read succeeded, want an error")
			}
			t.Logf("after %v: %v", elapsed.Round(time.Millisecond), err)
			if elapsed > tt.within {
				t.Errorf("read took %v, want at most %v", elapsed, tt.within)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q", w)
				}
			}
			if tt.check != nil {
				tt.check(t, err)
			}
		})
	}
}

// checkTables compares the client's reading of b with what ovs-ofctl
// reports (dump-tables and dump-table-features for counters, names and
// limits; dump-flows for the flows per table) and with wantFlows, for all
// 254 tables. It returns the client's reading.
func checkTables(t *testing.T, ctx context.Context, o *testenv.OVS, c *ovs.Client, b *testBridge, wantFlows map[int]int) ovs.Bridge {
	t.Helper()
	// Packets can only come from the test, so the counters stand still
	// between the two reads; retry once in case something else moved them.
	var got ovs.Bridge
	var dump map[int]testenv.TableStats
	for attempt := 0; ; attempt++ {
		var err error
		if got, err = c.Tables(ctx, b.name, ""); err != nil {
			t.Fatal(err)
		}
		if dump, err = o.DumpTables(b.name); err != nil {
			t.Fatal(err)
		}
		if countersEqual(got, dump) || attempt == 1 {
			break
		}
		t.Logf("%s: counters moved between the client's and ovs-ofctl's read; reading again", b.name)
	}
	counts, err := o.FlowCountsPerTable(b.name)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != b.name {
		t.Errorf("Bridge.Name = %q, want %q", got.Name, b.name)
	}
	if len(got.Tables) != 254 || len(dump) != 254 {
		t.Fatalf("%s: client read %d tables, ovs-ofctl %d, want 254", b.name, len(got.Tables), len(dump))
	}
	errs := 0
	report := func(format string, args ...any) {
		t.Helper()
		if errs++; errs <= 20 {
			t.Errorf(format, args...)
		}
	}
	for id := range 254 {
		g, d := got.Tables[id], dump[id]
		if int(g.ID) != id {
			report("%s: table #%d has ID %d", b.name, id, g.ID)
			continue
		}
		if g.Flows != d.Active || g.Flows != uint64(counts[id]) || counts[id] != wantFlows[id] {
			report("%s table %d: client flows=%d, dump-tables active=%d, dump-flows lists %d, want %d", b.name, id, g.Flows, d.Active, counts[id], wantFlows[id])
		}
		if g.Lookups != d.Lookups || g.Matches != d.Matches {
			report("%s table %d: client lookups=%d matches=%d, dump-tables lookup=%d matched=%d", b.name, id, g.Lookups, g.Matches, d.Lookups, d.Matches)
		}
		if g.Name != d.Name || g.Name != b.names[id] {
			report("%s table %d: client name %q, ovs-ofctl %q, want %q", b.name, id, g.Name, d.Name, b.names[id])
		}
		if !g.HasLimit || g.Limit != d.MaxEntries || g.Limit != 1000000 {
			report("%s table %d: client limit=%d (has %v), ovs-ofctl max_entries=%d, want 1000000", b.name, id, g.Limit, g.HasLimit, d.MaxEntries)
		}
	}
	if errs > 20 {
		t.Errorf("%s: %d more differences", b.name, errs-20)
	}
	return got
}

func countersEqual(b ovs.Bridge, dump map[int]testenv.TableStats) bool {
	for _, tb := range b.Tables {
		d := dump[int(tb.ID)]
		if tb.Lookups != d.Lookups || tb.Matches != d.Matches || tb.Flows != d.Active {
			return false
		}
	}
	return true
}

// sendPackets sends n copies of icmpPacket into b's pipeline at table 0.
func sendPackets(t *testing.T, o *testenv.OVS, b *testBridge, n int) {
	t.Helper()
	for range n {
		if _, err := o.Ofctl("--protocols="+b.ofctl, "packet-out", b.name, "in_port=LOCAL packet="+icmpPacket+" actions=table"); err != nil {
			t.Fatal(err)
		}
	}
}

// ofctlVersion reads the negotiated version from the first line of an
// ovs-ofctl reply: "OFPST_TABLE reply (OF1.5) (xid=0x2):"; 1.0 replies
// carry no "(OF1.x)".
func ofctlVersion(t *testing.T, out string) ovs.Version {
	t.Helper()
	first, _, _ := strings.Cut(out, "\n")
	_, rest, ok := strings.Cut(first, "(OF1.")
	if !ok {
		return ovs.OpenFlow10
	}
	minor, err := strconv.Atoi(rest[:1])
	if err != nil {
		t.Fatalf("cannot read the version of %q", first)
	}
	return ovs.Version(minor + 1)
}

func tableName(t *testing.T, ctx context.Context, c *ovs.Client, bridge, config string, id int) string {
	t.Helper()
	b, err := c.Tables(ctx, bridge, config)
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range b.Tables {
		if int(tb.ID) == id {
			return tb.Name
		}
	}
	t.Fatalf("%s has no table %d", bridge, id)
	return ""
}

// stopProcess sends SIGSTOP to the process in pidfile (a daemon of the
// test's own OVS) and registers a SIGCONT for the end of the test. Register
// it after OVSForTest: cleanups run last-in first-out, so the process is
// running again before the harness stops it.
func stopProcess(t *testing.T, pidfile string) {
	t.Helper()
	pid := readPid(t, pidfile)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP %d: %v", pid, err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
}

func readPid(t *testing.T, pidfile string) int {
	t.Helper()
	b, err := os.ReadFile(pidfile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		t.Fatalf("pidfile %s holds %q", pidfile, b)
	}
	return pid
}

func sum(m map[int]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
