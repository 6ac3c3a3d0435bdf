package collector

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
	"github.com/datapath-exporter/datapath-exporter/ovs"
)

// recordingReader is the real ovs.VswitchdReader, recording which
// commands each read sent.
type recordingReader struct {
	r     *ovs.VswitchdReader
	mu    sync.Mutex
	calls []ovs.DatapathCommands
}

func (rr *recordingReader) ReadCommands(ctx context.Context, cmds ovs.DatapathCommands) (ovs.DatapathReading, error) {
	rr.mu.Lock()
	rr.calls = append(rr.calls, cmds)
	rr.mu.Unlock()
	return rr.r.ReadCommands(ctx, cmds)
}

func (rr *recordingReader) take() []ovs.DatapathCommands {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	c := rr.calls
	rr.calls = nil
	return c
}

// TestSlowStatsCache reads a real ovs-vswitchd through the cache, the
// clock moved by hand: the slow commands are sent only when their kept
// answers are missing, too old or of another daemon (restarted: a new
// control socket), and nothing kept survives a failed read.
func TestSlowStatsCache(t *testing.T) {
	o := testenv.OVSForTest(t, testenv.OVSOptions{})
	if err := o.AddBridge("br0"); err != nil {
		t.Fatal(err)
	}
	rr := &recordingReader{r: &ovs.VswitchdReader{Unixctl: ovs.Unixctl{RunDir: o.RunDir}, CoverageEvents: DefaultCoverageEvents, CoveragePrefixes: defaultCoveragePrefixes}}
	t.Cleanup(func() { rr.r.Close() })
	now := time.Unix(1_000_000, 0)
	c := newSlowStatsCache(30 * time.Second)
	c.now = func() time.Time { return now }
	ctx := testenv.Context(t, time.Minute)

	read := func(what string, want ...ovs.DatapathCommands) ovs.DatapathReading {
		t.Helper()
		st, err := c.read(ctx, rr)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got := rr.take(); !slices.Equal(got, want) {
			t.Errorf("%s: sent %v, want %v", what, got, want)
		}
		if len(st.Datapaths) == 0 || len(st.Upcalls) == 0 || st.Memory == nil || st.Coverage == nil {
			t.Errorf("%s: incomplete state %+v", what, st)
		}
		return st
	}
	first := read("first read", ovs.AllDatapathCommands)
	now = now.Add(29 * time.Second)
	kept := read("29s later", ovs.CmdDpctlShow)
	if kept.Memory != first.Memory || kept.Socket != first.Socket {
		t.Errorf("29s later: memory/show %p on %s, want the kept %p on %s", kept.Memory, kept.Socket, first.Memory, first.Socket)
	}
	now = now.Add(time.Second)
	read("30s after the first", ovs.AllDatapathCommands)

	// A restart between two reads: dpctl/show comes from the new daemon,
	// so its slow commands are read at once.
	if err := o.StopVswitchd(); err != nil {
		t.Fatal(err)
	}
	if err := o.StartVswitchdAgain(); err != nil {
		t.Fatal(err)
	}
	restarted := read("after a restart", ovs.CmdDpctlShow, slowDatapathCommands)
	if restarted.Socket == first.Socket {
		t.Errorf("after a restart: still on %s", first.Socket)
	}

	// A failed read forgets what was kept: the next one reads everything.
	if err := o.StopVswitchd(); err != nil {
		t.Fatal(err)
	}
	st, err := c.read(ctx, rr)
	if err == nil {
		t.Fatal("read with ovs-vswitchd stopped: no error")
	}
	if st.Memory != nil || st.Coverage != nil || st.Upcalls != nil {
		t.Errorf("with ovs-vswitchd stopped: kept answers served: %+v", st)
	}
	rr.take()
	if err := o.StartVswitchdAgain(); err != nil {
		t.Fatal(err)
	}
	read("after the failed read", ovs.AllDatapathCommands)

	// 0: every read sends every command.
	c.maxAge = 0
	read("max age 0", ovs.AllDatapathCommands)
	read("max age 0, again", ovs.AllDatapathCommands)
}
