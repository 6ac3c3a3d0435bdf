package ovs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/datapath-exporter/datapath-exporter/internal/fault"
)

// ovs-vswitchd's control socket ("unixctl"): the unix socket ovs-appctl talks
// to. The protocol is JSON-RPC 1.0 with no framing beyond the JSON values
// themselves: a request {"method":"dpctl/show","params":[],"id":N}, a reply
// {"id":N,"result":"<text>","error":null} or {"id":N,"error":"<text>"}. OVS
// answers several requests on one connection, in order.
//
// The daemon's socket is <rundir>/ovs-vswitchd.<pid>.ctl, with <pid> in
// <rundir>/ovs-vswitchd.pid, unless it was started with --unixctl=PATH.

// DefaultUnixctlMaxReply bounds one reply. A coverage/show of OVS 3.x is a
// few KiB; dpctl/show grows with the number of ports (about 50 bytes each).
const DefaultUnixctlMaxReply = 4 << 20

// What went wrong on a control socket, in the words of its errors; the
// errors are *fault.Error values whose kind says the same for callers.
const (
	unixctlNoDaemon   = "ovs-vswitchd's control socket not found"
	unixctlStale      = "stale control socket: nothing listens on it"
	unixctlPermission = "permission denied on the control socket"
	unixctlTimeout    = "ovs-vswitchd did not answer in time"
	unixctlProtocol   = "reply is not JSON-RPC"
	unixctlTooLarge   = "reply too large"
	unixctlClosed     = "ovs-vswitchd closed the connection"
	unixctlCommand    = "ovs-vswitchd answered with an error"
)

// unixctlError is a failed unixctl exchange: op is the command, or what
// came before any ("connect", "read pidfile"); path is the socket, or the
// pidfile when the socket was not found; what says what went wrong and
// detail (the daemon's own words, or more about the cause) and err add to it.
func unixctlError(kind fault.Kind, op, path, what, detail string, err error) error {
	msg := what
	if detail != "" {
		msg += ": " + detail
	}
	if err != nil {
		return fault.New(kind, op, path, fmt.Errorf("%s (%w)", msg, err))
	}
	return fault.New(kind, op, path, errors.New(msg))
}

// Unixctl finds and talks to one daemon's control socket.
type Unixctl struct {
	// RunDir holds <Target>.pid and <Target>.<pid>.ctl.
	RunDir string
	// Target is the daemon's name; "" means "ovs-vswitchd".
	Target string
	// Path, if set, is the socket to use (a daemon started with
	// --unixctl=PATH); RunDir and the pidfile are then not used.
	Path string
	// MaxReply bounds one reply in bytes; 0 means DefaultUnixctlMaxReply.
	MaxReply int64
}

func (u *Unixctl) target() string {
	if u.Target == "" {
		return "ovs-vswitchd"
	}
	return u.Target
}

// SocketPath returns the control socket to connect to: Path, or the one
// named by the daemon's pidfile, read anew on every call so that a restarted
// daemon (with a new pid) is found.
func (u *Unixctl) SocketPath() (string, error) {
	if u.Path != "" {
		return u.Path, nil
	}
	pidfile := filepath.Join(u.RunDir, u.target()+".pid")
	b, err := os.ReadFile(pidfile)
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return "", unixctlError(fault.Permission, "read pidfile", pidfile, unixctlPermission, "cannot read the pidfile", err)
		}
		return "", unixctlError(fault.NotFound, "read pidfile", pidfile, unixctlNoDaemon,
			"no pidfile: is "+u.target()+" running, and is this the directory holding its pidfile?", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return "", unixctlError(fault.NotFound, "read pidfile", pidfile, unixctlNoDaemon,
			fmt.Sprintf("pidfile holds %q, not a process id", truncateText(string(b), 40)), nil)
	}
	return filepath.Join(u.RunDir, fmt.Sprintf("%s.%d.ctl", u.target(), pid)), nil
}

// Dial connects to the control socket. ctx bounds the connect and, through
// its deadline, every later exchange on the returned connection.
func (u *Unixctl) Dial(ctx context.Context) (*UnixctlConn, error) {
	path, err := u.SocketPath()
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, dialUnixctlError(path, err)
	}
	max := u.MaxReply
	if max <= 0 {
		max = DefaultUnixctlMaxReply
	}
	return &UnixctlConn{c: nc, path: path, maxReply: max}, nil
}

// Call runs one command on a connection of its own.
func (u *Unixctl) Call(ctx context.Context, command string, args ...string) (string, error) {
	c, err := u.Dial(ctx)
	if err != nil {
		return "", err
	}
	defer c.Close()
	return c.Call(ctx, command, args...)
}

func dialUnixctlError(path string, err error) error {
	const op = "connect"
	switch kind := fault.KindOf(err); kind {
	case fault.NotFound:
		return unixctlError(kind, op, path, unixctlNoDaemon, "no socket: the daemon is not running, or the pidfile is left over from an earlier run", err)
	case fault.Refused:
		return unixctlError(kind, op, path, unixctlStale, "", err)
	case fault.Permission:
		return unixctlError(kind, op, path, unixctlPermission, "connecting needs write permission on the socket", err)
	case fault.Timeout:
		return unixctlError(kind, op, path, unixctlTimeout, "", err)
	}
	return unixctlError(fault.NotFound, op, path, unixctlNoDaemon, "cannot connect", err)
}

// UnixctlConn is one connection to a control socket. Not safe for
// concurrent use.
type UnixctlConn struct {
	c        net.Conn
	path     string
	maxReply int64
	id       int64
	// buf holds bytes read past the end of the last reply (OVS sends none,
	// but nothing in the protocol forbids it).
	buf []byte
}

// Path is the socket this connection is on.
func (c *UnixctlConn) Path() string { return c.path }

// Close closes the connection.
func (c *UnixctlConn) Close() error { return c.c.Close() }

type unixctlRequest struct {
	Method string   `json:"method"`
	Params []string `json:"params"`
	ID     int64    `json:"id"`
}

type unixctlReply struct {
	ID     *json.RawMessage `json:"id"`
	Result *json.RawMessage `json:"result"`
	Error  *json.RawMessage `json:"error"`
}

// Call sends one command and returns its text reply. ctx's deadline and
// cancellation bound the write and the read.
func (c *UnixctlConn) Call(ctx context.Context, command string, args ...string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", c.ioError(ctx, command, err)
	}
	dl, _ := ctx.Deadline()
	if err := c.c.SetDeadline(dl); err != nil {
		return "", unixctlError(fault.Closed, command, c.path, unixctlClosed, "", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.c.SetDeadline(time.Now()) })
	defer stop()

	c.id++
	if args == nil {
		args = []string{}
	}
	req, err := json.Marshal(unixctlRequest{Method: command, Params: args, ID: c.id})
	if err != nil {
		return "", unixctlError(fault.Protocol, command, c.path, unixctlProtocol, "encoding the request", err)
	}
	if _, err := c.c.Write(req); err != nil {
		return "", c.ioError(ctx, command, err)
	}
	raw, err := c.readValue(ctx, command)
	if err != nil {
		return "", err
	}
	return decodeUnixctlReply(raw, c.id, command, c.path)
}

// CallEach sends the commands (without arguments) at once and returns their
// text replies in order: ovs-vswitchd answers the requests of a connection in
// order, several per turn of its main loop, so n commands cost about one
// round trip instead of n. It stops at the first error; the replies before it
// are returned.
func (c *UnixctlConn) CallEach(ctx context.Context, commands ...string) ([]string, error) {
	if len(commands) == 0 {
		return nil, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, c.ioError(ctx, commands[0], err)
	}
	dl, _ := ctx.Deadline()
	if err := c.c.SetDeadline(dl); err != nil {
		return nil, unixctlError(fault.Closed, commands[0], c.path, unixctlClosed, "", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.c.SetDeadline(time.Now()) })
	defer stop()

	first := c.id + 1
	var reqs []byte
	for _, command := range commands {
		c.id++
		req, err := json.Marshal(unixctlRequest{Method: command, Params: []string{}, ID: c.id})
		if err != nil {
			return nil, unixctlError(fault.Protocol, command, c.path, unixctlProtocol, "encoding the request", err)
		}
		reqs = append(reqs, req...)
	}
	if _, err := c.c.Write(reqs); err != nil {
		return nil, c.ioError(ctx, commands[0], err)
	}
	out := make([]string, 0, len(commands))
	for i, command := range commands {
		raw, err := c.readValue(ctx, command)
		if err != nil {
			return out, err
		}
		text, err := decodeUnixctlReply(raw, first+int64(i), command, c.path)
		if err != nil {
			return out, err
		}
		out = append(out, text)
	}
	return out, nil
}

// readValue reads exactly one JSON value, at most maxReply bytes long.
func (c *UnixctlConn) readValue(ctx context.Context, command string) ([]byte, error) {
	var sc jsonScanner
	chunk := make([]byte, 64<<10)
	for {
		if n, ok := sc.scan(c.buf); ok {
			v := c.buf[:n]
			c.buf = append([]byte(nil), c.buf[n:]...)
			return v, nil
		}
		if int64(len(c.buf)) > c.maxReply {
			return nil, unixctlError(fault.Protocol, command, c.path, unixctlTooLarge, fmt.Sprintf("more than %d bytes", c.maxReply), nil)
		}
		n, err := c.c.Read(chunk)
		c.buf = append(c.buf, chunk[:n]...)
		if err != nil {
			if n, ok := sc.scan(c.buf); ok {
				v := c.buf[:n]
				c.buf = nil
				return v, nil
			}
			if errors.Is(err, io.EOF) && len(bytes.TrimSpace(c.buf)) > 0 {
				return nil, unixctlError(fault.Protocol, command, c.path, unixctlProtocol,
					fmt.Sprintf("connection closed in the middle of a reply starting %q", truncateText(string(c.buf), 80)), nil)
			}
			return nil, c.ioError(ctx, command, err)
		}
	}
}

// jsonScanner finds where the JSON object at the start of a growing buffer
// ends, looking at each byte once. It does not validate the value;
// json.Unmarshal does that.
type jsonScanner struct {
	pos               int // next byte to look at
	started           bool
	depth             int
	inString, escaped bool
}

// scan looks at b[sc.pos:] and returns the length of the value and true
// once it is complete. Anything but an object (after white space) is
// reported complete at once, with all of b, so that the caller rejects it
// rather than waiting for more.
func (sc *jsonScanner) scan(b []byte) (int, bool) {
	for ; sc.pos < len(b); sc.pos++ {
		ch := b[sc.pos]
		if !sc.started {
			switch ch {
			case ' ', '\t', '\n', '\r':
				continue
			case '{':
				sc.started = true
				sc.depth = 1
				continue
			default:
				return len(b), true
			}
		}
		switch {
		case sc.inString && sc.escaped:
			sc.escaped = false
		case sc.inString && ch == '\\':
			sc.escaped = true
		case sc.inString && ch == '"':
			sc.inString = false
		case sc.inString:
		case ch == '"':
			sc.inString = true
		case ch == '{' || ch == '[':
			sc.depth++
		case ch == '}' || ch == ']':
			sc.depth--
			if sc.depth == 0 {
				sc.pos++
				return sc.pos, true
			}
		}
	}
	return 0, false
}

// jsonValueEnd is a one-shot scan of b.
func jsonValueEnd(b []byte) (int, bool) {
	var sc jsonScanner
	return sc.scan(b)
}

// decodeUnixctlReply checks that raw is the JSON-RPC reply to request id and
// returns its result text.
func decodeUnixctlReply(raw []byte, id int64, command, path string) (string, error) {
	fail := func(kind fault.Kind, detail string, err error) error {
		what := unixctlProtocol
		if kind == fault.Remote {
			what = unixctlCommand
		}
		return unixctlError(kind, command, path, what, detail, err)
	}
	var r unixctlReply
	if err := json.Unmarshal(raw, &r); err != nil {
		return "", fail(fault.Protocol, fmt.Sprintf("got %q", truncateText(string(raw), 80)), err)
	}
	if r.ID == nil {
		return "", fail(fault.Protocol, fmt.Sprintf("no id in %q", truncateText(string(raw), 80)), nil)
	}
	var gotID int64
	if err := json.Unmarshal(*r.ID, &gotID); err != nil || gotID != id {
		return "", fail(fault.Protocol, fmt.Sprintf("reply id %s, want %d", truncateText(string(*r.ID), 40), id), nil)
	}
	if r.Error != nil && string(bytes.TrimSpace(*r.Error)) != "null" {
		var msg string
		if err := json.Unmarshal(*r.Error, &msg); err != nil {
			msg = string(*r.Error)
		}
		return "", fail(fault.Remote, strings.TrimSpace(truncateText(msg, 300)), nil)
	}
	if r.Result == nil {
		return "", fail(fault.Protocol, "reply has neither result nor error", nil)
	}
	var text string
	if err := json.Unmarshal(*r.Result, &text); err != nil {
		// OVS 3.4+ answers some commands with a JSON document when the
		// connection asked for it (set-options --format json); this
		// client never asks, so a non-string result is unexpected.
		return "", fail(fault.Protocol, fmt.Sprintf("result is not text: %q", truncateText(string(*r.Result), 80)), err)
	}
	return text, nil
}

// UnixctlExchangeOp is the operation of a failed exchange (a timeout, a
// closed connection) on a control socket: which of the commands sent at
// once was under way when it failed is chance, and is only in the text.
const UnixctlExchangeOp = "exchanging with ovs-vswitchd on"

func (c *UnixctlConn) ioError(ctx context.Context, command string, err error) error {
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return unixctlError(fault.Closed, UnixctlExchangeOp, c.path, command+": canceled", "", err)
	case ctx.Err() != nil || isTimeout(err):
		return unixctlError(fault.Timeout, UnixctlExchangeOp, c.path, command+": "+unixctlTimeout, "", err)
	}
	return unixctlError(fault.Closed, UnixctlExchangeOp, c.path, command+": "+unixctlClosed, "", err)
}

func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// VersionCommand is the control-socket command that answers the daemon's
// version: "ovs-vswitchd (Open vSwitch) 3.1.0".
const VersionCommand = "version"

// ParseVersion returns the version in a `version` reply ("3.1.0", with any
// suffix the build added, e.g. "3.1.0-2ubuntu1" or "3.3.90").
func ParseVersion(text string) (string, error) {
	const marker = "(Open vSwitch) "
	line, _, _ := strings.Cut(text, "\n")
	_, v, ok := strings.Cut(line, marker)
	v = strings.TrimSpace(v)
	if !ok || v == "" || strings.ContainsAny(v, " \t") {
		return "", &FormatError{Command: VersionCommand, Line: line, Reason: "want \"<daemon> (Open vSwitch) <version>\""}
	}
	return v, nil
}

// VersionReader reads a daemon's version over its control socket once per
// daemon: again only when the socket is another (the daemon restarted,
// with a new pid, or made its socket anew at the same path). Safe for
// concurrent use.
type VersionReader struct {
	Unixctl Unixctl

	mu       sync.Mutex
	instance string // the socket the version was read on, and its inode
	version  string
}

// Read returns the daemon's version, asking it only when it is not the
// one last asked.
func (r *VersionReader) Read(ctx context.Context) (string, error) {
	path, err := r.Unixctl.SocketPath()
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", dialUnixctlError(path, err)
	}
	instance := path
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		instance = fmt.Sprintf("%s inode %d changed %d", path, st.Ino, st.Ctim.Nano())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if instance == r.instance {
		return r.version, nil
	}
	u := r.Unixctl
	u.Path = path // the socket just looked at, not the pidfile again
	text, err := u.Call(ctx, VersionCommand)
	if err != nil {
		return "", err
	}
	v, err := ParseVersion(text)
	if err != nil {
		return "", err
	}
	r.instance, r.version = instance, v
	return v, nil
}
