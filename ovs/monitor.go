package ovs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/datapath-exporter/datapath-exporter/internal/fault"
)

// Inventory is what OVSDB says about the bridges: their names, the OpenFlow
// versions each allows, a fingerprint of each bridge's Flow_Table
// configuration (names and flow limits), which changes whenever a table is
// named, renamed or limited, each bridge's ports and interfaces with their
// statistics, and the Open_vSwitch row's other_config. It is a value: a
// Monitor hands out copies, which nobody modifies (every update builds a
// new one).
type Inventory struct {
	Bridges []string // sorted
	// Protocols are the OpenFlow versions each bridge allows, as OVSDB
	// names them ("OpenFlow10", ...); none means OVS's default.
	Protocols map[string][]string
	// TableConfig fingerprints each bridge's Flow_Table configuration.
	TableConfig map[string]string
	// Ports are each bridge's ports, sorted by name.
	Ports map[string][]Port
	// OtherConfig is the Open_vSwitch row's other_config column (empty
	// when the database has no such row yet).
	OtherConfig map[string]string
}

// FlowRestoreWait reports whether other_config:flow-restore-wait is true:
// ovs-vswitchd then neither flushes nor expires the datapath's flows and
// installs no new ones, waiting for its controller (Antrea's agent, after
// a restart) to replay its flows and set it back. ovs-vswitchd reads it as
// a boolean that is false unless it says "true" (any case).
func (inv Inventory) FlowRestoreWait() bool {
	return strings.EqualFold(inv.OtherConfig["flow-restore-wait"], "true")
}

// The Port external_ids Antrea's agent writes for each Pod's port
// (pkg/agent/cniserver of antrea-io/antrea).
const (
	ExternalIDPodName      = "pod-name"
	ExternalIDPodNamespace = "pod-namespace"
	ExternalIDContainerID  = "container-id"
	ExternalIDIPAddress    = "ip-address"   // comma-separated: two for a dual-stack Pod
	ExternalIDAttachedMAC  = "attached-mac" // the Pod's interface's MAC
	ExternalIDAntreaType   = "antrea-type"  // container, gateway, tunnel, uplink, ...
)

// Port is a row of OVSDB's Port table: a port of a bridge, its
// external_ids (where Antrea records the Pod behind it) and its
// interfaces (one, but for a bond).
type Port struct {
	Name        string
	ExternalIDs map[string]string
	// IPs are the addresses of external_ids:ip-address.
	IPs []netip.Addr
	// IPError, when not nil, says which entries of ip-address are not IP
	// addresses (they are not in IPs): OVSDB holds something Antrea would
	// not have written.
	IPError    error
	Interfaces []Interface // sorted by name
}

// PodName is external_ids:pod-name ("" for a port that is not a Pod's).
func (p Port) PodName() string { return p.ExternalIDs[ExternalIDPodName] }

// PodNamespace is external_ids:pod-namespace.
func (p Port) PodNamespace() string { return p.ExternalIDs[ExternalIDPodNamespace] }

// Interface is a row of OVSDB's Interface table.
type Interface struct {
	Name string
	Type string // "" (a system device), internal, geneve, patch, ...
	// OFPort is the OpenFlow port number: 0 while ovs-vswitchd has not
	// assigned one, -1 when it failed to add the interface.
	OFPort int64
	// LinkState is "up" or "down", "" while ovs-vswitchd has not said.
	LinkState string
	// Statistics are the counters ovs-vswitchd writes every
	// other_config:stats-update-interval (5 s by default): rx_packets,
	// rx_dropped, tx_errors, ... as OVSDB holds them; empty until it
	// first writes them, and a counter the device does not have is
	// absent.
	Statistics map[string]uint64
}

// Monitor keeps an Inventory of one ovsdb-server up to date with an OVSDB
// "monitor" (RFC 7047 §4.1.5): ovsdb-server sends the Bridge, Flow_Table,
// Port, Interface and Open_vSwitch rows once and then pushes every change
// (interface statistics every 5 s), so reading the inventory costs nothing
// per scrape. It answers ovsdb-server's echo requests, and when the
// connection breaks (ovsdb-server restarting) it reconnects with backoff;
// meanwhile Inventory reports the last inventory as stale, with the cause.
type Monitor struct {
	path   string
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	inv     Inventory
	synced  bool          // inv reflects the current connection
	everOK  bool          // an inventory was ever received
	failed  bool          // a connection attempt has failed
	err     error         // why the monitor is not synced
	since   time.Time     // when it stopped being synced
	changed chan struct{} // closed and replaced at every state change
	conn    net.Conn      // the live connection, for Close
}

// StaleError is Inventory's error while the monitor is not connected: the
// inventory it returns with it is the last one received, as old as Since.
// Its kind is fault.Closed and its operation MonitorOp, whatever the cause of
// the disconnection, so that a log de-duplicated on (kind, operation) sees
// one failure however long it lasts; the text says how long.
type StaleError struct {
	Path  string
	Since time.Time
	Err   error
}

// MonitorOp is the operation of every error of Inventory.
const MonitorOp = "monitor OVSDB"

func (e *StaleError) Error() string {
	return fmt.Sprintf("OVSDB inventory from %s is stale (disconnected %s ago, reconnecting): %v",
		e.Path, time.Since(e.Since).Round(time.Millisecond), e.Err)
}

// Unwrap gives the kind and operation (a *fault.Error around the cause),
// and through it the cause.
func (e *StaleError) Unwrap() error { return fault.New(fault.Closed, MonitorOp, e.Path, e.Err) }

// Backoff between reconnection attempts.
const (
	monitorMinBackoff = 100 * time.Millisecond
	monitorMaxBackoff = 5 * time.Second
	// monitorMaxMessage bounds one JSON-RPC message from ovsdb-server.
	monitorMaxMessage = 16 << 20
)

// StartMonitor starts monitoring the OVSDB server at the unix socket path
// (e.g. /var/run/openvswitch/db.sock) in the background, until Close.
func StartMonitor(path string) *Monitor {
	ctx, cancel := context.WithCancel(context.Background())
	m := &Monitor{path: path, cancel: cancel, done: make(chan struct{}), changed: make(chan struct{}),
		err: errors.New("not connected yet"), since: time.Now()}
	go m.run(ctx)
	return m
}

// Close stops the monitor and waits for its goroutine to end.
func (m *Monitor) Close() error {
	m.cancel()
	m.mu.Lock()
	if m.conn != nil {
		m.conn.Close()
	}
	m.mu.Unlock()
	<-m.done
	return nil
}

// Inventory returns the current inventory. While the first connection is
// being made it waits for it, until ctx ends; once an attempt has failed it
// returns that error at once. While the monitor is disconnected it returns
// the last inventory with a *StaleError.
func (m *Monitor) Inventory(ctx context.Context) (Inventory, error) {
	for {
		m.mu.Lock()
		inv, synced, everOK, failed, err, since, changed := m.inv, m.synced, m.everOK, m.failed, m.err, m.since, m.changed
		m.mu.Unlock()
		switch {
		case synced:
			return inv, nil
		case everOK:
			return inv, &StaleError{Path: m.path, Since: since, Err: err}
		case failed:
			return Inventory{}, fault.New(fault.KindOf(err), MonitorOp, m.path, fmt.Errorf("no OVSDB inventory from %s yet (retrying): %w", m.path, err))
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return Inventory{}, fault.New(fault.KindOf(ctx.Err()), MonitorOp, m.path, fmt.Errorf("waiting for the first OVSDB inventory: %w (last error: %v)", ctx.Err(), err))
		}
	}
}

// setState records a state change and wakes Inventory's waiters.
func (m *Monitor) setState(update func()) {
	m.mu.Lock()
	update()
	close(m.changed)
	m.changed = make(chan struct{})
	m.mu.Unlock()
}

func (m *Monitor) run(ctx context.Context) {
	defer close(m.done)
	backoff := monitorMinBackoff
	for ctx.Err() == nil {
		start := time.Now()
		err := m.session(ctx)
		if ctx.Err() != nil {
			return
		}
		m.setState(func() {
			if m.synced || m.since.IsZero() {
				m.since = time.Now()
			}
			m.synced, m.failed, m.err = false, true, err
		})
		if time.Since(start) > monitorMaxBackoff {
			backoff = monitorMinBackoff // it had been working: retry soon
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, monitorMaxBackoff)
	}
}

// rpcMessage is any JSON-RPC 1.0 message of OVSDB: a request or
// notification (Method set) or a response (Result or Error set).
type rpcMessage struct {
	ID     json.RawMessage `json:"id,omitempty"`
	Method string          `json:"method,omitempty"`
	Params json.RawMessage `json:"params,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  json.RawMessage `json:"error,omitempty"`
}

// monitorID is the id of our monitor request; echo replies echo theirs.
const monitorID = `"dpx-monitor"`

// monitorRequest asks for the columns the inventory needs.
var monitorRequest = []byte(`{"id":` + monitorID + `,"method":"monitor","params":["Open_vSwitch",null,{` +
	`"Bridge":{"columns":["name","protocols","flow_tables","ports"]},` +
	`"Flow_Table":{"columns":["name","flow_limit"]},` +
	`"Port":{"columns":["name","external_ids","interfaces"]},` +
	`"Interface":{"columns":["name","type","ofport","link_state","statistics"]},` +
	`"Open_vSwitch":{"columns":["other_config"]}}]}`)

// monitoredRows are the monitored tables' rows by uuid, as the session
// keeps them between updates.
type monitoredRows map[string]map[string]map[string]any

func newMonitoredRows() monitoredRows {
	return monitoredRows{"Bridge": {}, "Flow_Table": {}, "Port": {}, "Interface": {}, "Open_vSwitch": {}}
}

// session runs one connection: it sends the monitor request, then applies
// the initial rows and every update until the connection fails.
func (m *Monitor) session(ctx context.Context) error {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", m.path)
	if err != nil {
		return fmt.Errorf("connecting to ovsdb-server: %w", explainDialError(m.path, err))
	}
	m.mu.Lock()
	m.conn = nc
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.conn = nil
		m.mu.Unlock()
		nc.Close()
	}()
	if ctx.Err() != nil { // Close came before m.conn was set
		return ctx.Err()
	}
	if _, err := nc.Write(monitorRequest); err != nil {
		return fault.Wrap("sending the monitor request to", m.path, err)
	}
	rows := newMonitoredRows()
	lr := &limitedReader{r: nc, max: monitorMaxMessage}
	dec := json.NewDecoder(lr)
	for {
		var msg rpcMessage
		if err := dec.Decode(&msg); err != nil {
			kind := fault.KindOf(err)
			if kind == fault.Unknown {
				kind = fault.Protocol // not JSON, or too large
			}
			return fault.New(kind, "reading from ovsdb-server at", m.path, err)
		}
		// What the decoder holds beyond this message starts the next.
		lr.n = bufferedLen(dec)
		switch {
		case msg.Method == "echo":
			reply, _ := json.Marshal(rpcMessage{ID: msg.ID, Result: orEmptyArray(msg.Params), Error: json.RawMessage("null")})
			if _, err := nc.Write(reply); err != nil {
				return fault.Wrap("answering ovsdb-server's echo at", m.path, err)
			}
		case msg.Method == "update":
			var params []json.RawMessage
			if err := json.Unmarshal(msg.Params, &params); err != nil || len(params) != 2 {
				return fault.New(fault.Protocol, "reading from ovsdb-server at", m.path, fmt.Errorf("an update that is not [id, table-updates]: %.200s", msg.Params))
			}
			if err := m.apply(rows, params[1]); err != nil {
				return err
			}
		case string(msg.ID) == monitorID:
			if len(msg.Error) > 0 && string(msg.Error) != "null" {
				return fault.New(fault.Remote, "monitor request to", m.path, fmt.Errorf("ovsdb-server refused the monitor request: %s", msg.Error))
			}
			if err := m.apply(rows, msg.Result); err != nil {
				return err
			}
		}
	}
}

func orEmptyArray(r json.RawMessage) json.RawMessage {
	if len(r) == 0 {
		return json.RawMessage("[]")
	}
	return r
}

// apply merges table updates into rows and publishes the inventory they
// make.
func (m *Monitor) apply(rows monitoredRows, raw json.RawMessage) error {
	inv, err := applyTableUpdates(rows, raw)
	if err != nil {
		return fault.New(fault.Protocol, "reading from ovsdb-server at", m.path, err)
	}
	m.setState(func() {
		m.inv, m.synced, m.everOK, m.err = inv, true, true, nil
	})
	return nil
}

// applyTableUpdates merges table updates ({"Bridge": {"<uuid>": {"old": …,
// "new": …}}}) into rows, the monitored tables' rows by uuid, and returns
// the inventory they make. Numbers are kept as json.Number: a counter of
// OVSDB is a 64-bit integer, which a float64 would round.
func applyTableUpdates(rows monitoredRows, raw json.RawMessage) (Inventory, error) {
	var updates map[string]map[string]struct {
		New map[string]any `json:"new"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&updates); err != nil {
		return Inventory{}, fmt.Errorf("table updates this exporter cannot read: %w", err)
	}
	for table, byUUID := range updates {
		if rows[table] == nil {
			continue
		}
		for uuid, u := range byUUID {
			if u.New == nil {
				delete(rows[table], uuid)
				continue
			}
			u.New["_uuid"] = []any{"uuid", uuid}
			rows[table][uuid] = u.New
		}
	}
	return inventoryOf(rows)
}

// limitedReader fails a read once more than max bytes came without the
// decoder finishing a message: ovsdb-server's messages here are small, so a
// huge one is a fault, not something to buffer. The session resets n after
// every message.
type limitedReader struct {
	r   net.Conn
	n   int
	max int
}

func bufferedLen(dec *json.Decoder) int {
	if r, ok := dec.Buffered().(interface{ Len() int }); ok {
		return r.Len()
	}
	return 0
}

func (l *limitedReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.n += n
	if l.n > l.max {
		return n, fmt.Errorf("more than %d bytes from ovsdb-server", l.max)
	}
	return n, err
}
