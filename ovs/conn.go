package ovs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/datapath-exporter/datapath-exporter/internal/fault"
)

// maxReplyBytes bounds the total size of one multipart reply, so that a
// misbehaving peer cannot make the exporter allocate without limit. A full
// table-features reply of OVS 3.x is a few hundred KiB.
const maxReplyBytes = 64 << 20

// Conn is an OpenFlow connection to one bridge's management socket, after
// version negotiation. It is not safe for concurrent use.
type Conn struct {
	c       net.Conn
	path    string
	version Version
	xid     uint32
	// ctx is the context of the operation under way, to tell a
	// cancellation from a deadline when a read fails.
	ctx context.Context
}

// Dial connects to the management socket at path (e.g.
// /var/run/openvswitch/br-int.mgmt) and negotiates the highest OpenFlow
// version that both sides allow. ctx bounds the connect and the handshake.
func Dial(ctx context.Context, path string) (*Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, explainDialError(path, err)
	}
	c := &Conn{c: nc, path: path}
	if err := c.handshake(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// newConn negotiates a version over an already connected nc (used by tests
// that play the switch). On error nc is closed.
func newConn(ctx context.Context, nc net.Conn, name string) (*Conn, error) {
	c := &Conn{c: nc, path: name}
	if err := c.handshake(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// explainDialError classifies a failure to connect to a management socket
// and says what it means for OVS; what to do about it is the collector's.
func explainDialError(path string, err error) error {
	const op = "connect"
	switch kind := fault.KindOf(err); kind {
	case fault.NotFound:
		return fault.New(kind, op, path, fmt.Errorf("no socket at %s: is ovs-vswitchd running, does the bridge exist, and is this the directory holding its .mgmt sockets? (%w)", path, err))
	case fault.Refused:
		return fault.New(kind, op, path, fmt.Errorf("connection refused on %s: a stale socket, ovs-vswitchd is not running or is restarting (%w)", path, err))
	case fault.Permission:
		return fault.New(kind, op, path, fmt.Errorf("permission denied connecting to %s: only the socket's owner may connect (%w)", path, err))
	case fault.Timeout:
		return fault.New(kind, op, path, fmt.Errorf("timed out connecting to %s: ovs-vswitchd is not answering (%w)", path, err))
	}
	return fault.Wrap(op, path, fmt.Errorf("connecting to %s: %w", path, err))
}

// Version returns the negotiated OpenFlow version.
func (c *Conn) Version() Version { return c.version }

// Close closes the connection.
func (c *Conn) Close() error { return c.c.Close() }

// withDeadline applies ctx's deadline to the socket and makes a cancellation
// of ctx interrupt a blocked read or write. The returned func undoes it.
func (c *Conn) withDeadline(ctx context.Context) (func(), error) {
	if err := ctx.Err(); err != nil {
		return func() {}, err
	}
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Time{}
	}
	if err := c.c.SetDeadline(dl); err != nil {
		return func() {}, fmt.Errorf("setting deadline on %s: %w", c.path, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.c.SetDeadline(time.Now()) })
	c.ctx = ctx
	return func() { stop(); c.ctx = nil }, nil
}

func (c *Conn) nextXID() uint32 {
	c.xid++
	return c.xid
}

func (c *Conn) send(m Message) error {
	b, err := m.MarshalBinary()
	if err != nil {
		return err
	}
	if _, err := c.c.Write(b); err != nil {
		return c.ioError("writing to", err)
	}
	return nil
}

// receive reads one whole message.
func (c *Conn) receive() (Message, error) {
	var hb [headerLen]byte
	if _, err := io.ReadFull(c.c, hb[:]); err != nil {
		return Message{}, c.ioError("reading from", err)
	}
	var h Header
	if err := h.UnmarshalBinary(hb[:]); err != nil {
		return Message{}, c.protocolError(err)
	}
	body := make([]byte, int(h.Length)-headerLen)
	if _, err := io.ReadFull(c.c, body); err != nil {
		return Message{}, c.ioError("reading from", err)
	}
	return Message{Header: h, Body: body}, nil
}

func (c *Conn) ioError(op string, err error) error {
	var ne net.Error
	var ctxErr error
	if c.ctx != nil {
		ctxErr = c.ctx.Err()
		// The socket deadline may fire just before the context's own
		// timer: the deadline has passed all the same.
		if dl, ok := c.ctx.Deadline(); ok && ctxErr == nil && errors.As(err, &ne) && ne.Timeout() && !time.Now().Before(dl) {
			ctxErr = context.DeadlineExceeded
		}
	}
	switch {
	case errors.Is(ctxErr, context.Canceled):
		return fault.New(fault.Closed, op, c.path, fmt.Errorf("canceled: %w", errors.Join(ctxErr, err)))
	case errors.Is(ctxErr, context.DeadlineExceeded):
		return fault.New(fault.Timeout, op, c.path, fmt.Errorf("timed out: ovs-vswitchd did not answer in time: %w", errors.Join(ctxErr, err)))
	case errors.As(err, &ne) && ne.Timeout():
		return fault.New(fault.Timeout, op, c.path, fmt.Errorf("timed out: ovs-vswitchd did not answer in time: %w", err))
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE):
		return fault.New(fault.Closed, op, c.path, fmt.Errorf("ovs-vswitchd closed the connection (restarting, or the bridge was deleted): %w", err))
	}
	return fault.Wrap(op, c.path, err)
}

// protocolError is a reply from c's peer that cannot be decoded.
func (c *Conn) protocolError(err error) error {
	return fault.New(fault.Protocol, "decoding a reply from", c.path, err)
}

// handshake exchanges HELLOs and picks the version. The switch may answer
// with ERROR (HELLO_FAILED) when it allows none of ours.
func (c *Conn) handshake(ctx context.Context) error {
	undo, err := c.withDeadline(ctx)
	if err != nil {
		return err
	}
	defer undo()

	ours := bitmapOf(SupportedVersions...)
	hello := Message{
		Header: Header{Version: ours.highest(), Type: typeHello, XID: c.nextXID()},
		Body:   encodeHello(SupportedVersions...),
	}
	if err := c.send(hello); err != nil {
		return err
	}
	for {
		m, err := c.receive()
		if err != nil {
			return fmt.Errorf("OpenFlow handshake: %w", err)
		}
		switch m.Type {
		case typeHello:
			h, err := decodeHello(m.Body)
			if err != nil {
				return fmt.Errorf("OpenFlow handshake: %w", c.protocolError(err))
			}
			theirs := h.Versions
			if theirs == 0 {
				// No bitmap: the peer supports its header version and,
				// by the rules of 1.0-1.2, every version below.
				theirs = bitmapOf(m.Version)
				for v := Version(1); v < m.Version; v++ {
					theirs |= bitmapOf(v)
				}
			}
			common := ours & theirs
			if common == 0 {
				return fault.New(fault.Refused, "OpenFlow handshake with", c.path, &VersionError{Path: c.path, Ours: ours, Theirs: theirs})
			}
			c.version = common.highest()
			return nil
		case typeError:
			oe, err := decodeError(m.Version, m.Body)
			if err != nil {
				return fmt.Errorf("OpenFlow handshake: %w", c.protocolError(err))
			}
			if oe.Type == 0 { // HELLO_FAILED
				return fault.New(fault.Refused, "OpenFlow handshake with", c.path, &VersionError{Path: c.path, Ours: ours, Detail: oe.Error()})
			}
			return fault.New(fault.Remote, "OpenFlow handshake with", c.path, oe)
		case typeEchoRequest:
			if err := c.send(Message{Header: Header{Version: m.Version, Type: typeEchoReply, XID: m.XID}, Body: m.Body}); err != nil {
				return err
			}
		default:
			return fmt.Errorf("OpenFlow handshake: %w", c.protocolError(fmt.Errorf("expected HELLO, got message type %d", m.Type)))
		}
	}
}

// VersionError says that the bridge allows none of the versions spoken here.
type VersionError struct {
	Path   string
	Ours   versionBitmap
	Theirs versionBitmap // zero if unknown
	Detail string        // the switch's own words, if any
}

func (e *VersionError) Error() string {
	allowed := "unknown"
	if e.Theirs != 0 {
		allowed = e.Theirs.String()
	}
	msg := fmt.Sprintf("%s allows no OpenFlow version this exporter speaks (ours: %s; the bridge's: %s, as its protocols column says)",
		e.Path, e.Ours, allowed)
	if e.Detail != "" {
		msg += " (" + e.Detail + ")"
	}
	return msg
}

// multipart sends a multipart request of the given kind and returns the
// concatenated bodies of all reply messages. It answers echo requests,
// skips unrelated messages and returns the switch's ERROR for this request.
func (c *Conn) multipart(ctx context.Context, kind uint16) ([]byte, error) {
	return c.multipartWithBody(ctx, kind, nil)
}

// multipartWithBody is multipart for requests that carry a body of their
// own after the multipart header (e.g. a meter id).
func (c *Conn) multipartWithBody(ctx context.Context, kind uint16, body []byte) ([]byte, error) {
	undo, err := c.withDeadline(ctx)
	if err != nil {
		return nil, err
	}
	defer undo()

	req := multipartRequest(c.version, kind)
	req.Body = append(req.Body, body...)
	req.XID = c.nextXID()
	if err := c.send(req); err != nil {
		return nil, err
	}
	replyType := typeMultipartReply
	if c.version == OpenFlow10 {
		replyType = typeStatsReply10
	}
	var out []byte
	for {
		m, err := c.receive()
		if err != nil {
			return nil, err
		}
		if m.Version != c.version {
			return nil, c.protocolError(fmt.Errorf("reply in %s on a connection negotiated for %s", m.Version, c.version))
		}
		switch {
		case m.Type == typeEchoRequest:
			if err := c.send(Message{Header: Header{Version: c.version, Type: typeEchoReply, XID: m.XID}, Body: m.Body}); err != nil {
				return nil, err
			}
			continue
		case m.XID != req.XID:
			continue // an asynchronous message or a late reply to something else
		case m.Type == typeError:
			oe, err := decodeError(m.Version, m.Body)
			if err != nil {
				return nil, c.protocolError(err)
			}
			return nil, fault.New(fault.Remote, "multipart request to", c.path, oe)
		case m.Type != replyType:
			return nil, c.protocolError(fmt.Errorf("expected a multipart reply, got message type %d", m.Type))
		}
		part, err := decodeMultipartReply(c.version, m.Body)
		if err != nil {
			return nil, c.protocolError(err)
		}
		if part.Kind != kind {
			return nil, c.protocolError(fmt.Errorf("asked for multipart kind %d, got %d", kind, part.Kind))
		}
		if len(out)+len(part.Body) > maxReplyBytes {
			return nil, c.protocolError(fmt.Errorf("multipart reply exceeds %d bytes", maxReplyBytes))
		}
		out = append(out, part.Body...)
		if !part.More {
			return out, nil
		}
	}
}

// TableStats returns the statistics of every table. With OpenFlow 1.0 the
// entries carry the tables' names and flow limits.
func (c *Conn) TableStats(ctx context.Context) ([]TableStats, error) {
	b, err := c.multipart(ctx, multipartTable)
	if err != nil {
		return nil, fmt.Errorf("reading table stats: %w", err)
	}
	ts, err := decodeTableStats(c.version, b)
	if err != nil {
		return nil, fmt.Errorf("reading table stats: %w", fault.New(fault.Protocol, "decoding table stats from", c.path, err))
	}
	return ts, nil
}

// TableFeatures returns the name and flow limit of every table (OpenFlow
// 1.3 and later). The reply is several times larger than the statistics.
func (c *Conn) TableFeatures(ctx context.Context) ([]TableFeatures, error) {
	if c.version == OpenFlow10 {
		return nil, fault.New(fault.Protocol, "reading table features from", c.path, errors.New("not part of OpenFlow 1.0 (the table stats carry names there)"))
	}
	b, err := c.multipart(ctx, multipartTableFeatures)
	if err != nil {
		return nil, fmt.Errorf("reading table features: %w", err)
	}
	tf, err := decodeTableFeatures(b)
	if err != nil {
		return nil, fmt.Errorf("reading table features: %w", fault.New(fault.Protocol, "decoding table features from", c.path, err))
	}
	return tf, nil
}
