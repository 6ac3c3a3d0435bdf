package collector

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/datapath-exporter/datapath-exporter/ovs"
)

// kernelAbsence spares a node without the openvswitch module (a userspace
// datapath only, or the module not loaded yet) the generic netlink read at
// every scrape: finding that the kernel has no ovs_datapath family takes a
// dump of every family (CTRL_CMD_GETFAMILY by name would load the module).
// After the kernel said so, the read is skipped for up to recheck, unless
// the scrape's dpctl/show lists a system@ datapath (ovs-vswitchd has just
// loaded the module): then it is made at once. Safe for concurrent use.
type kernelAbsence struct {
	recheck time.Duration // 0: read at every scrape
	now     func() time.Time

	mu    sync.Mutex
	since time.Time // when the kernel last had no family; zero: it had one
}

func newKernelAbsence(recheck time.Duration) *kernelAbsence {
	return &kernelAbsence{recheck: recheck, now: time.Now}
}

// skip reports whether this scrape may leave the kernel read out.
func (k *kernelAbsence) skip() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.recheck > 0 && !k.since.IsZero() && k.now().Sub(k.since) < k.recheck
}

// result returns the kernel read of this scrape: the one made (kernel,
// kernelErr) unless skipped, else a read made now if st lists a system@
// datapath, else the family's absence.
func (k *kernelAbsence) result(ctx context.Context, r *ovs.KernelDatapathReader, skipped bool, st ovs.DatapathReading,
	kernel []ovs.DatapathStats, kernelErr error) ([]ovs.DatapathStats, error) {
	if skipped {
		listed := false
		for _, d := range st.Datapaths {
			listed = listed || strings.HasPrefix(d.Name, kernelDatapathPrefix)
		}
		if !listed {
			return nil, ovs.ErrNoKernelDatapathFamily
		}
		kernel, kernelErr = r.Read(ctx)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if errors.Is(kernelErr, ovs.ErrNoKernelDatapathFamily) {
		k.since = k.now()
	} else {
		k.since = time.Time{}
	}
	return kernel, kernelErr
}
