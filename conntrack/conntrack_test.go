package conntrack

import (
	"bufio"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/netlink"

	"github.com/datapath-exporter/datapath-exporter/internal/fault"
	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
)

func TestNewReaderBadNetnsPath(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "regular")
	if err := os.WriteFile(regular, []byte("not a namespace"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, want string
	}{
		{name: "missing file", path: filepath.Join(dir, "missing"), want: "no such file"},
		{name: "regular file", path: regular, want: "not a namespace file"},
		{name: "directory", path: dir, want: "not a namespace file"},
		{name: "mount namespace", path: "/proc/self/ns/mnt", want: "not a network namespace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewReader(Config{NetnsPath: tt.path})
			if err == nil {
				r.Close()
				t.Fatalf("NewReader(%q) succeeded, want an error", tt.path)
			}
			// The path comes first, for the collector to put its flag
			// in front; the flag itself is not the source's to name.
			if !strings.Contains(err.Error(), tt.path+": ") || fault.OpOf(err) != OpenNetnsOp || strings.Contains(err.Error(), "--") {
				t.Errorf("NewReader(%q) error %q does not start with the path, or names a flag", tt.path, err)
			}
			for _, want := range []string{tt.want, "/run/netns/NAME", "/proc/PID/ns/net"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("NewReader(%q) error %q does not mention %q", tt.path, err, want)
				}
			}
		})
	}
}

func TestNewReaderNetnsPath(t *testing.T) {
	r, err := NewReader(Config{NetnsPath: "/proc/self/ns/net"})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := r.Read(context.Background()); err == nil {
		t.Error("Read after Close succeeded, want an error")
	}
}

// TestNetlinkVersionPinned guards against `go get -u`: with
// github.com/mdlayher/netlink v1.10 and later, the global-statistics request
// (a dump with an acknowledgement, as ti-mo/conntrack's StatsGlobal sends it
// and Read does) never returns, so every scrape
// would end in a timeout. Read's timeout keeps the exporter alive, but the
// metrics would be gone.
func TestNetlinkVersionPinned(t *testing.T) {
	f, err := os.Open("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const mod = "github.com/mdlayher/netlink"
	var version string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 0 && fields[0] == "require" {
			fields = fields[1:]
		}
		for i := 0; i+1 < len(fields); i++ {
			if fields[i] == mod && strings.HasPrefix(fields[i+1], "v") {
				version = fields[i+1] // the last one wins: a replace comes after require
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if version == "" {
		t.Fatalf("%s not found in go.mod", mod)
	}
	major, minor, ok := majorMinor(version)
	if !ok {
		t.Fatalf("cannot parse %s version %q", mod, version)
	}
	if major > 1 || (major == 1 && minor >= 10) {
		t.Fatalf("go.mod has %s %s: from v1.10 on, the global-statistics request (ti-mo/conntrack's StatsGlobal, and Read's) blocks forever "+
			"(every scrape would time out); keep it at v1.7.2 (go get %s@v1.7.2)",
			mod, version, mod)
	}
}

func majorMinor(v string) (major, minor int, ok bool) {
	parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	if len(parts) < 2 {
		return 0, 0, false
	}
	var err1, err2 error
	major, err1 = strconv.Atoi(parts[0])
	minor, err2 = strconv.Atoi(parts[1])
	return major, minor, err1 == nil && err2 == nil
}

// nfnlgrpConntrackDestroy is NFNLGRP_CONNTRACK_DESTROY (nfnetlink.h).
const nfnlgrpConntrackDestroy = 3

// TestReadTimeout checks the timeout path: a query that never gets an
// answer must not keep Read past its deadline, and the goroutine doing it
// must be gone when Read returns.
//
// Covered: a real receive blocked in the kernel on the very socket Read
// dialled (an event listener on a quiet private namespace) is woken when
// Read closes that socket at the deadline, and Read returns a timeout error
// in time. Not covered: the global-statistics request itself hanging; this kernel always
// answers it, so the injected query stands in for it (and
// TestReadReturnsWithinDeadline checks the real request returns).
func TestReadTimeout(t *testing.T) {
	ns := testenv.NetnsForTest(t, testenv.NetnsOptions{})
	r, err := NewReader(Config{NetnsPath: ns.Path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })

	exited := make(chan struct{})
	r.query = func(c *netlink.Conn) (Snapshot, error) {
		defer close(exited)
		// Nothing happens in the namespace, so this receive blocks in
		// recvmsg until Read closes the socket.
		if err := c.JoinGroup(nfnlgrpConntrackDestroy); err != nil {
			return Snapshot{}, err
		}
		_, err := c.Receive()
		return Snapshot{}, err
	}

	tests := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
	}{
		{name: "context deadline", ctx: func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 200*time.Millisecond)
		}},
		{name: "context near its deadline", ctx: func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 5*time.Millisecond)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exited = make(chan struct{})
			ctx, cancel := tt.ctx()
			defer cancel()
			start := time.Now()
			_, err := r.Read(ctx)
			elapsed := time.Since(start)
			if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no answer within") {
				t.Fatalf("Read error = %v, want a timeout wrapping context.DeadlineExceeded", err)
			}
			if elapsed > 2*time.Second {
				t.Errorf("Read returned after %v, want about its deadline", elapsed)
			}
			select {
			case <-exited:
			default:
				t.Error("the query goroutine was still running when Read returned")
			}
		})
	}

	t.Run("already expired", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := r.Read(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("Read(cancelled context) = %v, want context.Canceled", err)
		}
	})
}

func TestReadRecoversPanic(t *testing.T) {
	ns := testenv.NetnsForTest(t, testenv.NetnsOptions{})
	r, err := NewReader(Config{NetnsPath: ns.Path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	r.query = func(*netlink.Conn) (Snapshot, error) {
		var msgs []int
		return Snapshot{cpus: msgs[0]}, nil // what ti-mo's StatsGlobal did on an empty reply
	}
	_, err = r.Read(context.Background())
	if err == nil || !strings.Contains(err.Error(), "panicked") {
		t.Fatalf("Read error = %v, want the recovered panic", err)
	}
}

// TestReadKeepsSocket checks that reads reuse one netlink socket, that a
// failed read drops it, and that the next read dials a new one and works.
func TestReadKeepsSocket(t *testing.T) {
	ns := testenv.NetnsForTest(t, testenv.NetnsOptions{})
	r, err := NewReader(Config{NetnsPath: ns.Path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	read := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := r.Read(ctx)
		return err
	}
	if err := read(); err != nil {
		t.Fatal(err)
	}
	first := r.conn
	if first == nil {
		t.Fatal("no socket kept after a read")
	}
	if err := read(); err != nil {
		t.Fatal(err)
	}
	if r.conn != first {
		t.Error("the second read dialled a new socket")
	}
	r.query = func(*netlink.Conn) (Snapshot, error) { return Snapshot{}, errors.New("injected") }
	if err := read(); err == nil {
		t.Fatal("a failing query succeeded")
	}
	if r.conn != nil {
		t.Error("a failed read kept its socket")
	}
	r.query = query
	if err := read(); err != nil {
		t.Fatalf("the read after a failure: %v", err)
	}
	if r.conn == nil || r.conn == first {
		t.Error("the read after a failure did not dial a new socket")
	}
}
