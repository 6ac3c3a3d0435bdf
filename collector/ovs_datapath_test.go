package collector_test

import (
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/promslog"

	"github.com/datapath-exporter/datapath-exporter/collector"
	"github.com/datapath-exporter/datapath-exporter/conntrack"
	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
	"github.com/datapath-exporter/datapath-exporter/ovs"
)

// appctlView is the ground truth for the ovs_datapath collector: what
// ovs-appctl and ovs-ofctl print for the same OVS, as the comparable values.
type appctlView struct {
	Datapaths []ovs.DatapathStats
	Limits    map[string]float64 // datapath -> flow limit
	Durations map[string]float64 // datapath -> dump duration in seconds
	Handlers  float64
	Revals    float64
	Coverage  map[string]float64 // allow-listed events coverage/show lists
	Meters    map[string]float64 // meter id -> sum of band packet counts on br0
}

func readAppctlView(t *testing.T, o *testenv.OVS) appctlView {
	t.Helper()
	run := func(args ...string) string {
		t.Helper()
		out, err := o.Appctl(args...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	var v appctlView
	var err error
	if v.Datapaths, err = ovs.ParseDpctlShow(run("dpctl/show")); err != nil {
		t.Fatal(err)
	}
	ups, err := ovs.ParseUpcallShow(run("upcall/show"))
	if err != nil {
		t.Fatal(err)
	}
	v.Limits, v.Durations = map[string]float64{}, map[string]float64{}
	for _, u := range ups {
		v.Limits[u.Datapath] = float64(u.FlowLimit)
		v.Durations[u.Datapath] = u.DumpDuration.Seconds()
	}
	mem, err := ovs.ParseMemoryShow(run("memory/show"))
	if err != nil {
		t.Fatal(err)
	}
	v.Handlers, v.Revals = float64(mem.Handlers), float64(mem.Revalidators)
	cov, err := ovs.ParseCoverageShow(run("coverage/show"))
	if err != nil {
		t.Fatal(err)
	}
	v.Coverage = map[string]float64{}
	for _, e := range collector.DefaultCoverageEvents {
		if n, ok := cov[e]; ok {
			v.Coverage[e] = float64(n)
		}
	}
	bands, err := o.MeterBandPackets("br0")
	if err != nil {
		t.Fatal(err)
	}
	v.Meters = map[string]float64{}
	for id, bs := range bands {
		var sum uint64
		for _, b := range bs {
			sum += b
		}
		v.Meters[strconv.FormatUint(uint64(id), 10)] = float64(sum)
	}
	return v
}

// datapathTestOVS is a private OVS with real traffic through its netdev
// datapath: br0 (OpenFlow 1.0, 1.3, 1.5) with a traffic port, a drop meter
// on a packet-in flow for UDP to port 10000, and br10, OpenFlow 1.0 only
// (no meters).
func datapathTestOVS(t *testing.T) (*testenv.OVS, *testenv.TrafficPort) {
	t.Helper()
	testenv.Require(t, "ovs-appctl")
	o := testenv.OVSForTest(t, testenv.OVSOptions{})
	if err := o.AddBridge("br0", "OpenFlow10", "OpenFlow13", "OpenFlow15"); err != nil {
		t.Fatal(err)
	}
	if err := o.AddBridge("br10", "OpenFlow10"); err != nil {
		t.Fatal(err)
	}
	if err := o.AddMeter("br0", "meter=1,pktps,band=type=drop,rate=1"); err != nil {
		t.Fatal(err)
	}
	if err := o.AddFlows("br0", []string{"priority=10,udp,tp_dst=10000,actions=meter:1,controller"}); err != nil {
		t.Fatal(err)
	}
	ctx := testenv.Context(t, time.Minute)
	p, err := o.AddTrafficPort(ctx, "br0", "dpx", 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SendUDP(ctx, 400, 8); err != nil {
		t.Fatal(err)
	}
	return o, p
}

func newDatapathCollector(t *testing.T, cfg collector.OVSDatapathConfig) collector.Collector {
	t.Helper()
	c, err := collector.NewOVSDatapathCollector(cfg, promslog.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.(io.Closer).Close() })
	return c
}

func TestOVSDatapathCollectorEqualsAppctl(t *testing.T) {
	o, _ := datapathTestOVS(t)
	source := &collector.OVSSource{RunDir: o.RunDir}
	c := newDatapathCollector(t, collector.OVSDatapathConfig{Source: source, CoverageEvents: []string{"no_such_event_here"}})
	// The meters are the ovs collector's: it reads OpenFlow per bridge.
	ovsc, err := newOVSCollector(t, collector.OVSConfig{Source: source})
	if err != nil {
		t.Fatal(err)
	}
	reg := newRegistry(t, promslog.NewNopLogger(), map[string]collector.Collector{"ovs_datapath": c, "ovs": ovsc})

	// Read ovs-appctl before and after the scrape, until nothing moved in
	// between (a revalidator round can change the dump duration).
	var mfs families
	var want appctlView
	for try := 0; ; try++ {
		before := readAppctlView(t, o)
		mfs = gather(t, reg)
		after := readAppctlView(t, o)
		if reflect.DeepEqual(before, after) {
			want = before
			break
		}
		if try == 20 {
			t.Fatalf("ovs-appctl's figures kept moving:\n%+v\n%+v", before, after)
		}
		time.Sleep(300 * time.Millisecond)
	}
	for _, name := range []string{"ovs_datapath", "ovs"} {
		if got := mfs.value(t, "datapath_scrape_collector_success", "collector", name); got != 1 {
			t.Fatalf("%s success = %v", name, got)
		}
	}

	if len(want.Datapaths) != 1 || want.Datapaths[0].Name != "netdev@ovs-netdev" {
		t.Fatalf("ovs-appctl dpctl/show: %+v, want the netdev datapath only", want.Datapaths)
	}
	dp := want.Datapaths[0]
	if dp.Hit == 0 || dp.Missed == 0 || dp.Flows == 0 {
		t.Errorf("after real traffic: %+v, want hits, misses and flows", dp)
	}
	for result, n := range map[string]uint64{"hit": dp.Hit, "missed": dp.Missed, "lost": dp.Lost} {
		if got := mfs.value(t, "datapath_ovs_datapath_lookups_total", "datapath", dp.Name, "result", result); got != float64(n) {
			t.Errorf("lookups %s = %v, ovs-appctl dpctl/show says %d", result, got, n)
		}
	}
	checks := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"datapath_ovs_datapath_flows", []string{"datapath", dp.Name}, float64(dp.Flows)},
		{"datapath_ovs_datapath_flow_limit", []string{"datapath", dp.Name}, want.Limits[dp.Name]},
		{"datapath_ovs_revalidator_dump_duration_seconds", []string{"datapath", dp.Name}, want.Durations[dp.Name]},
		{"datapath_ovs_handler_threads", nil, want.Handlers},
		{"datapath_ovs_revalidator_threads", nil, want.Revals},
	}
	for _, c := range checks {
		if got := mfs.value(t, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, ovs-appctl says %v", c.name, c.labels, got, c.want)
		}
	}
	// The netdev datapath reports no masks.
	if n := len(mfs.series("datapath_ovs_datapath_masks")) + len(mfs.series("datapath_ovs_datapath_mask_hits_total")); n != 0 {
		t.Errorf("%d mask series for a datapath that reports none", n)
	}

	// Coverage: every allow-listed event coverage/show lists, with its
	// total; events it does not list are 0 if this OVS has them
	// (netlink_overflow, upcall_flow_limit_hit do), absent if not.
	cov := map[string]float64{}
	for _, m := range mfs.series("datapath_ovs_coverage_total") {
		cov[labelOf(m, "event")] = testenv.MetricValue(m)
	}
	for e, n := range want.Coverage {
		if cov[e] != n {
			t.Errorf("coverage %s = %v, coverage/show says %v", e, cov[e], n)
		}
	}
	for _, e := range []string{"netlink_overflow", "upcall_flow_limit_hit", "upcall_flow_limit_kill"} {
		if v, ok := cov[e]; !ok || v != want.Coverage[e] {
			t.Errorf("coverage %s = %v (exported %v), want %v", e, v, ok, want.Coverage[e])
		}
	}
	if _, ok := cov["no_such_event_here"]; ok {
		t.Error("an event this OVS does not have was exported")
	}

	// Meters (the ovs collector's): br0's meter 1 dropped packets; br10
	// (OpenFlow 1.0) has none.
	if want.Meters["1"] == 0 {
		t.Fatalf("meter 1 dropped nothing: %v", want.Meters)
	}
	for id, n := range want.Meters {
		if got := mfs.value(t, "datapath_ovs_meter_packets_dropped_total", "bridge", "br0", "meter_id", id); got != n {
			t.Errorf("meter %s dropped %v, ovs-ofctl meter-stats says %v", id, got, n)
		}
	}
	if n := len(mfs.series("datapath_ovs_meter_packets_dropped_total", "bridge", "br10")); n != 0 {
		t.Errorf("%d meter series for an OpenFlow 1.0 bridge", n)
	}
}

// datapathFaultExporter is an Exporter with the ovs_datapath collector
// (with timeout as its --ovs.timeout) and a real conntrack collector on a
// netns of the test, to show that one failing collector leaves the others
// alone.
func datapathFaultExporter(t *testing.T, cfg collector.OVSDatapathConfig, timeout time.Duration, logs *testenv.SyncBuffer) *prometheus.Registry {
	t.Helper()
	ns := testenv.NetnsForTest(t, testenv.NetnsOptions{})
	ct, err := collector.NewConntrackCollector(collector.ConntrackConfig{Config: conntrack.Config{NetnsPath: ns.Path}}, promslog.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	return registryOf(t, logger, map[string]collector.Scraper{
		"ovs_datapath": {Collector: newDatapathCollector(t, cfg), Timeout: timeout},
		"conntrack":    {Collector: ct, Timeout: testTimeout},
	})
}

func TestOVSDatapathCollectorFaults(t *testing.T) {
	o, _ := datapathTestOVS(t)
	const timeout = 500 * time.Millisecond
	var logs testenv.SyncBuffer
	reg := datapathFaultExporter(t, collector.OVSDatapathConfig{RunDir: o.RunDir}, timeout, &logs)

	// scrape gathers once and checks the outcome: ovs_datapath's success,
	// conntrack always 1, and (on failure) the log's words.
	scrape := func(t *testing.T, wantSuccess float64, wantLog string) families {
		t.Helper()
		start := time.Now()
		mfs := gather(t, reg)
		if took := time.Since(start); took > 4*timeout+time.Second {
			t.Errorf("scrape took %v with a %v timeout", took, timeout)
		}
		if got := mfs.value(t, "datapath_scrape_collector_success", "collector", "conntrack"); got != 1 {
			t.Errorf("conntrack collector affected: success %v", got)
		}
		if got := mfs.value(t, "datapath_scrape_collector_success", "collector", "ovs_datapath"); got != wantSuccess {
			t.Fatalf("ovs_datapath success = %v, want %v; logs:\n%s", got, wantSuccess, logs.String())
		}
		if wantLog != "" && !strings.Contains(logs.String(), wantLog) {
			t.Errorf("log lacks %q:\n%s", wantLog, logs.String())
		}
		return mfs
	}
	// eventually retries scrape until ovs_datapath's success is want
	// (a signal takes a moment to land).
	eventually := func(t *testing.T, want float64) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			mfs := gather(t, reg)
			if mfs.value(t, "datapath_scrape_collector_success", "collector", "ovs_datapath") == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("ovs_datapath success never became %v; logs:\n%s", want, logs.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	scrape(t, 1, "")

	t.Run("SIGSTOP", func(t *testing.T) {
		if err := o.SignalVswitchd(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = o.SignalVswitchd(syscall.SIGCONT) })
		scrape(t, 0, "raise --ovs.timeout")
		if err := o.SignalVswitchd(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		eventually(t, 1)
	})

	t.Run("restart with a new pid", func(t *testing.T) {
		before := o.VswitchdPid()
		if err := o.RestartVswitchd(testenv.Context(t, time.Minute)); err != nil {
			t.Fatal(err)
		}
		if o.VswitchdPid() == before {
			t.Fatal("same pid after restart")
		}
		eventually(t, 1)
		mfs := scrape(t, 1, "")
		if len(mfs.series("datapath_ovs_datapath_lookups_total", "datapath", "netdev@ovs-netdev")) != 3 {
			t.Error("no lookups after the restart")
		}
	})

	t.Run("killed: stale socket", func(t *testing.T) {
		ctl, err := o.VswitchdCtl()
		if err != nil {
			t.Fatal(err)
		}
		if err := o.SignalVswitchd(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		eventually(t, 0)
		if _, err := os.Stat(ctl); err != nil {
			t.Fatalf("SIGKILL removed the socket: %v", err)
		}
		scrape(t, 0, "stale control socket")
		if err := o.RestartVswitchd(testenv.Context(t, time.Minute)); err != nil {
			t.Fatal(err)
		}
		eventually(t, 1)
	})

	t.Run("stopped: no socket", func(t *testing.T) {
		if err := o.StopVswitchd(); err != nil {
			t.Fatal(err)
		}
		scrape(t, 0, "--ovs.rundir must be the directory holding ovs-vswitchd.pid")
		if err := o.RestartVswitchd(testenv.Context(t, time.Minute)); err != nil {
			t.Fatal(err)
		}
		eventually(t, 1)
	})
}

// TestOVSDatapathCollectorBadReplies points --ovs.vswitchd-ctl at a fake
// control socket, the one thing here that is not a real ovs-vswitchd: a
// real one never answers with something other than JSON-RPC or with a
// reply of megabytes. The collector must fail within the timeout, say why,
// and leave the other collectors alone.
func TestOVSDatapathCollectorBadReplies(t *testing.T) {
	tests := []struct {
		name    string
		reply   func(c net.Conn)
		wantLog string
	}{
		{"not JSON-RPC", func(c net.Conn) { c.Write([]byte("SSH-2.0-OpenSSH_9.2\r\n")) }, "reply is not JSON-RPC"},
		{"huge", func(c net.Conn) {
			c.Write([]byte(`{"id":1,"result":"`))
			chunk := []byte(strings.Repeat("x", 1<<16))
			for range 128 {
				if _, err := c.Write(chunk); err != nil {
					return
				}
			}
		}, "reply too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, err := os.MkdirTemp("", "dpx-ctl-")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(dir) })
			path := filepath.Join(dir, "fake.ctl")
			l, err := net.Listen("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			go func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					go func() {
						defer c.Close()
						buf := make([]byte, 4096)
						c.Read(buf)
						tt.reply(c)
					}()
				}
			}()
			var logs testenv.SyncBuffer
			// The deadline is far from what a loaded machine needs to
			// read 8 MiB under -race: what is checked is the bound on
			// the reply and that the scrape ends, not its speed.
			const deadline = 10 * time.Second
			reg := datapathFaultExporter(t, collector.OVSDatapathConfig{RunDir: dir, CtlPath: path}, deadline, &logs)
			start := time.Now()
			mfs := gather(t, reg)
			if took := time.Since(start); took > deadline+5*time.Second {
				t.Errorf("took %v, past the collector's deadline of %v", took, deadline)
			}
			if got := mfs.value(t, "datapath_scrape_collector_success", "collector", "ovs_datapath"); got != 0 {
				t.Errorf("success = %v", got)
			}
			if got := mfs.value(t, "datapath_scrape_collector_success", "collector", "conntrack"); got != 1 {
				t.Errorf("conntrack affected: %v", got)
			}
			if !strings.Contains(logs.String(), tt.wantLog) || !strings.Contains(logs.String(), path) {
				t.Errorf("log lacks %q and the socket:\n%s", tt.wantLog, logs.String())
			}
			if n := len(mfs.series("datapath_ovs_datapath_lookups_total")); n != 0 {
				t.Errorf("%d lookups series from a bad reply", n)
			}
		})
	}
}
