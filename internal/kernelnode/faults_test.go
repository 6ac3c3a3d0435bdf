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
func checkWhileVswitchdDown(t *testing.T, ctx context.Context, n *kernelnode.Node, what string) {
	t.Helper()
	m := scrape(t, ctx)
	if got := success(m, "ovs"); got != 0 {
		t.Errorf("%s: ovs collector success %v, want 0", what, got)
	}
	if got := success(m, "conntrack"); got != 1 {
		t.Errorf("%s: conntrack collector success %v, want 1", what, got)
	}
	// ovs_datapath fails (the control socket does not answer), but the
	// kernel datapath's series, read over generic netlink, keep coming and
	// equal what the kernel says (ovs-dpctl show needs no ovs-vswitchd).
	if got := success(m, "ovs_datapath"); got != 0 {
		t.Errorf("%s: ovs_datapath collector success %v, want 0 (ovs-vswitchd cannot answer)", what, got)
	}
	out, err := n.Run(ctx, "ovs-dpctl", "show", kernelDatapath)
	if err != nil {
		t.Fatal(err)
	}
	ml := reLookups.FindStringSubmatch(out)
	if ml == nil {
		t.Fatalf("ovs-dpctl show: %s", out)
	}
	for i, result := range []string{"hit", "missed", "lost"} {
		got, ok := m.get("datapath_ovs_datapath_lookups_total", "datapath", kernelDatapath, "result", result)
		if !ok {
			t.Errorf("%s: datapath_ovs_datapath_lookups_total{result=%q} not served while ovs-vswitchd is down", what, result)
			continue
		}
		if strconv.FormatFloat(got, 'f', -1, 64) != ml[1+i] {
			t.Errorf("%s: datapath lookups %s %v, the kernel says %s", what, result, got, ml[1+i])
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
