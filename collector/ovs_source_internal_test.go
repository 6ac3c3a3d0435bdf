package collector

import (
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
)

// TestOVSSourceForgetsDeletedBridges runs ovs_datapath alone
// (--no-collector.ovs), as the binary wires it: the OpenFlow sessions it
// opens to read meters are the OVS source's, and a deleted bridge's session
// is closed though the ovs collector, which used to forget them, is off.
func TestOVSSourceForgetsDeletedBridges(t *testing.T) {
	o := testenv.OVSForTest(t)
	for _, br := range []string{"br0", "br1"} {
		if err := o.AddBridge(br, "OpenFlow13"); err != nil {
			t.Fatal(err)
		}
	}
	app := kingpin.New("test", "")
	f := RegisterFlags(app)
	if _, err := app.Parse([]string{"--no-collector.ovs", "--no-collector.conntrack", "--ovs.rundir=" + o.RunDir, "--ovs.timeout=10s"}); err != nil {
		t.Fatal(err)
	}
	scrapers, err := f.Build(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range scrapers {
		if name != "ovs_datapath" {
			t.Errorf("collector %s enabled, want ovs_datapath alone", name)
		}
		t.Cleanup(func() { s.Collector.(io.Closer).Close() })
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewExporter(slog.New(slog.DiscardHandler), scrapers))
	client := f.shared.OVS.Client()
	waitSessions := func(what string, want ...string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			if _, err := reg.Gather(); err != nil {
				t.Fatal(err)
			}
			got := client.Sessions()
			if slices.Equal(got, want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: sessions on %q, want %q", what, got, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitSessions("both bridges", "br0", "br1")
	if _, err := o.Vsctl("del-br", "br1"); err != nil {
		t.Fatal(err)
	}
	waitSessions("br1 deleted", "br0")
}
