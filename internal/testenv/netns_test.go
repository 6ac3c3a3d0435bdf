package testenv

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestNetnsLifecycle(t *testing.T) {
	n := NetnsForTest(t, NetnsOptions{})
	ctx := testContext(t, 30*time.Second)

	if !strings.HasPrefix(n.Name, netnsPrefix) || n.Path != "/run/netns/"+n.Name {
		t.Fatalf("Netns = {Name: %q, Path: %q}, want name prefix %q and path /run/netns/NAME", n.Name, n.Path, netnsPrefix)
	}
	if _, err := os.Stat(n.Path); err != nil {
		t.Fatalf("namespace file: %v", err)
	}
	out, err := n.Exec(ctx, "ip", "-o", "link", "show", "lo")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "UP") {
		t.Errorf("lo in the namespace is not up: %s", out)
	}
	if _, err := n.Exec(ctx, "false"); err == nil {
		t.Error("Exec(false) succeeded, want an error")
	}
	if _, err := n.Exec(ctx, "sh", "-c", "echo oops >&2; exit 3"); err == nil || !strings.Contains(err.Error(), "oops") {
		t.Errorf("Exec error = %v, want it to include stderr %q", err, "oops")
	}

	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(n.Path); !os.IsNotExist(err) {
		t.Errorf("after Close, stat %s = %v, want not exist", n.Path, err)
	}
	if err := n.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
}

// TestNewNetnsFailsCleanly fails NewNetns just after `ip netns add` made the
// namespace, by an error and by the context ending, and checks that the
// namespace it made is gone: what a deadline killing the command late does.
func TestNewNetnsFailsCleanly(t *testing.T) {
	Require(t, "ip")
	errInjected := errors.New("injected failure")
	for _, mode := range []string{"fails after add", "canceled after add"} {
		t.Run(mode, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var made *Netns
			n, err := NewNetns(ctx, NetnsOptions{afterAdd: func(n *Netns) error {
				made = n
				if _, err := os.Lstat(n.Path); err != nil {
					t.Errorf("the hook ran before the namespace existed: %v", err)
				}
				if mode == "canceled after add" {
					cancel()
					return nil
				}
				return errInjected
			}})
			if err == nil {
				n.Close()
				t.Fatal("NewNetns succeeded, want an error")
			}
			if made == nil {
				t.Fatalf("NewNetns failed before adding the namespace: %v", err)
			}
			if _, serr := os.Lstat(made.Path); !errors.Is(serr, os.ErrNotExist) {
				t.Errorf("after a failed NewNetns (%v), %s still exists (lstat: %v)", err, made.Path, serr)
			}
		})
	}
}

func TestNetnsInsertEntries(t *testing.T) {
	n := NetnsForTest(t, NetnsOptions{})
	ctx := testContext(t, 60*time.Second)

	tests := []struct {
		zone  uint16
		count int
	}{
		{zone: 0, count: 20},
		{zone: 65520, count: 30},
		{zone: 7, count: 5},
		{zone: 7, count: 5}, // a second call for a zone adds, not collides
	}
	var want uint64
	for _, tt := range tests {
		if err := n.InsertEntries(ctx, tt.zone, tt.count); err != nil {
			t.Fatal(err)
		}
		want += uint64(tt.count)
		got, err := n.Count(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("after inserting %d entries in zone %d: Count = %d, want %d", tt.count, tt.zone, got, want)
		}
	}
	out, err := n.Exec(ctx, "conntrack", "-L", "-w", "65520")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(out, "zone=65520"); got != 30 {
		t.Errorf("zone 65520 holds %d entries, want 30", got)
	}
}

func TestNetnsFillUDP(t *testing.T) {
	const timeoutFile = "/proc/sys/net/netfilter/nf_conntrack_udp_timeout"
	tests := []struct {
		name  string
		count int
		zone  uint16
	}{
		{name: "zone 0", count: 1000, zone: 0},
		{name: "zone 65520", count: 1000, zone: 65520},
		{name: "100k", count: 100000, zone: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if testing.Short() && tt.count > 1000 {
				t.Skip("-short")
			}
			n := NetnsForTest(t, NetnsOptions{})
			ctx := testContext(t, 60*time.Second)
			hostTimeout := readTrim(timeoutFile)

			start := time.Now()
			if err := n.FillUDP(ctx, tt.count, tt.zone); err != nil {
				t.Fatal(err)
			}
			t.Logf("FillUDP(%d) took %v", tt.count, time.Since(start))

			got, err := n.Count(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got != uint64(tt.count) {
				t.Errorf("Count = %d, want %d", got, tt.count)
			}
			if h := readTrim(timeoutFile); h != hostTimeout {
				t.Errorf("host nf_conntrack_udp_timeout changed from %s to %s", hostTimeout, h)
			}
			inNetns, err := n.Exec(ctx, "cat", timeoutFile)
			if err != nil {
				t.Fatal(err)
			}
			if strings.TrimSpace(inNetns) != "3600" {
				t.Errorf("nf_conntrack_udp_timeout in the namespace = %s, want 3600", inNetns)
			}
			if tt.zone != 0 {
				zone := strconv.Itoa(int(tt.zone))
				out, err := n.Exec(ctx, "conntrack", "-L", "-w", zone)
				if err != nil {
					t.Fatal(err)
				}
				if c := strings.Count(out, "zone="+zone); c != tt.count {
					t.Errorf("%d entries in zone %d, want %d", c, tt.zone, tt.count)
				}
			}
		})
	}
}

func testContext(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
