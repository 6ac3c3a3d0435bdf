package ovs_test

import (
	"maps"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
	"github.com/datapath-exporter/datapath-exporter/ovs"
)

// findPort returns the port of bridge named name in inv.
func findPort(inv ovs.Inventory, bridge, name string) (ovs.Port, bool) {
	for _, p := range inv.Ports[bridge] {
		if p.Name == name {
			return p, true
		}
	}
	return ovs.Port{}, false
}

// TestMonitorPorts runs the monitor against a real OVS with veth "Pods"
// carrying Antrea's external IDs and real traffic, and compares what it
// holds with what ovs-vsctl prints: statistics, external IDs (odd
// characters included), link state, a port deleted, re-added and renamed,
// an interface with no statistics, and flow-restore-wait.
func TestMonitorPorts(t *testing.T) {
	o, a, b := testenv.TwoPodsForTest(t)
	ctx := testenv.Context(t, 2*time.Minute)
	// A port whose device does not exist: ovs-vswitchd cannot open it, and
	// never writes statistics for it.
	if _, err := o.Vsctl("add-port", "br-int", "ghost0"); err != nil {
		t.Fatal(err)
	}

	m := ovs.StartMonitor(filepath.Join(o.RunDir, "db.sock"))
	t.Cleanup(func() { m.Close() })

	if err := a.SendUDP(ctx, b, 50); err != nil {
		t.Fatal(err)
	}
	// Values as ovs-vsctl prints them, once ovs-vswitchd has written the
	// datagrams (every 5 s) and the monitor has the same: both change at
	// each write, so they are compared until they agree.
	for _, pod := range []*testenv.Pod{a, b} {
		var want map[string]uint64
		waitInventory(t, m, "statistics of "+pod.Port, func(inv ovs.Inventory, err error) bool {
			var verr error
			want, verr = o.InterfaceStatistics(pod.Port)
			if verr != nil {
				t.Fatal(verr)
			}
			p, ok := findPort(inv, "br-int", pod.Port)
			return err == nil && ok && len(p.Interfaces) == 1 && want["rx_packets"]+want["tx_packets"] >= 50 && maps.Equal(p.Interfaces[0].Statistics, want)
		})
		t.Logf("%s: %v", pod.Port, want)
	}

	inv, err := m.Inventory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, pod := range []*testenv.Pod{a, b} {
		p, _ := findPort(inv, "br-int", pod.Port)
		for _, key := range []string{"pod-name", "pod-namespace", "container-id", "ip-address", "attached-mac", "antrea-type"} {
			want, err := o.PortExternalID(pod.Port, key)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.ExternalIDs[key]; got != want {
				t.Errorf("%s external_ids:%s = %q, ovs-vsctl says %q", pod.Port, key, got, want)
			}
		}
		if p.Interfaces[0].LinkState != "up" || p.Interfaces[0].OFPort <= 0 {
			t.Errorf("%s interface %+v: want link up and an ofport", pod.Port, p.Interfaces[0])
		}
	}
	if p, _ := findPort(inv, "br-int", b.Port); p.PodName() != testenv.OddPodName || p.PodNamespace() != "ns-ü" ||
		!slices.Equal(p.IPs, []netip.Addr{netip.MustParseAddr("10.244.0.2"), netip.MustParseAddr("fd00:10:244::2")}) {
		t.Errorf("server port: pod %q/%q, IPs %v", p.PodNamespace(), p.PodName(), p.IPs)
	}
	ghost, ok := findPort(inv, "br-int", "ghost0")
	if !ok || len(ghost.Interfaces) != 1 || len(ghost.Interfaces[0].Statistics) != 0 || ghost.Interfaces[0].OFPort != -1 {
		t.Errorf("ghost0 = %+v, want one interface, ofport -1, no statistics", ghost)
	}

	// The server's eth0 down: its OVS end loses the carrier.
	if err := b.SetLinkDown(ctx, true); err != nil {
		t.Fatal(err)
	}
	waitInventory(t, m, "link down", func(inv ovs.Inventory, err error) bool {
		p, ok := findPort(inv, "br-int", b.Port)
		return err == nil && ok && p.Interfaces[0].LinkState == "down"
	})

	// Deleted, re-added, renamed (OVS renames by delete and add).
	if _, err := o.Vsctl("del-port", "br-int", "ghost0"); err != nil {
		t.Fatal(err)
	}
	waitInventory(t, m, "port deleted", func(inv ovs.Inventory, err error) bool {
		_, ok := findPort(inv, "br-int", "ghost0")
		return err == nil && !ok
	})
	if _, err := o.Vsctl("add-port", "br-int", "ghost0"); err != nil {
		t.Fatal(err)
	}
	waitInventory(t, m, "port re-added", func(inv ovs.Inventory, err error) bool {
		_, ok := findPort(inv, "br-int", "ghost0")
		return err == nil && ok
	})
	if _, err := o.Vsctl("del-port", "br-int", "ghost0", "--", "add-port", "br-int", "ghost1"); err != nil {
		t.Fatal(err)
	}
	waitInventory(t, m, "port renamed", func(inv ovs.Inventory, err error) bool {
		_, old := findPort(inv, "br-int", "ghost0")
		p, ok := findPort(inv, "br-int", "ghost1")
		return err == nil && !old && ok && p.Interfaces[0].Name == "ghost1"
	})

	// flow-restore-wait, as Antrea's agent sets it while it replays its
	// flows after a restart, and removes it.
	if inv.FlowRestoreWait() {
		t.Error("flow-restore-wait before it was set")
	}
	if _, err := o.Vsctl("set", "Open_vSwitch", ".", "other_config:flow-restore-wait=true"); err != nil {
		t.Fatal(err)
	}
	waitInventory(t, m, "flow-restore-wait set", func(inv ovs.Inventory, err error) bool { return err == nil && inv.FlowRestoreWait() })
	if _, err := o.Vsctl("remove", "Open_vSwitch", ".", "other_config", "flow-restore-wait"); err != nil {
		t.Fatal(err)
	}
	waitInventory(t, m, "flow-restore-wait removed", func(inv ovs.Inventory, err error) bool { return err == nil && !inv.FlowRestoreWait() })
}
