package collector_test

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"

	"github.com/datapath-exporter/datapath-exporter/collector"
	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
)

// ovsInterfaceCounters are the counters of each interface, by their
// statistics key.
var ovsInterfaceCounters = map[string]string{
	"rx_dropped": "datapath_ovs_interface_receive_drop_total",
	"tx_dropped": "datapath_ovs_interface_transmit_drop_total",
	"rx_errors":  "datapath_ovs_interface_receive_errors_total",
	"tx_errors":  "datapath_ovs_interface_transmit_errors_total",
	"rx_packets": "datapath_ovs_interface_receive_packets_total",
	"tx_packets": "datapath_ovs_interface_transmit_packets_total",
}

func newInterfacesCollector(t *testing.T, cfg collector.OVSInterfacesConfig) (collector.Collector, *prometheus.Registry) {
	t.Helper()
	c, err := collector.NewOVSInterfacesCollector(cfg, promslog.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.(io.Closer).Close() })
	return c, newRegistry(t, promslog.NewNopLogger(), map[string]collector.Collector{"ovs_interfaces": c})
}

// interfaceSeries returns the series of the interface iface, by name.
func interfaceSeries(mfs families, iface string) map[string]*dto.Metric {
	out := map[string]*dto.Metric{}
	for name := range mfs {
		if !strings.HasPrefix(name, "datapath_ovs_interface_") {
			continue
		}
		for _, m := range mfs.series(name, "interface", iface) {
			out[name] = m
		}
	}
	return out
}

// waitInterfaces gathers reg until ok accepts the families.
func waitInterfaces(t *testing.T, reg prometheus.Gatherer, what string, ok func(families) bool) families {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		mfs := gather(t, reg)
		if ok(mfs) {
			return mfs
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			for name, mf := range mfs {
				if strings.HasPrefix(name, "datapath_ovs_interface_") {
					for _, m := range mf.GetMetric() {
						fmt.Fprintf(&b, "\n  %s %v %v", name, m.GetLabel(), testenv.MetricValue(m))
					}
				}
			}
			t.Fatalf("%s: never seen; last scrape:%s", what, b.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestOVSInterfacesCollector runs the collector against a real OVS with
// veth "Pods" carrying Antrea's external IDs and real traffic: the values
// are ovs-vsctl's, the Pods' names and namespaces (odd characters
// included) are labels of a valid exposition, a port with no statistics
// has no series, and a port deleted loses its series and gets them back
// when it is added again.
func TestOVSInterfacesCollector(t *testing.T) {
	o, client, server := testenv.TwoPodsForTest(t)
	ctx := testenv.Context(t, 2*time.Minute)
	if _, err := o.Vsctl("add-port", "br-int", "ghost0"); err != nil { // no such device: never any statistics
		t.Fatal(err)
	}
	_, reg := newInterfacesCollector(t, collector.OVSInterfacesConfig{RunDir: o.RunDir})

	// Datagrams to a MAC nobody has learnt are flooded: to the server,
	// and to br-int's internal port, which is down and drops them.
	if err := client.SendUDP(ctx, server, 40); err != nil {
		t.Fatal(err)
	}
	equalOVSDB := func(mfs families) bool {
		for _, port := range []string{client.Port, server.Port, "br-int"} {
			want, err := o.InterfaceStatistics(port)
			if err != nil {
				t.Fatal(err)
			}
			got := interfaceSeries(mfs, port)
			for key, name := range ovsInterfaceCounters {
				if got[name] == nil || testenv.MetricValue(got[name]) != float64(want[key]) {
					return false
				}
			}
			if want["rx_packets"]+want["tx_packets"]+want["tx_dropped"] < 40 {
				return false // not written yet
			}
		}
		return true
	}
	mfs := waitInterfaces(t, reg, "the values ovs-vsctl prints", equalOVSDB)
	if got := mfs.value(t, "datapath_scrape_collector_success", "collector", "ovs_interfaces"); got != 1 {
		t.Errorf("success = %v", got)
	}
	if got := mfs.value(t, "datapath_ovs_interface_transmit_drop_total", "interface", "br-int"); got < 40 {
		t.Errorf("br-int tx drops = %v, want the 40 flooded datagrams", got)
	}
	for _, pod := range []*testenv.Pod{client, server} {
		m := interfaceSeries(mfs, pod.Port)["datapath_ovs_interface_link_up"]
		name, _ := o.PortExternalID(pod.Port, "pod-name")
		ns, _ := o.PortExternalID(pod.Port, "pod-namespace")
		if m == nil || labelOf(m, "pod") != name || labelOf(m, "namespace") != ns || labelOf(m, "bridge") != "br-int" || testenv.MetricValue(m) != 1 {
			t.Errorf("%s link_up %v, want 1 with pod %q namespace %q (ovs-vsctl's)", pod.Port, m, name, ns)
		}
	}
	if m := interfaceSeries(mfs, "br-int")["datapath_ovs_interface_receive_packets_total"]; labelOf(m, "pod") != "" || labelOf(m, "namespace") != "" {
		t.Errorf("br-int has pod labels %v", m.GetLabel())
	}
	if got := interfaceSeries(mfs, "ghost0"); len(got) != 0 {
		t.Errorf("ghost0 (no statistics, no link state) has series %v", got)
	}

	// The exposition stays valid with the odd name, which reads back.
	var buf bytes.Buffer
	raw, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range raw {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	parsed, err := parser.TextToMetricFamilies(&buf)
	if err != nil {
		t.Fatalf("the exposition does not parse: %v", err)
	}
	if got := byName(mapValues(parsed)).labelValues("datapath_ovs_interface_link_up", "pod", "interface", server.Port); len(got) != 1 || got[0] != testenv.OddPodName {
		t.Errorf("pod label read back %q, want %q", got, testenv.OddPodName)
	}

	if err := server.SetLinkDown(ctx, true); err != nil {
		t.Fatal(err)
	}
	waitInterfaces(t, reg, "server link down", func(mfs families) bool {
		m := interfaceSeries(mfs, server.Port)["datapath_ovs_interface_link_up"]
		return m != nil && testenv.MetricValue(m) == 0
	})

	if _, err := o.Vsctl("del-port", "br-int", client.Port); err != nil {
		t.Fatal(err)
	}
	waitInterfaces(t, reg, "deleted port's series gone", func(mfs families) bool { return len(interfaceSeries(mfs, client.Port)) == 0 })
	args := append([]string{"add-port", "br-int", client.Port}, testenv.SetExternalIDs("Port", client.Port, map[string]string{"pod-name": "client-2", "pod-namespace": "default"})...)
	if _, err := o.Vsctl(args...); err != nil {
		t.Fatal(err)
	}
	waitInterfaces(t, reg, "re-added port's series, with its new Pod", func(mfs families) bool {
		m := interfaceSeries(mfs, client.Port)["datapath_ovs_interface_link_up"]
		return m != nil && labelOf(m, "pod") == "client-2"
	})
}

func mapValues(m map[string]*dto.MetricFamily) []*dto.MetricFamily {
	out := make([]*dto.MetricFamily, 0, len(m))
	for _, mf := range m {
		out = append(out, mf)
	}
	return out
}

// TestOVSInterfacesSeriesBudget counts the series of a node with 30 Pods
// (docs/fleet.md's budget): 7 per interface (six counters and the link
// state), the Pods' and br-int's own.
func TestOVSInterfacesSeriesBudget(t *testing.T) {
	o := testenv.OVSForTest(t, testenv.OVSOptions{})
	if err := o.AddBridge("br-int"); err != nil {
		t.Fatal(err)
	}
	const pods = 30
	for i := 1; i <= pods; i++ {
		testenv.PodForTest(t, o, "br-int", testenv.PodOptions{Name: fmt.Sprintf("web-%d", i), Namespace: "shop", Port: fmt.Sprintf("web-%d", i), Index: i})
	}
	_, reg := newInterfacesCollector(t, collector.OVSInterfacesConfig{RunDir: o.RunDir})
	const perInterface = 7
	mfs := waitInterfaces(t, reg, "every Pod's statistics", func(mfs families) bool {
		return len(mfs.series("datapath_ovs_interface_receive_packets_total", "namespace", "shop")) == pods
	})
	total := 0
	for name, mf := range mfs {
		if strings.HasPrefix(name, "datapath_ovs_interface_") {
			total += len(mf.GetMetric())
		}
	}
	if want := perInterface * (pods + 1); total != want {
		t.Errorf("%d series for %d Pods and br-int, want %d (%d per interface)", total, pods, want, perInterface)
	}
	for i := 1; i <= pods; i++ {
		if got := len(interfaceSeries(mfs, fmt.Sprintf("web-%d", i))); got != perInterface {
			t.Errorf("web-%d: %d series, want %d", i, got, perInterface)
		}
	}
}

// TestOVSInterfacesFixedBridges checks that with --ovs.bridge only those
// bridges' interfaces are exported (OVSDB is read all the same).
func TestOVSInterfacesFixedBridges(t *testing.T) {
	o := testenv.OVSForTest(t, testenv.OVSOptions{})
	for _, br := range []string{"br-int", "br-ex"} {
		if err := o.AddBridge(br); err != nil {
			t.Fatal(err)
		}
	}
	_, reg := newInterfacesCollector(t, collector.OVSInterfacesConfig{RunDir: o.RunDir, Bridges: []string{"br-ex"}})
	mfs := waitInterfaces(t, reg, "br-ex's own interface", func(mfs families) bool { return len(interfaceSeries(mfs, "br-ex")) > 0 })
	if got := mfs.labelValues("datapath_ovs_interface_link_up", "bridge"); len(got) != 1 || got[0] != "br-ex" {
		t.Errorf("bridges %q, want br-ex only", got)
	}
}

// TestOVSInterfacesNoOVSDB checks the error without an ovsdb-server: it
// names the socket and the flag to check, and no series is made up.
func TestOVSInterfacesNoOVSDB(t *testing.T) {
	dir := t.TempDir()
	c, reg := newInterfacesCollector(t, collector.OVSInterfacesConfig{RunDir: dir})
	err := updateWithin(t, c, 2*time.Second)
	for _, want := range []string{dir + "/db.sock", "check --ovs.rundir: it must hold OVS's db.sock"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
	t.Log(err)
	mfs := gather(t, reg)
	if got := mfs.value(t, "datapath_scrape_collector_success", "collector", "ovs_interfaces"); got != 0 {
		t.Errorf("success = %v, want 0", got)
	}
	for name := range mfs {
		if strings.HasPrefix(name, "datapath_ovs_interface_") {
			t.Errorf("%s served without OVSDB", name)
		}
	}
}

// TestOVSInterfacesBadAddress gives a Port an ip-address that is not one,
// as OVSDB may hold whatever was written there: its interface is exported
// all the same and the problem is logged once, again when the value
// changes.
func TestOVSInterfacesBadAddress(t *testing.T) {
	o := testenv.OVSForTest(t, testenv.OVSOptions{})
	if err := o.AddBridge("br-int"); err != nil {
		t.Fatal(err)
	}
	logs := &testenv.SyncBuffer{}
	c, err := collector.NewOVSInterfacesCollector(collector.OVSInterfacesConfig{RunDir: o.RunDir}, promslog.New(&promslog.Config{Writer: logs}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.(io.Closer).Close() })
	reg := newRegistry(t, promslog.NewNopLogger(), map[string]collector.Collector{"ovs_interfaces": c})
	const warning = "OVS port with an address that is not one"
	setIP := func(value string) {
		t.Helper()
		if _, err := o.Vsctl(testenv.SetExternalIDs("Port", "br-int", map[string]string{"ip-address": value})[1:]...); err != nil {
			t.Fatal(err)
		}
		waitInterfaces(t, reg, "ip-address "+value, func(families) bool { return strings.Contains(logs.String(), value) })
	}
	setIP("10.0.0.1,not-an-address")
	for range 3 {
		gather(t, reg)
	}
	if n := strings.Count(logs.String(), warning); n != 1 {
		t.Errorf("logged %d times over several scrapes, want once:\n%s", n, logs)
	}
	mfs := gather(t, reg)
	if got := mfs.value(t, "datapath_scrape_collector_success", "collector", "ovs_interfaces"); got != 1 || len(interfaceSeries(mfs, "br-int")) == 0 {
		t.Errorf("success %v, series %v: want the port exported and the collector healthy", got, interfaceSeries(mfs, "br-int"))
	}
	setIP("fd00::zz")
	if n := strings.Count(logs.String(), warning); n != 2 {
		t.Errorf("logged %d times after the value changed, want twice:\n%s", n, logs)
	}
}
