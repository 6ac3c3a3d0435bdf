package collector_test

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/promslog"

	"github.com/datapath-exporter/datapath-exporter/collector"
	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
)

// TestOVSInfo compares datapath_ovs_info with `ovs-vswitchd --version`,
// before and after ovs-vswitchd restarts.
func TestOVSInfo(t *testing.T) {
	o := testenv.OVSForTest(t, testenv.OVSOptions{})
	if err := o.AddBridge("br0"); err != nil { // dpctl/show fails without a datapath
		t.Fatal(err)
	}
	out, err := exec.Command("ovs-vswitchd", "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	// "ovs-vswitchd (Open vSwitch) 3.1.0"
	line, _, _ := strings.Cut(string(out), "\n")
	want := line[strings.LastIndex(line, " ")+1:]
	c := newDatapathCollector(t, collector.OVSDatapathConfig{RunDir: o.RunDir})
	reg := newRegistry(t, promslog.NewNopLogger(), map[string]collector.Collector{"ovs_datapath": c})
	check := func(when string) {
		t.Helper()
		mfs := gather(t, reg)
		if got := mfs.labelValues("datapath_ovs_info", "version"); len(got) != 1 || got[0] != want {
			t.Errorf("%s: datapath_ovs_info versions %q, want %q", when, got, want)
		}
		if got := mfs.value(t, "datapath_ovs_info", "version", want); got != 1 {
			t.Errorf("%s: datapath_ovs_info = %v, want 1", when, got)
		}
		if got := mfs.value(t, "datapath_scrape_collector_success", "collector", "ovs_datapath"); got != 1 {
			t.Errorf("%s: success = %v, want 1", when, got)
		}
	}
	check("first scrape")
	check("second scrape")
	if err := o.RestartVswitchd(testenv.Context(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	check("after a restart")
}
