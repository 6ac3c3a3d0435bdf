package ovs

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// recordingConn is a net.Conn that keeps a copy of every byte read from the
// switch, so a real session can be saved as a fixture.
type recordingConn struct {
	net.Conn
	mu  sync.Mutex
	got bytes.Buffer
}

func (r *recordingConn) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.mu.Lock()
	r.got.Write(p[:n])
	r.mu.Unlock()
	return n, err
}

// Close is a no-op so that a capture can keep reading after the client
// gave up (to record what the switch says after refusing a version); the
// capture closes the underlying connection itself.
func (r *recordingConn) Close() error { return nil }

func (r *recordingConn) bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]byte(nil), r.got.Bytes()...)
}

// replayConn is a net.Conn that plays back what a switch sent in a recorded
// session. The client's xids are deterministic, so the recorded replies
// match the requests a replay sends. Writes are kept for inspection.
type replayConn struct {
	r      *bytes.Reader
	sent   bytes.Buffer
	closed bool
}

func newReplayConn(b []byte) *replayConn { return &replayConn{r: bytes.NewReader(b)} }

func (c *replayConn) Read(p []byte) (int, error) {
	if c.closed {
		return 0, net.ErrClosed
	}
	n, err := c.r.Read(p)
	if errors.Is(err, io.EOF) && n == 0 {
		return 0, io.EOF
	}
	return n, nil
}
func (c *replayConn) Write(p []byte) (int, error) {
	if c.closed {
		return 0, net.ErrClosed
	}
	return c.sent.Write(p)
}
func (c *replayConn) Close() error                     { c.closed = true; return nil }
func (c *replayConn) LocalAddr() net.Addr              { return &net.UnixAddr{Name: "replay", Net: "unix"} }
func (c *replayConn) RemoteAddr() net.Addr             { return &net.UnixAddr{Name: "replay", Net: "unix"} }
func (c *replayConn) SetDeadline(time.Time) error      { return nil }
func (c *replayConn) SetReadDeadline(time.Time) error  { return nil }
func (c *replayConn) SetWriteDeadline(time.Time) error { return nil }
