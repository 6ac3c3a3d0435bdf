package collector

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/datapath-exporter/datapath-exporter/ovs"
)

// The kernel datapaths (system@...) of the ovs_datapath collector: their
// lookups, flows, masks, mask hits and cache hits come from the kernel over
// generic netlink (ovs.KernelDatapathReader), so they keep coming while
// ovs-vswitchd is stopped or restarting. The control socket stays the
// source of what only ovs-vswitchd knows (upcall/show, memory/show,
// coverage/show) and of the userspace (netdev@) datapaths.

var dpCacheHitsDesc = prometheus.NewDesc(
	prometheus.BuildFQName(Namespace, "ovs", "datapath_cache_hits_total"),
	"Packets looked up in the OVS datapath whose megaflow mask was found in the per-CPU mask cache (dpctl/show's \"cache: hit:\"); for system@ datapaths read from the kernel over generic netlink (OVS_DP_CMD_GET, n_cache_hit), for others from ovs-vswitchd's dpctl/show, for datapaths that report it.",
	[]string{"datapath"}, nil)

// kernelDatapathPrefix marks the datapaths the kernel reports.
const kernelDatapathPrefix = "system@"

// withKernelDatapaths puts the kernel's own statistics (kernel, read over
// generic netlink, or kernelErr) in place of the system@ datapaths of st
// (from the control socket's dpctl/show, which may have failed). The
// netdev@ datapaths stay as dpctl/show printed them.
//
//   - A kernel without the ovs_datapath family (openvswitch not loaded) has
//     no kernel datapath: not an error, unless dpctl/show lists one.
//   - Any other failure of the kernel read leaves out every system@ datapath
//     (never a control-socket value for one, never a 0) and is returned.
//   - A system@ datapath that dpctl/show lists but the kernel's dump does
//     not is an error: the exporter is not in ovs-vswitchd's network
//     namespace. One the kernel lists and dpctl/show does not (ovs-vswitchd
//     is stopped, or the datapath was made with ovs-dpctl) is exported.
func withKernelDatapaths(st ovs.DatapathReading, kernel []ovs.DatapathStats, kernelErr error) (ovs.DatapathReading, error) {
	var fromCtl []string
	for _, d := range st.Datapaths {
		if strings.HasPrefix(d.Name, kernelDatapathPrefix) {
			fromCtl = append(fromCtl, d.Name)
		}
	}
	out := st
	out.Datapaths = slices.DeleteFunc(slices.Clone(st.Datapaths), func(d ovs.DatapathStats) bool {
		return strings.HasPrefix(d.Name, kernelDatapathPrefix)
	})
	switch {
	case errors.Is(kernelErr, ovs.ErrNoKernelDatapathFamily) && len(fromCtl) == 0:
		return out, nil
	case errors.Is(kernelErr, ovs.ErrNoKernelDatapathFamily):
		return out, fmt.Errorf("ovs-vswitchd reports %s, but %w", strings.Join(fromCtl, ", "), kernelErr)
	case kernelErr != nil:
		return out, fmt.Errorf("kernel datapath statistics: %w", kernelErr)
	}
	var missing []string
	for _, name := range fromCtl {
		if !slices.ContainsFunc(kernel, func(d ovs.DatapathStats) bool { return d.Name == name }) {
			missing = append(missing, name)
		}
	}
	out.Datapaths = append(out.Datapaths, kernel...)
	if len(missing) > 0 {
		return out, fmt.Errorf("ovs-vswitchd reports %s, which the kernel's %s does not list in this exporter's network namespace; run the exporter in ovs-vswitchd's network namespace (the host's, hostNetwork: true)",
			strings.Join(missing, ", "), ovs.KernelOp)
	}
	return out, nil
}
