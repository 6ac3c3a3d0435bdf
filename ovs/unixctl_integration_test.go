package ovs

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
)

// datapathOVS starts a private OVS with bridge br0 on the netdev datapath,
// a traffic port and some UDP sent through it, so that the datapath has
// megaflows, hits and misses.
func datapathOVS(t *testing.T) (*testenv.OVS, *testenv.TrafficPort) {
	t.Helper()
	testenv.Require(t, "ovs-appctl")
	o := testenv.OVSForTest(t)
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
	if _, err := u.Call(ctx, "no/such-command"); !errors.Is(err, ErrUnixctlCommand) || !strings.Contains(err.Error(), "is not a valid command") {
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
	if !errors.Is(err, ErrUnixctlTimeout) || took > 2*time.Second {
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
	if !errors.Is(err, ErrUnixctlNoDaemon) || took > time.Second {
		t.Errorf("stopped vswitchd: %v after %v", err, took)
	}
}
