// Package fault is the one vocabulary of failures that the source packages
// (ovs, conntrack, antrea) return: a small set of kinds, each error carrying
// the operation that failed and the path or address it was aimed at.
//
// Sources say what happened, never what to do about it: they name no
// command-line flag and give no deployment advice. Package collector maps a
// (collector, kind) pair to the hint that names the flag and the fix, and
// de-duplicates its log lines on the kind and operation, never on the text
// (which may carry a changing duration or a remaining budget).
package fault

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
)

// Kind is what went wrong, as far as a reader of the source can tell.
type Kind int

const (
	// Unknown is a failure of no other kind.
	Unknown Kind = iota
	// NotFound: the socket, file, network namespace, netlink family or
	// kernel module is not there.
	NotFound
	// Refused: nothing accepts the connection (ECONNREFUSED, a stale
	// socket), or the peer refused the session (e.g. no common version).
	Refused
	// Permission: the kernel or the peer denied access (EACCES, EPERM,
	// HTTP 401/403).
	Permission
	// Timeout: the deadline passed before the answer.
	Timeout
	// Closed: the peer closed or reset the connection, or is no longer
	// connected (an OVSDB monitor whose server went away).
	Closed
	// Protocol: the peer answered something this exporter cannot decode
	// (short, malformed, unexpected or too large).
	Protocol
	// Remote: the peer answered with an error of its own.
	Remote
)

var kindNames = [...]string{
	Unknown:    "unknown",
	NotFound:   "not found",
	Refused:    "refused",
	Permission: "permission denied",
	Timeout:    "timeout",
	Closed:     "closed",
	Protocol:   "protocol",
	Remote:     "remote error",
}

func (k Kind) String() string {
	if k < 0 || int(k) >= len(kindNames) {
		return "unknown"
	}
	return kindNames[k]
}

// Error is a failure of a source: the kind, the operation (e.g. "connect",
// "read table statistics", "dpctl/show"), the path or address it was aimed
// at, and the underlying cause.
type Error struct {
	Kind Kind
	Op   string
	Path string
	Err  error
}

func (e *Error) Error() string {
	s := e.Op
	if e.Path != "" {
		if s != "" {
			s += " "
		}
		s += e.Path
	}
	if e.Err != nil {
		if s != "" {
			s += ": "
		}
		s += e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an error of kind k for op on path, caused by err.
func New(k Kind, op, path string, err error) *Error {
	return &Error{Kind: k, Op: op, Path: path, Err: err}
}

// Wrap returns err as an *Error for op on path, its kind classified from
// the cause (see KindOf); nil for a nil err.
func Wrap(op, path string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: KindOf(err), Op: op, Path: path, Err: err}
}

// KindOf returns the kind of err: that of the outermost *Error in its
// chain, else one classified from well-known causes (errno values, context
// and I/O sentinels), else Unknown.
func KindOf(err error) Kind {
	if err == nil {
		return Unknown
	}
	var fe *Error
	if errors.As(err, &fe) && fe.Kind != Unknown {
		return fe.Kind
	}
	return classify(err)
}

// OpOf returns the operation of the outermost *Error in err's chain, or "".
func OpOf(err error) string {
	var fe *Error
	if errors.As(err, &fe) {
		return fe.Op
	}
	return ""
}

// Is reports whether err is of kind k.
func Is(err error, k Kind) bool { return err != nil && KindOf(err) == k }

func classify(err error) Kind {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.Is(err, syscall.ETIMEDOUT), errors.As(err, &ne) && ne.Timeout():
		return Timeout
	case errors.Is(err, os.ErrNotExist), errors.Is(err, syscall.ENOENT):
		return NotFound
	case errors.Is(err, syscall.ECONNREFUSED):
		return Refused
	case errors.Is(err, os.ErrPermission), errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return Permission
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNRESET), errors.Is(err, context.Canceled):
		return Closed
	}
	return Unknown
}
