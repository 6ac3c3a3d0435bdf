package ovs_test

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/datapath-exporter/datapath-exporter/internal/fault"
	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
	"github.com/datapath-exporter/datapath-exporter/ovs"
)

// waitInventory polls m until ok accepts the inventory (and its error), as
// a scrape after the change would see it.
func waitInventory(t *testing.T, m *ovs.Monitor, what string, ok func(ovs.Inventory, error) bool) ovs.Inventory {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		inv, err := m.Inventory(testenv.Context(t, 5*time.Second))
		if ok(inv, err) {
			return inv
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: inventory %+v, error %v", what, inv, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMonitorFollowsOVSDB runs the monitor against a real ovsdb-server and
// changes the database with ovs-vsctl: bridges added, deleted, renamed (OVS
// renames by delete and add), tables named, and ovsdb-server restarted.
func TestMonitorFollowsOVSDB(t *testing.T) {
	o := testenv.OVSForTest(t, testenv.OVSOptions{})
	if err := o.AddBridge("br-int", "OpenFlow10", "OpenFlow15"); err != nil {
		t.Fatal(err)
	}
	m := ovs.StartMonitor(filepath.Join(o.RunDir, "db.sock"))
	t.Cleanup(func() { m.Close() })

	inv, err := m.Inventory(testenv.Context(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(inv.Bridges, []string{"br-int"}) || !slices.Equal(inv.Protocols["br-int"], []string{"OpenFlow10", "OpenFlow15"}) {
		t.Errorf("first inventory = %+v, want br-int allowing OpenFlow10 and OpenFlow15", inv)
	}
	if inv.TableConfig["br-int"] != "" {
		t.Errorf("table config of br-int = %q before any table is named", inv.TableConfig["br-int"])
	}

	if err := o.AddBridge("br-ex"); err != nil {
		t.Fatal(err)
	}
	waitInventory(t, m, "bridge added", func(inv ovs.Inventory, err error) bool {
		return err == nil && slices.Equal(inv.Bridges, []string{"br-ex", "br-int"})
	})

	if err := o.SetTableName("br-int", 1, "SpoofGuard"); err != nil {
		t.Fatal(err)
	}
	named := waitInventory(t, m, "table named", func(inv ovs.Inventory, err error) bool {
		return err == nil && strings.Contains(inv.TableConfig["br-int"], "SpoofGuard")
	})
	if _, err := o.Vsctl("--", "--id=@ft", "create", "Flow_Table", "name=SpoofGuard", "flow_limit=100",
		"--", "set", "Bridge", "br-int", "flow_tables:1=@ft"); err != nil {
		t.Fatal(err)
	}
	waitInventory(t, m, "table limited", func(inv ovs.Inventory, err error) bool {
		return err == nil && inv.TableConfig["br-int"] != named.TableConfig["br-int"]
	})

	if _, err := o.Vsctl("del-br", "br-ex", "--", "add-br", "br-ex2", "--", "set", "Bridge", "br-ex2", "datapath_type=netdev"); err != nil {
		t.Fatal(err)
	}
	waitInventory(t, m, "bridge renamed", func(inv ovs.Inventory, err error) bool {
		return err == nil && slices.Equal(inv.Bridges, []string{"br-ex2", "br-int"})
	})

	// ovsdb-server goes away: the last inventory is served as stale, with
	// the cause; once it is back the monitor reconnects by itself.
	if err := o.StopOVSDB(); err != nil {
		t.Fatal(err)
	}
	stale := waitInventory(t, m, "ovsdb-server stopped", func(inv ovs.Inventory, err error) bool {
		var se *ovs.StaleError
		return errors.As(err, &se)
	})
	if !slices.Equal(stale.Bridges, []string{"br-ex2", "br-int"}) {
		t.Errorf("stale inventory = %v, want the last one", stale.Bridges)
	}
	_, err = m.Inventory(testenv.Context(t, time.Second))
	if fault.KindOf(err) != fault.Closed || fault.OpOf(err) != ovs.MonitorOp {
		t.Errorf("stale error %v: kind %v, op %q, want %v, %q", err, fault.KindOf(err), fault.OpOf(err), fault.Closed, ovs.MonitorOp)
	}
	for _, want := range []string{"stale", "db.sock", "reconnecting"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("stale error %v does not mention %q", err, want)
		}
	}
	if err := o.StartOVSDBAgain(); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Vsctl("del-br", "br-ex2"); err != nil {
		t.Fatal(err)
	}
	waitInventory(t, m, "ovsdb-server back", func(inv ovs.Inventory, err error) bool {
		return err == nil && slices.Equal(inv.Bridges, []string{"br-int"})
	})
}

// TestMonitorFirstInventory checks that without an ovsdb-server Inventory
// fails at once, once the first attempt has, and says why.
func TestMonitorFirstInventory(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "db.sock")
	m := ovs.StartMonitor(sock)
	t.Cleanup(func() { m.Close() })
	start := time.Now()
	_, err := m.Inventory(testenv.Context(t, 300*time.Millisecond))
	if err == nil {
		t.Fatal("Inventory succeeded without an ovsdb-server")
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("Inventory returned after %v, its context ended after 300ms", time.Since(start))
	}
	for _, want := range []string{"no OVSDB inventory from " + sock, "no socket at"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("error %q does not wrap os.ErrNotExist", err)
	}
}

// fakeOVSDB is a unix socket server that plays ovsdb-server's side with
// the given script, for what a real ovsdb-server cannot be made to do on
// demand (an echo request at a chosen moment, garbage, a huge message).
func fakeOVSDB(t *testing.T, script func(c net.Conn)) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "db.sock")
	l, err := net.Listen("unix", sock)
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
				script(c)
			}()
		}
	}()
	return sock
}

const initialRows = `{"id":"dpx-monitor","error":null,"result":{"Bridge":{"0b0e2a62-0000-0000-0000-000000000001":{"new":{"name":"br-int","protocols":["set",["OpenFlow10","OpenFlow15"]],"flow_tables":["map",[]]}}}}}`

func TestMonitorAnswersEcho(t *testing.T) {
	echoed := make(chan string, 1)
	sock := fakeOVSDB(t, func(c net.Conn) {
		buf := make([]byte, 4096)
		if _, err := c.Read(buf); err != nil { // the monitor request
			return
		}
		c.Write([]byte(initialRows))
		c.Write([]byte(`{"id":"echo","method":"echo","params":[]}`))
		n, _ := c.Read(buf)
		echoed <- string(buf[:n])
		c.Read(buf) // hold the connection
	})
	m := ovs.StartMonitor(sock)
	t.Cleanup(func() { m.Close() })
	if inv, err := m.Inventory(testenv.Context(t, 5*time.Second)); err != nil || !slices.Equal(inv.Bridges, []string{"br-int"}) {
		t.Fatalf("Inventory = %+v, %v", inv, err)
	}
	select {
	case got := <-echoed:
		if !strings.Contains(got, `"id":"echo"`) || !strings.Contains(got, `"result":[]`) {
			t.Errorf("echo reply %q, want the request's id and params echoed", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no echo reply")
	}
}

func TestMonitorBadServer(t *testing.T) {
	tests := []struct {
		name  string
		reply func(c net.Conn)
		want  string
	}{
		{"not JSON", func(c net.Conn) { c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n")) }, "reading from ovsdb-server"},
		{"refused", func(c net.Conn) {
			c.Write([]byte(`{"id":"dpx-monitor","result":null,"error":{"error":"unknown database"}}`))
		}, "refused the monitor request"},
		{"bad rows", func(c net.Conn) {
			c.Write([]byte(`{"id":"dpx-monitor","error":null,"result":{"Bridge":{"u1":{"new":{"name":7,"flow_tables":["map",[]]}}}}}`))
		}, "no string name"},
		{"huge", func(c net.Conn) {
			c.Write([]byte(`{"id":"dpx-monitor","error":null,"result":"`))
			chunk := []byte(strings.Repeat("x", 1<<20))
			for range 20 {
				if _, err := c.Write(chunk); err != nil {
					return
				}
			}
		}, "more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sock := fakeOVSDB(t, func(c net.Conn) {
				buf := make([]byte, 4096)
				if _, err := c.Read(buf); err != nil {
					return
				}
				tt.reply(c)
				c.Read(buf) // hold the connection until the client drops it
			})
			m := ovs.StartMonitor(sock)
			t.Cleanup(func() { m.Close() })
			// 20 MiB under -race on a loaded machine takes more than the
			// 2s that the other replies need.
			wait := 2 * time.Second
			if tt.name == "huge" {
				wait = 20 * time.Second
			}
			_, err := m.Inventory(testenv.Context(t, wait))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Inventory error = %v, want it to say %q", err, tt.want)
			}
		})
	}
}
