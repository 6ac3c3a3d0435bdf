package mixin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-jsonnet"
	yaml "go.yaml.in/yaml/v3"
)

// repoRoot is the repository's root, seen from this package.
const repoRoot = ".."

func TestGeneratedFilesAreUpToDate(t *testing.T) {
	want, err := Files()
	if err != nil {
		t.Fatal(err)
	}
	stale, err := Stale(repoRoot, want)
	if err != nil {
		t.Fatal(err)
	}
	for _, rel := range stale {
		t.Errorf("%s is not what mixin/ renders (edited by hand, or mixin/ changed since): %s", rel, RegenerateHint)
	}
}

// The jsonnet files work as a jsonnet user imports them (relative imports
// from the files on disk, no Go), and give what Render writes.
func TestJsonnetFilesRenderAsEmbedded(t *testing.T) {
	vm := jsonnet.MakeVM()
	vm.Importer(&jsonnet.FileImporter{})
	got, err := vm.EvaluateFile("mixin.libsonnet")
	if err != nil {
		t.Fatal(err)
	}
	if got != "{ }\n" && got != "{}\n" {
		// Every field of the mixin is hidden, as mixins' are.
		t.Errorf("mixin.libsonnet has visible fields: %s", got)
	}
	for _, field := range []string{"prometheusAlerts", "prometheusRules", "grafanaDashboards"} {
		onDisk, err := vm.EvaluateAnonymousSnippet("check.jsonnet", fmt.Sprintf("(import 'mixin.libsonnet').%s", field))
		if err != nil {
			t.Fatal(err)
		}
		var embedded any
		if err := evaluate(fmt.Sprintf("(import 'mixin.libsonnet').%s", field), nil, &embedded); err != nil {
			t.Fatal(err)
		}
		var fromDisk any
		if err := json.Unmarshal([]byte(onDisk), &fromDisk); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(fromDisk, embedded) {
			t.Errorf("%s differs between the files on disk and the embedded ones", field)
		}
	}
}

func TestRenderRefusesBadConfig(t *testing.T) {
	tests := []struct {
		overrides map[string]any
		want      string
	}{
		{map[string]any{"datapathExporterSelector": 1}, `_config.datapathExporterSelector must be a PromQL label matcher list`},
		{map[string]any{"datapathExporterSelector": `{job="x"}`}, `_config.datapathExporterSelector must be`},
		{map[string]any{"conntrackWarningPercent": "75"}, `_config.conntrackWarningPercent must be a number above 0 and at most 100`},
		{map[string]any{"conntrackCriticalPercent": 0.9 * 200}, `_config.conntrackCriticalPercent must be a number`},
		{map[string]any{"clusterLabel": "k8s-cluster"}, `_config.clusterLabel must be a label name`},
		{map[string]any{"exporterDownFor": 5}, `_config.exporterDownFor must be a Prometheus duration, e.g. '5m', got 5 (number)`},
		{map[string]any{"driftWindow": "15 minutes"}, `_config.driftWindow must be a Prometheus duration`},
		{map[string]any{"antreaServiceTables": `"ServiceLB"`}, `_config.antreaServiceTables must be`},
		{map[string]any{"dashboardTags": "datapath"}, `_config.dashboardTags must be an array of strings`},
		{map[string]any{"conntrackWarnPercent": 80}, `_config has no key "conntrackWarnPercent"`},
	}
	for _, tt := range tests {
		_, err := Render(tt.overrides)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Render(%v) = %v, want an error containing %q", tt.overrides, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("Render(%v): error of several lines (a stack trace?): %q", tt.overrides, err)
		}
	}
}

// rawSelectorRE finds the selectors of the exporter's own series (not of
// recorded series, whose names hold a colon) in a PromQL expression.
var rawSelectorRE = regexp.MustCompile(`(?:^|[^:\w])((?:datapath_\w+|up)\b)(\{[^}]*\})?`)

func TestConfigChangesEverySelectorAndThreshold(t *testing.T) {
	const sel = `job="dpx-custom"`
	out, err := Render(map[string]any{"datapathExporterSelector": sel, "conntrackWarningPercent": 40, "clusterLabel": "region"})
	if err != nil {
		t.Fatal(err)
	}
	rules := parseRules(t, out)
	alerts := 0
	for _, r := range rules {
		name := r.Alert + r.Record
		expr := r.Expr
		if r.Alert == "DatapathExporterDown" {
			// Its second form catches the exporter under any job, by
			// its build_info (alerts/exporter.libsonnet).
			first, _, ok := strings.Cut(expr, "\nor\n")
			if !ok || !strings.Contains(first, "up{"+sel+"} == 0") {
				t.Errorf("%s: %q, want up{%s} == 0 as its first form", name, expr, sel)
			}
			expr = first
		}
		if r.Alert != "" {
			alerts++
		}
		raw := rawSelectorRE.FindAllStringSubmatch(expr, -1)
		if r.Alert != "" && len(raw) == 0 && !strings.Contains(expr, "cluster_job") {
			t.Errorf("%s reads no series of the exporter: %q", name, expr)
		}
		for _, m := range raw {
			if m[1] == "datapath_exporter_build_info" && r.Alert == "" {
				continue
			}
			if !strings.Contains(m[2], sel) {
				t.Errorf("%s: %s%s lacks the selector %s", name, m[1], m[2], sel)
			}
		}
		if strings.Contains(r.Expr, "datapath-exporter") || strings.Contains(r.Expr, "cluster,") {
			t.Errorf("%s: %q keeps a default (job or cluster label)", name, r.Expr)
		}
	}
	if alerts < 10 {
		t.Fatalf("only %d alerts rendered", alerts)
	}

	warn := find(t, rules, "DatapathConntrackTableNearlyFull")
	if !strings.HasSuffix(warn.Expr, "> 0.4") || !strings.Contains(warn.Annotations["description"], "more than 40% full") {
		t.Errorf("warning at 40%%: expr %q, description %q", warn.Expr, warn.Annotations["description"])
	}
	find(t, rules, "cluster_job:datapath_conntrack_nodes_above_40pct:count")
	if crit := find(t, rules, "DatapathConntrackTableFull"); !strings.HasSuffix(crit.Expr, "> 0.9") {
		t.Errorf("critical changed with the warning: %q", crit.Expr)
	}

	for name, b := range out.Dashboards {
		if want := `label_values(datapath_exporter_build_info{job=\"dpx-custom\"}, job)`; !strings.Contains(string(b), want) {
			t.Errorf("%s: the job variable lacks the selector (%s)", name, want)
		}
	}
	var conntrack, fleet string = string(out.Dashboards["conntrack.json"]), string(out.Dashboards["datapath-fleet.json"])
	for _, want := range []string{`"value": 0.4`, `40% for 5 minutes fires DatapathConntrackTableNearlyFull`} {
		if !strings.Contains(conntrack, want) {
			t.Errorf("conntrack.json lacks %s", want)
		}
	}
	if strings.Contains(conntrack, `"value": 0.75`) {
		t.Error("conntrack.json keeps the default warning 0.75")
	}
	for _, want := range []string{`cluster_job:datapath_conntrack_nodes_above_40pct:count{job=~\"$job\"}`, `"Nodes above 40%"`, `on(region, job,`} {
		if !strings.Contains(fleet, want) {
			t.Errorf("datapath-fleet.json lacks %s", want)
		}
	}
}

func TestRenderTemplate(t *testing.T) {
	placeholders := map[string]string{
		"datapathExporterSelector":              "{{ .Values.selector }}",
		"conntrackWarningPercent":               "{{ .Values.warning }}",
		"conntrackWarningPercent" + RatioSuffix: "{{ divf .Values.warning 100 }}",
		"exporterDownFor":                       "{{ .Values.downFor }}",
	}
	jsonPlaceholders := map[string]string{"datapathExporterSelector": "{{ .Values.selector | toJson }}"}
	out, err := RenderTemplate(Template{Placeholders: placeholders, JSONPlaceholders: jsonPlaceholders})
	if err != nil {
		t.Fatal(err)
	}
	rulesText := string(out.Rules[RulesFile])
	for _, want := range []string{
		"> {{ divf .Values.warning 100 }}\n",
		"more than {{ .Values.warning }}% full for 5 minutes",
		"up{{{ .Values.selector }}} == 0",
		"for: {{ .Values.downFor }}\n",
		"for {{ .Values.downFor }}: OVS flow tables",
	} {
		if !strings.Contains(rulesText, want) {
			t.Errorf("%s lacks %q", RulesFile, want)
		}
	}
	if !strings.Contains(string(out.Rules[FleetRulesFile]), "above_{{ .Values.warning }}pct") {
		t.Errorf("%s lacks the warning's record name", FleetRulesFile)
	}
	if !strings.Contains(string(out.Dashboards["conntrack.json"]), `"value": {{ divf .Values.warning 100 }}`) {
		t.Error("conntrack.json lacks the warning's ratio as a number")
	}
	if strings.Contains(rulesText+string(out.Dashboards["conntrack.json"]), "DPXPLACEHOLDER") {
		t.Error("a placeholder token is left")
	}

	// What a template engine makes of it equals Render with those values.
	fill := strings.NewReplacer(
		"{{ .Values.selector }}", `job="x"`,
		"{{ .Values.selector | toJson }}", `job=\"x\"`,
		"{{ divf .Values.warning 100 }}", "0.6",
		"{{ .Values.warning }}", "60",
		"{{ .Values.downFor }}", "10m",
	)
	want, err := Render(map[string]any{"datapathExporterSelector": `job="x"`, "conntrackWarningPercent": 60, "exporterDownFor": "10m"})
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range out.Rules {
		got := fill.Replace(string(b))
		// Only the texts of durations differ: as written, not in words.
		w := strings.ReplaceAll(string(want.Rules[name]), "for 10 minutes", "for 10m")
		if got != w {
			t.Errorf("%s filled in differs from Render's:\n%s", name, lineDiff(w, got))
		}
	}
	for name, b := range out.Dashboards {
		var got, w any
		if err := json.Unmarshal([]byte(fill.Replace(string(b))), &got); err != nil {
			t.Fatalf("%s filled in: %v", name, err)
		}
		if err := json.Unmarshal([]byte(strings.ReplaceAll(string(want.Dashboards[name]), "for 10 minutes", "for 10m")), &w); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("%s filled in differs from Render's", name)
		}
	}
}

// Escape runs before the placeholders go in: it reaches the templates the
// mixin writes (Prometheus', Grafana's), never the placeholders.
func TestRenderTemplateEscape(t *testing.T) {
	out, err := RenderTemplate(Template{
		Placeholders: map[string]string{"exporterDownFor": "{{ .Values.downFor }}"},
		Escape: func(b []byte) []byte {
			return []byte(strings.NewReplacer("{{", "[[", "}}", "]]").Replace(string(b)))
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	rulesText := string(out.Rules[RulesFile])
	if !strings.Contains(rulesText, "for: {{ .Values.downFor }}\n") || !strings.Contains(rulesText, "[[ $labels.instance ]]") || strings.Contains(rulesText, "{{ $labels") {
		t.Errorf("%s: placeholders escaped or templates not:\n%s", RulesFile, rulesText)
	}
	if d := string(out.Dashboards["conntrack.json"]); strings.Contains(d, "{{instance") || !strings.Contains(d, "[[instance]]") || !strings.Contains(d, "for {{ .Values.downFor }} fires") {
		t.Error("conntrack.json: Grafana's legends not escaped, or the placeholder escaped")
	}
}

func TestRenderTemplateRefuses(t *testing.T) {
	tests := []struct {
		placeholders map[string]string
		want         string
	}{
		{map[string]string{"conntrackWarningPercent": "{{ .Values.w }}"}, "needs conntrackWarningPercent/100 too"},
		{map[string]string{"conntrackWarningPercent/100": "{{ .Values.w }}"}, "given without conntrackWarningPercent"},
		{map[string]string{"driftWindow/100": "x"}, "only percent keys"},
		{map[string]string{"dashboardTags": "{{ .Values.tags }}"}, "is a list"},
		{map[string]string{"nope": "x"}, `_config has no key "nope"`},
		{map[string]string{"clusterLabel/100": "x"}, "only percent keys"},
	}
	for _, tt := range tests {
		if _, err := RenderTemplate(Template{Placeholders: tt.placeholders}); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("RenderTemplate(%v) = %v, want an error containing %q", tt.placeholders, err, tt.want)
		}
	}
}

// Every key of config.libsonnet has a kind (and so a type check), and every
// kind a key.
func TestEveryConfigKeyIsChecked(t *testing.T) {
	cfg, err := Defaults()
	if err != nil {
		t.Fatal(err)
	}
	kinds, err := configKinds()
	if err != nil {
		t.Fatal(err)
	}
	for k := range cfg {
		if _, ok := kinds[k]; !ok {
			t.Errorf("_config.%s has no kind in lib/config.libsonnet", k)
		}
	}
	for k := range kinds {
		if _, ok := cfg[k]; !ok {
			t.Errorf("lib/config.libsonnet checks %s, which config.libsonnet lacks", k)
		}
	}
}

// Every alert's `for` is a key of _config.
func TestEveryForIsConfigurable(t *testing.T) {
	cfg, err := Defaults()
	if err != nil {
		t.Fatal(err)
	}
	overrides := map[string]any{}
	for k, v := range cfg {
		if s, ok := v.(string); ok && (strings.HasSuffix(k, "For") || k == "driftWindow") {
			overrides[k] = "7" + s
		}
	}
	out, err := Render(overrides)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range parseRules(t, out) {
		if r.Alert != "" && !strings.HasPrefix(r.For, "7") {
			t.Errorf("%s: for %q does not come from _config", r.Alert, r.For)
		}
	}
}

func parseRules(t *testing.T, out Output) []rule {
	t.Helper()
	var rules []rule
	for _, name := range []string{RulesFile, FleetRulesFile} {
		var f ruleFile
		dec := yaml.NewDecoder(bytes.NewReader(out.Rules[name]))
		dec.KnownFields(true)
		if err := dec.Decode(&f); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, g := range f.Groups {
			rules = append(rules, g.Rules...)
		}
	}
	return rules
}

func find(t *testing.T, rules []rule, name string) rule {
	t.Helper()
	for _, r := range rules {
		if r.Alert == name || r.Record == name {
			return r
		}
	}
	t.Fatalf("no rule %s", name)
	return rule{}
}

// lineDiff shows the first differing line of two texts.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d:\nwant %s\ngot  %s", i+1, wl, gl)
		}
	}
	return "(equal)"
}
