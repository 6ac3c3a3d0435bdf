package collector

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/datapath-exporter/datapath-exporter/antrea"
)

// TestAgentConntrack checks what the conntrack collectors leave out: all
// three names until the antrea_agent collector has read the agent, then
// those the agent serves; nothing without that collector.
func TestAgentConntrack(t *testing.T) {
	var none *AgentConntrack
	if got := none.withheld(); got.Any() {
		t.Errorf("no store: withheld %+v, want nothing", got)
	}
	var off AgentConntrack // the antrea_agent collector is off: never learns
	if got := off.withheld(); got.Any() {
		t.Errorf("antrea_agent off: withheld %+v, want nothing", got)
	}

	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	var a AgentConntrack
	a.expect()
	if got := a.withheld(); got != (antrea.ConntrackFamilies{Total: true, Max: true, Antrea: true}) {
		t.Errorf("before the first read: withheld %+v, want all", got)
	}
	a.learn(antrea.ConntrackFamilies{}, true, logger)
	if got := a.withheld(); got.Any() || logs.Len() != 0 {
		t.Errorf("agent without Flow Exporter: withheld %+v, log %q; want nothing", got, logs.String())
	}
	served := antrea.ConntrackFamilies{Total: true, Max: true}
	a.learn(served, true, logger)
	a.learn(served, true, logger)
	if got := a.withheld(); got != served {
		t.Errorf("withheld %+v, want %+v", got, served)
	}
	if n := strings.Count(logs.String(), "serves these conntrack metrics itself"); n != 1 {
		t.Errorf("logged %d times, want once:\n%s", n, logs.String())
	}
	a.learn(antrea.ConntrackFamilies{Total: true}, true, logger)
	if !strings.Contains(logs.String(), "no longer serves these conntrack metrics") || !strings.Contains(logs.String(), antrea.ConntrackMaxFamily) {
		t.Errorf("the max gauge gone is not logged:\n%s", logs.String())
	}
}
