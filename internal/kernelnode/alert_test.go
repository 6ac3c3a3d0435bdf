package kernelnode

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.yaml.in/yaml/v2"

	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
)

const (
	rulesFile      = "../../deploy/rules/datapath-exporter.rules.yml"
	tableFullAlert = "DatapathConntrackTableFull"
)

type rule struct {
	Alert       string            `yaml:"alert,omitempty"`
	Record      string            `yaml:"record,omitempty"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty"`
}

// tableFullRuleFile writes the project's DatapathConntrackTableFull rule
// with its expression unchanged and a `for` of 10s instead of minutes: the
// expression is what is checked against a real full table.
func tableFullRuleFile(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []rule `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &g); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	for _, grp := range g.Groups {
		for _, r := range grp.Rules {
			if r.Alert != tableFullAlert {
				continue
			}
			r.For = "10s"
			doc := map[string]any{"groups": []map[string]any{{"name": "kernelnode", "rules": []rule{r}}}}
			out, err := yaml.Marshal(doc)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "tablefull.rules.yml")
			if err := os.WriteFile(path, out, 0o644); err != nil {
				t.Fatal(err)
			}
			return path
		}
	}
	t.Fatalf("%s has no %s rule", rulesFile, tableFullAlert)
	return ""
}

// waitAlertFiring waits until Prometheus reports alert name firing.
func waitAlertFiring(t *testing.T, ctx context.Context, p *testenv.Prometheus, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	var last string
	err := testenv.WaitFor(ctx, func() bool {
		alerts, err := p.Alerts(ctx)
		if err != nil {
			last = err.Error()
			return false
		}
		last = ""
		for _, a := range alerts {
			last += a.Labels.String() + "=" + string(a.State) + " "
			if string(a.Labels["alertname"]) == name && a.State == "firing" {
				return true
			}
		}
		return false
	})
	if err != nil {
		t.Fatalf("%s never fired: alerts %s", name, last)
	}
}
