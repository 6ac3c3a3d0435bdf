package e2e

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
)

// TestDemoKernelUpAndDown runs the demo as `make demo DEMO_ARGS=-kernel`
// does: it boots its own kernel node VM (20-80 s under TCG), floods the
// guest's conntrack table through OVS's ct() and is scraped by Prometheus
// on the host. The test waits until Prometheus has seen the guest's table
// exactly full and DatapathConntrackTableFull pending or firing, stops the
// demo with SIGTERM as `make demo-stop` does, and checks that the VM
// (its qemu and its share) and Prometheus are gone.
func TestDemoKernelUpAndDown(t *testing.T) {
	testenv.Require(t, "qemu-system-x86_64", "go")
	testenv.RequirePrometheus(t, testenv.Prometheus3)
	dir := t.TempDir()
	exporter, demo := filepath.Join(dir, "datapath-exporter"), filepath.Join(dir, "datapath-demo")
	for _, b := range [][]string{
		{exporter, "./cmd/datapath-exporter"},
		{demo, "./internal/cmd/demo"},
	} {
		build := exec.Command("go", "build", "-o", b[0], b[1])
		build.Dir = "../.."
		build.Env = append(os.Environ(), "CGO_ENABLED=0") // as `make build`
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("building %s: %v\n%s", b[1], err, out)
		}
	}
	exporterAddr, promAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)
	const limit = 512
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	d := startDemo(t, ctx, demo, "-kernel",
		"-exporter", exporter,
		"-exporter-address", exporterAddr,
		"-prometheus-address", promAddr,
		"-pidfile", filepath.Join(dir, "demo.pid"),
		"-kernel-conntrack-max", strconv.Itoa(limit),
		"-fill-minutes", "0.2")
	guest := `instance="` + exporterAddr + `"`
	d.waitForQueries(t, ctx, promAddr, []string{
		// The kernel datapath, read from the guest.
		`datapath_ovs_datapath_lookups_total{` + guest + `,datapath="system@ovs-system",result="hit"} > 0`,
		// Entries that OVS's ct(commit,zone=65520) made.
		`datapath_conntrack_zone_entries{` + guest + `,zone="65520"} > 0`,
		// The guest's table exactly full, at some evaluation since it
		// started (the kernel's garbage collector evicts unreplied entries
		// of a full table between the flood's bursts).
		`count_over_time((datapath_conntrack_entries{` + guest + `} == datapath_conntrack_entries_limit{` + guest + `} == ` + strconv.Itoa(limit) + `)[3m:1s]) > 0`,
		`ALERTS{` + guest + `,alertname="DatapathConntrackTableFull",alertstate=~"pending|firing"}`,
	})

	out := d.stop(t)
	if !strings.Contains(out, "demo stopped") {
		t.Errorf("demo did not report a clean stop:\n%s", out)
	}
	m := regexp.MustCompile(`share (\S+), qemu pid (\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("could not find the VM the demo made in its log:\n%s", out)
	}
	if _, err := os.Stat(m[1]); err == nil {
		t.Errorf("the VM's share %s left behind", m[1])
	}
	// That qemu, recognised by its share, is gone (its pid may since
	// belong to another process).
	if cmdline, err := os.ReadFile("/proc/" + m[2] + "/cmdline"); err == nil && strings.Contains(string(cmdline), m[1]) {
		t.Errorf("the VM's qemu (pid %s) still runs", m[2])
	}
	for _, addr := range []string{promAddr, exporterAddr} {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still answers after the demo stopped", addr)
		}
	}
}
