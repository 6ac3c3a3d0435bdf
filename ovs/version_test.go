package ovs

import (
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
)

func TestParseVersion(t *testing.T) {
	tests := []struct {
		text, want string
		ok         bool
	}{
		{"ovs-vswitchd (Open vSwitch) 3.1.0", "3.1.0", true},
		{"ovs-vswitchd (Open vSwitch) 3.1.0\n", "3.1.0", true},
		{"ovs-vswitchd (Open vSwitch) 3.3.90\nDPDK 23.11.0\n", "3.3.90", true},
		{"ovs-vswitchd (Open vSwitch) 2.17.9-0ubuntu0.22.04.1", "2.17.9-0ubuntu0.22.04.1", true},
		{"", "", false},
		{"ovs-vswitchd (Open vSwitch) ", "", false},
		{"3.1.0", "", false},
		{"ovs-vswitchd (Open vSwitch) 3.1.0 extra", "", false},
	}
	for _, tt := range tests {
		got, err := ParseVersion(tt.text)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("ParseVersion(%q) = %q, %v; want %q, ok %v", tt.text, got, err, tt.want, tt.ok)
		}
		var fe *FormatError
		if err != nil && !errors.As(err, &fe) {
			t.Errorf("ParseVersion(%q) error %v is not a *FormatError", tt.text, err)
		}
	}
}

// TestVersionReaderAgainstOVS reads the version of a real ovs-vswitchd,
// compares it with `ovs-vswitchd --version`, and again after a restart
// (new pid, new socket).
func TestVersionReaderAgainstOVS(t *testing.T) {
	o := testenv.OVSForTest(t, testenv.OVSOptions{})
	out, err := exec.Command("ovs-vswitchd", "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	want, err := ParseVersion(string(out))
	if err != nil {
		t.Fatal(err)
	}
	r := &VersionReader{Unixctl: Unixctl{RunDir: o.RunDir}}
	ctx := testenv.Context(t, time.Minute)
	got, err := r.Read(ctx)
	if err != nil || got != want {
		t.Fatalf("Read = %q, %v; ovs-vswitchd --version says %q", got, err, want)
	}
	first := r.instance
	if err := o.RestartVswitchd(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := r.Read(ctx); err != nil || got != want {
		t.Fatalf("Read after a restart = %q, %v; want %q", got, err, want)
	}
	if r.instance == first {
		t.Errorf("the restarted daemon was not asked again (socket %s)", first)
	}
}

// TestVersionReaderAsksOncePerDaemon counts the version requests a daemon
// gets (a stand-in: a real one cannot count them), and checks that a
// socket made anew at the same path (a daemon started with
// --unixctl=PATH, restarted) is asked again.
func TestVersionReaderAsksOncePerDaemon(t *testing.T) {
	asked := make(chan string, 10)
	serve := func(version string) func(c net.Conn) {
		return func(c net.Conn) {
			var req unixctlRequest
			if err := json.Unmarshal([]byte(readRequest(c)), &req); err != nil {
				return
			}
			asked <- req.Method
			reply, _ := json.Marshal(map[string]any{"id": req.ID, "result": "ovs-vswitchd (Open vSwitch) " + version, "error": nil})
			c.Write(reply)
		}
	}
	path := fakeUnixctl(t, serve("3.1.0"))
	r := &VersionReader{Unixctl: Unixctl{Path: path}}
	ctx := testenv.Context(t, 10*time.Second)
	for range 3 {
		if v, err := r.Read(ctx); err != nil || v != "3.1.0" {
			t.Fatalf("Read = %q, %v", v, err)
		}
	}
	if n := len(asked); n != 1 {
		t.Errorf("asked %d times for three reads of one daemon, want once", n)
	}
	// Another daemon's socket moved to the same path: a new inode.
	if err := os.Rename(fakeUnixctl(t, serve("3.2.1")), path); err != nil {
		t.Fatal(err)
	}
	if v, err := r.Read(ctx); err != nil || v != "3.2.1" {
		t.Errorf("Read after the socket was made anew = %q, %v; want 3.2.1", v, err)
	}

	bad := fakeUnixctl(t, serve(""))
	if _, err := (&VersionReader{Unixctl: Unixctl{Path: bad}}).Read(ctx); err == nil || !strings.Contains(err.Error(), "unexpected version reply") {
		t.Errorf("Read of a reply without a version: %v", err)
	}
}
