package conntrack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/datapath-exporter/datapath-exporter/internal/fault"
	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
)

// These tests run against the real kernel, in private network namespaces
// (testenv.NetnsForTest), so they never touch the host's conntrack table.

func TestConntrackReadNetns(t *testing.T) {
	ns := testenv.NetnsForTest(t, testenv.NetnsOptions{})
	ctx := testenv.Context(t, 60*time.Second)
	r := readerForTest(t, Config{NetnsPath: ns.Path})
	limit := testenv.ConntrackMax(t)

	// checkEntries reads the table and compares it with `conntrack -C`.
	checkEntries := func(t *testing.T) Snapshot {
		t.Helper()
		snap, err := r.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want, err := ns.Count(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if snap.Global.Entries != want {
			t.Errorf("Global.Entries = %d, conntrack -C says %d", snap.Global.Entries, want)
		}
		if snap.Global.Limit != limit {
			t.Errorf("Global.Limit = %d, nf_conntrack_max is %d", snap.Global.Limit, limit)
		}
		if snap.cpus < 1 {
			t.Errorf("CPUs = %d, want at least 1", snap.cpus)
		}
		return snap
	}

	empty := checkEntries(t)
	if empty.Global.Entries != 0 {
		t.Errorf("a new namespace has %d entries, want 0", empty.Global.Entries)
	}

	// Zones 0 (default), 65520 (Antrea's) and 7 all count in one table.
	for _, z := range []struct {
		zone  uint16
		count int
	}{{0, 10}, {65520, 20}, {7, 5}} {
		if err := ns.InsertEntries(ctx, z.zone, z.count); err != nil {
			t.Fatal(err)
		}
	}
	inserted := checkEntries(t)
	if inserted.Global.Entries != 35 {
		t.Errorf("Global.Entries = %d after inserting 35 entries, want 35", inserted.Global.Entries)
	}
	if got := inserted.Stats.Value(StatInsert) - empty.Stats.Value(StatInsert); got != 35 {
		t.Errorf("Stats.Insert grew by %d (%d → %d) over 35 inserted entries, want 35", got, empty.Stats.Value(StatInsert), inserted.Stats.Value(StatInsert))
	}
	if err := ns.InsertEntries(ctx, 7, 10); err != nil {
		t.Fatal(err)
	}
	more := checkEntries(t)
	if got := more.Stats.Value(StatInsert) - inserted.Stats.Value(StatInsert); got != 10 {
		t.Errorf("Stats.Insert grew by %d (%d → %d) over 10 more inserted entries, want 10", got, inserted.Stats.Value(StatInsert), more.Stats.Value(StatInsert))
	}

	// Volume from real traffic. (On 6.x kernels traffic-created entries do
	// not move Stats.Insert: only ctnetlink creations count there.)
	const volume = 100000
	start := time.Now()
	if err := ns.FillUDP(ctx, volume, 65520); err != nil {
		t.Fatal(err)
	}
	t.Logf("FillUDP(%d) took %v", volume, time.Since(start))
	filled := checkEntries(t)
	if want := more.Global.Entries + volume; filled.Global.Entries != want {
		t.Errorf("Global.Entries = %d after FillUDP(%d), want %d", filled.Global.Entries, volume, want)
	}
	t.Logf("after FillUDP: %+v", filled)
}

func TestConntrackReadOwnNetns(t *testing.T) {
	testenv.Require(t)
	r := readerForTest(t, Config{})
	snap, err := r.Read(testenv.Context(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if want := testenv.ConntrackMax(t); snap.Global.Limit != want {
		t.Errorf("Global.Limit = %d, nf_conntrack_max is %d", snap.Global.Limit, want)
	}
	if snap.cpus < 1 {
		t.Errorf("CPUs = %d, want at least 1", snap.cpus)
	}
}

// TestReadReturnsWithinDeadline catches a dependency upgrade that makes the
// real requests hang (mdlayher/netlink >= v1.10 does that to StatsGlobal):
// Read must come back, with data or an error, well within twice its
// deadline.
func TestReadReturnsWithinDeadline(t *testing.T) {
	ns := testenv.NetnsForTest(t, testenv.NetnsOptions{})
	r := readerForTest(t, Config{NetnsPath: ns.Path})

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := r.Read(ctx)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Read with a 5s deadline has not returned after 10s: a netlink call hangs and the timeout does not stop it (is github.com/mdlayher/netlink still v1.7.2?)")
	}
}

// TestConntrackPermission runs a read in a child process with fewer
// privileges and checks what the operator would see.
//
// What the kernel does (6.x): creating a NETLINK_NETFILTER socket needs no
// privilege, but nfnetlink answers every request, stats included, with
// EPERM unless the sender has CAP_NET_ADMIN in the socket's namespace. So a
// read without CAP_NET_ADMIN fails on the request, as root without the
// capability and as nobody alike. Reading another namespace also needs
// setns(2), i.e. CAP_SYS_ADMIN: without it the failure comes earlier.
func TestConntrackPermission(t *testing.T) {
	testenv.Require(t, "setpriv")
	ns := testenv.NetnsForTest(t, testenv.NetnsOptions{})

	// nobody cannot reach the test binary in Go's private build directory.
	binary := copyExecutable(t, os.Args[0])

	const capsOff = "--inh-caps=-all --bounding-set=-all"
	tests := []struct {
		name    string
		setpriv string
		netns   string
		want    []string
	}{
		{
			name:    "root without CAP_NET_ADMIN, own namespace",
			setpriv: "--inh-caps=-net_admin --bounding-set=-net_admin",
			want:    []string{"operation not permitted", "CAP_NET_ADMIN", "kind: permission denied", "is permission: true"},
		},
		{
			name:    "root without CAP_NET_ADMIN, private namespace",
			setpriv: "--inh-caps=-net_admin --bounding-set=-net_admin",
			netns:   ns.Path,
			want:    []string{"operation not permitted", "CAP_NET_ADMIN", "is permission: true"},
		},
		{
			name:    "root without any capability, own namespace",
			setpriv: capsOff,
			want:    []string{"operation not permitted", "CAP_NET_ADMIN", "is permission: true"},
		},
		{
			name:    "root without any capability, private namespace",
			setpriv: capsOff,
			netns:   ns.Path,
			want:    []string{"operation not permitted", "CAP_SYS_ADMIN", "op: entering network namespace", "kind: permission denied", "is permission: true"},
		},
		{
			name:    "nobody, own namespace",
			setpriv: "--reuid=65534 --regid=65534 --clear-groups " + capsOff,
			want:    []string{"operation not permitted", "CAP_NET_ADMIN", "is permission: true"},
		},
		{
			name:    "nobody, private namespace",
			setpriv: "--reuid=65534 --regid=65534 --clear-groups " + capsOff,
			netns:   ns.Path,
			want:    []string{"operation not permitted", "CAP_SYS_ADMIN", "is permission: true"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testenv.Context(t, 30*time.Second)
			args := append(strings.Fields(tt.setpriv), binary)
			cmd := exec.CommandContext(ctx, "setpriv", args...)
			cmd.Env = append(os.Environ(), helperEnv+"=1", helperNetnsEnv+"="+tt.netns)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("setpriv %s: %v\n%s", tt.setpriv, err, out)
			}
			t.Logf("child says:\n%s", out)
			for _, w := range tt.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("child output does not contain %q", w)
				}
			}
		})
	}
}

const (
	helperEnv      = "DPX_CONNTRACK_HELPER"
	helperNetnsEnv = "DPX_CONNTRACK_HELPER_NETNS"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		permissionChild()
		os.Exit(0)
	}
	if kind := os.Getenv(rawPacketEnv); kind != "" {
		if err := sendRawPacket(kind); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// permissionChild is the child of TestConntrackPermission, run by the test
// binary instead of the tests (see TestMain): it reads conntrack with the
// privileges setpriv left it and prints what it got.
func permissionChild() {
	err := func() error {
		r, err := NewReader(Config{NetnsPath: os.Getenv(helperNetnsEnv)})
		if err != nil {
			return err
		}
		defer r.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		snap, err := r.Read(ctx)
		if err == nil {
			fmt.Printf("read: %+v\n", snap)
		}
		return err
	}()
	fmt.Printf("error: %v\n", err)
	fmt.Printf("kind: %v\n", fault.KindOf(err))
	fmt.Printf("op: %s\n", fault.OpOf(err))
	fmt.Printf("is permission: %v\n", errors.Is(err, os.ErrPermission))
	fmt.Printf("is EPERM: %v\n", errors.Is(err, syscall.EPERM))
}

func readerForTest(t *testing.T, cfg Config) *Reader {
	t.Helper()
	r, err := NewReader(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("closing reader: %v", err)
		}
	})
	return r
}

// copyExecutable copies the file to a directory every user can enter.
func copyExecutable(t *testing.T, src string) string {
	t.Helper()
	dir := t.TempDir()
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, filepath.Base(src))
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return dst
}
