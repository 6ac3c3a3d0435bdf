package ovs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The tests in this file run the client against a scripted switch over
// net.Pipe. The fake is used only for behaviours a real OVS cannot be made
// to produce on demand: echo requests in the middle of a reply, replies with
// foreign xids, unsolicited messages, replies split into many parts, a wrong
// multipart kind, a wrong version, a HELLO without bitmap, HELLO_FAILED
// instead of HELLO, a peer that never answers or hangs up mid-reply, and
// oversize replies. What a real OVS does is covered by the recorded
// sessions in fixtures_test.go.

// switchSide is the switch's end of a scripted session. Its methods end the
// script (runtime.Goexit) after reporting an error, so scripts read
// straight.
type switchSide struct {
	t       *testing.T
	c       net.Conn
	version Version // negotiated by handshake
}

func (s *switchSide) fail(format string, args ...any) {
	s.t.Helper()
	s.t.Errorf("switch: "+format, args...)
	runtime.Goexit()
}

// read returns the client's next message.
func (s *switchSide) read() Message {
	s.t.Helper()
	m, err := s.tryRead()
	if err != nil {
		s.fail("reading: %v", err)
	}
	return m
}

func (s *switchSide) tryRead() (Message, error) {
	var hb [headerLen]byte
	if _, err := io.ReadFull(s.c, hb[:]); err != nil {
		return Message{}, err
	}
	var h Header
	if err := h.UnmarshalBinary(hb[:]); err != nil {
		return Message{}, err
	}
	body := make([]byte, int(h.Length)-headerLen)
	if _, err := io.ReadFull(s.c, body); err != nil {
		return Message{}, err
	}
	return Message{Header: h, Body: body}, nil
}

// write sends raw bytes to the client.
func (s *switchSide) write(b []byte) {
	s.t.Helper()
	if _, err := s.c.Write(b); err != nil {
		s.fail("writing: %v", err)
	}
}

// send sends m to the client, with its length set.
func (s *switchSide) send(m Message) {
	s.t.Helper()
	if err := s.trySend(m); err != nil {
		s.fail("writing: %v", err)
	}
}

func (s *switchSide) trySend(m Message) error {
	b, err := m.MarshalBinary()
	if err != nil {
		return err
	}
	_, err = s.c.Write(b)
	return err
}

// readHello reads the client's HELLO and checks that it offers every
// supported version.
func (s *switchSide) readHello() Message {
	s.t.Helper()
	m := s.read()
	if m.Type != typeHello {
		s.fail("expected HELLO, got type %d", m.Type)
	}
	h, err := decodeHello(m.Body)
	if err != nil {
		s.fail("client's HELLO: %v", err)
	}
	if want := bitmapOf(SupportedVersions...); h.Versions != want || m.Version != want.highest() {
		s.fail("client's HELLO: %v bitmap %v, want %v bitmap %v", m.Version, h.Versions, want.highest(), want)
	}
	return m
}

// handshake plays a switch that allows exactly v.
func (s *switchSide) handshake(v Version) {
	s.t.Helper()
	s.readHello()
	s.send(Message{Header: Header{Version: v, Type: typeHello, XID: 1000}, Body: encodeHello(v)})
	s.version = v
}

// expectRequest reads a stats/multipart request of kind and returns its xid.
func (s *switchSide) expectRequest(kind uint16) uint32 {
	s.t.Helper()
	m := s.read()
	want := typeMultipartRequest
	if s.version == OpenFlow10 {
		want = typeStatsRequest10
	}
	if m.Version != s.version || m.Type != want {
		s.fail("expected a %v request of type %d, got %v type %d", s.version, want, m.Version, m.Type)
	}
	p, err := decodeMultipartReply(s.version, m.Body) // same layout as the request
	if err != nil || p.Kind != kind || p.More {
		s.fail("expected a request of kind %d, got % x (%v)", kind, m.Body, err)
	}
	return m.XID
}

// replyPart builds one message of a multipart reply in s.version.
func (s *switchSide) replyPart(xid uint32, kind uint16, more bool, body []byte) Message {
	var flags uint16
	if more {
		flags = multipartReplyMore
	}
	if s.version == OpenFlow10 {
		return Message{Header: Header{Version: s.version, Type: typeStatsReply10, XID: xid}, Body: catBytes(beU16(kind), beU16(flags), body)}
	}
	return Message{Header: Header{Version: s.version, Type: typeMultipartReply, XID: xid}, Body: catBytes(beU16(kind), beU16(flags), beU32(0), body)}
}

// reply sends body as a one-message multipart reply.
func (s *switchSide) reply(xid uint32, kind uint16, body []byte) {
	s.t.Helper()
	s.send(s.replyPart(xid, kind, false, body))
}

// echo sends an echo request and checks the client's echo reply.
func (s *switchSide) echo(xid uint32, payload []byte) {
	s.t.Helper()
	s.send(Message{Header: Header{Version: s.version, Type: typeEchoRequest, XID: xid}, Body: payload})
	m := s.read()
	if m.Type != typeEchoReply || m.XID != xid || m.Version != s.version || !bytes.Equal(m.Body, payload) {
		s.fail("expected ECHO_REPLY xid %d with % x, got %+v % x", xid, payload, m.Header, m.Body)
	}
}

// waitClosed reads until the client hangs up, ignoring what it sends.
func (s *switchSide) waitClosed() {
	for {
		if _, err := s.tryRead(); err != nil {
			return
		}
	}
}

// scriptedSwitch runs script as the switch on one end of a pipe and returns
// the other end. Cleanup closes the client's end and waits for the script.
func scriptedSwitch(t *testing.T, script func(sw *switchSide)) net.Conn {
	t.Helper()
	client, server := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer server.Close()
		script(&switchSide{t: t, c: server})
	}()
	t.Cleanup(func() {
		client.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("switch script did not finish")
		}
	})
	return client
}

// connect runs the client's handshake against script.
func connect(t *testing.T, ctx context.Context, script func(sw *switchSide)) (*Conn, error) {
	t.Helper()
	return newConn(ctx, scriptedSwitch(t, script), "test")
}

func mustConnect(t *testing.T, script func(sw *switchSide)) *Conn {
	t.Helper()
	c, err := connect(t, testContext(t), script)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// testContext bounds a test that should take milliseconds, so that a bug
// fails it instead of hanging the test binary.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestHandshake(t *testing.T) {
	helloMsg := func(v Version, body []byte) Message {
		return Message{Header: Header{Version: v, Type: typeHello, XID: 77}, Body: body}
	}
	tests := []struct {
		name   string
		script func(sw *switchSide)
		want   Version
		// for failures
		wantErr     []string // the error mentions each
		versionErr  bool     // the error is a *VersionError
		openflowErr uint16   // 1+type of the *OpenFlowError the error wraps
		short       bool     // the error wraps ErrShort
	}{
		{
			name: "bitmap 1.0 and 1.3",
			script: func(sw *switchSide) {
				sw.readHello()
				sw.send(helloMsg(OpenFlow13, encodeHello(OpenFlow10, OpenFlow13)))
			},
			want: OpenFlow13,
		},
		{
			name: "bitmap 1.0 and 1.5 (Antrea)",
			script: func(sw *switchSide) {
				sw.readHello()
				sw.send(helloMsg(OpenFlow15, encodeHello(OpenFlow10, OpenFlow15)))
			},
			want: OpenFlow15,
		},
		{
			// The header version does not matter when a bitmap is present.
			name:   "bitmap 1.0 only, header 1.5",
			script: func(sw *switchSide) { sw.readHello(); sw.send(helloMsg(OpenFlow15, encodeHello(OpenFlow10))) },
			want:   OpenFlow10,
		},
		{
			name:   "bitmap with versions unknown here",
			script: func(sw *switchSide) { sw.readHello(); sw.send(helloMsg(0x1f, encodeHello(2, 3, OpenFlow14, 9, 0x1f))) },
			want:   OpenFlow14,
		},
		{
			// As OVS 3.1 sends it when only 1.0 is allowed (of10-stats.bin).
			name:   "no bitmap, 1.0",
			script: func(sw *switchSide) { sw.readHello(); sw.send(helloMsg(OpenFlow10, nil)) },
			want:   OpenFlow10,
		},
		{
			name:   "no bitmap, 1.4",
			script: func(sw *switchSide) { sw.readHello(); sw.send(helloMsg(OpenFlow14, nil)) },
			want:   OpenFlow14,
		},
		{
			// A peer without bitmap speaks every version up to its own.
			name:   "no bitmap, 1.2",
			script: func(sw *switchSide) { sw.readHello(); sw.send(helloMsg(3, nil)) },
			want:   OpenFlow10,
		},
		{
			name:   "no bitmap, unknown elements only",
			script: func(sw *switchSide) { sw.readHello(); sw.send(helloMsg(OpenFlow13, helloElem(9, 6, []byte{1, 2}, 8))) },
			want:   OpenFlow13,
		},
		{
			name: "echo request before HELLO",
			script: func(sw *switchSide) {
				sw.readHello()
				sw.version = OpenFlow15
				sw.echo(5, []byte("ping"))
				sw.send(helloMsg(OpenFlow15, encodeHello(OpenFlow15)))
			},
			want: OpenFlow15,
		},
		{
			name:       "no common version",
			script:     func(sw *switchSide) { sw.readHello(); sw.send(helloMsg(3, encodeHello(2, 3))) },
			versionErr: true,
			wantErr:    []string{"test allows no OpenFlow version", "OpenFlow11, OpenFlow12", "protocols column"},
		},
		{
			name:       "no bitmap, version 0",
			script:     func(sw *switchSide) { sw.readHello(); sw.send(helloMsg(0, nil)) },
			versionErr: true,
		},
		{
			name: "HELLO_FAILED instead of HELLO",
			script: func(sw *switchSide) {
				sw.readHello()
				sw.send(Message{Header: Header{Version: OpenFlow15, Type: typeError, XID: 1},
					Body: catBytes(beU16(0), beU16(0), []byte("We support version 0x02, you support versions 0x01, 0x04, 0x05, 0x06, no common versions."))})
			},
			versionErr: true,
			wantErr:    []string{"the bridge's: unknown", "We support version 0x02", "protocols column"},
		},
		{
			name: "BAD_REQUEST instead of HELLO",
			script: func(sw *switchSide) {
				sw.readHello()
				sw.send(Message{Header: Header{Version: OpenFlow13, Type: typeError, XID: 1}, Body: catBytes(beU16(1), beU16(1), []byte{0xff})})
			},
			openflowErr: 1 + 1,
			wantErr:     []string{"handshake with test", "BAD_REQUEST code 1"},
		},
		{
			name: "short ERROR instead of HELLO",
			script: func(sw *switchSide) {
				sw.readHello()
				sw.send(Message{Header: Header{Version: OpenFlow13, Type: typeError, XID: 1}, Body: []byte{0, 0}})
			},
			short: true,
		},
		{
			name:    "other message instead of HELLO",
			script:  func(sw *switchSide) { sw.readHello(); sw.send(Message{Header: Header{Version: OpenFlow13, Type: 6}}) },
			wantErr: []string{"expected HELLO, got message type 6"},
		},
		{
			name:   "malformed HELLO element",
			script: func(sw *switchSide) { sw.readHello(); sw.send(helloMsg(OpenFlow13, helloElem(1, 0, beU32(0x10), 8))) },
			short:  true,
		},
		{
			name:    "header length below 8",
			script:  func(sw *switchSide) { sw.readHello(); sw.write([]byte{4, 0, 0, 4, 0, 0, 0, 1}) },
			wantErr: []string{"test", "shorter than the header"},
		},
		{
			name:    "hang-up before HELLO",
			script:  func(sw *switchSide) { sw.readHello() },
			wantErr: []string{"handshake", "closed the connection"},
		},
		{
			name:    "hang-up inside HELLO",
			script:  func(sw *switchSide) { sw.readHello(); sw.write([]byte{4, 0, 0, 16, 0, 0, 0, 1, 0, 1}) },
			wantErr: []string{"handshake", "closed the connection"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := connect(t, testContext(t), tt.script)
			failure := tt.wantErr != nil || tt.versionErr || tt.openflowErr != 0 || tt.short
			if !failure {
				if err != nil {
					t.Fatal(err)
				}
				if c.Version() != tt.want {
					t.Errorf("negotiated %v, want %v", c.Version(), tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("negotiated %v, want an error", c.Version())
			}
			var ve *VersionError
			if got := errors.As(err, &ve); got != tt.versionErr {
				t.Errorf("error %q: VersionError %v, want %v", err, got, tt.versionErr)
			}
			var oe *OpenFlowError
			if tt.openflowErr != 0 && (!errors.As(err, &oe) || oe.Type != tt.openflowErr-1) {
				t.Errorf("error %q does not wrap an OpenFlow error of type %d", err, tt.openflowErr-1)
			}
			if got := errors.Is(err, ErrShort); got != tt.short {
				t.Errorf("error %q: wraps ErrShort %v, want %v", err, got, tt.short)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

// TestHandshakeClosesOnError checks that newConn closes the connection it
// was given when the handshake fails.
func TestHandshakeClosesOnError(t *testing.T) {
	closed := make(chan error, 1)
	_, err := connect(t, testContext(t), func(sw *switchSide) {
		sw.readHello()
		sw.send(Message{Header: Header{Version: 3, Type: typeHello}, Body: encodeHello(3)})
		_, err := sw.tryRead()
		closed <- err
	})
	if err == nil {
		t.Fatal("no error")
	}
	select {
	case err := <-closed:
		if !errors.Is(err, io.EOF) {
			t.Errorf("switch read %v after a failed handshake, want EOF", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("connection left open after a failed handshake")
	}
}

func stats13(n int) ([]byte, []TableStats) {
	var b []byte
	var want []TableStats
	for i := 0; i < n; i++ {
		ts := TableStats{ID: uint8(i), Active: uint32(i * 3), Lookups: uint64(i) << 33, Matches: uint64(i) << 20}
		b = append(b, tableStats13(ts.ID, ts.Active, ts.Lookups, ts.Matches)...)
		want = append(want, ts)
	}
	return b, want
}

func TestTableStatsScripted(t *testing.T) {
	body, want := stats13(254)
	tests := []struct {
		name    string
		version Version
		// serve answers the table-stats request with xid; the handshake
		// is done.
		serve   func(sw *switchSide, xid uint32)
		want    []TableStats
		wantErr []string
		short   bool
		ofType  uint16 // 1+type of the *OpenFlowError the error wraps
	}{
		{
			name:  "one message",
			serve: func(sw *switchSide, xid uint32) { sw.reply(xid, multipartTable, body) },
			want:  want,
		},
		{
			name: "one entry per message",
			serve: func(sw *switchSide, xid uint32) {
				for i := 0; i < len(body); i += tableStats13Len {
					sw.send(sw.replyPart(xid, multipartTable, i+tableStats13Len < len(body), body[i:i+tableStats13Len]))
				}
			},
			want: want,
		},
		{
			// Parts need not end on entry boundaries, and may be empty.
			name: "parts split mid-entry",
			serve: func(sw *switchSide, xid uint32) {
				sw.send(sw.replyPart(xid, multipartTable, true, nil))
				for i := 0; i < len(body); i += 1000 {
					end := min(i+1000, len(body))
					sw.send(sw.replyPart(xid, multipartTable, true, body[i:end]))
				}
				sw.send(sw.replyPart(xid, multipartTable, false, nil))
			},
			want: want,
		},
		{
			name: "echo requests in the middle of a reply",
			serve: func(sw *switchSide, xid uint32) {
				sw.echo(900, nil)
				sw.send(sw.replyPart(xid, multipartTable, true, body[:240]))
				sw.echo(901, []byte("keepalive"))
				sw.echo(xid, []byte{0}) // the request's own xid: still an echo
				sw.send(sw.replyPart(xid, multipartTable, false, body[240:]))
			},
			want: want,
		},
		{
			name: "foreign xids and unsolicited messages skipped",
			serve: func(sw *switchSide, xid uint32) {
				// A late reply to an earlier request, of another kind.
				sw.send(sw.replyPart(xid-1, multipartTableFeatures, false, []byte{1, 2, 3}))
				// An ERROR for another request.
				sw.send(Message{Header: Header{Version: sw.version, Type: typeError, XID: xid + 1}, Body: catBytes(beU16(1), beU16(2))})
				sw.send(sw.replyPart(xid, multipartTable, true, body[:24]))
				// PORT_STATUS, unsolicited (xid 0).
				sw.send(Message{Header: Header{Version: sw.version, Type: 12}, Body: make([]byte, 56)})
				// A reply part for someone else, claiming more follow.
				sw.send(sw.replyPart(xid+7, multipartTable, true, body))
				sw.send(sw.replyPart(xid, multipartTable, false, body[24:]))
			},
			want: want,
		},
		{
			name:    "1.0 reply",
			version: OpenFlow10,
			serve: func(sw *switchSide, xid uint32) {
				sw.send(sw.replyPart(xid, multipartTable, true, tableStats10(0, fixedName("table0"), 1000000, 1, 2, 1)))
				sw.echo(3, nil)
				sw.send(sw.replyPart(xid, multipartTable, false, tableStats10(1, fixedName("SpoofGuard"), 1000000, 3, 9, 0)))
			},
			want: []TableStats{
				{ID: 0, Name: "table0", MaxEntries: 1000000, HasMaxEntries: true, Active: 1, Lookups: 2, Matches: 1},
				{ID: 1, Name: "SpoofGuard", MaxEntries: 1000000, HasMaxEntries: true, Active: 3, Lookups: 9},
			},
		},
		{
			name: "empty reply",
			serve: func(sw *switchSide, xid uint32) {
				sw.reply(xid, multipartTable, nil)
			},
			want: []TableStats{},
		},
		{
			name:    "wrong multipart kind",
			serve:   func(sw *switchSide, xid uint32) { sw.reply(xid, multipartTableFeatures, body[:24]) },
			wantErr: []string{"reading table stats", "test: asked for multipart kind 3, got 12"},
		},
		{
			name: "wrong kind in a later part",
			serve: func(sw *switchSide, xid uint32) {
				sw.send(sw.replyPart(xid, multipartTable, true, body[:24]))
				sw.send(sw.replyPart(xid, 1, false, body[24:48]))
			},
			wantErr: []string{"asked for multipart kind 3, got 1"},
		},
		{
			name: "wrong version in reply",
			serve: func(sw *switchSide, xid uint32) {
				m := sw.replyPart(xid, multipartTable, false, body)
				m.Version = OpenFlow14
				sw.send(m)
			},
			wantErr: []string{"reply in OpenFlow14 on a connection negotiated for OpenFlow13"},
		},
		{
			name: "1.0 reply on a 1.3 connection",
			serve: func(sw *switchSide, xid uint32) {
				sw.send(Message{Header: Header{Version: OpenFlow10, Type: typeStatsReply10, XID: xid}, Body: catBytes(beU16(multipartTable), beU16(0))})
			},
			wantErr: []string{"reply in OpenFlow10 on a connection negotiated for OpenFlow13"},
		},
		{
			// A 1.0 STATS_REPLY type number on 1.3 is another message.
			name: "1.0 reply type on a 1.3 connection",
			serve: func(sw *switchSide, xid uint32) {
				sw.send(Message{Header: Header{Version: OpenFlow13, Type: typeStatsReply10, XID: xid}, Body: catBytes(beU16(multipartTable), beU16(0), beU32(0))})
			},
			wantErr: []string{"expected a multipart reply, got message type 17"},
		},
		{
			name: "ERROR reply",
			serve: func(sw *switchSide, xid uint32) {
				sw.send(Message{Header: Header{Version: sw.version, Type: typeError, XID: xid}, Body: catBytes(beU16(1), beU16(2), []byte("\x04\x12\x00\x10junk"))})
			},
			ofType:  1 + 1,
			wantErr: []string{"reading table stats: multipart request to test: switch answered with OpenFlow error BAD_REQUEST code 2"},
		},
		{
			name: "short ERROR reply",
			serve: func(sw *switchSide, xid uint32) {
				sw.send(Message{Header: Header{Version: sw.version, Type: typeError, XID: xid}, Body: []byte{0}})
			},
			short: true,
		},
		{
			name: "short multipart header",
			serve: func(sw *switchSide, xid uint32) {
				sw.send(Message{Header: Header{Version: sw.version, Type: typeMultipartReply, XID: xid}, Body: []byte{0, 3, 0, 0}})
			},
			short: true,
		},
		{
			name:    "entries not a multiple of 24 bytes",
			serve:   func(sw *switchSide, xid uint32) { sw.reply(xid, multipartTable, body[:25]) },
			short:   true,
			wantErr: []string{"decoding table stats from test"},
		},
		{
			name: "hang-up after a part with MORE",
			serve: func(sw *switchSide, xid uint32) {
				sw.send(sw.replyPart(xid, multipartTable, true, body[:48]))
			},
			wantErr: []string{"reading from test: ovs-vswitchd closed the connection"},
		},
		{
			name: "hang-up mid-message",
			serve: func(sw *switchSide, xid uint32) {
				b, _ := sw.replyPart(xid, multipartTable, false, body).MarshalBinary()
				sw.write(b[:100])
			},
			wantErr: []string{"closed the connection"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := tt.version
			if v == 0 {
				v = OpenFlow13
			}
			c := mustConnect(t, func(sw *switchSide) {
				sw.handshake(v)
				tt.serve(sw, sw.expectRequest(multipartTable))
			})
			got, err := c.TableStats(testContext(t))
			if tt.wantErr == nil && !tt.short && tt.ofType == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(tt.want) {
					t.Fatalf("%d tables, want %d", len(got), len(tt.want))
				}
				for i := range got {
					if got[i] != tt.want[i] {
						t.Errorf("table %d: %+v, want %+v", i, got[i], tt.want[i])
					}
				}
				return
			}
			if err == nil {
				t.Fatalf("got %d tables, want an error", len(got))
			}
			if got := errors.Is(err, ErrShort); got != tt.short {
				t.Errorf("error %q: wraps ErrShort %v, want %v", err, got, tt.short)
			}
			var oe *OpenFlowError
			if tt.ofType != 0 && (!errors.As(err, &oe) || oe.Type != tt.ofType-1) {
				t.Errorf("error %q does not wrap an OpenFlow error of type %d", err, tt.ofType-1)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

func TestTableFeaturesScripted(t *testing.T) {
	entry := func(id uint8, name string) []byte {
		return tableFeaturesEntry(64+16, id, name, 1000000, bytes.Repeat([]byte{0xee}, 16))
	}
	c := mustConnect(t, func(sw *switchSide) {
		sw.handshake(OpenFlow15)
		xid := sw.expectRequest(multipartTableFeatures)
		sw.send(sw.replyPart(xid, multipartTableFeatures, true, catBytes(entry(0, "table0"), entry(1, "SpoofGuard"))))
		sw.echo(1, nil)
		sw.send(sw.replyPart(xid, multipartTableFeatures, false, entry(11, "EndpointDNAT")))
		// Requests after it use new xids.
		if next := sw.expectRequest(multipartTable); next == xid {
			sw.fail("xid %d reused", xid)
		} else {
			sw.reply(next, multipartTable, tableStats13(0, 1, 1, 1))
		}
	})
	got, err := c.TableFeatures(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	want := []TableFeatures{{0, "table0", 1000000}, {1, "SpoofGuard", 1000000}, {11, "EndpointDNAT", 1000000}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("features %+v, want %+v", got, want)
	}
	if _, err := c.TableStats(testContext(t)); err != nil {
		t.Fatal(err)
	}
}

func TestTableFeaturesOpenFlow10(t *testing.T) {
	c := mustConnect(t, func(sw *switchSide) {
		sw.handshake(OpenFlow10)
		sw.waitClosed() // nothing must be sent
	})
	_, err := c.TableFeatures(testContext(t))
	if err == nil || !strings.Contains(err.Error(), "not part of OpenFlow 1.0") {
		t.Errorf("error %v, want one saying 1.0 has no table features", err)
	}
}

// TestTimeout plays a switch that never answers: the call must end at the
// context's deadline with an error that says it timed out.
func TestTimeout(t *testing.T) {
	tests := []struct {
		name   string
		script func(sw *switchSide)
		call   func(ctx context.Context, nc net.Conn) error
	}{
		{
			name:   "handshake",
			script: func(sw *switchSide) { sw.readHello(); sw.waitClosed() },
			call: func(ctx context.Context, nc net.Conn) error {
				_, err := newConn(ctx, nc, "test")
				return err
			},
		},
		{
			// A pipe has no buffer: the client's HELLO itself blocks.
			name:   "handshake, HELLO not read",
			script: func(sw *switchSide) { time.Sleep(500 * time.Millisecond); sw.waitClosed() },
			call: func(ctx context.Context, nc net.Conn) error {
				_, err := newConn(ctx, nc, "test")
				return err
			},
		},
		{
			name:   "table stats",
			script: func(sw *switchSide) { sw.handshake(OpenFlow13); sw.expectRequest(multipartTable); sw.waitClosed() },
			call:   tableStatsAfterHandshake,
		},
		{
			name: "table stats, reply stops after a part with MORE",
			script: func(sw *switchSide) {
				sw.handshake(OpenFlow13)
				sw.send(sw.replyPart(sw.expectRequest(multipartTable), multipartTable, true, tableStats13(0, 0, 0, 0)))
				sw.waitClosed()
			},
			call: tableStatsAfterHandshake,
		},
		{
			name: "table stats, echo requests only",
			script: func(sw *switchSide) {
				sw.handshake(OpenFlow13)
				sw.expectRequest(multipartTable)
				for i := uint32(0); ; i++ {
					if err := sw.trySend(Message{Header: Header{Version: OpenFlow13, Type: typeEchoRequest, XID: i}}); err != nil {
						return
					}
					if _, err := sw.tryRead(); err != nil {
						return
					}
					time.Sleep(10 * time.Millisecond)
				}
			},
			call: tableStatsAfterHandshake,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nc := scriptedSwitch(t, tt.script)
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			start := time.Now()
			err := tt.call(ctx, nc)
			elapsed := time.Since(start)
			if err == nil {
				t.Fatal("no error")
			}
			for _, want := range []string{"test", "timed out", "did not answer in time"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("error %q does not wrap os.ErrDeadlineExceeded", err)
			}
			if elapsed > 3*time.Second {
				t.Errorf("returned after %v, the deadline was 200ms", elapsed)
			}
		})
	}
}

func tableStatsAfterHandshake(ctx context.Context, nc net.Conn) error {
	c, err := newConn(context.Background(), nc, "test")
	if err != nil {
		return err
	}
	_, err = c.TableStats(ctx)
	return err
}

// TestDeadlineCleared checks that a call's deadline does not stay on the
// socket for the next call.
func TestDeadlineCleared(t *testing.T) {
	body, _ := stats13(3)
	c := mustConnect(t, func(sw *switchSide) {
		sw.handshake(OpenFlow13)
		sw.reply(sw.expectRequest(multipartTable), multipartTable, body)
		xid := sw.expectRequest(multipartTable)
		time.Sleep(200 * time.Millisecond) // past the first call's deadline
		sw.reply(xid, multipartTable, body)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := c.TableStats(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.TableStats(context.Background()); err != nil {
		t.Fatalf("second call, without deadline: %v", err)
	}
}

// TestCancel cancels the context while the client waits for the switch:
// the call returns at once, and the error says it was canceled rather than
// blaming a slow switch.
func TestCancel(t *testing.T) {
	tests := []struct {
		name string
		// script closes waiting when the client is blocked on it.
		script func(sw *switchSide, waiting chan<- struct{})
		call   func(ctx context.Context, nc net.Conn) error
	}{
		{
			name:   "handshake",
			script: func(sw *switchSide, waiting chan<- struct{}) { sw.readHello(); close(waiting); sw.waitClosed() },
			call: func(ctx context.Context, nc net.Conn) error {
				_, err := newConn(ctx, nc, "test")
				return err
			},
		},
		{
			name: "table stats",
			script: func(sw *switchSide, waiting chan<- struct{}) {
				sw.handshake(OpenFlow13)
				sw.expectRequest(multipartTable)
				close(waiting)
				sw.waitClosed()
			},
			call: tableStatsAfterHandshake,
		},
		{
			name: "table stats, inside a message",
			script: func(sw *switchSide, waiting chan<- struct{}) {
				sw.handshake(OpenFlow13)
				b, _ := sw.replyPart(sw.expectRequest(multipartTable), multipartTable, false, make([]byte, 48)).MarshalBinary()
				sw.write(b[:30])
				close(waiting)
				sw.waitClosed()
			},
			call: tableStatsAfterHandshake,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			waiting := make(chan struct{})
			nc := scriptedSwitch(t, func(sw *switchSide) { tt.script(sw, waiting) })
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() {
				<-waiting
				time.Sleep(50 * time.Millisecond)
				cancel()
			}()
			start := time.Now()
			err := tt.call(ctx, nc)
			if err == nil {
				t.Fatal("no error")
			}
			if elapsed := time.Since(start); elapsed > 3*time.Second {
				t.Errorf("returned after %v, cancel came after 50ms", elapsed)
			}
			if !errors.Is(err, context.Canceled) {
				t.Errorf("error %q does not wrap context.Canceled", err)
			}
			if strings.Contains(err.Error(), "timed out") {
				t.Errorf("error %q blames the timeout for a cancellation", err)
			}
		})
	}
}

func TestCanceledBeforeCall(t *testing.T) {
	c := mustConnect(t, func(sw *switchSide) { sw.handshake(OpenFlow13); sw.waitClosed() })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.TableStats(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("TableStats with a canceled context: %v, want context.Canceled", err)
	}
	if _, err := newConn(ctx, scriptedSwitch(t, func(*switchSide) {}), "test"); !errors.Is(err, context.Canceled) {
		t.Errorf("newConn with a canceled context: %v, want context.Canceled", err)
	}
}

// TestReplyBounded plays a switch whose reply never ends: the client must
// stop at maxReplyBytes.
func TestReplyBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 64 MiB")
	}
	part := make([]byte, maxMessageLen-headerLen-8) // largest 1.3 part
	c := mustConnect(t, func(sw *switchSide) {
		sw.handshake(OpenFlow13)
		xid := sw.expectRequest(multipartTable)
		for sent := 0; sent <= 2*maxReplyBytes; sent += len(part) {
			if err := sw.trySend(sw.replyPart(xid, multipartTable, true, part)); err != nil {
				return // the client gave up
			}
		}
		sw.fail("client read %d bytes of reply", 2*maxReplyBytes)
	})
	// Over 64 MiB through a pipe under -race: on a loaded CI machine that
	// took longer than testContext's 10s (CI, 2026-12-02). The bound is
	// what is tested, not the speed.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, err := c.TableStats(ctx)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("exceeds %d bytes", maxReplyBytes)) {
		t.Fatalf("error %v, want one saying the reply is too large", err)
	}
	c.Close()
}

// TestNoGoroutineLeft checks that a call leaves nothing running behind it:
// the context watcher stops with the call.
func TestNoGoroutineLeft(t *testing.T) {
	body, _ := stats13(2)
	c := mustConnect(t, func(sw *switchSide) {
		sw.handshake(OpenFlow13)
		for i := 0; i < 50; i++ {
			sw.reply(sw.expectRequest(multipartTable), multipartTable, body)
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	before := runtime.NumGoroutine()
	for i := 0; i < 50; i++ {
		if _, err := c.TableStats(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if after := runtime.NumGoroutine(); after > before+2 {
		t.Errorf("%d goroutines before 50 calls, %d after", before, after)
	}
}

func TestDialErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "br-int.mgmt")

	stale := filepath.Join(dir, "stale.mgmt")
	l, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false) // leave the file behind, as a crashed ovs-vswitchd does
	l.Close()
	if _, err := os.Stat(stale); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		path  string
		errno syscall.Errno
		want  []string
	}{
		{name: "missing", path: missing, errno: syscall.ENOENT, want: []string{"no socket at " + missing, "does the bridge exist", ".mgmt"}},
		{name: "missing dir", path: filepath.Join(dir, "nodir", "br-int.mgmt"), errno: syscall.ENOENT, want: []string{"no socket at", ".mgmt sockets"}},
		{name: "stale", path: stale, errno: syscall.ECONNREFUSED, want: []string{"connection refused on " + stale, "stale socket"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Dial(testContext(t), tt.path)
			if err == nil {
				c.Close()
				t.Fatal("no error")
			}
			if !errors.Is(err, tt.errno) {
				t.Errorf("error %q does not wrap %v", err, tt.errno)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

func TestExplainDialError(t *testing.T) {
	const path = "/run/openvswitch/br-int.mgmt"
	tests := []struct {
		name string
		err  error
		want string
	}{
		{name: "ENOENT", err: &net.OpError{Op: "dial", Net: "unix", Err: os.NewSyscallError("connect", syscall.ENOENT)}, want: "no socket at " + path},
		{name: "ErrNotExist", err: os.ErrNotExist, want: "no socket at " + path},
		{name: "ECONNREFUSED", err: &net.OpError{Op: "dial", Net: "unix", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, want: "connection refused on " + path},
		{name: "EACCES", err: &net.OpError{Op: "dial", Net: "unix", Err: os.NewSyscallError("connect", syscall.EACCES)}, want: "permission denied connecting to " + path},
		{name: "EPERM", err: syscall.EPERM, want: "permission denied"},
		{name: "deadline", err: fmt.Errorf("dial: %w", context.DeadlineExceeded), want: "timed out connecting to " + path + ": ovs-vswitchd is not answering"},
		{name: "other", err: syscall.EMFILE, want: "connecting to " + path + ": too many open files"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := explainDialError(path, tt.err)
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
			if !errors.Is(err, tt.err) {
				t.Errorf("error %q does not wrap %v", err, tt.err)
			}
		})
	}
}

// TestDialScripted runs Dial against a listening socket played by a script,
// so the path of Dial past the connect is covered too.
func TestDialScripted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "br0.mgmt")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	done := make(chan struct{})
	go func() {
		defer close(done)
		nc, err := l.Accept()
		if err != nil {
			t.Error(err)
			return
		}
		defer nc.Close()
		sw := &switchSide{t: t, c: nc}
		sw.handshake(OpenFlow14)
		sw.reply(sw.expectRequest(multipartTable), multipartTable, tableStats13(7, 1, 2, 3))
		sw.waitClosed()
	}()
	c, err := Dial(testContext(t), path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Version() != OpenFlow14 {
		t.Errorf("negotiated %v, want OpenFlow14", c.Version())
	}
	ts, err := c.TableStats(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 1 || ts[0] != (TableStats{ID: 7, Active: 1, Lookups: 2, Matches: 3}) {
		t.Errorf("stats %+v", ts)
	}
	c.Close()
	<-done
}
