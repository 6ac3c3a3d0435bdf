package main

import (
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
)

func readREADME(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// readmeRow matches a row of the README's metrics table:
// | `name` | type | labels | source |
var readmeRow = regexp.MustCompile("^\\| `(datapath_[a-z_]+)` \\| (gauge|counter) \\| ([^|]*) \\|")

// kernelDatapathOnly are metrics that only the kernel datapath
// (system@ovs-system) reports, which cannot run on the test machine (no
// openvswitch module); the test OVS uses the netdev datapath. Their export
// is tested in collector.TestExportKernelDatapath.
var kernelDatapathOnly = map[string]bool{
	"datapath_ovs_datapath_masks":            true,
	"datapath_ovs_datapath_mask_hits_total":  true,
	"datapath_ovs_datapath_cache_hits_total": true,
}

// checkREADMEMetrics checks that the README's metrics table lists exactly
// the datapath_* families of a real scrape, with their types and labels.
func checkREADMEMetrics(t *testing.T, mfs map[string]*dto.MetricFamily) {
	t.Helper()
	documented := map[string]string{}
	for _, line := range strings.Split(readREADME(t), "\n") {
		m := readmeRow.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		labels := strings.TrimSpace(m[3])
		if labels == "—" {
			labels = ""
		}
		documented[m[1]] = m[2] + " {" + labels + "}"
	}
	scraped := map[string]string{}
	for name, mf := range mfs {
		if !strings.HasPrefix(name, "datapath_") {
			continue
		}
		set := map[string]bool{}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				set[l.GetName()] = true
			}
		}
		var labels []string
		for l := range set {
			labels = append(labels, l)
		}
		sort.Strings(labels)
		scraped[name] = strings.ToLower(mf.GetType().String()) + " {" + strings.Join(labels, ", ") + "}"
	}
	for name, want := range scraped {
		if got, ok := documented[name]; !ok {
			t.Errorf("README metrics table lacks %s (%s)", name, want)
		} else if got != want {
			t.Errorf("README says %s is %s, /metrics has %s", name, got, want)
		}
	}
	for name := range documented {
		if _, ok := scraped[name]; !ok && !kernelDatapathOnly[name] {
			t.Errorf("README lists %s, which /metrics does not have", name)
		}
	}
}

// TestREADMEFlags checks that the README documents every flag.
func TestREADMEFlags(t *testing.T) {
	readme := readREADME(t)
	app, _ := newApp(io.Discard, io.Discard)
	for _, f := range app.Model().Flags {
		if f.Hidden || f.Name == "help" || f.Name == "help-long" || f.Name == "help-man" {
			continue
		}
		if !strings.Contains(readme, "`--"+f.Name) {
			t.Errorf("README does not document --%s", f.Name)
		}
	}
}
