// Package conntrack reads the kernel conntrack table over netlink: its size,
// limit and per-CPU statistics in O(1), never a dump (Read), and, only when
// asked, entries per zone (ZoneCounts) or per address of the original
// direction (AddrCounts) by one streamed dump, O(n) in time, flat in memory.
//
// A Reader asks ctnetlink two questions per Read (IPCTNL_MSG_CT_GET_STATS for
// the entry count and nf_conntrack_max, IPCTNL_MSG_CT_GET_STATS_CPU for the
// per-CPU counters), so its cost does not grow with the table. It can read
// its own network namespace or another one given as a namespace file
// (/run/netns/NAME, /proc/PID/ns/net). The kernel answers these requests only
// to a caller with CAP_NET_ADMIN in that namespace.
package conntrack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/datapath-exporter/datapath-exporter/internal/fault"
)

// Config says which conntrack table to read. How long to wait is the
// caller's context's business.
type Config struct {
	// NetnsPath is a network namespace file such as /run/netns/NAME or
	// /proc/PID/ns/net; empty reads the exporter's own namespace.
	NetnsPath string
}

// Global is the table's size and limit.
type Global struct {
	Entries uint64 // entries in the table now (nf_conntrack_count)
	Limit   uint64 // nf_conntrack_max
}

// Snapshot is one Read's result.
type Snapshot struct {
	Global Global
	Stats  CPUStats
	cpus   int // CPUs the kernel reported per-CPU counters for
}

// Reader reads one namespace's conntrack table. It keeps the netlink socket
// of Read open between reads (dialling costs more than the two requests,
// most of all into another namespace), drops it after an error or a
// timeout, and dials a new one at the next Read. Read may be called
// concurrently: reads take turns on the socket.
type Reader struct {
	cfg  Config
	ns   *os.File // nil for the own namespace
	nsFD int      // netlink.Config.NetNS: 0 means the own namespace

	mu     sync.RWMutex // Read holds it shared so Close cannot close ns under it
	closed bool

	turn chan struct{} // one Read at a time on conn
	conn *netlink.Conn // kept between reads; nil before the first and after a failure

	// query is what Read runs on the dialled connection; tests replace it
	// to simulate a kernel that never answers or a decoder that panics.
	query func(*netlink.Conn) (Snapshot, error)
}

// NewReader checks the configuration and, when NetnsPath is set, opens the
// namespace file and keeps it open, so a wrong path fails at start-up rather
// than at every scrape and the namespace stays pinned while the exporter
// runs.
func NewReader(cfg Config) (*Reader, error) {
	r := &Reader{cfg: cfg, query: query, turn: make(chan struct{}, 1)}
	if cfg.NetnsPath == "" {
		return r, nil
	}
	f, err := openNetns(cfg.NetnsPath)
	if err != nil {
		return nil, err
	}
	r.ns, r.nsFD = f, int(f.Fd())
	return r, nil
}

// What a network namespace file is, for the errors of openNetns.
const netnsWhat = "want a network namespace file such as /run/netns/NAME or /proc/PID/ns/net"

// OpenNetnsOp is the operation of openNetns's errors.
const OpenNetnsOp = "opening network namespace"

// openNetns opens and checks a network namespace file.
func openNetns(path string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return nil, fault.New(fault.Permission, OpenNetnsOp, path,
				fmt.Errorf("%w: opening another process's network namespace needs CAP_SYS_ADMIN and CAP_SYS_PTRACE", err))
		}
		return nil, fault.New(fault.KindOf(err), OpenNetnsOp, path, fmt.Errorf("%w: %s", err, netnsWhat))
	}
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &st); err != nil {
		f.Close()
		return nil, fault.New(fault.KindOf(err), OpenNetnsOp, path, fmt.Errorf("%w: %s", err, netnsWhat))
	}
	if st.Type != unix.NSFS_MAGIC {
		f.Close()
		return nil, fault.New(fault.NotFound, OpenNetnsOp, path, fmt.Errorf("not a namespace file (filesystem type %#x, want nsfs): %s", st.Type, netnsWhat))
	}
	// /proc/PID/ns/{mnt,pid,...} are nsfs too; only a network namespace will do.
	typ, err := unix.IoctlRetInt(int(f.Fd()), unix.NS_GET_NSTYPE)
	if err == nil && typ != unix.CLONE_NEWNET {
		f.Close()
		return nil, fault.New(fault.NotFound, OpenNetnsOp, path, fmt.Errorf("a namespace, but not a network namespace: %s", netnsWhat))
	}
	return f, nil
}

// Read asks ctnetlink in the configured namespace for the global and
// per-CPU statistics, on the socket kept from the last successful Read or a
// new one. It returns within the context's deadline: when the kernel (or a
// netlink library bug) leaves the request unanswered, Read closes the socket,
// which wakes the blocked receive, waits for it and returns a timeout error
// wrapping context.DeadlineExceeded. No goroutine outlives Read.
func (r *Reader) Read(ctx context.Context) (Snapshot, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return Snapshot{}, fault.New(fault.Closed, ReadOp, r.cfg.NetnsPath, errors.New("reader is closed"))
	}

	if err := ctx.Err(); err != nil {
		return Snapshot{}, fault.Wrap(ReadOp, r.cfg.NetnsPath, err)
	}
	budget := budgetOf(ctx)
	select {
	case r.turn <- struct{}{}:
		defer func() { <-r.turn }()
	case <-ctx.Done():
		return Snapshot{}, fault.Wrap(ReadOp, r.cfg.NetnsPath, fmt.Errorf("another read held the socket%s: %w", budget, ctx.Err()))
	}
	// The kept socket is taken: only a read that succeeds puts it back.
	kept := r.conn
	r.conn = nil

	type result struct {
		snap Snapshot
		conn *netlink.Conn // the socket used, to keep or close
		err  error
	}
	var (
		done      = make(chan result, 1)
		mu        sync.Mutex
		conn      *netlink.Conn
		abandoned bool
		closeOnce sync.Once
	)
	closeConn := func() {
		mu.Lock()
		abandoned = true
		c := conn
		mu.Unlock()
		if c != nil {
			closeOnce.Do(func() { _ = c.Close() })
		}
	}

	go func() {
		var res result
		defer func() { done <- res }()
		defer func() {
			if p := recover(); p != nil {
				res.err = fault.New(fault.Protocol, ReadOp, r.cfg.NetnsPath, fmt.Errorf("the netlink library or decoder panicked (an unexpected or empty kernel reply): %v", p))
			}
		}()

		c := kept
		if c == nil {
			var err error
			if c, err = netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: r.nsFD}); err != nil {
				res.err = r.explain(ReadOp, DialOp, err)
				return
			}
		}
		mu.Lock()
		conn = c
		gone := abandoned
		mu.Unlock()
		res.conn = c
		if gone {
			res.err = errors.New("abandoned")
			return
		}
		res.snap, res.err = r.query(c)
		if res.err != nil {
			res.err = r.explain(ReadOp, "requesting statistics", res.err)
		}
	}()

	select {
	case res := <-done:
		if res.err != nil {
			if res.conn != nil {
				closeOnce.Do(func() { _ = res.conn.Close() })
			}
			return Snapshot{}, res.err
		}
		r.conn = res.conn
		return res.snap, nil
	case <-ctx.Done():
		closeConn()
		if res := <-done; res.conn != nil { // closing the socket has woken the blocked receive
			closeOnce.Do(func() { _ = res.conn.Close() })
		}
		return Snapshot{}, fault.Wrap(ReadOp, r.cfg.NetnsPath, fmt.Errorf("no answer%s, gave up and closed the socket: %w (one known cause: with mdlayher/netlink >= v1.10 StatsGlobal never returns, so it is pinned at v1.7.2)",
			budget, ctx.Err()))
	}
}

// budgetOf says how long ctx allows from now, for error messages: " within
// 2s", or "" without a deadline.
func budgetOf(ctx context.Context) string {
	deadline, ok := ctx.Deadline()
	if !ok {
		return ""
	}
	return " within " + time.Until(deadline).Round(time.Millisecond).String()
}

// query asks for the global then the per-CPU statistics, on one socket,
// and decodes both replies (stats.go).
func query(c *netlink.Conn) (Snapshot, error) {
	msgs, err := c.Execute(statsRequest(ipctnlMsgCTGetStats, netlink.Request|netlink.Dump|netlink.Acknowledge))
	if err != nil {
		return Snapshot{}, fmt.Errorf("global statistics: %w", err)
	}
	g, err := decodeGlobal(msgs)
	if err != nil {
		return Snapshot{}, fmt.Errorf("global statistics: %w", err)
	}
	if msgs, err = c.Execute(statsRequest(ipctnlMsgCTGetStatsCPU, netlink.Request|netlink.Dump)); err != nil {
		return Snapshot{}, fmt.Errorf("per-CPU statistics: %w", err)
	}
	stats, cpus, err := decodeCPUStats(msgs)
	if err != nil {
		return Snapshot{}, fmt.Errorf("per-CPU statistics: %w", err)
	}
	return Snapshot{Global: g, Stats: stats, cpus: cpus}, nil
}

// statsRequest is a ctnetlink statistics request: the flags are those
// ti-mo/conntrack v0.6.0 sent, which the kernel has always answered
// (and which mdlayher/netlink v1.7.2 waits for correctly).
func statsRequest(msgType uint16, flags netlink.HeaderFlags) netlink.Message {
	return netlink.Message{
		Header: netlink.Header{
			Type:  netlink.HeaderType(nfnlSubsysCTNetlink<<8 | msgType),
			Flags: flags,
		},
		// nfgenmsg: family AF_UNSPEC, version NFNETLINK_V0, res_id 0.
		Data: []byte{unix.AF_UNSPEC, 0, 0, 0},
	}
}

// ReadOp is the operation of Read's errors that come from no one step.
const ReadOp = "reading conntrack over netlink"

// The steps of a read, the operations of their errors. EnterNetnsOp is
// dialling into another namespace, i.e. setns(2), which fails for want of
// a privilege of its own.
const (
	DialOp       = "dialling ctnetlink"
	EnterNetnsOp = "entering network namespace"
)

// explain classifies the errors of a step of a read (whole: ReadOp or
// ZonesOp), saying what they mean for conntrack. The original error stays wrapped, so errors.Is(err,
// os.ErrPermission) and errors.Is(err, syscall.EPERM) keep working.
func (r *Reader) explain(whole, step string, err error) error {
	path := r.cfg.NetnsPath
	if kind := fault.KindOf(err); kind == fault.Timeout || kind == fault.Closed {
		// Where a deadline strikes is chance: the failure is of the
		// whole read, whichever step it stopped.
		return fault.New(kind, whole, path, fmt.Errorf("%s: %w", step, err))
	}
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return fault.Wrap(step, path, err)
	}
	switch errno {
	case syscall.EPERM, syscall.EACCES:
		if step == DialOp && path != "" {
			// The socket itself needs no privilege: this is setns(2).
			return fault.New(fault.Permission, EnterNetnsOp, path,
				fmt.Errorf("%w: entering another network namespace needs CAP_SYS_ADMIN (%s: %w)", errno, step, err))
		}
		return fault.New(fault.Permission, step, path,
			fmt.Errorf("%w: reading conntrack needs CAP_NET_ADMIN in the network namespace it reads (%w)", errno, err))
	case syscall.ENOENT, syscall.EPROTONOSUPPORT, syscall.EOPNOTSUPP, syscall.EAFNOSUPPORT:
		return fault.New(fault.NotFound, step, path,
			fmt.Errorf("%w: the kernel has no conntrack netlink interface (nf_conntrack or nf_conntrack_netlink not loaded) (%w)", errno, err))
	case syscall.EINVAL:
		return fault.New(fault.Protocol, step, path,
			fmt.Errorf("%w: the kernel did not recognise the request (nf_conntrack_netlink not loaded?) (%w)", errno, err))
	}
	return fault.Wrap(step, path, err)
}

// Close releases the namespace file, after any Read in progress returns.
// Reads after Close fail.
func (r *Reader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	if r.conn != nil { // no Read holds it: they hold r.mu shared
		r.conn.Close()
		r.conn = nil
	}
	if r.ns != nil {
		return r.ns.Close()
	}
	return nil
}
