package ovs

import (
	"testing"
	"time"

	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
)

// TestMetersAgainstOVS puts a drop meter on a packet-in flow of a real
// bridge, sends packets through it so that the meter drops most of them,
// and compares the dropped counts with `ovs-ofctl meter-stats`.
func TestMetersAgainstOVS(t *testing.T) {
	o, p := datapathOVS(t)
	if err := o.AddMeter("br0", "meter=1,pktps,band=type=drop,rate=1"); err != nil {
		t.Fatal(err)
	}
	if err := o.AddMeter("br0", "meter=7,pktps,burst,band=type=drop,rate=1000,burst_size=10"); err != nil {
		t.Fatal(err)
	}
	if err := o.AddFlows("br0", []string{"priority=10,udp,actions=meter:1,controller"}); err != nil {
		t.Fatal(err)
	}
	// An OpenFlow 1.0-only bridge has no meters: skipped, not an error.
	if err := o.AddBridge("br10", "OpenFlow10"); err != nil {
		t.Fatal(err)
	}
	ctx := testenv.Context(t, time.Minute)
	if err := p.SendUDP(ctx, 100, 1); err != nil {
		t.Fatal(err)
	}

	c := &Client{RunDir: o.RunDir}
	want, err := o.MeterBandPackets("br0")
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Meters(ctx, "br0")
	if err != nil {
		t.Fatal(err)
	}
	if got.NoMeters || got.Version == OpenFlow10 {
		t.Fatalf("br0 read as %+v", got)
	}
	if len(got.Meters) != len(want) {
		t.Fatalf("meters %+v, ovs-ofctl meter-stats: %v", got.Meters, want)
	}
	for _, m := range got.Meters {
		bands := want[m.ID]
		if len(bands) != 1 || m.Dropped != bands[0] {
			t.Errorf("meter %d: %d dropped, ovs-ofctl meter-stats says %v", m.ID, m.Dropped, bands)
		}
		if m.ID == 1 && m.Dropped < 50 {
			t.Errorf("meter 1 (1 packet/s) dropped only %d of 100 packets", m.Dropped)
		}
	}

	b10, err := c.Meters(ctx, "br10")
	if err != nil || !b10.NoMeters || len(b10.Meters) != 0 {
		t.Errorf("OpenFlow 1.0 bridge: %+v, %v", b10, err)
	}
}
