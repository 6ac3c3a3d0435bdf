package kernelnode

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
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
// datapath collector either fails or (reading the kernel) still equals
// what the kernel says over genetlink (ovs-dpctl show, which needs no
// ovs-vswitchd).
func checkWhileVswitchdDown(t *testing.T, ctx context.Context, n *testenv.KernelNode, what string) {
	t.Helper()
	m := scrape(t, ctx)
	if got := success(m, "ovs"); got != 0 {
		t.Errorf("%s: ovs collector success %v, want 0", what, got)
	}
	if got := success(m, "conntrack"); got != 1 {
		t.Errorf("%s: conntrack collector success %v, want 1", what, got)
	}
	switch got := success(m, "ovs_datapath"); got {
	case 0:
	case 1:
		out, err := n.Run(ctx, "ovs-dpctl", "show", kernelDatapath)
		if err != nil {
			t.Fatal(err)
		}
		ml := reLookups.FindStringSubmatch(out)
		if ml == nil {
			t.Fatalf("ovs-dpctl show: %s", out)
		}
		hit, _ := m.get("datapath_ovs_datapath_lookups_total", "datapath", kernelDatapath, "result", "hit")
		if strconv.FormatFloat(hit, 'f', -1, 64) != ml[1] {
			t.Errorf("%s: datapath lookups hit %v, the kernel says %s", what, hit, ml[1])
		}
	default:
		t.Errorf("%s: ovs_datapath collector success %v", what, got)
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
