package ovs

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/datapath-exporter/datapath-exporter/internal/fault"
	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
)

// datapathOVS starts a private OVS with bridge br0 on the netdev datapath,
// a traffic port and some UDP sent through it, so that the datapath has
// megaflows, hits and misses.
func datapathOVS(t *testing.T) (*testenv.OVS, *testenv.TrafficPort) {
	t.Helper()
	testenv.Require(t, "ovs-appctl")
	o := testenv.OVSForTest(t, testenv.OVSOptions{})
	if err := o.AddBridge("br0", "OpenFlow10", "OpenFlow13", "OpenFlow15"); err != nil {
		t.Fatal(err)
	}
	ctx := testenv.Context(t, time.Minute)
	p, err := o.AddTrafficPort(ctx, "br0", "dpx", 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SendUDP(ctx, 200, 4); err != nil {
		t.Fatal(err)
	}
	return o, p
}

// TestUnixctlAgainstOVS compares what the client reads from a real
// ovs-vswitchd with what ovs-appctl prints for the same commands.
func TestUnixctlAgainstOVS(t *testing.T) {
	o, _ := datapathOVS(t)
	u := &Unixctl{RunDir: o.RunDir}
	ctx := testenv.Context(t, 30*time.Second)

	// dpctl/show and memory/show do not change while no packet moves;
	// wait for the datapath to settle, then compare them verbatim.
	var got, want string
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		if want, err = o.Appctl("dpctl/show"); err != nil {
			t.Fatal(err)
		}
		if got, err = u.Call(ctx, "dpctl/show"); err != nil {
			t.Fatal(err)
		}
		if got == want || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got != want {
		t.Errorf("dpctl/show:\n%s\nwant (ovs-appctl):\n%s", got, want)
	}
	dps, err := ParseDpctlShow(got)
	if err != nil {
		t.Fatal(err)
	}
	if len(dps) != 1 || dps[0].Name != "netdev@ovs-netdev" || dps[0].Hit == 0 || dps[0].Missed == 0 {
		t.Errorf("after 200 datagrams of 4 flows: %+v, want netdev@ovs-netdev with hits and misses", dps)
	}

	for _, cmd := range []string{"memory/show", "upcall/show"} {
		got, err := u.Call(ctx, cmd)
		if err != nil {
			t.Fatal(err)
		}
		want, err := o.Appctl(cmd)
		if err != nil {
			t.Fatal(err)
		}
		// upcall/show's average moves with every revalidator round;
		// compare the first line (the datapath) and the shape.
		if cmd == "memory/show" && got != want {
			t.Errorf("%s: %q, want %q", cmd, got, want)
		}
		if strings.Count(got, "\n") != strings.Count(want, "\n") || firstLine(got) != firstLine(want) {
			t.Errorf("%s:\n%s\nwant (ovs-appctl):\n%s", cmd, got, want)
		}
	}

	// An unknown command is the daemon's error, not a transport failure.
	if _, err := u.Call(ctx, "no/such-command"); !fault.Is(err, fault.Remote) || !strings.Contains(err.Error(), "is not a valid command") {
		t.Errorf("unknown command: %v", err)
	}
}

// TestUnixctlVswitchdFaults stops, freezes and restarts the real daemon.
func TestUnixctlVswitchdFaults(t *testing.T) {
	o, _ := datapathOVS(t)
	u := &Unixctl{RunDir: o.RunDir}
	call := func(timeout time.Duration) (time.Duration, error) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		start := time.Now()
		_, err := u.Call(ctx, "dpctl/show")
		return time.Since(start), err
	}

	// SIGSTOP: the socket accepts (the kernel queues the connection) but
	// nothing answers: the call must end at its deadline.
	if err := o.SignalVswitchd(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = o.SignalVswitchd(syscall.SIGCONT) })
	took, err := call(500 * time.Millisecond)
	if !fault.Is(err, fault.Timeout) || took > 2*time.Second {
		t.Errorf("frozen vswitchd: %v after %v, want a timeout after 500ms", err, took)
	}
	if err := o.SignalVswitchd(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if _, err := call(5 * time.Second); err != nil {
		t.Errorf("after SIGCONT: %v", err)
	}

	// Restart with a new pid: the new socket is found through the pidfile.
	oldCtl, err := o.VswitchdCtl()
	if err != nil {
		t.Fatal(err)
	}
	if err := o.RestartVswitchd(testenv.Context(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	newCtl, err := o.VswitchdCtl()
	if err != nil {
		t.Fatal(err)
	}
	if newCtl == oldCtl {
		t.Fatalf("restart kept the control socket %s", oldCtl)
	}
	if _, err := call(5 * time.Second); err != nil {
		t.Errorf("after restart: %v", err)
	}
	if p, _ := u.SocketPath(); p != newCtl {
		t.Errorf("SocketPath after restart = %s, want %s", p, newCtl)
	}

	// Stopped: no socket, an error at once naming it.
	if err := o.StopVswitchd(); err != nil {
		t.Fatal(err)
	}
	took, err = call(5 * time.Second)
	if !fault.Is(err, fault.NotFound) || took > time.Second {
		t.Errorf("stopped vswitchd: %v after %v", err, took)
	}
}

// TestDatapathReaderCoverage checks the coverage selection against a real
// ovs-vswitchd: listed counters keep their totals, a counter it has but
// never hit is 0, one it does not have is left out, and the answer about
// which it has is asked once per daemon.
func TestDatapathReaderCoverage(t *testing.T) {
	o, _ := datapathOVS(t)
	r := &VswitchdReader{
		Unixctl:          Unixctl{RunDir: o.RunDir},
		CoverageEvents:   []string{"bridge_reconfigure", "netlink_overflow", "no_such_counter_here"},
		CoveragePrefixes: []string{"datapath_drop_"},
	}
	ctx := testenv.Context(t, 30*time.Second)
	// ovs-vswitchd folds its threads' counts into the totals about once a
	// second: wait until bridge_reconfigure (adding br0 counts) shows.
	var st DatapathReading
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		var err error
		if st, err = r.Read(ctx); err != nil {
			t.Fatal(err)
		}
		if st.Coverage["bridge_reconfigure"] > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bridge_reconfigure still 0: %v", st.Coverage)
		}
	}
	if len(st.Datapaths) != 1 || len(st.Upcalls) != 1 || st.Memory == nil {
		t.Fatalf("state %+v", st)
	}
	if v, ok := st.Coverage["netlink_overflow"]; !ok || v != 0 {
		t.Errorf("netlink_overflow = %v (present %v), want 0", v, ok)
	}
	if _, ok := st.Coverage["no_such_counter_here"]; ok {
		t.Error("a counter ovs-vswitchd does not have was reported")
	}
	for name := range st.Coverage {
		if name != "bridge_reconfigure" && name != "netlink_overflow" && !strings.HasPrefix(name, "datapath_drop_") {
			t.Errorf("unselected counter %s reported", name)
		}
	}
	ctl, err := r.Unixctl.SocketPath()
	if err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	known := r.known[ctl]
	r.mu.Unlock()
	if has, asked := known["no_such_counter_here"]; !known["netlink_overflow"] || has || !asked {
		t.Errorf("known counters %v, want netlink_overflow: true, no_such_counter_here: false", known)
	}
}

// TestUnixctlCallEach sends several commands at once to a real ovs-vswitchd
// and checks that the replies come back in order, equal to one call each,
// and that an error stops the list with the replies before it kept.
func TestUnixctlCallEach(t *testing.T) {
	testenv.Require(t, "ovs-appctl")
	o := testenv.OVSForTest(t, testenv.OVSOptions{})
	u := &Unixctl{RunDir: o.RunDir}
	ctx := testenv.Context(t, 30*time.Second)
	conn, err := u.Dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	commands := []string{"version", "dpif/show", "list-commands", "version"}
	got, err := conn.CallEach(ctx, commands...)
	if err != nil {
		t.Fatal(err)
	}
	for i, command := range commands {
		want, err := conn.Call(ctx, command)
		if err != nil {
			t.Fatal(err)
		}
		if got[i] != want {
			t.Errorf("%s: CallEach gave %q, Call %q", command, truncateText(got[i], 80), truncateText(want, 80))
		}
	}
	got, err = conn.CallEach(ctx, "version", "no/such-command", "version")
	if !fault.Is(err, fault.Remote) || len(got) != 1 || !strings.Contains(got[0], "Open vSwitch") {
		t.Errorf("CallEach with a bad command in the middle = %d replies, %v; want 1 reply and a command error", len(got), err)
	}
	// The connection still works: the replies after the error were read or
	// are discarded by the next reader (a new connection here, as the
	// VswitchdReader drops a connection after an error).
	conn2, err := u.Dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	if _, err := conn2.CallEach(ctx, "version"); err != nil {
		t.Error(err)
	}
}
