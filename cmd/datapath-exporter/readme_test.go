package main

import (
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	yaml "go.yaml.in/yaml/v2"
)

// The tests here keep the user-facing documentation true: the metrics table
// of docs/metrics.md, the flags of docs/flags.md and the README, and the
// README's alert list.

// readDoc returns a file of the repository, given relative to its root.
func readDoc(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", path))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// metricsRow matches a row of docs/metrics.md's metrics table:
// | `name` | type | labels | source |
var metricsRow = regexp.MustCompile("^\\| `(datapath_[a-z_]+)` \\| (gauge|counter) \\| ([^|]*) \\|")

// kernelDatapathOnly are metrics that only the kernel datapath
// (system@ovs-system) reports, which cannot run on the test machine (no
// openvswitch module); the test OVS uses the netdev datapath. Their export
// is tested in collector.TestExportKernelDatapath.
var kernelDatapathOnly = map[string]bool{
	"datapath_ovs_datapath_masks":            true,
	"datapath_ovs_datapath_mask_hits_total":  true,
	"datapath_ovs_datapath_cache_hits_total": true,
}

// checkMetricsTable checks that docs/metrics.md's table lists exactly the
// datapath_* families of a real scrape, with their types and labels.
func checkMetricsTable(t *testing.T, mfs map[string]*dto.MetricFamily) {
	t.Helper()
	documented := map[string]string{}
	for _, line := range strings.Split(readDoc(t, "docs/metrics.md"), "\n") {
		m := metricsRow.FindStringSubmatch(line)
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
			t.Errorf("docs/metrics.md lacks %s (%s)", name, want)
		} else if got != want {
			t.Errorf("docs/metrics.md says %s is %s, /metrics has %s", name, got, want)
		}
	}
	for name := range documented {
		if _, ok := scraped[name]; !ok && !kernelDatapathOnly[name] {
			t.Errorf("docs/metrics.md lists %s, which /metrics does not have", name)
		}
	}
}

// docFlag matches a flag written in code: `--name`, or `--name=value`. A
// placeholder such as `--collector.<name>` does not match.
var docFlag = regexp.MustCompile("`--([a-z][a-z0-9_.-]*[a-z0-9])(=[^`]*)?`")

// tableFlags returns the flags named in the first column of a document's
// flag tables (rows starting with "| `--"). Flags named in prose may be
// other programs' (helm's --post-renderer, ovs-vswitchd's --unixctl).
func tableFlags(doc string) []string {
	var names []string
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(line, "| `--") {
			continue
		}
		first, _, _ := strings.Cut(strings.TrimPrefix(line, "|"), "|")
		for _, m := range docFlag.FindAllStringSubmatch(first, -1) {
			names = append(names, m[1])
		}
	}
	return names
}

// TestFlagsDocumented checks that docs/flags.md documents every flag, and
// that the flag tables of the README and docs/flags.md name no flag the
// exporter does not have.
func TestFlagsDocumented(t *testing.T) {
	app, _ := newApp(io.Discard, io.Discard)
	flags := map[string]bool{}
	bools := map[string]bool{} // kingpin accepts --no-X for these
	for _, f := range app.Model().Flags {
		flags[f.Name] = true
		if f.IsBoolFlag() {
			bools[f.Name] = true
		}
	}

	reference := readDoc(t, "docs/flags.md")
	for _, f := range app.Model().Flags {
		if f.Hidden || f.Name == "help" || f.Name == "help-long" || f.Name == "help-man" {
			continue
		}
		if !strings.Contains(reference, "`--"+f.Name) {
			t.Errorf("docs/flags.md does not document --%s", f.Name)
		}
	}

	for _, doc := range []string{"README.md", "docs/flags.md"} {
		for _, name := range tableFlags(readDoc(t, doc)) {
			if flags[name] {
				continue
			}
			if neg, ok := strings.CutPrefix(name, "no-"); ok && bools[neg] {
				continue
			}
			t.Errorf("%s names --%s, which the exporter does not have", doc, name)
		}
	}
}

// TestREADMEAlerts checks that the README's "Alerts" section lists exactly
// the alerts of deploy/rules/*.rules.yml, the files the PrometheusRule is
// generated from.
func TestREADMEAlerts(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "deploy", "rules", "*.rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no deploy/rules/*.rules.yml")
	}
	rules := map[string]string{} // alert -> file
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Groups []struct {
				Rules []struct {
					Alert string `yaml:"alert"`
				} `yaml:"rules"`
			} `yaml:"groups"`
		}
		if err := yaml.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, g := range doc.Groups {
			for _, r := range g.Rules {
				if r.Alert != "" {
					rules[r.Alert] = filepath.Base(f)
				}
			}
		}
	}

	listed := readmeAlerts(t, readDoc(t, "README.md"))
	for a, f := range rules {
		if !listed[a] {
			t.Errorf("README's alert list lacks %s (%s)", a, f)
		}
	}
	for a := range listed {
		if _, ok := rules[a]; !ok {
			t.Errorf("README lists alert %s, which no deploy/rules/*.rules.yml defines", a)
		}
	}
}

// readmeAlert matches an item of the README's alert list: "- `Name`: …".
var readmeAlert = regexp.MustCompile("^- `([A-Za-z][A-Za-z0-9]*)`")

// readmeAlerts returns the alerts listed in the README's "## Alerts"
// section.
func readmeAlerts(t *testing.T, readme string) map[string]bool {
	t.Helper()
	_, section, ok := strings.Cut(readme, "\n## Alerts\n")
	if !ok {
		t.Fatal(`README has no "## Alerts" section`)
	}
	if i := strings.Index(section, "\n## "); i >= 0 {
		section = section[:i]
	}
	listed := map[string]bool{}
	for _, line := range strings.Split(section, "\n") {
		if m := readmeAlert.FindStringSubmatch(line); m != nil {
			if listed[m[1]] {
				t.Errorf("README lists alert %s twice", m[1])
			}
			listed[m[1]] = true
		}
	}
	return listed
}
