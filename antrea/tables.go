package antrea

import (
	"maps"
	"sync"
	"time"
)

// Tables holds the table names last learnt from the agent. It is the one
// place that knowledge lives: whoever reads the agent stores each
// successful reading with Learn, and whoever names tables asks Names.
// Names survive the agent's outages and restarts (last known) and are
// replaced as a whole when the agent answers again, so IDs that a restarted
// agent no longer uses lose their names. The zero value is empty and ready.
type Tables struct {
	mu    sync.RWMutex
	names map[uint8]string
	at    time.Time
}

// Learn replaces the known names with those of r, read at time at.
func (t *Tables) Learn(r Reading, at time.Time) {
	names := make(map[uint8]string, len(r.Tables))
	for _, tb := range r.Tables {
		names[tb.ID] = tb.Name
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.names, t.at = names, at
}

// Names returns a copy of the known names by table ID (nil before the first
// successful read) and when they were learnt.
func (t *Tables) Names() (map[uint8]string, time.Time) {
	if t == nil {
		return nil, time.Time{}
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	return maps.Clone(t.names), t.at
}
