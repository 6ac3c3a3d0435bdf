package testenv

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
)

// TestAntreaAgentStandin checks the stand-in against a real OVS: its counts
// start as ovs-ofctl's, follow the flows it is told it installed or removed
// (not OVS), and it serves them over TLS to the right token only.
func TestAntreaAgentStandin(t *testing.T) {
	o := OVSForTest(t, OVSOptions{})
	if err := o.AddBridge("br-int", "OpenFlow10", "OpenFlow15"); err != nil {
		t.Fatal(err)
	}
	if err := o.AddFlows("br-int", append(AntreaBaseFlows(), AntreaPodFlows(0)...)); err != nil {
		t.Fatal(err)
	}
	a := AntreaAgentForTest(t, AntreaAgentOptions{Names: AntreaAgentTableNames})
	if err := a.SyncCounts(o, "br-int"); err != nil {
		t.Fatal(err)
	}
	counts, err := o.FlowCountsPerTable("br-int")
	if err != nil {
		t.Fatal(err)
	}
	got := a.Counts()
	for id := range AntreaAgentTableNames {
		if got[id] != float64(counts[id]) {
			t.Errorf("table %d: stand-in counts %v, ovs-ofctl %d", id, got[id], counts[id])
		}
	}
	a.Installed(AntreaPodFlows(1))
	a.Removed(AntreaPodFlows(0)[:1])
	if c := a.Counts(); c[1] != got[1]+1 || c[16] != got[16]+1 || c[3] != got[3]+1 {
		t.Errorf("after installing Pod 1 and removing one flow of Pod 0: %v (before %v)", c, got)
	}

	pem, err := os.ReadFile(a.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	for _, tt := range []struct {
		name, auth string
		status     int
		want       string
	}{
		{"no token", "", http.StatusUnauthorized, "Unauthorized"},
		{"wrong token", "Bearer nope", http.StatusUnauthorized, "Unauthorized"},
		{"token", "Bearer " + a.Token, http.StatusOK, `antrea_agent_ovs_flow_count{table_id="1",table_name="SpoofGuard"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, a.URL()+"/metrics", nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || !strings.Contains(string(body), tt.want) {
				t.Errorf("%s: %s\n%s", tt.name, resp.Status, body)
			}
			if tt.status == http.StatusOK && !strings.Contains(string(body), "# TYPE go_goroutines gauge") {
				t.Error("no Go runtime families around Antrea's")
			}
		})
	}
}
