package kernelnode

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
	"github.com/datapath-exporter/datapath-exporter/internal/testenv/kernelnode"
)

const kernelDatapath = "system@ovs-system"

// dpTruth is what OVS itself prints about the kernel datapath.
type dpTruth struct {
	Hit, Missed, Lost, Flows, Masks, MaskHits, CacheHits uint64
	FlowLimit, Handlers, Revalidators                    uint64
}

var (
	reLookups = regexp.MustCompile(`lookups: hit:(\d+) missed:(\d+) lost:(\d+)`)
	reFlows   = regexp.MustCompile(`\n\s+flows: (\d+)`)
	reMasks   = regexp.MustCompile(`masks: hit:(\d+) total:(\d+)`)
	reCache   = regexp.MustCompile(`cache: hit:(\d+)`)
	reLimit   = regexp.MustCompile(`\(limit (\d+)\)`)
	reHandler = regexp.MustCompile(`\bhandlers:(\d+)`)
	reReval   = regexp.MustCompile(`\brevalidators:(\d+)`)
)

// readDatapathTruth runs dpctl/show, upcall/show and memory/show in the
// guest and parses what this test compares.
func readDatapathTruth(ctx context.Context, n *kernelnode.Node) (dpTruth, error) {
	out, err := n.Sh(ctx, "ovs-appctl dpctl/show "+kernelDatapath+"; echo ==; ovs-appctl upcall/show; echo ==; ovs-appctl memory/show")
	if err != nil {
		return dpTruth{}, err
	}
	parts := strings.Split(out, "==\n")
	if len(parts) != 3 || !strings.HasPrefix(parts[0], kernelDatapath+":") {
		return dpTruth{}, fmt.Errorf("unexpected ovs-appctl output:\n%s", out)
	}
	dp, upcall, memory := parts[0], parts[1], parts[2]
	var d dpTruth
	nums := func(re *regexp.Regexp, s string, into ...*uint64) error {
		m := re.FindStringSubmatch(s)
		if m == nil {
			return fmt.Errorf("no %q in:\n%s", re, s)
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
		nums(reLookups, dp, &d.Hit, &d.Missed, &d.Lost),
		nums(reFlows, dp, &d.Flows),
		nums(reMasks, dp, &d.MaskHits, &d.Masks),
		nums(reCache, dp, &d.CacheHits),
		nums(reLimit, upcall, &d.FlowLimit),
		nums(reHandler, memory, &d.Handlers),
		nums(reReval, memory, &d.Revalidators),
	} {
		if e != nil {
			return d, e
		}
	}
	return d, nil
}

// podTraffic sends pings Pod 0 -> Pod 1 and an HTTP request Pod 3 ->
// Service 0 through br-int.
func podTraffic(t *testing.T, ctx context.Context, n *kernelnode.Node) {
	t.Helper()
	if out, err := n.InPod(ctx, 0, "busybox", "ping", "-c", "3", "-i", "0.2", "-W", "5", testenv.PodIP(1)); err != nil {
		t.Fatalf("pod0 -> pod1: %v\n%s", err, out)
	}
	if _, err := n.PodHTTPGet(ctx, 3, testenv.ServiceIP(0)); err != nil {
		t.Fatalf("pod3 -> Service 0: %v", err)
	}
}

// TestDatapathMetricsEqualOVS checks every datapath_ovs_datapath_* series
// (and the thread counts) for the kernel datapath against OVS's own
// dpctl/show, upcall/show and memory/show read around the same scrape.
func TestDatapathMetricsEqualOVS(t *testing.T) {
	n := nodeForTest(t)
	ctx := testenv.Context(t, 3*time.Minute)
	podTraffic(t, ctx, n)
	m, d := atOneMoment(t, ctx, func() (dpTruth, error) { return readDatapathTruth(ctx, n) })
	// Masks and flows may be 0 again by now: ovs-vswitchd evicts idle
	// datapath flows after 10 s, and a loaded TCG guest takes that long.
	if d.Hit == 0 || d.Missed == 0 || d.MaskHits == 0 {
		t.Fatalf("no traffic went through the kernel datapath: %+v", d)
	}
	if d.Lost != 0 || d.Handlers == 0 {
		t.Errorf("upcalls lost (%d) or no handler threads (%d): ovs-vswitchd started too early?", d.Lost, d.Handlers)
	}
	want := map[string]uint64{
		`datapath_ovs_datapath_lookups_total{result="hit"}`:    d.Hit,
		`datapath_ovs_datapath_lookups_total{result="missed"}`: d.Missed,
		`datapath_ovs_datapath_lookups_total{result="lost"}`:   d.Lost,
		`datapath_ovs_datapath_flows`:                          d.Flows,
		`datapath_ovs_datapath_masks`:                          d.Masks,
		`datapath_ovs_datapath_mask_hits_total`:                d.MaskHits,
		`datapath_ovs_datapath_flow_limit`:                     d.FlowLimit,
		`datapath_ovs_datapath_cache_hits_total`:               d.CacheHits,
	}
	// Every series the exporter has for this datapath must be one OVS
	// prints, and equal it.
	seen := map[string]bool{}
	for name, mf := range m {
		if !strings.HasPrefix(name, "datapath_ovs_datapath_") {
			continue
		}
		for _, s := range mf.GetMetric() {
			if label(s, "datapath") != kernelDatapath {
				continue
			}
			key := name
			if r := label(s, "result"); r != "" {
				key += `{result="` + r + `"}`
			}
			w, ok := want[key]
			if !ok {
				t.Errorf("%s: a series this test does not know; compare it with OVS's own output", key)
				continue
			}
			seen[key] = true
			if got := testenv.MetricValue(s); got != float64(w) {
				t.Errorf("%s = %v, OVS says %d", key, got, w)
			}
		}
	}
	for key := range want {
		if !seen[key] {
			t.Errorf("%s{datapath=%q} missing", key, kernelDatapath)
		}
	}
	for name, w := range map[string]uint64{"datapath_ovs_handler_threads": d.Handlers, "datapath_ovs_revalidator_threads": d.Revalidators} {
		if got, ok := m.get(name); !ok || got != float64(w) {
			t.Errorf("%s = %v (present %v), memory/show says %d", name, got, ok, w)
		}
	}
	// The last dump's duration changes with every dump: only its range.
	if got, ok := m.get("datapath_ovs_revalidator_dump_duration_seconds", "datapath", kernelDatapath); !ok || got < 0 || got > 10 {
		t.Errorf("datapath_ovs_revalidator_dump_duration_seconds = %v (present %v)", got, ok)
	}
}
