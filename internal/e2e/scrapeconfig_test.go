package e2e

import (
	"os/exec"
	"testing"

	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
)

// TestScrapeConfigPromtoolCheck: the plain Prometheus scrape job is a valid
// configuration for Prometheus 3's promtool, which is built with Kubernetes
// service discovery (Debian's 2.42 is not, so deploy's test parses the file
// strictly instead).
func TestScrapeConfigPromtoolCheck(t *testing.T) {
	testenv.RequirePrometheus(t, testenv.Prometheus3)
	out, err := exec.Command(testenv.Prometheus3.Promtool, "check", "config", "../../deploy/prometheus/scrape-config.yml").CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check config: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
