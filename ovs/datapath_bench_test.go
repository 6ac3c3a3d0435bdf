package ovs

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
)

// Environment of BenchmarkDatapathRead.
const (
	// benchRunDirEnv, if set, is the run directory of an ovs-vswitchd that
	// is already running (the kernel node's, /var/run/openvswitch): the
	// benchmark reads it instead of starting a private userspace OVS.
	benchRunDirEnv = "DPX_BENCH_OVS_RUNDIR"
	// benchWhereEnv names where the benchmark runs, in its sample lines
	// (BenchmarkDatapathRead<where>/...): "Host" unless set.
	benchWhereEnv = "DPX_BENCH_WHERE"
	// benchRoundsEnv sets the rounds (default 15).
	benchRoundsEnv = "BENCH_ROUNDS"
)

// BenchmarkDatapathRead measures the reads of the ovs_datapath collector
// against their floors, each on the connection or socket it keeps between
// scrapes, as the collector keeps them:
//
//   - method=unixctl-floor: `version` on a kept connection to ovs-vswitchd's
//     control socket (found at its default name, ovs-vswitchd.<pid>.ctl,
//     from the pidfile): the cheapest round trip through its main loop;
//   - method=unixctl-dpctl-show: VswitchdReader.ReadCommands(CmdDpctlShow),
//     dpctl/show and its parsing: the datapath's lookups, flows and masks
//     from the control socket (what a scrape reads for a netdev@ datapath);
//   - method=unixctl-all: VswitchdReader.Read, the four commands
//     (dpctl/show, upcall/show, memory/show, coverage/show) at once: what a
//     scrape reads when the slow commands are due;
//   - method=genetlink-floor (where the kernel has the ovs_datapath family):
//     CTRL_CMD_GETFAMILY of "nlctrl" on the socket KernelDatapathReader
//     keeps: the cheapest generic netlink round trip;
//   - method=genetlink-read: KernelDatapathReader.Read, one OVS_DP_CMD_GET
//     dump of every kernel datapath, decoded.
//
// It ignores b.N and prints its own samples, in the format of `go test
// -bench`, for scripts/benchreport: run it with -benchtime 1x. The methods
// take turns round after round (rotating order); a sample is the median of
// one round's calls. The size in the sample names is the number of
// datapaths dpctl/show lists.
func BenchmarkDatapathRead(b *testing.B) {
	rounds := 15
	if s := os.Getenv(benchRoundsEnv); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("%s=%q: want a positive number", benchRoundsEnv, s)
		}
		rounds = n
	}
	where := os.Getenv(benchWhereEnv)
	if where == "" {
		where = "Host"
	}
	runDir := os.Getenv(benchRunDirEnv)
	if runDir == "" {
		o := testenv.OVSForTest(b, testenv.OVSOptions{})
		if err := o.AddBridge("br-int", "OpenFlow10", "OpenFlow15"); err != nil {
			b.Fatal(err)
		}
		runDir = o.RunDir
	}
	ctx := context.Background()
	timeout := 10 * time.Second

	unixctl := Unixctl{RunDir: runDir}
	floorConn, err := unixctl.Dial(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer floorConn.Close()
	reader := &VswitchdReader{Unixctl: unixctl, CoverageEvents: []string{"netlink_overflow", "upcall_flow_limit_hit"},
		CoveragePrefixes: []string{"datapath_drop_", "drop_action_"}}
	defer reader.Close()
	kernel := &KernelDatapathReader{}
	defer kernel.Close()

	type method struct {
		name string
		once func(ctx context.Context) error
	}
	methods := []method{
		{"unixctl-floor", func(ctx context.Context) error {
			_, err := floorConn.Call(ctx, "version")
			return err
		}},
		{"unixctl-dpctl-show", func(ctx context.Context) error {
			_, err := reader.ReadCommands(ctx, CmdDpctlShow)
			return err
		}},
		{"unixctl-all", func(ctx context.Context) error {
			_, err := reader.Read(ctx)
			return err
		}},
	}
	st, err := reader.ReadCommands(ctx, CmdDpctlShow)
	if err != nil {
		b.Fatal(err)
	}
	datapaths := len(st.Datapaths)
	if _, err := kernel.Read(ctx); err == nil {
		methods = append(methods,
			method{"genetlink-floor", kernel.floorRoundTrip},
			method{"genetlink-read", func(ctx context.Context) error {
				dps, err := kernel.Read(ctx)
				if err == nil && len(dps) == 0 {
					err = fmt.Errorf("the kernel lists no datapath")
				}
				return err
			}})
	} else {
		// The host has no openvswitch module: the control socket only.
		fmt.Printf("datapath-read-%s-genetlink: %v\n", where, err)
	}

	// Warm up and choose how many calls make a round: about 20 ms of
	// work, between 5 and 200 calls.
	perRound := map[string]int{}
	for _, m := range methods {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		start := time.Now()
		err := m.once(cctx)
		d := time.Since(start)
		cancel()
		if err != nil {
			b.Fatalf("%s: %v", m.name, err)
		}
		perRound[m.name] = max(5, min(200, int(20*time.Millisecond/max(d, time.Microsecond))))
	}
	for r := range rounds {
		for i := range methods {
			m := methods[(i+r)%len(methods)]
			times := make([]float64, 0, perRound[m.name])
			for range perRound[m.name] {
				cctx, cancel := context.WithTimeout(ctx, timeout)
				start := time.Now()
				err := m.once(cctx)
				times = append(times, float64(time.Since(start).Nanoseconds()))
				cancel()
				if err != nil {
					b.Fatalf("%s: %v", m.name, err)
				}
			}
			slices.Sort(times)
			median := times[len(times)/2]
			if len(times)%2 == 0 {
				median = (times[len(times)/2-1] + median) / 2
			}
			fmt.Printf("BenchmarkDatapathRead%s/datapaths=%d/method=%s\t%d\t%.0f ns/op\n", where, datapaths, m.name, len(times), median)
		}
	}
}

// floorRoundTrip is the cheapest generic netlink round trip on the socket
// r keeps: CTRL_CMD_GETFAMILY of the controller's own family, which no
// module provides (asking for "ovs_datapath" by name could load one).
func (r *KernelDatapathReader) floorRoundTrip(ctx context.Context) error {
	r.init()
	r.sem <- struct{}{}
	defer func() { <-r.sem }()
	if r.conn == nil {
		return fmt.Errorf("no kept socket: read first")
	}
	if err := r.setDeadline(ctx); err != nil {
		return err
	}
	_, err := r.genl.GetFamily("nlctrl")
	return err
}
