package ovs

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/datapath-exporter/datapath-exporter/internal/fault"
)

// fakeUnixctl listens on a unix socket in a temporary directory and answers
// each connection with serve. It stands in for ovs-vswitchd only for the
// faults a real one cannot be made to produce (replies that are not
// JSON-RPC, huge or malformed); everything else is tested against a real
// ovs-vswitchd in unixctl_integration_test.go.
func fakeUnixctl(t *testing.T, serve func(c net.Conn)) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "dpx-ctl-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "ovs-vswitchd.ctl")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { l.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); serve(c) }()
		}
	}()
	return path
}

// readRequest reads one request (OVS's requests are small, one read).
func readRequest(c net.Conn) string {
	b := make([]byte, 4096)
	n, _ := c.Read(b)
	return string(b[:n])
}

func TestUnixctlFaults(t *testing.T) {
	replyFixture, err := os.ReadFile(filepath.Join(appctlFixtureDir, "jsonrpc-dpctl-show.json"))
	if err != nil {
		t.Fatal(err)
	}
	errorFixture, err := os.ReadFile(filepath.Join(appctlFixtureDir, "jsonrpc-error-unknown-command.json"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		serve    func(c net.Conn)
		maxReply int64
		deadline time.Duration // 0: 300ms
		want     string        // reply text
		wantKind fault.Kind
		wantMsg  string
	}{
		{name: "real reply in two pieces", serve: func(c net.Conn) {
			readRequest(c)
			c.Write(replyFixture[:20])
			time.Sleep(20 * time.Millisecond)
			c.Write(replyFixture[20:])
		}, want: "netdev@ovs-netdev:\n"},
		{name: "real error reply", serve: func(c net.Conn) {
			readRequest(c)
			c.Write(errorFixture)
		}, wantKind: fault.Remote, wantMsg: "is not a valid command"},
		{name: "not JSON", serve: func(c net.Conn) {
			readRequest(c)
			c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
		}, wantKind: fault.Protocol, wantMsg: "HTTP/1.1"},
		{name: "JSON but not JSON-RPC", serve: func(c net.Conn) {
			readRequest(c)
			c.Write([]byte(`{"hello":"world"}`))
		}, wantKind: fault.Protocol, wantMsg: "no id"},
		{name: "wrong id", serve: func(c net.Conn) {
			readRequest(c)
			c.Write([]byte(`{"id":99,"result":"x","error":null}`))
		}, wantKind: fault.Protocol, wantMsg: "reply id 99, want 1"},
		{name: "result not text", serve: func(c net.Conn) {
			readRequest(c)
			c.Write([]byte(`{"id":1,"result":{"a":1},"error":null}`))
		}, wantKind: fault.Protocol, wantMsg: "result is not text"},
		{name: "huge reply", maxReply: 1 << 20, serve: func(c net.Conn) {
			readRequest(c)
			c.Write([]byte(`{"id":1,"result":"`))
			chunk := []byte(strings.Repeat("x", 64<<10))
			for i := 0; i < 64; i++ {
				if _, err := c.Write(chunk); err != nil {
					return
				}
			}
		}, wantKind: fault.Protocol, wantMsg: "more than 1048576 bytes",
			// Reading 1 MiB under -race on a loaded machine can take
			// longer than 300ms: the bound is checked, not the speed.
			deadline: 10 * time.Second},
		{name: "silent", serve: func(c net.Conn) {
			readRequest(c)
			time.Sleep(2 * time.Second)
		}, wantKind: fault.Timeout, wantMsg: "did not answer in time"},
		{name: "closes", serve: func(c net.Conn) {
			readRequest(c)
		}, wantKind: fault.Closed},
		{name: "closes mid-reply", serve: func(c net.Conn) {
			readRequest(c)
			c.Write(replyFixture[:30])
		}, wantKind: fault.Protocol, wantMsg: "closed in the middle of a reply"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := fakeUnixctl(t, tt.serve)
			u := &Unixctl{Path: path, MaxReply: tt.maxReply}
			deadline := 300 * time.Millisecond
			if tt.deadline != 0 {
				deadline = tt.deadline
			}
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			start := time.Now()
			got, err := u.Call(ctx, "dpctl/show")
			if elapsed := time.Since(start); elapsed > deadline+2*time.Second {
				t.Errorf("took %v, beyond the %v deadline", elapsed, deadline)
			}
			if tt.wantKind == fault.Unknown {
				if err != nil {
					t.Fatal(err)
				}
				if !strings.HasPrefix(got, tt.want) {
					t.Errorf("reply %q, want prefix %q", got, tt.want)
				}
				return
			}
			wantOp := "dpctl/show"
			if tt.wantKind == fault.Timeout || tt.wantKind == fault.Closed {
				wantOp = UnixctlExchangeOp
			}
			if fault.KindOf(err) != tt.wantKind || fault.OpOf(err) != wantOp || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("error %v, want kind %v containing %q", err, tt.wantKind, tt.wantMsg)
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "dpctl/show") {
				t.Errorf("error %q names neither the socket nor the command", err)
			}
			if strings.Contains(err.Error(), "--") {
				t.Errorf("error %q names a flag", err)
			}
		})
	}
}

func TestUnixctlSeveralCallsOnOneConnection(t *testing.T) {
	path := fakeUnixctl(t, func(c net.Conn) {
		for i := 1; i <= 3; i++ {
			req := readRequest(c)
			if req == "" {
				return
			}
			// Echo the method back, as a real reply would carry text.
			method := strings.SplitN(strings.SplitN(req, `"method":"`, 2)[1], `"`, 2)[0]
			c.Write([]byte(`{"id":` + string(rune('0'+i)) + `,"result":"` + method + `\n","error":null}`))
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := (&Unixctl{Path: path}).Dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, cmd := range []string{"dpctl/show", "upcall/show", "memory/show"} {
		got, err := conn.Call(ctx, cmd)
		if err != nil || got != cmd+"\n" {
			t.Fatalf("%s: %q, %v", cmd, got, err)
		}
	}
}

func TestUnixctlSocketPath(t *testing.T) {
	dir := t.TempDir()
	u := &Unixctl{RunDir: dir}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	// No pidfile.
	if _, err := u.Call(ctx, "dpctl/show"); !fault.Is(err, fault.NotFound) || !strings.Contains(err.Error(), "ovs-vswitchd.pid") {
		t.Errorf("no pidfile: %v", err)
	}
	// A pidfile that is not a pid.
	pidfile := filepath.Join(dir, "ovs-vswitchd.pid")
	if err := os.WriteFile(pidfile, []byte("garbage\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := u.Call(ctx, "dpctl/show"); !fault.Is(err, fault.NotFound) || !strings.Contains(err.Error(), `"garbage\n"`) {
		t.Errorf("bad pidfile: %v", err)
	}
	// A pidfile whose socket is gone (a daemon that died and left it).
	if err := os.WriteFile(pidfile, []byte("4242\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if p, err := u.SocketPath(); err != nil || p != filepath.Join(dir, "ovs-vswitchd.4242.ctl") {
		t.Errorf("SocketPath = %q, %v", p, err)
	}
	if _, err := u.Call(ctx, "dpctl/show"); !fault.Is(err, fault.NotFound) || !strings.Contains(err.Error(), "ovs-vswitchd.4242.ctl") {
		t.Errorf("missing socket: %v", err)
	}
	// A stale socket: the file exists, nobody listens.
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(dir, "ovs-vswitchd.4242.ctl"), Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	if _, err := u.Call(ctx, "dpctl/show"); !fault.Is(err, fault.Refused) {
		t.Errorf("stale socket: %v", err)
	}
	// An explicit path wins over the pidfile.
	u.Path = filepath.Join(dir, "elsewhere.ctl")
	if p, _ := u.SocketPath(); p != u.Path {
		t.Errorf("SocketPath = %q, want the explicit %q", p, u.Path)
	}
}

// FuzzUnixctlReply feeds arbitrary bytes to the reply reader and decoder.
func FuzzUnixctlReply(f *testing.F) {
	entries, err := os.ReadDir(appctlFixtureDir)
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".json") {
			b, err := os.ReadFile(filepath.Join(appctlFixtureDir, e.Name()))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if n, ok := jsonValueEnd(b); ok {
			if n > len(b) || n < 0 {
				t.Fatalf("end %d beyond %d bytes", n, len(b))
			}
			_, _ = decodeUnixctlReply(b[:n], 1, "dpctl/show", "fuzz")
		}
	})
}
