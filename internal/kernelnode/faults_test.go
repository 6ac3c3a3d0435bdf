package kernelnode

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
	"github.com/datapath-exporter/datapath-exporter/internal/testenv/kernelnode"
)

func success(m metrics, collector string) float64 {
	v, ok := m.get("datapath_scrape_collector_success", "collector", collector)
	if !ok {
		return -1
	}
	return v
}

// checkWhileVswitchdDown checks a scrape taken while ovs-vswitchd cannot
// answer: the OpenFlow collector fails, conntrack is unaffected, and the
// kernel datapath's statistics are still served, equal to the kernel's.
//
// The kernel's counters are read just before and just after the scrape: a
// served value outside that range is one the kernel never had and fails at
// once. A packet that reaches the datapath in between (a Pod's IPv6
// neighbour solicitation, say: with ovs-vswitchd down every packet is a
// miss) moves the counters, so the exact check waits for a quiet moment,
// before and after equal; one in ten tries is plenty on an idle guest.
func checkWhileVswitchdDown(t *testing.T, ctx context.Context, n *kernelnode.Node, what string) {
	t.Helper()
	results := []string{"hit", "missed", "lost"}
	dpctl := func() []string {
		t.Helper()
		out, err := n.Run(ctx, "ovs-dpctl", "show", kernelDatapath)
		if err != nil {
			t.Fatal(err)
		}
		ml := reLookups.FindStringSubmatch(out)
		if ml == nil {
			t.Fatalf("ovs-dpctl show: %s", out)
		}
		return ml[1:]
	}
	const tries = 10
	for try := 1; ; try++ {
		before := dpctl()
		m := scrape(t, ctx)
		after := dpctl()
		if try == 1 {
			if got := success(m, "ovs"); got != 0 {
				t.Errorf("%s: ovs collector success %v, want 0", what, got)
			}
			if got := success(m, "conntrack"); got != 1 {
				t.Errorf("%s: conntrack collector success %v, want 1", what, got)
			}
			// ovs_datapath fails (the control socket does not answer),
			// but the kernel datapath's series, read over generic
			// netlink, keep coming and equal what the kernel says
			// (ovs-dpctl show needs no ovs-vswitchd).
			if got := success(m, "ovs_datapath"); got != 0 {
				t.Errorf("%s: ovs_datapath collector success %v, want 0 (ovs-vswitchd cannot answer)", what, got)
			}
		}
		quiet := true // then the range is one value: the served one
		for i, result := range results {
			got, ok := m.get("datapath_ovs_datapath_lookups_total", "datapath", kernelDatapath, "result", result)
			if !ok {
				t.Errorf("%s: datapath_ovs_datapath_lookups_total{result=%q} not served while ovs-vswitchd is down", what, result)
				return
			}
			lo, _ := strconv.ParseFloat(before[i], 64)
			hi, _ := strconv.ParseFloat(after[i], 64)
			if got < lo || got > hi {
				t.Errorf("%s: datapath lookups %s %v, the kernel says %s before the scrape and %s after", what, result, got, before[i], after[i])
				return
			}
			quiet = quiet && lo == hi
		}
		if quiet {
			return
		}
		if try == tries {
			t.Logf("%s: no quiet moment in %d tries; every served value was between the kernel's before and after the scrape", what, tries)
			return
		}
	}
}

// waitRecovered waits until the OVS collectors succeed again.
func waitRecovered(t *testing.T, ctx context.Context, what string) {
	t.Helper()
	var m metrics
	err := testenv.WaitFor(ctx, func() bool {
		m = scrape(t, ctx)
		return success(m, "ovs") == 1 && success(m, "ovs_datapath") == 1
	})
	if err != nil {
		t.Fatalf("%s: collectors did not recover: ovs %v, ovs_datapath %v", what, success(m, "ovs"), success(m, "ovs_datapath"))
	}
}

// TestVswitchdStoppedKilledRestarted stops ovs-vswitchd (SIGSTOP), lets it
// go on, kills it and starts it again as a node's supervisor would, with
// the pipeline loaded again: the exporter reports the failure and
// recovers without a restart of its own.
func TestVswitchdStoppedKilledRestarted(t *testing.T) {
	n := nodeForTest(t)
	ctx := testenv.Context(t, 4*time.Minute)
	waitRecovered(t, ctx, "before")
	pid, err := n.VswitchdPid(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p := strconv.Itoa(pid)
	t.Cleanup(func() { _, _ = n.Run(context.Background(), "kill", "-CONT", p) })

	if _, err := n.Run(ctx, "kill", "-STOP", p); err != nil {
		t.Fatal(err)
	}
	checkWhileVswitchdDown(t, ctx, n, "stopped")
	if _, err := n.Run(ctx, "kill", "-CONT", p); err != nil {
		t.Fatal(err)
	}
	waitRecovered(t, ctx, "continued")

	if _, err := n.Run(ctx, "kill", "-KILL", p); err != nil {
		t.Fatal(err)
	}
	if err := testenv.WaitFor(ctx, func() bool {
		_, err := n.Run(ctx, "test", "-e", "/proc/"+p)
		return err != nil
	}); err != nil {
		t.Fatalf("ovs-vswitchd %s still there after SIGKILL", p)
	}
	checkWhileVswitchdDown(t, ctx, n, "killed")
	if err := n.StartVswitchd(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.LoadAntreaFlows(ctx, antreaOpts); err != nil {
		t.Fatal(err)
	}
	waitRecovered(t, ctx, "restarted")
	if newPid, _ := n.VswitchdPid(ctx); newPid == pid {
		t.Errorf("ovs-vswitchd pid %d after the restart, the killed one's", newPid)
	}
	podTraffic(t, ctx, n)
}
