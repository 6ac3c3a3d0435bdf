package e2e

import (
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v2"

	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
)

// ruleFiles are the alerting and recording rules as the repository ships
// them (rendered from mixin/ with its default _config): the per-node rules
// and the fleet's aggregates; tests.yml beside them holds their promtool
// unit tests.
var ruleFiles = []string{
	"../../deploy/rules/datapath-exporter.rules.yml",
	"../../deploy/rules/datapath-fleet.rules.yml",
}

const (
	ruleTestFile = "../../deploy/rules/tests.yml"
	runbookFile  = "../../docs/runbook.md"
	runbookURL   = "https://github.com/datapath-exporter/datapath-exporter/blob/main/docs/runbook.md#"
)

type ruleGroups struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	} `yaml:"groups"`
}

type rule struct {
	Record      string            `yaml:"record"`
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// loadRules reads the checked-in rules files (ruleFiles).
func loadRules(t *testing.T) []rule {
	t.Helper()
	return loadRulesFrom(t, ruleFiles)
}

func loadRulesFrom(t *testing.T, files []string) []rule {
	t.Helper()
	var rules []rule
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var g ruleGroups
		if err := yaml.UnmarshalStrict(b, &g); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		n := len(rules)
		for _, grp := range g.Groups {
			rules = append(rules, grp.Rules...)
		}
		if len(rules) == n {
			t.Fatalf("%s holds no rules", file)
		}
	}
	return rules
}

// promtool runs the promtool of every supported Prometheus release with
// args, each in a subtest.
func promtool(t *testing.T, args ...string) {
	t.Helper()
	for _, r := range testenv.PrometheusReleases() {
		t.Run(r.String(), func(t *testing.T) {
			testenv.RequirePrometheus(t, r)
			out, err := exec.Command(r.Promtool, args...).CombinedOutput()
			if err != nil {
				t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			t.Logf("promtool %s:\n%s", strings.Join(args, " "), out)
		})
	}
}

func TestRulesPromtoolCheck(t *testing.T) {
	promtool(t, append([]string{"check", "rules"}, ruleFiles...)...)
}

func TestRulesPromtoolUnitTests(t *testing.T) {
	promtool(t, "test", "rules", ruleTestFile)
}

// TestRulesAlertsAreComplete checks what promtool does not: every alert has a
// severity, a summary, a description that shows the value or names the
// node, a runbook_url whose anchor is a section of docs/runbook.md, and unit
// tests in tests.yml that expect it both to fire and not to fire.
func TestRulesAlertsAreComplete(t *testing.T) {
	runbook, err := os.ReadFile(runbookFile)
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^#{2,3} (.+)$`).FindAllStringSubmatch(string(runbook), -1) {
		anchors[githubAnchor(m[1])] = true
	}
	fires, quiet := alertTestCases(t)

	for _, r := range loadRules(t) {
		if r.Alert == "" {
			continue
		}
		t.Run(r.Alert, func(t *testing.T) {
			switch r.Labels["severity"] {
			case "warning", "critical":
			default:
				t.Errorf("severity = %q, want warning or critical", r.Labels["severity"])
			}
			for _, a := range []string{"summary", "description", "runbook_url"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					t.Errorf("annotation %s missing", a)
				}
			}
			if d := r.Annotations["description"]; !strings.Contains(d, "$value") && !strings.Contains(d, "$labels.instance") {
				t.Errorf("description %q shows neither the value nor the instance", d)
			}
			u := r.Annotations["runbook_url"]
			anchor, ok := strings.CutPrefix(u, runbookURL)
			if !ok {
				t.Errorf("runbook_url %q does not start with %s", u, runbookURL)
			} else if !anchors[anchor] {
				t.Errorf("runbook_url anchor #%s is not a section of %s", anchor, runbookFile)
			}
			if fires[r.Alert] == 0 {
				t.Errorf("%s has no case where the alert fires", ruleTestFile)
			}
			if quiet[r.Alert] == 0 {
				t.Errorf("%s has no case where the alert must not fire", ruleTestFile)
			}
		})
	}
}

// alertTestCases counts, per alert name, the alert_rule_test cases of
// tests.yml expecting alerts and those expecting none.
func alertTestCases(t *testing.T) (fires, quiet map[string]int) {
	t.Helper()
	b, err := os.ReadFile(ruleTestFile)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string        `yaml:"alertname"`
				ExpAlerts []interface{} `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", ruleTestFile, err)
	}
	fires, quiet = map[string]int{}, map[string]int{}
	for _, tc := range f.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname]++
			} else {
				quiet[a.Alertname]++
			}
		}
	}
	return fires, quiet
}

// githubAnchor is the anchor GitHub gives a Markdown heading: lower case,
// punctuation other than '-' and '_' dropped, spaces to '-'.
func githubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}

// runbookPanelLinkRE finds the runbook's links into Grafana:
// /d/<dashboard uid>/?viewPanel=<panel id>.
var runbookPanelLinkRE = regexp.MustCompile(`/d/([\w-]+)/\?viewPanel=(\d+)`)

// TestRunbookLinksResolve checks the runbook's links that no renderer
// checks: each link to a section of itself names a section, and each link
// into a dashboard names a dashboard of grafana/ and one of its panels, whose
// title the paragraph before the link quotes (panel ids stay, titles and
// positions may change: the quote catches a link left pointing at the
// panel's old id).
func TestRunbookLinksResolve(t *testing.T) {
	b, err := os.ReadFile(runbookFile)
	if err != nil {
		t.Fatal(err)
	}
	runbook := string(b)
	anchors := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^#{1,3} (.+)$`).FindAllStringSubmatch(runbook, -1) {
		anchors[githubAnchor(m[1])] = true
	}
	for _, m := range regexp.MustCompile(`\]\(#([^)]+)\)`).FindAllStringSubmatch(runbook, -1) {
		if !anchors[m[1]] {
			t.Errorf("%s links to #%s, which is none of its sections", runbookFile, m[1])
		}
	}

	titles := map[string]map[int]string{} // dashboard uid -> panel id -> title
	for _, file := range append(slices.Clone(dashboardFiles), fleetDashboardFile) {
		d := loadDashboard(t, file)
		titles[d.UID] = map[int]string{}
		for _, p := range allPanels(d.Panels) {
			titles[d.UID][p.ID] = p.Title
		}
	}
	links := runbookPanelLinkRE.FindAllStringSubmatchIndex(runbook, -1)
	if len(links) == 0 {
		t.Fatalf("%s links to no dashboard panel", runbookFile)
	}
	for _, l := range links {
		uid, idText := runbook[l[2]:l[3]], runbook[l[4]:l[5]]
		id, _ := strconv.Atoi(idText)
		panels, ok := titles[uid]
		if !ok {
			t.Errorf("%s links to dashboard %s, which grafana/ lacks", runbookFile, uid)
			continue
		}
		title, ok := panels[id]
		if !ok {
			t.Errorf("%s links to panel %d of %s, which it lacks", runbookFile, id, uid)
			continue
		}
		paragraph := runbook[strings.LastIndex(runbook[:l[0]], "\n\n")+1 : l[0]]
		if !strings.Contains(paragraph, `"`+title+`"`) {
			t.Errorf("%s: the paragraph of the link to panel %d of %s does not quote its title %q", runbookFile, id, uid, title)
		}
	}
}
