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
	"syscall"
	"time"
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

// Kinds of unixctl failure, for errors.Is. Every *UnixctlError wraps one.
var (
	// ErrUnixctlNoDaemon: no pidfile, or no socket where it points: the
	// daemon is not running or the directory is the wrong one.
	ErrUnixctlNoDaemon = errors.New("ovs-vswitchd's control socket not found")
	// ErrUnixctlStale: a socket file nobody listens on (the daemon died
	// without removing it, or is restarting).
	ErrUnixctlStale = errors.New("stale control socket: nothing listens on it")
	// ErrUnixctlPermission: the socket exists but may not be connected to.
	ErrUnixctlPermission = errors.New("permission denied on the control socket")
	// ErrUnixctlTimeout: the daemon did not answer before the deadline.
	ErrUnixctlTimeout = errors.New("ovs-vswitchd did not answer in time")
	// ErrUnixctlProtocol: what came back is not a JSON-RPC reply.
	ErrUnixctlProtocol = errors.New("reply is not JSON-RPC")
	// ErrUnixctlTooLarge: the reply exceeded the size bound.
	ErrUnixctlTooLarge = errors.New("reply too large")
	// ErrUnixctlClosed: the daemon closed the connection (exiting or
	// restarting).
	ErrUnixctlClosed = errors.New("ovs-vswitchd closed the connection")
	// ErrUnixctlCommand: the daemon answered with an error (an unknown
	// command, bad arguments, a failure of the command itself).
	ErrUnixctlCommand = errors.New("ovs-vswitchd answered with an error")
)

// UnixctlError is a failed unixctl exchange.
type UnixctlError struct {
	Kind    error  // one of the ErrUnixctl* values
	Path    string // the socket (or the pidfile, when the socket was not found)
	Command string // "" when the failure came before any command
	Detail  string // the daemon's own words, or more about the cause
	Err     error  // the underlying error, if any
}

func (e *UnixctlError) Error() string {
	var b strings.Builder
	if e.Command != "" {
		fmt.Fprintf(&b, "%s on %s: ", e.Command, e.Path)
	} else {
		fmt.Fprintf(&b, "%s: ", e.Path)
	}
	b.WriteString(e.Kind.Error())
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, " (%v)", e.Err)
	}
	return b.String()
}

// Unwrap lets errors.Is match both the kind and the cause.
func (e *UnixctlError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
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
		kind := ErrUnixctlNoDaemon
		detail := "no pidfile: is " + u.target() + " running, and is this the directory holding its pidfile?"
		if errors.Is(err, os.ErrPermission) {
			kind, detail = ErrUnixctlPermission, "cannot read the pidfile"
		}
		return "", &UnixctlError{Kind: kind, Path: pidfile, Detail: detail, Err: err}
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return "", &UnixctlError{Kind: ErrUnixctlNoDaemon, Path: pidfile,
			Detail: fmt.Sprintf("pidfile holds %q, not a process id", truncateText(string(b), 40))}
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
	e := &UnixctlError{Path: path, Err: err}
	switch {
	case errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOENT):
		e.Kind, e.Detail = ErrUnixctlNoDaemon, "no socket: the daemon is not running, or the pidfile is left over from an earlier run"
	case errors.Is(err, syscall.ECONNREFUSED):
		e.Kind = ErrUnixctlStale
	case errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM):
		e.Kind, e.Detail = ErrUnixctlPermission, "connecting needs write permission on the socket (root in Antrea's agent pod)"
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		e.Kind = ErrUnixctlTimeout
	default:
		e.Kind, e.Detail = ErrUnixctlNoDaemon, "cannot connect"
	}
	return e
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
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
	fail := func(kind error, detail string, err error) error {
		return &UnixctlError{Kind: kind, Path: c.path, Command: command, Detail: detail, Err: err}
	}
	if err := ctx.Err(); err != nil {
		return "", fail(ErrUnixctlTimeout, "", err)
	}
	dl, _ := ctx.Deadline()
	if err := c.c.SetDeadline(dl); err != nil {
		return "", fail(ErrUnixctlClosed, "", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.c.SetDeadline(time.Now()) })
	defer stop()

	c.id++
	if args == nil {
		args = []string{}
	}
	req, err := json.Marshal(unixctlRequest{Method: command, Params: args, ID: c.id})
	if err != nil {
		return "", fail(ErrUnixctlProtocol, "encoding the request", err)
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
	fail := func(command string, kind error, detail string, err error) error {
		return &UnixctlError{Kind: kind, Path: c.path, Command: command, Detail: detail, Err: err}
	}
	if err := ctx.Err(); err != nil {
		return nil, fail(commands[0], ErrUnixctlTimeout, "", err)
	}
	dl, _ := ctx.Deadline()
	if err := c.c.SetDeadline(dl); err != nil {
		return nil, fail(commands[0], ErrUnixctlClosed, "", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.c.SetDeadline(time.Now()) })
	defer stop()

	first := c.id + 1
	var reqs []byte
	for _, command := range commands {
		c.id++
		req, err := json.Marshal(unixctlRequest{Method: command, Params: []string{}, ID: c.id})
		if err != nil {
			return nil, fail(command, ErrUnixctlProtocol, "encoding the request", err)
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
			return nil, &UnixctlError{Kind: ErrUnixctlTooLarge, Path: c.path, Command: command,
				Detail: fmt.Sprintf("more than %d bytes", c.maxReply)}
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
				return nil, &UnixctlError{Kind: ErrUnixctlProtocol, Path: c.path, Command: command,
					Detail: fmt.Sprintf("connection closed in the middle of a reply starting %q", truncateText(string(c.buf), 80))}
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
	fail := func(kind error, detail string, err error) error {
		return &UnixctlError{Kind: kind, Path: path, Command: command, Detail: detail, Err: err}
	}
	var r unixctlReply
	if err := json.Unmarshal(raw, &r); err != nil {
		return "", fail(ErrUnixctlProtocol, fmt.Sprintf("got %q", truncateText(string(raw), 80)), err)
	}
	if r.ID == nil {
		return "", fail(ErrUnixctlProtocol, fmt.Sprintf("no id in %q", truncateText(string(raw), 80)), nil)
	}
	var gotID int64
	if err := json.Unmarshal(*r.ID, &gotID); err != nil || gotID != id {
		return "", fail(ErrUnixctlProtocol, fmt.Sprintf("reply id %s, want %d", truncateText(string(*r.ID), 40), id), nil)
	}
	if r.Error != nil && string(bytes.TrimSpace(*r.Error)) != "null" {
		var msg string
		if err := json.Unmarshal(*r.Error, &msg); err != nil {
			msg = string(*r.Error)
		}
		return "", fail(ErrUnixctlCommand, strings.TrimSpace(truncateText(msg, 300)), nil)
	}
	if r.Result == nil {
		return "", fail(ErrUnixctlProtocol, "reply has neither result nor error", nil)
	}
	var text string
	if err := json.Unmarshal(*r.Result, &text); err != nil {
		// OVS 3.4+ answers some commands with a JSON document when the
		// connection asked for it (set-options --format json); this
		// client never asks, so a non-string result is unexpected.
		return "", fail(ErrUnixctlProtocol, fmt.Sprintf("result is not text: %q", truncateText(string(*r.Result), 80)), err)
	}
	return text, nil
}

func (c *UnixctlConn) ioError(ctx context.Context, command string, err error) error {
	e := &UnixctlError{Path: c.path, Command: command, Err: err}
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		e.Kind, e.Detail = ErrUnixctlTimeout, "canceled"
	case ctx.Err() != nil || isTimeout(err):
		e.Kind = ErrUnixctlTimeout
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE):
		e.Kind = ErrUnixctlClosed
	default:
		e.Kind = ErrUnixctlClosed
	}
	return e
}

func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
