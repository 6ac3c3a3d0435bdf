package ovs

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"

	"github.com/datapath-exporter/datapath-exporter/internal/fault"
)

// DatapathReading is what one read of ovs-vswitchd's control socket yields.
// Fields of commands that failed (or were not reached) are nil.
type DatapathReading struct {
	Datapaths []DatapathStats
	Upcalls   []UpcallStats
	Memory    *MemoryStats
	// Coverage holds the selected coverage counters (see VswitchdReader).
	Coverage map[string]uint64
	// Socket is the control socket the commands were sent to (it names the
	// daemon's pid): a read on another socket is another daemon.
	Socket string
}

// DatapathCommands selects the control-socket commands of a read.
type DatapathCommands uint8

const (
	CmdDpctlShow        DatapathCommands = 1 << iota // Datapaths
	CmdUpcallShow                                    // Upcalls
	CmdMemoryShow                                    // Memory
	CmdCoverageShow                                  // Coverage
	AllDatapathCommands = CmdDpctlShow | CmdUpcallShow | CmdMemoryShow | CmdCoverageShow
)

// datapathCommands are the commands in the order they are sent.
var datapathCommands = []struct {
	cmd  DatapathCommands
	name string
}{
	{CmdDpctlShow, "dpctl/show"},
	{CmdUpcallShow, "upcall/show"},
	{CmdMemoryShow, "memory/show"},
	{CmdCoverageShow, "coverage/show"},
}

// VswitchdReader reads the datapath's state from ovs-vswitchd's control
// socket: dpctl/show, upcall/show, memory/show and coverage/show on one
// connection, kept open between reads (one read at a time on it). A read
// whose kept connection fails (ovs-vswitchd restarted: its socket has a new
// pid in its name) tries once more on a fresh one, found anew from the
// pidfile. It keeps, per daemon (per control socket), which of
// CoverageEvents the daemon has, because coverage/show omits counters that
// were never hit: those the daemon has are reported as 0, the others not at
// all. Safe for concurrent use.
type VswitchdReader struct {
	Unixctl Unixctl
	// CoverageEvents are the coverage counters to report by exact name;
	// counters starting with one of CoveragePrefixes are reported too,
	// once coverage/show lists them.
	CoverageEvents   []string
	CoveragePrefixes []string

	mu    sync.Mutex
	known map[string]map[string]bool // socket -> event -> the daemon has it

	connMu sync.Mutex   // one read at a time on conn
	conn   *UnixctlConn // kept between reads; nil after an error
}

// Read runs every command and parses their replies. It returns what it
// could read and the first error; ctx bounds the whole exchange.
func (r *VswitchdReader) Read(ctx context.Context) (DatapathReading, error) {
	return r.ReadCommands(ctx, AllDatapathCommands)
}

// ReadCommands is Read of the commands in cmds only (sent at once); the
// fields of the others are nil.
func (r *VswitchdReader) ReadCommands(ctx context.Context, cmds DatapathCommands) (DatapathReading, error) {
	r.connMu.Lock()
	defer r.connMu.Unlock()
	st, reused, err := r.readOnce(ctx, cmds)
	var fe *FormatError
	if err != nil && reused && ctx.Err() == nil && !errors.As(err, &fe) {
		st, _, err = r.readOnce(ctx, cmds)
	}
	return st, err
}

// Close closes the kept connection.
func (r *VswitchdReader) Close() error {
	r.connMu.Lock()
	defer r.connMu.Unlock()
	if r.conn != nil {
		r.conn.Close()
		r.conn = nil
	}
	return nil
}

// readOnce reads on the kept connection, dialling one if there is none, and
// reports whether it was a kept one. After an error the connection is
// closed: it may be mid-reply. Callers hold r.connMu.
func (r *VswitchdReader) readOnce(ctx context.Context, cmds DatapathCommands) (_ DatapathReading, reused bool, err error) {
	reused = r.conn != nil
	if !reused {
		if r.conn, err = r.Unixctl.Dial(ctx); err != nil {
			return DatapathReading{}, false, err
		}
	}
	st, err := r.read(ctx, r.conn, cmds)
	if err != nil {
		r.conn.Close()
		r.conn = nil
	}
	return st, reused, err
}

// read runs the commands of cmds on conn, sent at once (CallEach).
func (r *VswitchdReader) read(ctx context.Context, conn *UnixctlConn, cmds DatapathCommands) (DatapathReading, error) {
	st := DatapathReading{Socket: conn.Path()}
	var sent []DatapathCommands
	var names []string
	for _, c := range datapathCommands {
		if cmds&c.cmd != 0 {
			sent, names = append(sent, c.cmd), append(names, c.name)
		}
	}
	texts, callErr := conn.CallEach(ctx, names...)
	for i, text := range texts {
		var err error
		switch sent[i] {
		case CmdDpctlShow:
			st.Datapaths, err = ParseDpctlShow(text)
		case CmdUpcallShow:
			st.Upcalls, err = ParseUpcallShow(text)
		case CmdMemoryShow:
			var m MemoryStats
			if m, err = ParseMemoryShow(text); err == nil {
				st.Memory = &m
			}
		case CmdCoverageShow:
			var all map[string]uint64
			if all, err = ParseCoverageShow(text); err == nil {
				st.Coverage, err = r.selectCoverage(ctx, conn, all)
			}
		}
		if err != nil {
			return st, err
		}
	}
	return st, callErr
}

// selectCoverage keeps the selected counters of all. A selected counter
// missing from coverage/show was never hit, if this daemon has it: that is
// asked once per daemon with coverage/read-counter, which answers with an
// error for a counter the daemon does not have.
func (r *VswitchdReader) selectCoverage(ctx context.Context, conn *UnixctlConn, all map[string]uint64) (map[string]uint64, error) {
	out := map[string]uint64{}
	for name, v := range all {
		if slices.Contains(r.CoverageEvents, name) || hasAnyPrefix(name, r.CoveragePrefixes) {
			out[name] = v
		}
	}
	r.mu.Lock()
	if r.known == nil {
		r.known = map[string]map[string]bool{}
	}
	known := r.known[conn.Path()]
	if known == nil {
		// A new daemon (a restart has a new pid): forget the old ones.
		clear(r.known)
		known = map[string]bool{}
		r.known[conn.Path()] = known
	}
	r.mu.Unlock()
	for _, name := range r.CoverageEvents {
		if _, ok := out[name]; ok {
			continue
		}
		r.mu.Lock()
		has, asked := known[name]
		r.mu.Unlock()
		if !asked {
			text, err := conn.Call(ctx, "coverage/read-counter", name)
			switch {
			case fault.Is(err, fault.Remote):
				// "No such counter" (not in this OVS version), or an OVS
				// without read-counter: not reported.
				has = false
			case err != nil:
				return out, err
			default:
				if _, err := ParseCoverageCounter(text); err != nil {
					return out, err
				}
				has = true
			}
			r.mu.Lock()
			known[name] = has
			r.mu.Unlock()
		}
		if has {
			out[name] = 0
		}
	}
	return out, nil
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
