package collector_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/promslog"

	"github.com/datapath-exporter/datapath-exporter/antrea"
	"github.com/datapath-exporter/datapath-exporter/collector"
	"github.com/datapath-exporter/datapath-exporter/conntrack"
	"github.com/datapath-exporter/datapath-exporter/internal/fault"
	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
	"github.com/datapath-exporter/datapath-exporter/ovs"
)

// logLines are the log lines of one collector, by message.
type logLines struct {
	failed, stillFailing, partly, recovered []string // whole lines
}

func linesOf(log, name string) logLines {
	var l logLines
	for line := range strings.Lines(log) {
		if attr(line, "collector") != name {
			continue
		}
		switch {
		case strings.Contains(line, `msg="collector failed"`):
			l.failed = append(l.failed, line)
		case strings.Contains(line, `msg="collector still failing"`):
			l.stillFailing = append(l.stillFailing, line)
		case strings.Contains(line, `msg="collector partly recovered"`):
			l.partly = append(l.partly, line)
		case strings.Contains(line, `msg="collector recovered"`):
			l.recovered = append(l.recovered, line)
		}
	}
	return l
}

// TestOVSDBOutageLogsOnce stops the ovsdb-server of a private OVS and
// scrapes many times: the real StaleError's text changes at every scrape
// (it says how long the inventory has been stale), yet the outage is one
// ERROR line, then one line when it ends (two if the bridge, which times
// out meanwhile, comes back before OVSDB does).
func TestOVSDBOutageLogsOnce(t *testing.T) {
	o := testenv.OVSForTest(t, testenv.OVSOptions{})
	if err := o.AddBridge("br0", "OpenFlow13"); err != nil {
		t.Fatal(err)
	}
	c, err := newOVSCollector(t, collector.OVSConfig{RunDir: o.RunDir})
	if err != nil {
		t.Fatal(err)
	}
	var logs testenv.SyncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	// ovs-vswitchd does not answer OpenFlow either while ovsdb-server is
	// down: a short --ovs.timeout keeps the scrapes short.
	reg := registryOf(t, logger, map[string]collector.Scraper{"ovs": {Collector: c, Timeout: time.Second}})
	success := func() float64 {
		return gather(t, reg).value(t, "datapath_scrape_collector_success", "collector", "ovs")
	}
	waitSuccess := func(what string, want float64) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for success() != want {
			if time.Now().After(deadline) {
				t.Fatalf("%s: ovs success never became %v; logs:\n%s", what, want, logs.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitSuccess("start", 1)

	if err := o.StopOVSDB(); err != nil {
		t.Fatal(err)
	}
	waitSuccess("ovsdb-server stopped", 0)
	const scrapes = 8
	for range scrapes {
		time.Sleep(20 * time.Millisecond) // so the stale duration in the text changes
		if got := success(); got != 0 {
			t.Fatalf("success %v while ovsdb-server is down", got)
		}
	}
	if err := o.StartOVSDBAgain(); err != nil {
		t.Fatal(err)
	}
	waitSuccess("ovsdb-server back", 1)

	l := linesOf(logs.String(), "ovs")
	if len(l.failed) != 1 {
		t.Errorf("%d ERROR lines for the outage, want 1:\n%s", len(l.failed), strings.Join(l.failed, ""))
	}
	for _, line := range l.failed {
		for _, want := range []string{"level=ERROR", "stale", "closed: monitor OVSDB", "--ovs.bridge"} {
			if !strings.Contains(line, want) {
				t.Errorf("failure line %q does not say %q", line, want)
			}
		}
	}
	if len(l.stillFailing) < scrapes {
		t.Errorf("%d DEBUG lines while the outage lasted, want at least %d", len(l.stillFailing), scrapes)
	}
	// The test means something only if the text did change.
	texts := map[string]bool{}
	for _, line := range l.stillFailing {
		texts[attr(line, "err")] = true
	}
	if len(texts) < 2 {
		t.Errorf("the stale error's text never changed over %d scrapes: %q", len(l.stillFailing), l.stillFailing)
	}
	if len(l.recovered) != 1 || len(l.partly) > 1 {
		t.Errorf("%d recovery lines and %d partial ones, want 1 and at most 1", len(l.recovered), len(l.partly))
	}
	if t.Failed() {
		t.Logf("logs:\n%s", logs.String())
	}
}

// TestConntrackZonesTimeoutLogsOnce dumps a real conntrack table of 20000
// entries, in a private namespace, under a deadline too short for it: each
// timeout says how many entries it counted and what budget it had, and the
// log still has one ERROR line for them all.
func TestConntrackZonesTimeoutLogsOnce(t *testing.T) {
	ns := testenv.NetnsForTest(t, testenv.NetnsOptions{})
	if err := ns.FillUDP(testenv.Context(t, time.Minute), 20000, 0); err != nil {
		t.Fatal(err)
	}
	zones, err := collector.NewConntrackZonesCollector(collector.ConntrackConfig{Config: conntrack.Config{NetnsPath: ns.Path}}, promslog.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { zones.(interface{ Close() error }).Close() })
	var logs testenv.SyncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	reg := registryOf(t, logger, map[string]collector.Scraper{
		"conntrack_zones": {Collector: zones, Timeout: 2 * time.Millisecond},
	})
	const scrapes = 6
	for range scrapes {
		if got := gather(t, reg).value(t, "datapath_scrape_collector_success", "collector", "conntrack_zones"); got != 0 {
			t.Fatalf("conntrack_zones succeeded dumping 20000 entries within 2ms")
		}
	}
	l := linesOf(logs.String(), "conntrack_zones")
	if len(l.failed) != 1 || len(l.stillFailing) != scrapes-1 {
		t.Errorf("%d ERROR and %d DEBUG lines over %d timeouts, want 1 and %d", len(l.failed), len(l.stillFailing), scrapes, scrapes-1)
	}
	for _, line := range append(l.failed, l.stillFailing...) {
		for _, want := range []string{`faults="timeout: counting conntrack zones"`, "raise --conntrack.zones-timeout"} {
			if !strings.Contains(line, want) {
				t.Errorf("line %q does not say %q", line, want)
			}
		}
	}
	if t.Failed() {
		t.Logf("logs:\n%s", logs.String())
	}
}

// TestHintsByKind checks the hint table: a failure of a source gets the
// hint of its collector, kind and operation, and still wraps its cause.
func TestHintsByKind(t *testing.T) {
	eperm := func(op string) error { return fault.New(fault.Permission, op, "/run/netns/x", syscall.EPERM) }
	tests := []struct {
		collector string
		err       error
		want      string // "": no hint
	}{
		{"conntrack", eperm(conntrack.EnterNetnsOp), "the pod's own namespace"},
		{"conntrack", eperm(conntrack.DialOp), "securityContext.capabilities.add: [NET_ADMIN]"},
		{"conntrack_zones", eperm("requesting a dump"), "CAP_NET_ADMIN"},
		{"conntrack_zones", fault.New(fault.Timeout, conntrack.ZonesOp, "", context.DeadlineExceeded), "raise --conntrack.zones-timeout"},
		{"conntrack", fault.New(fault.Timeout, conntrack.ReadOp, "", context.DeadlineExceeded), "raise --conntrack.timeout"},
		{"conntrack_pods", fault.New(fault.Timeout, conntrack.AddrsOp, "", context.DeadlineExceeded), "raise --conntrack.pods-timeout"},
		{"conntrack_pods", eperm("requesting a dump"), "CAP_NET_ADMIN"},
		{"conntrack_pods", fault.New(fault.NotFound, ovs.MonitorOp, "/run/db.sock", syscall.ENOENT), "check --ovs.rundir"},
		{"ovs", fault.New(fault.Closed, ovs.MonitorOp, "/run/db.sock", syscall.ECONNRESET), "pass --ovs.bridge"},
		{"ovs", fault.New(fault.NotFound, "connect", "/run/br0.mgmt", syscall.ENOENT), "check --ovs.rundir"},
		{"ovs", fault.New(fault.Protocol, "decoding a reply from", "/run/br0.mgmt", syscall.EINVAL), ""},
		{"ovs_datapath", fault.New(fault.Refused, "connect", "/run/ovs-vswitchd.1.ctl", syscall.ECONNREFUSED), "not running or is restarting"},
		{"antrea_agent", fault.New(fault.Permission, "GET", "https://127.0.0.1:10350/metrics", antrea.ErrUnauthorized), "--antrea.token-file"},
		{"antrea_agent", fault.New(fault.Permission, "GET", "https://127.0.0.1:10350/metrics", antrea.ErrForbidden), "nonResourceURL /metrics"},
		{"antrea_agent", fault.New(fault.NotFound, antrea.TokenOp, "/var/run/token", syscall.ENOENT), "--antrea.token-file"},
		// Joined failures get a hint each.
		{"ovs", errors.Join(fault.New(fault.Timeout, "reading from", "/run/br0.mgmt", context.DeadlineExceeded),
			fault.New(fault.NotFound, "connect", "/run/br1.mgmt", syscall.ENOENT)), "only slow\nconnect /run/br1.mgmt: no such file or directory; check --ovs.rundir"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %v", tt.collector, tt.err), func(t *testing.T) {
			got := collector.WithHint(tt.collector, tt.err)
			if tt.want == "" {
				if got.Error() != tt.err.Error() {
					t.Errorf("WithHint(%s, %v) = %v, want no hint", tt.collector, tt.err, got)
				}
				return
			}
			if !strings.Contains(got.Error(), tt.want) || fault.KindOf(got) != fault.KindOf(tt.err) {
				t.Errorf("WithHint(%s, %v) = %v (kind %v), want it to say %q and keep the kind", tt.collector, tt.err, got, fault.KindOf(got), tt.want)
			}
		})
	}
}
