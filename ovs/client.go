package ovs

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"
)

// DefaultNamesMaxAge is how long table names read with a table-features
// exchange (OpenFlow 1.3+) are reused before they are read again.
const DefaultNamesMaxAge = 5 * time.Minute

// Table is one OpenFlow table of a bridge, as the exporter reports it.
type Table struct {
	ID uint8
	// Name is the table's name (e.g. "SpoofGuard"), or "" for a table that
	// has none: OVS's default "tableN" is reported as "".
	Name    string
	Flows   uint64
	Lookups uint64
	Matches uint64
	// Limit is the flow limit OVS reports for the table (HasLimit).
	Limit    uint64
	HasLimit bool
}

// Bridge is one bridge's tables, read in one OpenFlow session.
type Bridge struct {
	Name    string
	Version Version // negotiated for this read
	Tables  []Table
}

// Client reads table statistics of the bridges of one ovs-vswitchd, found by
// their management sockets in RunDir. It caches table names (OpenFlow 1.3+,
// where statistics carry none) per bridge. Safe for concurrent use, but each
// Tables call opens an OpenFlow session of its own.
type Client struct {
	// RunDir holds db.sock and the bridges' <bridge>.mgmt sockets.
	RunDir string
	// NamesMaxAge bounds how long cached table names are reused; 0 means
	// DefaultNamesMaxAge.
	NamesMaxAge time.Duration

	mu    sync.Mutex
	names map[string]namesEntry
	// tableConfig is, per bridge, the fingerprint of its Flow_Table
	// configuration at the last Bridges call: a change refreshes names.
	tableConfig map[string]string
	now         func() time.Time // for tests
}

type namesEntry struct {
	at       time.Time
	version  Version
	features map[uint8]TableFeatures
	tables   int    // number of tables the stats reported when read
	config   string // the bridge's OVSDB table configuration when read
}

// SocketPath returns the management socket of bridge.
func (c *Client) SocketPath(bridge string) string {
	return filepath.Join(c.RunDir, bridge+".mgmt")
}

// DBSocketPath returns the OVSDB socket.
func (c *Client) DBSocketPath() string { return filepath.Join(c.RunDir, "db.sock") }

// Bridges lists the bridges known to OVSDB, and notes each bridge's table
// configuration (Flow_Table names and limits) so that Tables reads names
// again as soon as it changes.
func (c *Client) Bridges(ctx context.Context) ([]string, error) {
	inv, err := readInventory(ctx, c.DBSocketPath())
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.tableConfig = inv.tableConfig
	c.mu.Unlock()
	return inv.bridges, nil
}

// Tables reads the statistics of every table of bridge. With OpenFlow 1.0
// one request returns counts, names and limits; with 1.3+ names and limits
// come from a cached table-features exchange, redone when the bridge's
// Flow_Table configuration in OVSDB changed (as seen by the last Bridges
// call), when the cache is older than NamesMaxAge, when the negotiated
// version changed, or when the number of tables changed.
func (c *Client) Tables(ctx context.Context, bridge string) (Bridge, error) {
	conn, err := Dial(ctx, c.SocketPath(bridge))
	if err != nil {
		return Bridge{}, fmt.Errorf("bridge %s: %w", bridge, err)
	}
	defer conn.Close()

	stats, err := conn.TableStats(ctx)
	if err != nil {
		return Bridge{}, fmt.Errorf("bridge %s: %w", bridge, err)
	}
	b := Bridge{Name: bridge, Version: conn.Version(), Tables: make([]Table, 0, len(stats))}
	var features map[uint8]TableFeatures
	if conn.Version() != OpenFlow10 {
		features, err = c.cachedFeatures(ctx, conn, bridge, len(stats))
		if err != nil {
			return Bridge{}, fmt.Errorf("bridge %s: %w", bridge, err)
		}
	}
	for _, s := range stats {
		t := Table{
			ID:       s.ID,
			Name:     s.Name,
			Flows:    uint64(s.Active),
			Lookups:  s.Lookups,
			Matches:  s.Matches,
			Limit:    uint64(s.MaxEntries),
			HasLimit: s.HasMaxEntries,
		}
		if f, ok := features[s.ID]; ok {
			t.Name = f.Name
			t.Limit, t.HasLimit = uint64(f.MaxEntries), true
		}
		t.Name = userName(t.ID, t.Name)
		b.Tables = append(b.Tables, t)
	}
	return b, nil
}

// userName hides OVS's default table name "tableN": such a table has no
// name of its own.
func userName(id uint8, name string) string {
	if name == "table"+strconv.Itoa(int(id)) {
		return ""
	}
	return name
}

func (c *Client) cachedFeatures(ctx context.Context, conn *Conn, bridge string, tables int) (map[uint8]TableFeatures, error) {
	now := time.Now
	if c.now != nil {
		now = c.now
	}
	maxAge := c.NamesMaxAge
	if maxAge <= 0 {
		maxAge = DefaultNamesMaxAge
	}
	c.mu.Lock()
	e, ok := c.names[bridge]
	config := c.tableConfig[bridge]
	c.mu.Unlock()
	if ok && e.version == conn.Version() && e.tables == tables && e.config == config && now().Sub(e.at) < maxAge {
		return e.features, nil
	}
	tf, err := conn.TableFeatures(ctx)
	if err != nil {
		return nil, err
	}
	m := make(map[uint8]TableFeatures, len(tf))
	for _, f := range tf {
		m[f.ID] = f
	}
	c.mu.Lock()
	if c.names == nil {
		c.names = make(map[string]namesEntry)
	}
	c.names[bridge] = namesEntry{at: now(), version: conn.Version(), features: m, tables: tables, config: config}
	c.mu.Unlock()
	return m, nil
}

// Forget drops cached state of bridges not in keep (bridges that were
// deleted).
func (c *Client) Forget(keep []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	maps.DeleteFunc(c.names, func(b string, _ namesEntry) bool { return !slices.Contains(keep, b) })
}
