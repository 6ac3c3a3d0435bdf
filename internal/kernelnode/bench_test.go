package kernelnode

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
	"github.com/datapath-exporter/datapath-exporter/internal/testenv/kernelnode"
)

// BenchmarkKernelNodeDatapathRead runs the ovs package's
// BenchmarkDatapathRead inside the kernel node, against the guest's
// ovs-vswitchd (at its default paths, its control socket found at
// ovs-vswitchd.<pid>.ctl) and the kernel datapath system@ovs-system: the
// genetlink read and its floor beside the control-socket read and its
// floor, all measured in the same guest, in turns. It prints the guest's
// sample lines (BenchmarkDatapathReadKernelNode/...) for
// scripts/benchreport; run it with -benchtime 1x. Under TCG the guest's
// timings are emulated: only the ratios between them mean anything.
func BenchmarkKernelNodeDatapathRead(b *testing.B) {
	if nodeErr != nil {
		b.Fatalf("kernel node: %v", nodeErr)
	}
	n := node
	ctx := testenv.Context(b, 10*time.Minute)
	bin := filepath.Join(n.Dir, "ovs.test")
	c := exec.CommandContext(ctx, "go", "test", "-c", "-o", bin, "../../ovs")
	c.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := c.CombinedOutput(); err != nil {
		b.Fatalf("building the ovs package's test binary: %v\n%s", err, out)
	}
	rounds := os.Getenv("BENCH_ROUNDS")
	if rounds == "" {
		rounds = "15"
	}
	out, err := n.Sh(ctx, fmt.Sprintf("cd /tmp && DPX_BENCH_OVS_RUNDIR=%s DPX_BENCH_WHERE=KernelNode BENCH_ROUNDS=%s %s -test.run '^$' -test.bench '^BenchmarkDatapathRead$' -test.benchtime 1x",
		kernelnode.GuestOVSRunDir, rounds, n.GuestPath("ovs.test")))
	if err != nil {
		b.Fatalf("the benchmark in the guest: %v\n%s", err, out)
	}
	fmt.Printf("kernelnode-accel: %s\n", n.Accel)
	if v, err := n.Run(ctx, "uname", "-r"); err == nil {
		fmt.Printf("kernelnode-kernel: %s\n", strings.TrimSpace(v))
	}
	lines := 0
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "BenchmarkDatapathReadKernelNode/") {
			fmt.Println(line)
			lines++
		}
	}
	if lines == 0 || !strings.Contains(out, "method=genetlink-read") {
		b.Fatalf("no genetlink samples from the guest:\n%s", out)
	}
}
