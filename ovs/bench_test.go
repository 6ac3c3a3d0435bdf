package ovs_test

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	govs "github.com/digitalocean/go-openvswitch/ovs"

	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
	"github.com/datapath-exporter/datapath-exporter/ovs"
)

// BenchmarkTableCounts measures what one scrape of a bridge's per-table flow
// counts costs, against a private OVS holding 1k, 10k and 100k flows spread
// over Antrea's tables, three ways:
//
//   - method=openflow: this project, ovs.Client.Tables (on the OpenFlow
//     session the client keeps between calls, as the exporter keeps it
//     between scrapes; table names are cached by the client too).
//   - method=ovs-ofctl-dump-tables: fork `ovs-ofctl -O OpenFlow15 dump-tables`
//     and parse its text: the exec-per-scrape alternative.
//   - method=go-openvswitch-dumpflows: go-openvswitch's
//     OpenFlow.DumpFlows, which execs `ovs-ofctl dump-flows` and parses every
//     flow, then a count per table.
//
// Go's B/op and allocs/op do not see the memory of the forked ovs-ofctl, so
// the exec methods also report the child's peak RSS (ofctl-peak-RSS-MiB, one
// more run of the same command under /usr/bin/time, see peakRSSKiB) and its
// CPU time (ofctl-cpu-ms/op). scripts/bench.sh turns the output into
// docs/bench/README.md.
func BenchmarkTableCounts(b *testing.B) {
	for _, n := range benchFlowCounts {
		b.Run(fmt.Sprintf("flows=%d", n), func(b *testing.B) {
			o := benchBridge(b, n)
			// ovs-ofctl resolves a bare bridge name to
			// $OVS_RUNDIR/<bridge>.mgmt; go-openvswitch offers no way to
			// give it a socket path, so the benchmark process sets it.
			b.Setenv("OVS_RUNDIR", o.RunDir)

			b.Run("method=openflow", func(b *testing.B) {
				c := &ovs.Client{RunDir: o.RunDir}
				ctx := context.Background()
				var flows uint64
				b.ReportAllocs()
				for b.Loop() {
					br, err := c.Tables(ctx, benchBridgeName, "")
					if err != nil {
						b.Fatal(err)
					}
					flows = 0
					for _, t := range br.Tables {
						flows += t.Flows
					}
				}
				reportFlows(b, n, flows)
			})

			b.Run("method=ovs-ofctl-dump-tables", func(b *testing.B) {
				var child childUsage
				var flows uint64
				b.ReportAllocs()
				for b.Loop() {
					cmd := exec.Command("ovs-ofctl", "-O", "OpenFlow15", "dump-tables", benchBridgeName)
					out, err := cmd.Output()
					child.add(cmd)
					if err != nil {
						b.Fatalf("ovs-ofctl dump-tables: %v", err)
					}
					tables, err := testenv.ParseDumpTables(string(out))
					if err != nil {
						b.Fatal(err)
					}
					flows = 0
					for _, t := range tables {
						flows += t.Active
					}
				}
				reportFlows(b, n, flows)
				child.report(b)
			})

			b.Run("method=go-openvswitch-dumpflows", func(b *testing.B) {
				probeGoOpenvswitchDumpTables(b, n)
				var child childUsage
				c := govs.New(govs.Protocols([]string{govs.ProtocolOpenFlow15}), govs.Exec(child.exec))
				var flows uint64
				b.ReportAllocs()
				for b.Loop() {
					dumped, err := c.OpenFlow.DumpFlows(benchBridgeName)
					if err != nil {
						b.Fatalf("go-openvswitch DumpFlows: %v", err)
					}
					perTable := map[int]uint64{}
					for _, f := range dumped {
						perTable[f.Table]++
					}
					flows = 0
					for _, c := range perTable {
						flows += c
					}
				}
				reportFlows(b, n, flows)
				child.report(b)
			})
		})
	}
}

// benchFlowCounts are the bridge sizes; Antrea's br-int on a busy node holds
// tens of thousands of flows.
var benchFlowCounts = []int{1_000, 10_000, 100_000}

const benchBridgeName = "br-int"

// benchBridge starts a private OVS with an Antrea-like br-int (OpenFlow 1.0
// and 1.5) holding n drop flows spread evenly over the tables of Antrea's
// pipeline. The tables get Antrea's names in OVSDB so that the benchmarks
// pay for reading names (a real Antrea agent sets none; an operator may).
// The OVS is removed when b ends.
func benchBridge(b *testing.B, n int) *testenv.OVS {
	b.Helper()
	o := testenv.OVSForTest(b, testenv.OVSOptions{})
	if err := o.AddBridge(benchBridgeName, "OpenFlow10", "OpenFlow15"); err != nil {
		b.Fatal(err)
	}
	if err := o.SetTableNames(benchBridgeName, testenv.AntreaAgentTableNames); err != nil {
		b.Fatal(err)
	}
	// add-br installs a NORMAL flow in table 0: remove it so the bridge
	// holds exactly n.
	if err := o.DelFlows(benchBridgeName); err != nil {
		b.Fatal(err)
	}
	tables := len(testenv.AntreaAgentTableNames)
	flows := make([]string, 0, n)
	for table := range tables {
		per := n / tables
		if table < n%tables {
			per++
		}
		flows = append(flows, testenv.DropFlows(table, 0, per)...)
	}
	if err := o.AddFlows(benchBridgeName, flows); err != nil {
		b.Fatal(err)
	}
	return o
}

// reportFlows checks that a method counted all n flows and reports the count.
func reportFlows(b *testing.B, n int, flows uint64) {
	b.Helper()
	if flows != uint64(n) {
		b.Fatalf("counted %d flows, the bridge holds %d", flows, n)
	}
	b.ReportMetric(float64(flows), "flows/op")
}

// childUsage adds up the CPU time of the ovs-ofctl processes of one
// sub-benchmark, which Go's ns/op includes only as waiting, and measures
// their peak RSS, which Go's B/op does not see at all.
type childUsage struct {
	runs int
	cpu  time.Duration
	last []string // the last command line, to measure its peak RSS
}

func (u *childUsage) add(cmd *exec.Cmd) {
	u.last = cmd.Args
	if cmd.ProcessState == nil {
		return
	}
	u.runs++
	u.cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
}

// exec is a go-openvswitch ExecFunc doing what its default (shellExec) does,
// exec.Command(...).CombinedOutput(), while recording the child's usage.
func (u *childUsage) exec(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	out, err := cmd.CombinedOutput()
	u.add(cmd)
	return out, err
}

func (u *childUsage) report(b *testing.B) {
	b.Helper()
	if u.runs == 0 {
		return
	}
	b.ReportMetric(float64(u.cpu.Microseconds())/1000/float64(u.runs), "ofctl-cpu-ms/op")
	if kib, err := peakRSSKiB(u.last); err != nil {
		b.Logf("not reporting ofctl-peak-RSS-MiB: %v", err)
	} else {
		b.ReportMetric(float64(kib)/1024, "ofctl-peak-RSS-MiB")
	}
}

// peakRSSKiB runs the command line args once more under GNU time and
// returns its maximum resident set size.
//
// The rusage of a child that Go waited for cannot be used: os/exec starts
// children with CLONE_VM|CLONE_VFORK, and Linux keeps the largest RSS a
// process had across execve, so ru_maxrss reports at least the benchmark
// process's own RSS (a 300 MB Go process sees `true` peak at 300 MB).
// /usr/bin/time forks, so its child starts from time's small footprint.
func peakRSSKiB(args []string) (int64, error) {
	out, err := exec.Command("/usr/bin/time", append([]string{"-f", "%M", "-o", "/dev/stderr", "--"}, args...)...).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("/usr/bin/time %s: %w", strings.Join(args, " "), err)
	}
	// stdout (the dump) and stderr (the figure) are interleaved: the figure
	// is the last line time writes.
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	kib, err := strconv.ParseInt(strings.TrimSpace(lines[len(lines)-1]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("/usr/bin/time %s: parsing its output: %w", strings.Join(args, " "), err)
	}
	return kib, nil
}

// goOpenvswitchDumpTablesProbed makes the probe below log once per run,
// whatever the sizes and -count.
var goOpenvswitchDumpTablesProbed sync.Once

// probeGoOpenvswitchDumpTables records what go-openvswitch's
// OpenFlow.DumpTables makes of this OVS's dump-tables output, over OpenFlow
// 1.0 (the format it was written for) and 1.5. It is logged, not timed: the
// README says it cannot parse OVS 2.x+ output, and this is the evidence.
func probeGoOpenvswitchDumpTables(b *testing.B, n int) {
	b.Helper()
	goOpenvswitchDumpTablesProbed.Do(func() { logGoOpenvswitchDumpTables(b, n) })
}

func logGoOpenvswitchDumpTables(b *testing.B, n int) {
	b.Helper()
	for _, version := range []string{govs.ProtocolOpenFlow10, govs.ProtocolOpenFlow15} {
		c := govs.New(govs.Protocols([]string{version}))
		tables, err := c.OpenFlow.DumpTables(benchBridgeName)
		var active int
		for _, t := range tables {
			active += t.Active
		}
		b.Logf("go-openvswitch DumpTables (%s, %d flows, %s): %d tables, %d active flows, error: %v",
			version, n, ovsVersion(), len(tables), active, err)
		// What it was given: it reads a table as two lines joined, in the
		// pre-2.0 format "0: classifier: wild=0x3fffff, max=1000000,
		// active=0" + "lookup=0, matched=0".
		if out, err := exec.Command("ovs-ofctl", "--protocols="+version, "dump-tables", benchBridgeName).Output(); err == nil {
			lines := strings.SplitN(string(out), "\n", 4)
			if len(lines) >= 3 {
				b.Logf("ovs-ofctl --protocols=%s dump-tables begins: %q", version, strings.Join(lines[:3], "\n"))
			}
		}
	}
}

func ovsVersion() string {
	out, err := exec.Command("ovs-vswitchd", "--version").Output()
	if err != nil {
		return "ovs-vswitchd version unknown"
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return line
}
