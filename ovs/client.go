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

	"github.com/datapath-exporter/datapath-exporter/internal/fault"
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
// their management sockets in RunDir. Per bridge it keeps an OpenFlow
// session open between reads (so a read costs one statistics exchange, not a
// connect and a handshake) and caches table names (OpenFlow 1.3+, where
// statistics carry none). Safe for concurrent use: reads of one bridge take
// turns on its session, reads of different bridges run in parallel. Close
// ends the sessions.
type Client struct {
	// RunDir holds db.sock and the bridges' <bridge>.mgmt sockets.
	RunDir string
	// NamesMaxAge bounds how long cached table names are reused; 0 means
	// DefaultNamesMaxAge.
	NamesMaxAge time.Duration

	mu      sync.Mutex
	bridges map[string]*bridgeState
	now     func() time.Time // for tests
}

// bridgeState is what a Client keeps for one bridge between reads.
type bridgeState struct {
	mu       sync.Mutex // one request in flight on conn
	conn     *Conn      // nil until the first read, and after an error
	names    namesEntry
	hasNames bool
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

// Tables reads the statistics of every table of bridge. With OpenFlow 1.0
// one request returns counts, names and limits; with 1.3+ names and limits
// come from a cached table-features exchange, redone when tableConfig (the
// bridge's Flow_Table configuration in OVSDB, Inventory.TableConfig; "" when
// it is not known) differs from the one the cache was read under, when the
// cache is older than NamesMaxAge, when the negotiated version changed, or
// when the number of tables changed.
//
// The bridge's session is kept for the next read. After an error it is
// closed, and a read whose kept session fails (ovs-vswitchd restarted, or
// closed an idle session) tries once more on a fresh one.
func (c *Client) Tables(ctx context.Context, bridge, tableConfig string) (Bridge, error) {
	var b Bridge
	err := c.onSession(ctx, TablesOp, bridge, func(st *bridgeState) (err error) {
		b, err = c.readTables(ctx, st, bridge, tableConfig)
		return err
	})
	return b, err
}

// onSession runs read on bridge's kept session, dialling one if there is
// none; read finds it in st.conn. After an error the session is closed (the
// stream may be mid-message), and if it was a kept one, read runs once more
// on a fresh session: a kept session fails that way when ovs-vswitchd
// restarted or closed it while idle.
//
// Its errors have op as their operation, whichever step failed (connect,
// handshake, request), so that one failure of a bridge is one failure.
func (c *Client) onSession(ctx context.Context, op, bridge string, read func(st *bridgeState) error) error {
	st := c.state(bridge)
	st.mu.Lock()
	defer st.mu.Unlock()
	reused, err := c.tryOnSession(ctx, st, bridge, read)
	if err != nil && reused && ctx.Err() == nil {
		_, err = c.tryOnSession(ctx, st, bridge, read)
	}
	if err != nil {
		return fault.New(fault.KindOf(err), op, c.SocketPath(bridge), fmt.Errorf("bridge %s: %w", bridge, err))
	}
	return nil
}

// The operations of the errors of Tables and Meters.
const (
	TablesOp = "reading OpenFlow tables on"
	MetersOp = "reading OpenFlow meters on"
)

// tryOnSession is one attempt of onSession; it reports whether the session
// was a kept one. Callers hold st.mu.
func (c *Client) tryOnSession(ctx context.Context, st *bridgeState, bridge string, read func(st *bridgeState) error) (reused bool, err error) {
	reused = st.conn != nil
	if !reused {
		if st.conn, err = Dial(ctx, c.SocketPath(bridge)); err != nil {
			return false, err
		}
	}
	if err = read(st); err != nil {
		st.conn.Close()
		st.conn = nil
	}
	return reused, err
}

// state returns the kept state of bridge, made on first use.
func (c *Client) state(bridge string) *bridgeState {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bridges == nil {
		c.bridges = map[string]*bridgeState{}
	}
	st := c.bridges[bridge]
	if st == nil {
		st = &bridgeState{}
		c.bridges[bridge] = st
	}
	return st
}

// readTables reads the tables on st's session. Callers hold st.mu.
func (c *Client) readTables(ctx context.Context, st *bridgeState, bridge, tableConfig string) (Bridge, error) {
	conn := st.conn
	stats, err := conn.TableStats(ctx)
	if err != nil {
		return Bridge{}, err
	}
	b := Bridge{Name: bridge, Version: conn.Version(), Tables: make([]Table, 0, len(stats))}
	var features map[uint8]TableFeatures
	if conn.Version() != OpenFlow10 {
		features, err = c.cachedFeatures(ctx, st, tableConfig, len(stats))
		if err != nil {
			return Bridge{}, err
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
		t.Name = ownTableName(t.ID, t.Name)
		b.Tables = append(b.Tables, t)
	}
	return b, nil
}

// ownTableName is the name a table was given, if any: OVS reports a table
// without one by its default name "tableN", which is hidden.
func ownTableName(id uint8, name string) string {
	if name == "table"+strconv.Itoa(int(id)) {
		return ""
	}
	return name
}

// cachedFeatures returns the bridge's table features, read again when the
// cache no longer fits. Callers hold st.mu.
func (c *Client) cachedFeatures(ctx context.Context, st *bridgeState, config string, tables int) (map[uint8]TableFeatures, error) {
	conn := st.conn
	now := time.Now
	if c.now != nil {
		now = c.now
	}
	maxAge := c.NamesMaxAge
	if maxAge <= 0 {
		maxAge = DefaultNamesMaxAge
	}
	e, ok := st.names, st.hasNames
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
	st.names = namesEntry{at: now(), version: conn.Version(), features: m, tables: tables, config: config}
	st.hasNames = true
	return m, nil
}

// Forget drops the state of bridges not in keep (bridges that were
// deleted), closing their sessions.
func (c *Client) Forget(keep []string) {
	c.mu.Lock()
	var gone []*bridgeState
	maps.DeleteFunc(c.bridges, func(b string, st *bridgeState) bool {
		if slices.Contains(keep, b) {
			return false
		}
		gone = append(gone, st)
		return true
	})
	c.mu.Unlock()
	for _, st := range gone {
		st.close()
	}
}

// Sessions returns the bridges that have a session open, sorted.
func (c *Client) Sessions() []string {
	c.mu.Lock()
	states := maps.Clone(c.bridges)
	c.mu.Unlock()
	var out []string
	for b, st := range states {
		st.mu.Lock()
		if st.conn != nil {
			out = append(out, b)
		}
		st.mu.Unlock()
	}
	slices.Sort(out)
	return out
}

// Close closes every kept session. The Client can still be used: the next
// read of a bridge opens a new one.
func (c *Client) Close() error {
	c.mu.Lock()
	all := c.bridges
	c.bridges = nil
	c.mu.Unlock()
	for _, st := range all {
		st.close()
	}
	return nil
}

// close closes the session, after the read in flight on it, if any.
func (st *bridgeState) close() {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.conn != nil {
		st.conn.Close()
		st.conn = nil
	}
}
