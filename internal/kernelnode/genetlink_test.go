package kernelnode

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
	"github.com/datapath-exporter/datapath-exporter/internal/testenv/kernelnode"
)

// kernelTruth is what `ovs-dpctl show` prints about the kernel datapath:
// it asks the kernel over generic netlink itself, without ovs-vswitchd.
type kernelTruth struct {
	Hit, Missed, Lost, Flows, Masks, MaskHits, CacheHits uint64
}

func readKernelTruth(ctx context.Context, n *kernelnode.Node) (kernelTruth, error) {
	out, err := n.Run(ctx, "ovs-dpctl", "show", kernelDatapath)
	if err != nil {
		return kernelTruth{}, err
	}
	var k kernelTruth
	parse := func(m []string, into ...*uint64) error {
		if m == nil {
			return fmt.Errorf("unexpected ovs-dpctl show:\n%s", out)
		}
		for i, p := range into {
			v, err := strconv.ParseUint(m[i+1], 10, 64)
			if err != nil {
				return err
			}
			*p = v
		}
		return nil
	}
	for _, e := range []error{
		parse(reLookups.FindStringSubmatch(out), &k.Hit, &k.Missed, &k.Lost),
		parse(reFlows.FindStringSubmatch(out), &k.Flows),
		parse(reMasks.FindStringSubmatch(out), &k.MaskHits, &k.Masks),
	} {
		if e != nil {
			return k, e
		}
	}
	// ovs-dpctl hides the cache: line while the count is 0.
	if m := reCache.FindStringSubmatch(out); m != nil {
		if err := parse(m, &k.CacheHits); err != nil {
			return k, err
		}
	}
	return k, nil
}

// checkKernelSeries compares every series the exporter reads from the
// kernel for system@ovs-system with what ovs-dpctl show printed.
func checkKernelSeries(t *testing.T, what string, m metrics, k kernelTruth) {
	t.Helper()
	for _, c := range []struct {
		name   string
		labels []string
		want   uint64
	}{
		{"datapath_ovs_datapath_lookups_total", []string{"result", "hit"}, k.Hit},
		{"datapath_ovs_datapath_lookups_total", []string{"result", "missed"}, k.Missed},
		{"datapath_ovs_datapath_lookups_total", []string{"result", "lost"}, k.Lost},
		{"datapath_ovs_datapath_flows", nil, k.Flows},
		{"datapath_ovs_datapath_masks", nil, k.Masks},
		{"datapath_ovs_datapath_mask_hits_total", nil, k.MaskHits},
		{"datapath_ovs_datapath_cache_hits_total", nil, k.CacheHits},
	} {
		got, ok := m.get(c.name, append([]string{"datapath", kernelDatapath}, c.labels...)...)
		if !ok {
			t.Errorf("%s: %s%v{datapath=%q} missing", what, c.name, c.labels, kernelDatapath)
		} else if got != float64(c.want) {
			t.Errorf("%s: %s%v = %v, ovs-dpctl show says %d", what, c.name, c.labels, got, c.want)
		}
	}
}

// TestKernelDatapathFromGenetlink checks that the kernel datapath's
// statistics come from the kernel (generic netlink), not from
// ovs-vswitchd: equal to ovs-dpctl show while it runs, and still served,
// still equal, while it is SIGSTOPped and its control socket cannot
// answer (the collector then reports that failure).
func TestKernelDatapathFromGenetlink(t *testing.T) {
	n := nodeForTest(t)
	ctx := testenv.Context(t, 4*time.Minute)
	waitRecovered(t, ctx, "before")
	podTraffic(t, ctx, n)
	m, k := atOneMoment(t, ctx, func() (kernelTruth, error) { return readKernelTruth(ctx, n) })
	if k.Hit == 0 || k.Masks == 0 || k.CacheHits == 0 {
		t.Fatalf("no traffic through the kernel datapath's caches: %+v", k)
	}
	checkKernelSeries(t, "running", m, k)

	pid, err := n.VswitchdPid(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p := strconv.Itoa(pid)
	t.Cleanup(func() { _, _ = n.Run(context.Background(), "kill", "-CONT", p) })
	if _, err := n.Run(ctx, "kill", "-STOP", p); err != nil {
		t.Fatal(err)
	}
	// Packets still reach the kernel datapath: hits on its flows, misses
	// queued to the stopped handlers. Whether the pings are answered
	// does not matter.
	_, _ = n.InPod(ctx, 0, "busybox", "ping", "-c", "2", "-i", "0.2", "-W", "1", testenv.PodIP(1))
	m, k2 := atOneMoment(t, ctx, func() (kernelTruth, error) { return readKernelTruth(ctx, n) })
	if k2.Hit+k2.Missed <= k.Hit+k.Missed {
		t.Errorf("no lookup counted while ovs-vswitchd was stopped: %+v then %+v", k, k2)
	}
	if got := success(m, "ovs_datapath"); got != 0 {
		t.Errorf("stopped: ovs_datapath success %v, want 0 (its control socket cannot answer)", got)
	}
	checkKernelSeries(t, "stopped", m, k2)

	if _, err := n.Run(ctx, "kill", "-CONT", p); err != nil {
		t.Fatal(err)
	}
	waitRecovered(t, ctx, "continued")
}
