package kernelnode

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/datapath-exporter/datapath-exporter/internal/testenv"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

var scrapeClient = &http.Client{Timeout: 30 * time.Second}

// scrapeAddr reads the exporter's /metrics through the forwarded port.
func scrapeAddr(ctx context.Context, addr string) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := scrapeClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(resp.Body)
}

// scrape reads the exporter in the guest.
func scrape(t *testing.T, ctx context.Context) metrics {
	t.Helper()
	mfs, err := scrapeAddr(ctx, node.Forwarded(exporterPort))
	if err != nil {
		t.Fatalf("scraping the exporter in the guest: %v", err)
	}
	return metrics(mfs)
}

type metrics map[string]*dto.MetricFamily

// get returns the sample of family name whose labels include the given
// name=value pairs, and whether there is one.
func (m metrics) get(name string, labels ...string) (float64, bool) {
	mf := m[name]
	if mf == nil {
		return 0, false
	}
	for _, s := range mf.GetMetric() {
		if hasLabels(s, labels...) {
			return testenv.MetricValue(s), true
		}
	}
	return 0, false
}

func hasLabels(s *dto.Metric, labels ...string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		found := false
		for _, l := range s.GetLabel() {
			if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// label returns the value of label name on s.
func label(s *dto.Metric, name string) string {
	for _, l := range s.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// atOneMoment reads the ground truth, scrapes, and reads the truth again,
// until the two readings agree (nothing moved during the scrape), then
// returns the scrape and that truth. Tests compare them exactly.
func atOneMoment[T comparable](t *testing.T, ctx context.Context, truth func() (T, error)) (metrics, T) {
	t.Helper()
	var before, after T
	for attempt := 0; attempt < 20; attempt++ {
		var err error
		if before, err = truth(); err != nil {
			t.Fatal(err)
		}
		m := scrape(t, ctx)
		if after, err = truth(); err != nil {
			t.Fatal(err)
		}
		if before == after {
			return m, before
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("the ground truth kept moving during every scrape: %+v then %+v", before, after)
	panic("unreachable")
}
