package e2e

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
)

// TestDemoUpAndDown runs the demo program as `make demo` does, waits until
// Prometheus (3.x) holds the conntrack load, br-int's tables, datapath
// traffic and the fleet rules' records, stops it with
// SIGTERM as `make demo-stop` does, and checks that it removed the OVS
// directory and both network namespaces it made.
func TestDemoUpAndDown(t *testing.T) {
	testenv.Require(t, "ovsdb-server", "ovs-vswitchd", "ovsdb-tool", "ovs-vsctl", "ovs-ofctl", "ip", "conntrack", "nft")
	testenv.RequirePrometheus(t, testenv.Prometheus3)
	exporter := buildExporter(t)
	demo := filepath.Join(t.TempDir(), "datapath-demo")
	build := exec.Command("go", "build", "-o", demo, "./internal/cmd/demo")
	build.Dir = "../.."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the demo: %v\n%s", err, out)
	}
	promAddr := testenv.FreeAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	d := startDemo(t, ctx, demo,
		"-exporter", exporter,
		"-exporter-address", testenv.FreeAddr(t),
		"-prometheus-address", promAddr,
		"-pidfile", filepath.Join(t.TempDir(), "demo.pid"),
		"-fill", "0.1", "-fill-minutes", "0.2", "-churn", "2s")
	d.waitForQueries(t, ctx, promAddr, []string{
		`datapath_conntrack_entries > 1000`,
		`datapath_ovs_table_flows{bridge="br-int",table_name="SpoofGuard"} > 0`,
		`datapath_ovs_table_flows{bridge="br-int",table_name="EndpointDNAT"} > 0`,
		// The names come from the Antrea agent stand-in (OVS names no
		// table), and the demo's drift shows once on SpoofGuard.
		`datapath_antrea_agent_table_flows{bridge="br-int",table_id="1",table_name="SpoofGuard"} > 0`,
	})
	// The drift, asked for only once the demo says it made it: while
	// ovs-ofctl deletes a scale-down's flows one Pod at a time, a reading
	// can show -2 with no drift (seen in CI, where a scale-down took 25s).
	// The demo holds the churn for 20s or more while the drift lasts.
	d.waitForLog(t, ctx, "behind the agent's back")
	d.waitForQueries(t, ctx, promAddr, []string{
		`datapath_ovs_table_flows{table_name="SpoofGuard"} - on(instance,bridge,table_id) group_left datapath_antrea_agent_table_flows == -2`,
		// The datapath row moves: hits and misses from the demo's veth
		// port, and the packet-in meter dropping.
		`rate(datapath_ovs_datapath_lookups_total{result="hit"}[1m]) > 0`,
		`rate(datapath_ovs_datapath_lookups_total{result="missed"}[1m]) > 0`,
		`datapath_ovs_datapath_flows > 0`,
		`rate(datapath_ovs_meter_packets_dropped_total{bridge="br-int"}[1m]) > 0`,
		// The fleet rules are loaded too.
		`cluster_job:datapath_conntrack_nodes:count == 1`,
		`cluster_job_table:datapath_ovs_table_flows:sum{table_name="SpoofGuard"} > 0`,
	})

	out := d.stop(t)
	if want := testenv.Prometheus3.String() + " on " + promAddr; !strings.Contains(out, want) {
		t.Errorf("demo did not say it runs %q:\n%s", want, out)
	}
	if !strings.Contains(out, "behind the agent's back") {
		t.Errorf("demo did not say when it made the drift:\n%s", out)
	}
	if !strings.Contains(out, "demo stopped") {
		t.Errorf("demo did not report a clean stop:\n%s", out)
	}
	made := regexp.MustCompile(`OVS runs in (\S+) \(netns (\S+)\)|private network namespace (\S+)`).FindAllStringSubmatch(out, -1)
	if len(made) != 2 {
		t.Fatalf("could not find what the demo made in its log:\n%s", out)
	}
	// Only what this demo made is checked: other test packages add and
	// delete namespaces of their own meanwhile.
	for _, m := range made {
		for _, name := range []string{m[2], m[3]} {
			if name == "" {
				continue
			}
			if _, err := os.Lstat("/run/netns/" + name); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("netns %s left behind (lstat: %v)", name, err)
			}
		}
		if m[1] != "" {
			if _, err := os.Stat(m[1]); err == nil {
				t.Errorf("OVS directory %s left behind", m[1])
			}
		}
	}
	if _, err := net.DialTimeout("tcp", promAddr, time.Second); err == nil {
		t.Errorf("Prometheus still answers on %s", promAddr)
	}
}
