// Command demo runs the whole stack on this machine, for `make demo`: a
// private userspace OVS with an Antrea-like br-int (no table names in OVS,
// as on a real node), a stand-in for the Antrea agent's API that names the
// tables and counts the flows it installed (no real agent can run here), a
// private network namespace whose conntrack table fills with real loopback
// traffic, the exporter reading all three, and a real Prometheus (3.x, or
// Debian's 2.42 with its classic web UI) scraping it with the project's
// per-node and fleet rules. A "pod churn" loop adds and removes
// per-Pod and per-endpoint flows, and once deletes flows behind the
// agent's back for a while (a drift); a veth port of br-int sends UDP
// through the datapath (hits, misses, and a packet-in meter that drops).
// Ctrl-C (or `make demo-stop`) removes everything it made; it never changes
// host settings.
//
// With -kernel it runs OVS, the Pods, the conntrack flood and the exporter
// in the kernel node VM instead (kernel.go), on OVS's kernel datapath, with
// Prometheus on the host scraping the guest. The demo binary is then also
// the guest's init and agent: the VM runs a copy of it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/datapath-exporter/datapath-exporter/antrea/ctzone"
	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
	"github.com/datapath-exporter/datapath-exporter/internal/testenv/kernelnode"
)

func main() {
	// In the kernel node VM, the copy of this binary is the guest's init
	// and agent, and never returns from here.
	kernelnode.AgentMain()
	promHelp := fmt.Sprintf("the Prometheus release to run: %s (built by make deps; the HTTP API only, no web UI) or %s (Debian's, with the classic web UI); empty: %[1]s if it is built, else %[2]s",
		testenv.Prometheus3.Version, testenv.PrometheusOldest.Version)
	var (
		exporterAddr = flag.String("exporter-address", "127.0.0.1:10357", "where the exporter listens")
		promAddr     = flag.String("prometheus-address", "127.0.0.1:9090", "where Prometheus listens")
		exporterBin  = flag.String("exporter", "bin/datapath-exporter", "the exporter binary (make build)")
		rules        = flag.String("rules", "deploy/rules/datapath-exporter.rules.yml,deploy/rules/datapath-fleet.rules.yml", "rule files for Prometheus, comma-separated")
		promRelease  = flag.String("prometheus", "", promHelp)
		flowsFile    = flag.String("flows", "testdata/antrea/br-int.flows", "the Antrea-like pipeline to load")
		duration     = flag.Duration("duration", 0, "stop after this long (0: run until Ctrl-C or make demo-stop)")
		fillTarget   = flag.Float64("fill", 1.02, "fill conntrack to this fraction of nf_conntrack_max (above 1: a flood that is being dropped)")
		fillMinutes  = flag.Float64("fill-minutes", 4, "minutes the conntrack fill takes to reach -fill")
		pidfile      = flag.String("pidfile", filepath.Join(os.TempDir(), "datapath-exporter-demo.pid"), "pid file for make demo-stop")
		churn        = flag.Duration("churn", 30*time.Second, "interval of the pod churn steps")
		kernel       = flag.Bool("kernel", false, "run OVS (kernel datapath), the Pods, the conntrack flood and the exporter in the kernel node VM")
		kernelCtMax  = flag.Uint64("kernel-conntrack-max", 2048, "with -kernel: the guest's own nf_conntrack_max, which the flood through OVS fills")
	)
	flag.Parse()
	log.SetFlags(log.Ltime)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	if err := os.WriteFile(*pidfile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		log.Fatalf("writing %s: %v", *pidfile, err)
	}
	defer os.Remove(*pidfile)

	d := &demo{exporterAddr: *exporterAddr, promAddr: *promAddr, churn: *churn}
	err := d.choosePrometheus(*promRelease, *rules)
	switch {
	case err != nil:
	case *kernel:
		err = d.runKernel(ctx, *exporterBin, *flowsFile, *fillTarget, *fillMinutes, *kernelCtMax)
	default:
		err = d.run(ctx, *exporterBin, *flowsFile, *fillTarget, *fillMinutes)
	}
	d.teardown()
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		log.Printf("demo failed: %v", err)
		os.Exit(1)
	}
	log.Print("demo stopped; every process, netns, temp dir and VM it made is gone")
}

type demo struct {
	exporterAddr, promAddr string
	churn                  time.Duration

	ovs      *testenv.OVS
	ns       *testenv.Netns
	agent    *testenv.AntreaAgent
	port     *testenv.TrafficPort // a veth port of br-int sending through the datapath
	exporter *exec.Cmd
	release  testenv.PrometheusRelease // the Prometheus to run
	rules    []string                  // its rule files, absolute
	prom     *testenv.Prometheus
	node     *kernelnode.Node // with -kernel
	cleanup  []func()
}

func (d *demo) teardown() {
	for i := len(d.cleanup) - 1; i >= 0; i-- {
		d.cleanup[i]()
	}
}

// choosePrometheus picks the Prometheus release to run (release, or
// Prometheus 3 if it is built and Debian's 2.42 if not) and checks the rule
// files.
func (d *demo) choosePrometheus(release, rules string) error {
	var err error
	switch {
	case release != "":
		if d.release, err = prometheusRelease(release); err != nil {
			return err
		}
	case testenv.Prometheus3.Check() == nil:
		d.release = testenv.Prometheus3
	default:
		log.Printf("%v; running %s instead", testenv.Prometheus3.Check(), testenv.PrometheusOldest)
		d.release = testenv.PrometheusOldest
	}
	if err := d.release.Check(); err != nil {
		return err
	}
	for _, f := range strings.Split(rules, ",") {
		abs, err := filepath.Abs(strings.TrimSpace(f))
		if err != nil {
			return err
		}
		if _, err := os.Stat(abs); err != nil {
			return fmt.Errorf("rule file: %w", err)
		}
		d.rules = append(d.rules, abs)
	}
	return nil
}

// startPrometheus starts the chosen release scraping the exporter every
// interval (0: every second) with the rules.
func (d *demo) startPrometheus(ctx context.Context, interval time.Duration) error {
	var err error
	if d.prom, err = testenv.StartPrometheus(ctx, testenv.PrometheusOptions{Addr: d.promAddr, Interval: interval,
		Targets: []string{d.exporterAddr}, RuleFiles: d.rules, Release: d.release}); err != nil {
		return err
	}
	d.cleanup = append(d.cleanup, func() { _ = d.prom.Close() })
	log.Printf("%s on %s scrapes the exporter, with the rules of %s", d.release, d.promAddr, strings.Join(d.rules, ", "))
	return nil
}

func (d *demo) run(ctx context.Context, exporterBin, flowsFile string, fillTarget, fillMinutes float64) error {
	if err := testenv.Check("ovsdb-server", "ovs-vswitchd", "ovsdb-tool", "ovs-vsctl", "ovs-ofctl", "ip", "conntrack", "nft"); err != nil {
		return err
	}
	if err := d.checkAddrs(); err != nil {
		return err
	}

	log.Print("starting a private OVS (userspace datapath) with bridge br-int (OpenFlow 1.0 and 1.5, as Antrea's)")
	var err error
	if d.ovs, err = testenv.StartOVS(ctx, testenv.OVSOptions{}); err != nil {
		return err
	}
	d.cleanup = append(d.cleanup, func() { _ = d.ovs.Close() })
	log.Printf("OVS runs in %s (netns %s)", d.ovs.Dir, d.ovs.Netns)
	if err := d.ovs.AddBridge("br-int", "OpenFlow10", "OpenFlow15"); err != nil {
		return err
	}
	flows, err := testenv.ReadFlowsFile(flowsFile)
	if err != nil {
		return err
	}
	if err := d.ovs.AddFlows("br-int", flows); err != nil {
		return err
	}
	log.Printf("loaded %d flows of an Antrea-like pipeline from %s; as on a real node, OVS names no table", len(flows), flowsFile)
	// Antrea rate-limits packet-in to the agent with meters; here a drop
	// meter of 50 packets/s on UDP to port 10053 (DNS-like interception)
	// sent to the controller, which the traffic below exceeds.
	if err := d.ovs.AddMeter("br-int", "meter=1,pktps,band=type=drop,rate=50"); err != nil {
		return err
	}
	if err := d.ovs.AddFlows("br-int", []string{"table=0,priority=300,udp,tp_dst=10053,actions=meter:1,controller"}); err != nil {
		return err
	}
	if d.port, err = d.ovs.AddTrafficPort(ctx, "br-int", "dpxdemo", 1); err != nil {
		return err
	}
	log.Printf("veth port %s on br-int sends UDP through the datapath (%s)", d.port.Port, d.port.Dst)
	// Megaflows idle for 500 ms are evicted (OVS's default is 10 s), so
	// every 2-second round of traffic misses and upcalls again: the demo's
	// few flows show both hits and misses, as a busy node does.
	if _, err := d.ovs.Vsctl("set", "Open_vSwitch", ".", "other_config:max-idle=500"); err != nil {
		return err
	}

	// A real antrea-agent needs a cluster: a stand-in serves its /metrics
	// (HTTPS, self-signed certificate, bearer token) with the table names
	// and its own flow counts.
	if d.agent, err = testenv.StartAntreaAgent(ctx, testenv.AntreaAgentOptions{Names: testenv.AntreaAgentTableNames}); err != nil {
		return err
	}
	d.cleanup = append(d.cleanup, func() { _ = d.agent.Close() })
	// After its initial install the agent's count is what OVS holds.
	if err := d.agent.SyncCounts(d.ovs, "br-int"); err != nil {
		return err
	}
	log.Printf("Antrea agent stand-in on %s names br-int's tables (SpoofGuard = 1, EndpointDNAT = 11, ...) and counts its flows", d.agent.URL())

	if d.ns, err = testenv.NewNetns(ctx, testenv.NetnsOptions{}); err != nil {
		return err
	}
	d.cleanup = append(d.cleanup, func() { _ = d.ns.Close() })
	log.Printf("private network namespace %s for the conntrack load", d.ns.Name)

	d.exporter = exec.Command(exporterBin,
		"--web.listen-address="+d.exporterAddr,
		"--ovs.rundir="+d.ovs.RunDir,
		"--conntrack.netns="+d.ns.Path,
		"--collector.antrea_agent",
		"--antrea.agent-url="+d.agent.URL(),
		"--antrea.token-file="+d.agent.TokenFile,
		"--antrea.ca-file="+d.agent.CAFile,
		"--antrea.refresh="+demoRefresh.String())
	d.exporter.Stdout, d.exporter.Stderr = os.Stdout, os.Stderr
	d.exporter.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := d.exporter.Start(); err != nil {
		return fmt.Errorf("starting the exporter %s (run `make build` first): %w", exporterBin, err)
	}
	exited := make(chan struct{})
	go func() { _ = d.exporter.Wait(); close(exited) }()
	d.cleanup = append(d.cleanup, func() {
		_ = d.exporter.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = d.exporter.Process.Kill()
			<-exited
		}
	})
	if err := waitHTTP(ctx, "http://"+d.exporterAddr+"/-/healthy", 15*time.Second); err != nil {
		return fmt.Errorf("exporter: %w", err)
	}

	if err := d.startPrometheus(ctx, 0); err != nil {
		return err
	}

	limit, err := readUint("/proc/sys/net/netfilter/nf_conntrack_max")
	if err != nil {
		return err
	}
	d.printGuide(limit)

	return runLoad(ctx,
		func(work context.Context) error { return d.fillConntrack(work, limit, fillTarget, fillMinutes) },
		d.podChurn,
		d.datapathTraffic)
}

// runLoad runs the demo's load until ctx ends or one of them fails, which
// stops the others; they all return before anything is torn down.
func runLoad(ctx context.Context, loads ...func(context.Context) error) error {
	work, stopWork := context.WithCancel(ctx)
	defer stopWork()
	errc := make(chan error, len(loads))
	for _, load := range loads {
		go func() { errc <- load(work) }()
	}
	var first error
	for range loads {
		if err := <-errc; err != nil && work.Err() == nil {
			first = err
			stopWork()
		}
	}
	if first != nil {
		return first
	}
	return ctx.Err()
}

// checkAddrs fails when another demo (or anything else) holds the
// exporter's or Prometheus's address.
func (d *demo) checkAddrs() error {
	for _, addr := range []string{d.exporterAddr, d.promAddr} {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("%s is taken (another demo running? `make demo-stop`): %w", addr, err)
		}
		l.Close()
	}
	return nil
}

// loadStep is how often the demo's load sends a burst.
const loadStep = 5 * time.Second

// loadRamp says how many connections make target × limit and how many to
// send every loadStep to get there over the given minutes (at least one).
func loadRamp(limit uint64, target, minutes float64) (total, per int) {
	steps := max(int(minutes*60/loadStep.Seconds()), 1)
	total = int(float64(limit) * target)
	return total, max(total/steps, 1)
}

// fillConntrack grows the netns's conntrack table with real UDP traffic on
// loopback, in Antrea's zone and the default zone, until it reaches target
// × limit over the given minutes; past the limit the kernel drops the new
// connections, as under a SYN or UDP flood.
func (d *demo) fillConntrack(ctx context.Context, limit uint64, target, minutes float64) error {
	total, per := loadRamp(limit, target, minutes)
	tick := time.NewTicker(loadStep)
	defer tick.Stop()
	sent := 0
	for i := 0; ; i++ {
		if sent < total {
			zone := uint16(0)
			if i%2 == 1 {
				zone = ctzone.Pod
			}
			if err := d.ns.SendUDP(ctx, per, zone); err != nil {
				return fmt.Errorf("conntrack load: %w", err)
			}
			sent += per
			count, _ := d.ns.Count(ctx)
			log.Printf("conntrack: %d entries of %d (%.0f %%)", count, limit, 100*float64(count)/float64(limit))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// datapathTraffic sends UDP through br-int's datapath every 2 seconds
// (the first packets of a round miss, megaflows having expired since the
// last one; the rest hit): to 32 ports that move on every round, to 32 that
// stay, and a burst to port 10053 that the packet-in meter drops above 50
// packets/s.
func (d *demo) datapathTraffic(ctx context.Context) error {
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for i := 0; ; i++ {
		moving := 20000 + (i%500)*32
		for _, send := range []func() error{
			func() error { return d.port.SendUDPPorts(ctx, 200, moving, 32) },
			func() error { return d.port.SendUDPPorts(ctx, 600, 12000, 32) },
			func() error { return d.port.SendUDPPorts(ctx, 300, 10053, 1) },
		} {
			if err := send(); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return fmt.Errorf("datapath traffic: %w", err)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// podChurn scales a Deployment to 100 replicas behind a Service and back,
// as flows: per-Pod SpoofGuard/forwarding flows and per-endpoint DNAT flows,
// which the agent stand-in counts as the real agent does. Once, at the
// third step, it deletes Pod 0's two SpoofGuard flows behind the agent's
// back, holds the churn for driftHold, and puts them back: a drift between
// OVS and the agent's count.
func (d *demo) podChurn(ctx context.Context) error {
	const first, replicas, service = 1000, 100, 99
	const driftStep = 3
	drifted := []string{testenv.AntreaPodFlows(0)[0], testenv.AntreaPodFlows(0)[1]}
	driftMatches := testenv.AntreaPodMatches(0)[:2]
	up := true
	for step := 1; ; step++ {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d.churn):
		}
		if step == driftStep {
			if err := d.drift(ctx, driftMatches, drifted); err != nil {
				return err
			}
		}
		if up {
			var flows []string
			for i := first; i < first+replicas; i++ {
				flows = append(flows, testenv.AntreaPodFlows(i)...)
			}
			flows = append(flows, testenv.AntreaServiceFlows(service, eps(first, replicas))...)
			if err := d.ovs.AddFlows("br-int", flows); err != nil {
				return fmt.Errorf("pod churn: %w", err)
			}
			d.agent.Installed(flows)
			log.Printf("pod churn: scaled up to %d replicas behind a Service (+%d flows; SpoofGuard and EndpointDNAT grow)", replicas, len(flows))
		} else {
			var matches []string
			for i := first; i < first+replicas; i++ {
				matches = append(matches, testenv.AntreaPodMatches(i)...)
			}
			if err := d.ovs.DelFlows("br-int", append(matches, testenv.AntreaServiceMatches(service)...)...); err != nil {
				return fmt.Errorf("pod churn: %w", err)
			}
			var removed []string
			for i := first; i < first+replicas; i++ {
				removed = append(removed, testenv.AntreaPodFlows(i)...)
			}
			d.agent.Removed(append(removed, testenv.AntreaServiceFlows(service, eps(first, replicas))...))
			log.Print("pod churn: scaled down to 0 and deleted the Service")
		}
		up = !up
	}
}

// demoRefresh is how often the exporter reads OVS's tables
// (--ovs.openflow-read-interval, 5s by default) and the agent's counts
// (--antrea.refresh, set to it): each reading may be that old.
const demoRefresh = 5 * time.Second

// drift deletes the flows of matches behind the agent's back and puts
// flows back after a hold with no churn. Both readings are up to
// demoRefresh old and taken at different moments: while the churn goes
// on they mostly straddle a step and differ by the step's +-601 flows,
// so the drift panel shows its -2 only once the table stands still for a
// few readings, as a real drift does until the agent reconciles.
func (d *demo) drift(ctx context.Context, matches, flows []string) error {
	hold := max(4*d.churn, 4*demoRefresh)
	if err := d.ovs.DelFlows("br-int", matches...); err != nil {
		return fmt.Errorf("drift: %w", err)
	}
	log.Printf("drift: deleted Pod 0's 2 SpoofGuard flows with ovs-ofctl behind the agent's back, pod churn held: "+
		"the drift panel (datapath_ovs_table_flows - datapath_antrea_agent_table_flows) shows -2 for table 1 SpoofGuard "+
		"for %s; DatapathOVSFlowsDivergeFromAntrea goes pending (it fires after 15m)", hold)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(hold):
	}
	if err := d.ovs.AddFlows("br-int", flows); err != nil {
		return fmt.Errorf("drift: %w", err)
	}
	log.Print("drift: put Pod 0's 2 SpoofGuard flows back: OVS and the agent agree again; pod churn resumes")
	return nil
}

// eps numbers the n Pods from first, the endpoints of the churn's Service.
func eps(first, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = first + i
	}
	return out
}

// promUI returns Prometheus's address and its alerts page, and q makes a
// graph page's URL of an expression. Without a UI, alerts says so and q
// returns the expression itself.
func (d *demo) promUI() (p, alerts string, q func(expr string) string) {
	p = "http://" + d.promAddr
	var ui string
	switch {
	case httpStatus(p+"/alerts") == http.StatusOK:
		ui = p
	case httpStatus(p+"/classic/alerts") == http.StatusOK:
		// Debian's Prometheus 2.42 ships only the classic UI.
		ui = p + "/classic"
	default:
		// Prometheus 3 built from the module has no UI assets: its pages
		// answer 500.
		return p, p + "/api/v1/alerts (no web UI: " + d.release.String() + " serves the HTTP API only; -prometheus " + testenv.PrometheusOldest.Version + " has one)",
			func(expr string) string { return expr }
	}
	return p, ui + "/alerts", func(expr string) string {
		return ui + "/graph?g0.expr=" + urlEscape(expr) + "&g0.tab=0&g0.range_input=15m"
	}
}

// httpStatus is the status code of a GET of url, 0 if there is none.
func httpStatus(url string) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (d *demo) printGuide(limit uint64) {
	p, alerts, q := d.promUI()
	fmt.Printf(`
================ datapath-exporter demo ================
Exporter metrics:  http://%s/metrics
Prometheus:        %s (%s)
Alerts:            %s   (conntrack alerts go pending, then firing, as the table fills)

OVS flow tables dashboard, key panels (table names come from the Antrea agent stand-in):
  flows per table:   %s
  top tables:        %s
  drift from agent:  %s  (a drift appears once during the churn)
Conntrack dashboard, key panels:
  %% of the limit:    %s
  time until full:   %s
  drops:             %s
OVS datapath row (OVS flow tables dashboard):
  hit/missed/lost:   %s
  megaflows, limit:  %s
  meter drops:       %s

nf_conntrack_max is %d (global; the demo's count is that of its own netns).
Stop with Ctrl-C, or from another shell: make demo-stop
========================================================
`, d.exporterAddr, p, d.release, alerts,
		q(`datapath_ovs_table_flows{bridge="br-int"}`),
		q(`topk(5, datapath_ovs_table_flows)`),
		q(`datapath_ovs_table_flows - on(instance,bridge,table_id) group_left datapath_antrea_agent_table_flows`),
		q(`100 * datapath_conntrack_entries / datapath_conntrack_entries_limit`),
		q(`(datapath_conntrack_entries_limit - datapath_conntrack_entries) / clamp_min(deriv(datapath_conntrack_entries[2m]), 0.001)`),
		q(`label_replace(rate(datapath_conntrack_drop_total[1m]), "stat", "drop", "", "") or label_replace(rate(datapath_conntrack_early_drop_total[1m]), "stat", "early_drop", "", "") or label_replace(rate(datapath_conntrack_insert_failed_total[1m]), "stat", "insert_failed", "", "")`),
		q(`rate(datapath_ovs_datapath_lookups_total[1m])`),
		q(`datapath_ovs_datapath_flows or datapath_ovs_datapath_flow_limit`),
		q(`rate(datapath_ovs_meter_packets_dropped_total[1m])`),
		limit)
}

func urlEscape(s string) string {
	r := strings.NewReplacer("%", "%25", " ", "%20", "\"", "%22", "{", "%7B", "}", "%7D", "[", "%5B", "]", "%5D",
		"(", "%28", ")", "%29", "+", "%2B", "/", "%2F", "*", "%2A", "=", "%3D", "~", "%7E", "|", "%7C", ",", "%2C")
	return r.Replace(s)
}

func waitHTTP(ctx context.Context, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not answering: %v", url, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func readUint(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
}

// prometheusRelease returns the supported Prometheus release of that version
// ("3.16.0", "2.42.0").
func prometheusRelease(version string) (testenv.PrometheusRelease, error) {
	var names []string
	for _, r := range testenv.PrometheusReleases() {
		if r.Version == version {
			return r, nil
		}
		names = append(names, r.Version)
	}
	return testenv.PrometheusRelease{}, fmt.Errorf("no Prometheus release %q here: the supported ones are %s", version, strings.Join(names, ", "))
}
