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

// buildFromFlags builds the collectors from args as the binary does, and
// returns them with the OVS source they share.
func buildFromFlags(t *testing.T, args ...string) (map[string]Scraper, *OVSSource) {
	t.Helper()
	app := kingpin.New("test", "")
	f := RegisterFlags(app)
	if _, err := app.Parse(args); err != nil {
		t.Fatal(err)
	}
	scrapers, err := f.Build(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range scrapers {
		t.Cleanup(func() { s.Collector.(io.Closer).Close() })
	}
	return scrapers, f.shared.OVS
}

// TestOVSSourceForgetsDeletedBridges builds the collectors as the binary
// does: the OpenFlow sessions are the OVS source's, and a deleted bridge's
// session is closed. ovs_datapath alone (--no-collector.ovs) opens none:
// it reads the control socket only.
func TestOVSSourceForgetsDeletedBridges(t *testing.T) {
	o := testenv.OVSForTest(t, testenv.OVSOptions{})
	for _, br := range []string{"br0", "br1"} {
		if err := o.AddBridge(br, "OpenFlow13"); err != nil {
			t.Fatal(err)
		}
	}
	if _, source := buildFromFlags(t, "--no-collector.ovs", "--no-collector.conntrack", "--ovs.rundir="+o.RunDir); source.Client() != nil {
		t.Errorf("ovs_datapath alone opened the OVS source (sessions on %q)", source.Client().Sessions())
	}

	scrapers, source := buildFromFlags(t, "--no-collector.ovs_datapath", "--no-collector.conntrack", "--ovs.rundir="+o.RunDir, "--ovs.timeout=10s")
	if len(scrapers) != 1 || scrapers["ovs"].Collector == nil {
		t.Fatalf("collectors %v, want ovs alone", scrapers)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewExporter(slog.New(slog.DiscardHandler), scrapers))
	client := source.Client()
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
