package ovs

import (
	"testing"
	"time"

	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
)

// keptConn returns the session the client keeps for bridge.
func keptConn(c *Client, bridge string) *Conn {
	c.mu.Lock()
	st := c.bridges[bridge]
	c.mu.Unlock()
	if st == nil {
		return nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.conn
}

// TestClientKeepsSessions reads a real OVS's bridges several times and
// checks that each bridge's OpenFlow session is opened once and reused with
// fresh counts, survives an ovs-vswitchd restart by reconnecting on its own,
// and is closed by Forget and Close.
func TestClientKeepsSessions(t *testing.T) {
	o := testenv.OVSForTest(t, testenv.OVSOptions{})
	for br, protocols := range map[string][]string{"br10": {"OpenFlow10"}, "br15": {"OpenFlow10", "OpenFlow15"}} {
		if err := o.AddBridge(br, protocols...); err != nil {
			t.Fatal(err)
		}
	}
	c := &Client{RunDir: o.RunDir}
	t.Cleanup(func() { c.Close() })
	read := func(br string) Bridge {
		t.Helper()
		b, err := c.Tables(testenv.Context(t, 10*time.Second), br, "")
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	for _, br := range []string{"br10", "br15"} {
		read(br)
		first := keptConn(c, br)
		if first == nil {
			t.Fatalf("%s: no session kept after a read", br)
		}
		if err := o.AddFlows(br, testenv.DropFlows(3, 0, 7)); err != nil {
			t.Fatal(err)
		}
		if got := read(br).Tables[3].Flows; got != 7 {
			t.Errorf("%s: table 3 has %d flows on the kept session, want 7", br, got)
		}
		if keptConn(c, br) != first {
			t.Errorf("%s: the second read opened a new session", br)
		}
	}

	// A restarted ovs-vswitchd closes the kept sessions; the next read
	// notices, opens a new session and succeeds.
	before := keptConn(c, "br15")
	if err := o.StopVswitchd(); err != nil {
		t.Fatal(err)
	}
	if err := o.StartVswitchdAgain(); err != nil {
		t.Fatal(err)
	}
	b := read("br15")
	if b.Version != OpenFlow15 || len(b.Tables) != 254 || b.Tables[3].Flows != 0 {
		t.Errorf("after the restart: version %v, %d tables, table 3 %d flows; want OpenFlow15, 254, 0 (flows are not kept across restarts)",
			b.Version, len(b.Tables), b.Tables[3].Flows)
	}
	if after := keptConn(c, "br15"); after == nil || after == before {
		t.Error("after the restart the client did not open a new session")
	}

	c.Forget([]string{"br15"})
	if keptConn(c, "br10") != nil {
		t.Error("Forget kept the session of a bridge it was told to forget")
	}
	if keptConn(c, "br15") == nil {
		t.Error("Forget closed the session of a bridge it was told to keep")
	}
	c.Close()
	if keptConn(c, "br15") != nil {
		t.Error("Close kept a session")
	}
	read("br15") // usable after Close
}
