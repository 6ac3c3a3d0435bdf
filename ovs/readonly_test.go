package ovs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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
	o := testenv.OVSForTest(t, testenv.OVSOptions{})
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
		`mount --bind -o ro "$1" "$2" && exec "$3"`, "sh",
		o.RunDir, mnt, os.Args[0])
	cmd.Env = append(os.Environ(), readOnlyChildEnv+"="+mnt)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), readOnlyChildOK) {
		t.Fatalf("reading through a read-only mount: %v\n%s", err, out)
	}
}

// readOnlyChildEnv, when set, makes the test binary run readOnlyChild on
// that directory instead of the tests (see TestMain).
const (
	readOnlyChildEnv = "DPX_RO_RUNDIR"
	readOnlyChildOK  = "read-only child: ok"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(readOnlyChildEnv); dir != "" {
		if err := readOnlyChild(dir); err != nil {
			fmt.Println("read-only child:", err)
			os.Exit(1)
		}
		fmt.Println(readOnlyChildOK)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// readOnlyChild runs inside TestReadOnlyMount's mount namespace: it reads
// OVSDB and the bridge's tables through the read-only mount at dir.
func readOnlyChild(dir string) error {
	if err := os.WriteFile(filepath.Join(dir, "probe"), nil, 0o644); !errors.Is(err, syscall.EROFS) {
		return fmt.Errorf("the mount is not read-only: writing gave %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m := StartMonitor(filepath.Join(dir, "db.sock"))
	defer m.Close()
	inv, err := m.Inventory(ctx)
	if err != nil || !slices.Equal(inv.Bridges, []string{"br-int"}) {
		return fmt.Errorf("bridges through the read-only mount: %v, %v", inv.Bridges, err)
	}
	c := &Client{RunDir: dir}
	defer c.Close()
	b, err := c.Tables(ctx, "br-int", "")
	if err != nil {
		return err
	}
	if b.Tables[1].Flows != 17 {
		return fmt.Errorf("table 1: %d flows, want 17", b.Tables[1].Flows)
	}
	// ovs-vswitchd's control socket: connecting needs write permission on
	// the socket inode, which a read-only mount does not take away.
	text, err := (&Unixctl{RunDir: dir}).Call(ctx, "dpctl/show")
	if err != nil {
		return fmt.Errorf("unixctl through the read-only mount: %w", err)
	}
	if _, err := ParseDpctlShow(text); err != nil {
		return err
	}
	return nil
}
