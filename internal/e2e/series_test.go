package e2e

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
)

// seriesBudget is the most series one node's exporter may serve with its
// default collectors and an Antrea-sized pipeline: what docs/fleet.md
// projects to thousands of nodes.
const seriesBudget = 300

// antreaSizedTables is the number of OpenFlow tables of an Antrea agent's
// pipeline with its common features on (about 45 in Antrea 2.x).
const antreaSizedTables = 45

// TestSeriesBudget measures the series of a real /metrics: the exporter
// binary with its default collectors (Go runtime and process metrics
// included) on a private OVS whose br-int has antreaSizedTables tables with
// flows, and a conntrack table with entries. It fails above seriesBudget
// and logs the count per metric family for docs/fleet.md.
func TestSeriesBudget(t *testing.T) {
	testenv.Require(t, "go")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	o := testenv.OVSForTest(t, testenv.OVSOptions{})
	const bridge = "br-int"
	if err := o.AddBridge(bridge, "OpenFlow10", "OpenFlow15"); err != nil {
		t.Fatal(err)
	}
	var flows []string
	for table := 0; table < antreaSizedTables; table++ {
		flows = append(flows, testenv.DropFlows(table, 0, 3)...)
	}
	if err := o.AddFlows(bridge, flows); err != nil {
		t.Fatal(err)
	}
	ns := testenv.NetnsForTest(t, testenv.NetnsOptions{})
	if err := ns.FillUDP(ctx, 200, 0); err != nil {
		t.Fatal(err)
	}
	addr := startExporter(t, buildExporter(t), "--ovs.rundir="+o.RunDir, "--conntrack.netns="+ns.Path)

	// The second scrape: counters and the Go runtime's metrics are settled.
	var perFamily map[string]int
	var total, size int
	for range 2 {
		perFamily, total, size = scrapeSeries(ctx, t, "http://"+addr+"/metrics")
	}
	if n := perFamily["datapath_ovs_table_flows"]; n != antreaSizedTables {
		t.Fatalf("datapath_ovs_table_flows has %d series, want one per table (%d): the pipeline is not what this test measures", n, antreaSizedTables)
	}
	names := make([]string, 0, len(perFamily))
	for n := range perFamily {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		if perFamily[names[i]] != perFamily[names[j]] {
			return perFamily[names[i]] > perFamily[names[j]]
		}
		return names[i] < names[j]
	})
	var b strings.Builder
	groups := map[string]int{}
	for _, n := range names {
		b.WriteString("  " + n + " " + itoa(perFamily[n]) + "\n")
		switch {
		case strings.HasPrefix(n, "datapath_ovs_"):
			groups["datapath_ovs_*"] += perFamily[n]
		case strings.HasPrefix(n, "datapath_conntrack_"):
			groups["datapath_conntrack_*"] += perFamily[n]
		case strings.HasPrefix(n, "datapath_"):
			groups["datapath_* (other)"] += perFamily[n]
		case strings.HasPrefix(n, "go_"):
			groups["go_*"] += perFamily[n]
		case strings.HasPrefix(n, "process_"):
			groups["process_*"] += perFamily[n]
		default:
			groups["other"] += perFamily[n]
		}
	}
	t.Logf("%d series (%d bytes of text exposition) with %d tables; by group %v; per metric:\n%s", total, size, antreaSizedTables, groups, b.String())
	if total > seriesBudget {
		t.Errorf("%d series per node, over the budget of %d (see docs/fleet.md)", total, seriesBudget)
	}
}

// scrapeSeries counts the series of a Prometheus text exposition, per metric
// name (a summary's or histogram's _sum, _count and _bucket lines count
// under their own names), their total and the size of the body.
func scrapeSeries(ctx context.Context, t *testing.T, url string) (map[string]int, int, int) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s: %s", url, resp.Status, b)
	}
	per := map[string]int{}
	total, size := 0, 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		size += len(line) + 1
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name := line
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name = line[:i]
		}
		per[name]++
		total++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return per, total, size
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	if n == 0 {
		return "0"
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
