package collector

import (
	"log/slog"
	"slices"
	"sync"

	"github.com/datapath-exporter/datapath-exporter/antrea"
)

// AgentConntrack is what the antrea_agent collector last learnt of the
// conntrack gauges the Antrea agent serves itself (its Flow Exporter's
// antrea_agent_conntrack_*), so that --compat.antrea never serves a second
// series of the same name: the conntrack collectors leave out the names the
// agent serves. The antrea_agent collector is its one writer; until it has
// read the agent once, every name is left out (it may serve them all).
// Without the antrea_agent collector nothing is known and everything is
// served. Safe for concurrent use; the zero value knows nothing.
type AgentConntrack struct {
	mu       sync.Mutex
	expected bool // the antrea_agent collector is on
	known    bool // it has read the agent at least once
	served   antrea.ConntrackFamilies
}

// expect records that the antrea_agent collector is on and will learn.
func (a *AgentConntrack) expect() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.expected = true
}

// learn records what a read of the agent held and, with compat, logs once
// when the agent starts or stops serving some of the names.
func (a *AgentConntrack) learn(f antrea.ConntrackFamilies, compat bool, logger *slog.Logger) {
	a.mu.Lock()
	prev, known := a.served, a.known
	a.served, a.known = f, true
	a.mu.Unlock()
	if !compat || (known && prev == f) {
		return
	}
	if names := f.Names(); len(names) > 0 {
		logger.Info("the Antrea agent serves these conntrack metrics itself (its Flow Exporter is on): --compat.antrea leaves them out", "metrics", names)
	}
	if known {
		var back []string
		for _, n := range prev.Names() {
			if !slices.Contains(f.Names(), n) {
				back = append(back, n)
			}
		}
		if len(back) > 0 {
			logger.Info("the Antrea agent no longer serves these conntrack metrics: --compat.antrea serves them again", "metrics", back)
		}
	}
}

// withheld returns the names the conntrack collectors must not serve.
func (a *AgentConntrack) withheld() antrea.ConntrackFamilies {
	if a == nil {
		return antrea.ConntrackFamilies{}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.expected && !a.known {
		return antrea.ConntrackFamilies{Total: true, Max: true, Antrea: true}
	}
	return a.served
}
