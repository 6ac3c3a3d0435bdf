package kernelnode

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
	"github.com/datapath-exporter/datapath-exporter/internal/testenv/kernelnode"
)

// exporterPort is the exporter's port in the guest, forwarded to the host.
const exporterPort = 10357

// The one kernel node of this package, booted by TestMain.
var (
	node     *kernelnode.Node
	nodeErr  error
	bootTook time.Duration
	// antreaOpts is the node's pipeline, loaded again after a restart.
	antreaOpts kernelnode.AntreaNodeOptions
)

func TestMain(m *testing.M) {
	kernelnode.AgentMain()
	os.Exit(run(m))
}

func run(m *testing.M) int {
	start := time.Now()
	bootStart = start
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	node, nodeErr = startNode(ctx)
	cancel()
	bootTook = time.Since(start)
	if node != nil {
		// go test's own timeout kills without cleanups: qemu dies with
		// this process (Pdeathsig) and the next run sweeps the
		// directory. An interrupt is cleaned up here.
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
		go func() {
			<-sigs
			node.Close()
			os.Exit(2)
		}()
		defer node.Close()
	}
	return m.Run()
}

// bootLog records how long each step of the boot took, for the tests' log.
var (
	bootLog   []string
	bootStart = time.Now()
)

func logStep(format string, args ...any) {
	bootLog = append(bootLog, fmt.Sprintf("%6.1fs ", time.Since(bootStart).Seconds())+fmt.Sprintf(format, args...))
}

func startNode(ctx context.Context) (*kernelnode.Node, error) {
	if err := testenv.Check("go"); err != nil {
		return nil, err
	}
	n, err := kernelnode.Start(ctx, kernelnode.Options{GuestPorts: []int{exporterPort}})
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			n.Close()
		}
	}()
	build := make(chan error, 1)
	go func() {
		c := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(n.Dir, "datapath-exporter"), "../../cmd/datapath-exporter")
		c.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := c.CombinedOutput()
		if err != nil {
			err = fmt.Errorf("building the exporter: %w: %s", err, out)
		}
		build <- err
	}()
	flows, err := testenv.ReadFlowsFile("../../testdata/antrea/br-int.flows")
	if err != nil {
		return nil, err
	}
	up, _ := n.Uptime(ctx)
	logStep("booted (%s, guest uptime %.1fs)", n.Accel, up)
	if err := n.StartOVS(ctx); err != nil {
		return nil, err
	}
	logStep("OVS started")
	antreaOpts = kernelnode.AntreaNodeOptions{Flows: flows, Pods: 4, ServiceEndpoints: []int{0, 1, 2}}
	if err := n.SetupAntrea(ctx, antreaOpts); err != nil {
		return nil, err
	}
	logStep("Antrea-like br-int set up")
	if err := <-build; err != nil {
		return nil, err
	}
	if err := startExporter(ctx, n); err != nil {
		return nil, err
	}
	logStep("exporter answers")
	ok = true
	return n, nil
}

// startExporter (re)starts the exporter in the guest, as the sidecar runs
// on a node: OVS at its default run directory, every collector that
// applies (the Antrea agent's API is not there).
func startExporter(ctx context.Context, n *kernelnode.Node) error {
	if err := n.Start(ctx, "exporter", n.GuestPath("datapath-exporter"),
		fmt.Sprintf("--web.listen-address=:%d", exporterPort),
		"--ovs.rundir="+kernelnode.GuestOVSRunDir,
		// The tests compare the tables', the datapath's, upcall/show's,
		// memory/show's and conntrack's figures with ovs-ofctl's,
		// ovs-appctl's and conntrack's at one moment: read them all in
		// every scrape.
		"--ovs.slow-stats-max-age=0s", "--ovs.openflow-read-interval=0s", "--ovs.datapath-read-interval=0s",
		"--conntrack.read-interval=0s",
		// conntrack_pods dumps in the background: every second, so
		// that a test waits at most that for a dump that started after
		// it read the kernel's table (the table stays small here).
		"--collector.conntrack_pods", "--conntrack.pods-refresh=1s",
		"--collector.conntrack_zones", "--no-collector.antrea_agent"); err != nil {
		return err
	}
	return testenv.WaitFor(ctx, func() bool {
		_, err := scrapeAddr(ctx, n.Forwarded(exporterPort))
		return err == nil
	})
}

// nodeForTest returns the package's kernel node, or skips t (fails it in
// CI) when it could not boot.
func nodeForTest(t *testing.T) *kernelnode.Node {
	t.Helper()
	if nodeErr != nil {
		if testenv.InCI() {
			t.Fatalf("kernel node (CI=true, so this fails instead of skipping): %v", nodeErr)
		}
		t.Skipf("kernel node: %v", nodeErr)
	}
	return node
}
