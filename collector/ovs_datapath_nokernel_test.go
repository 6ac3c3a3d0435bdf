package collector

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/datapath-exporter/datapath-exporter/ovs"
)

// TestKernelAbsence reads this machine's kernel through kernelAbsence, the
// clock moved by hand. Where the kernel has no ovs_datapath family (no
// openvswitch module) the read is left out until the recheck interval has
// passed, and made at once when dpctl/show lists a system@ datapath;
// where it has one, no read is ever left out.
func TestKernelAbsence(t *testing.T) {
	r := &ovs.KernelDatapathReader{}
	t.Cleanup(func() { r.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	now := time.Unix(1_000_000, 0)
	k := newKernelAbsence(30 * time.Second)
	k.now = func() time.Time { return now }
	netdevOnly := ovs.DatapathReading{Datapaths: []ovs.DatapathStats{{Name: "netdev@ovs-netdev"}}}
	withSystem := ovs.DatapathReading{Datapaths: []ovs.DatapathStats{{Name: "netdev@ovs-netdev"}, {Name: "system@ovs-system"}}}

	if k.skip() {
		t.Fatal("skips before any read")
	}
	kernel, err := r.Read(ctx)
	_, err = k.result(ctx, r, false, netdevOnly, kernel, err)
	absent := errors.Is(err, ovs.ErrNoKernelDatapathFamily)
	if err != nil && !absent {
		t.Fatalf("reading the kernel's datapaths: %v", err)
	}
	if !absent {
		// The module is loaded here: every scrape reads the kernel.
		if k.skip() {
			t.Error("skips the read of a kernel that has the family")
		}
		return
	}
	now = now.Add(29 * time.Second)
	if !k.skip() {
		t.Fatal("29s after the kernel had no family: not skipped")
	}
	if _, err := k.result(ctx, r, true, netdevOnly, nil, nil); !errors.Is(err, ovs.ErrNoKernelDatapathFamily) {
		t.Errorf("skipped, dpctl/show lists no system@ datapath: %v, want the family's absence", err)
	}
	// dpctl/show lists a system@ datapath: read now (here: still absent,
	// which the caller reports as an error).
	_, err = k.result(ctx, r, true, withSystem, nil, nil)
	if !errors.Is(err, ovs.ErrNoKernelDatapathFamily) {
		t.Errorf("read made for a listed system@ datapath: %v, want the kernel's own answer (no family)", err)
	}
	now = now.Add(29 * time.Second)
	if !k.skip() {
		t.Error("the read made for dpctl/show's system@ datapath did not restart the interval")
	}
	now = now.Add(time.Second)
	if k.skip() {
		t.Error("30s after the last read: still skipped")
	}
	k.recheck = 0
	if _, err := k.result(ctx, r, false, netdevOnly, nil, ovs.ErrNoKernelDatapathFamily); err == nil || k.skip() {
		t.Errorf("recheck 0: skipped (%v)", err)
	}
}
