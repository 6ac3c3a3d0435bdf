package kernelnode

import (
	"strings"
	"testing"
	"time"

	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
)

// TestNodeRunsTheKernelDatapath checks the node itself: the guest runs the
// cached kernel, br-int is on system@ovs-system, and Pods reach each other
// and Service 0 through the pipeline.
func TestNodeRunsTheKernelDatapath(t *testing.T) {
	n := nodeForTest(t)
	t.Logf("boot and setup took %v (%s):\n%s", bootTook, n.Accel, strings.Join(bootLog, "\n"))
	ctx := testenv.Context(t, 2*time.Minute)
	if out, err := n.Run(ctx, "uname", "-r"); err != nil || strings.TrimSpace(out) != n.Kernel {
		t.Fatalf("guest kernel %q (%v), want %s", out, err, n.Kernel)
	}
	out, err := n.Run(ctx, "ovs-appctl", "dpctl/show")
	if err != nil || !strings.Contains(out, "system@ovs-system") {
		t.Fatalf("dpctl/show: %v\n%s", err, out)
	}
	if out, err := n.InPod(ctx, 0, "busybox", "ping", "-c", "2", "-W", "5", testenv.PodIP(1)); err != nil {
		t.Fatalf("pod0 -> pod1: %v\n%s", err, out)
	}
	got, err := n.PodHTTPGet(ctx, 3, testenv.ServiceIP(0))
	if err != nil {
		t.Fatalf("pod3 -> Service 0: %v", err)
	}
	t.Logf("Service 0 answered from %s", got)
}
