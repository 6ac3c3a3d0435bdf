package ovs

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
)

// TestReadOnlyMount checks that the OpenFlow, OVSDB and unixctl sockets work through
// a read-only bind mount, as the sidecar mounts Antrea's
// /var/run/openvswitch. The mount is made in a private mount namespace
// (unshare), so nothing is left on the host if the test dies.
func TestReadOnlyMount(t *testing.T) {
	testenv.Require(t, "unshare", "mount")
	o := testenv.OVSForTest(t)
	if err := o.AddBridge("br-int", "OpenFlow10", "OpenFlow15"); err != nil {
		t.Fatal(err)
	}
	if err := o.AddFlows("br-int", testenv.DropFlows(1, 0, 17)); err != nil {
		t.Fatal(err)
	}
	mnt := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "--mount", "--propagation", "private", "sh", "-c",
		`mount --bind -o ro "$1" "$2" && exec "$3" -test.run '^TestReadOnlyMountChild$' -test.v`, "sh",
		o.RunDir, mnt, os.Args[0])
	cmd.Env = append(os.Environ(), "DPX_RO_RUNDIR="+mnt)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestReadOnlyMountChild") {
		t.Fatalf("reading through a read-only mount: %v\n%s", err, out)
	}
}

// TestReadOnlyMountChild runs inside TestReadOnlyMount's mount namespace.
func TestReadOnlyMountChild(t *testing.T) {
	dir := os.Getenv("DPX_RO_RUNDIR")
	if dir == "" {
		t.Skip("run by TestReadOnlyMount")
	}
	if err := os.WriteFile(filepath.Join(dir, "probe"), nil, 0o644); !errors.Is(err, syscall.EROFS) {
		t.Fatalf("the mount is not read-only: writing gave %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := &Client{RunDir: dir}
	bridges, err := c.Bridges(ctx)
	if err != nil || len(bridges) != 1 || bridges[0] != "br-int" {
		t.Fatalf("bridges through the read-only mount: %v, %v", bridges, err)
	}
	b, err := c.Tables(ctx, "br-int")
	if err != nil {
		t.Fatal(err)
	}
	if b.Tables[1].Flows != 17 {
		t.Errorf("table 1: %d flows, want 17", b.Tables[1].Flows)
	}
	// ovs-vswitchd's control socket: connecting needs write permission on
	// the socket inode, which a read-only mount does not take away.
	text, err := (&Unixctl{RunDir: dir}).Call(ctx, "dpctl/show")
	if err != nil {
		t.Fatalf("unixctl through the read-only mount: %v", err)
	}
	if _, err := ParseDpctlShow(text); err != nil {
		t.Fatal(err)
	}
}
