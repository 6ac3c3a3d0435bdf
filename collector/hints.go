package collector

import (
	"errors"
	"syscall"

	"github.com/datapath-exporter/datapath-exporter/antrea"
	"github.com/datapath-exporter/datapath-exporter/conntrack"
	"github.com/datapath-exporter/datapath-exporter/internal/fault"
	"github.com/datapath-exporter/datapath-exporter/ovs"
)

// anyKind in a hint matches a failure of every kind.
const anyKind fault.Kind = -1

// A hint is what to do about a failure of a kind, in the terms of this
// exporter's flags and deployment: the sources say what happened, never
// what to do about it.
type hint struct {
	collector string // a name, or "conntrack*" for every conntrack collector
	kind      fault.Kind
	op        string // "": any operation
	is        error  // if set, the failure must also be this (errors.Is)
	as        func(error) bool
	text      string
}

// hints is the one table of hints; the first row that matches a failure
// gives its hint.
var hints = []hint{
	// ovs: OpenFlow per bridge, and the bridges from OVSDB.
	{collector: "ovs", kind: fault.Timeout, text: "raise --ovs.timeout if it is only slow"},
	{collector: "ovs", kind: fault.NotFound, op: ovs.MonitorOp, text: "check --ovs.rundir, or pass --ovs.bridge to skip discovery"},
	{collector: "ovs", kind: anyKind, op: ovs.MonitorOp, text: "pass --ovs.bridge to skip discovery"},
	{collector: "ovs", kind: fault.NotFound, text: "check --ovs.rundir"},
	{collector: "ovs", kind: fault.Permission, text: "the exporter must run as the socket's owner (root in Antrea's agent pod)"},
	{collector: "ovs", kind: fault.Refused, as: isVersionError,
		text: "add a version this exporter speaks to the bridge's protocols, e.g. `ovs-vsctl set bridge BR protocols=OpenFlow10,OpenFlow13,OpenFlow15`"},

	// ovs_interfaces: the OVSDB monitor, whatever --ovs.bridge says.
	{collector: "ovs_interfaces", kind: fault.NotFound, op: ovs.MonitorOp, text: "check --ovs.rundir: it must hold OVS's db.sock"},
	{collector: "ovs_interfaces", kind: fault.Permission, text: "the exporter must run as the socket's owner (root in Antrea's agent pod)"},
	{collector: "ovs_interfaces", kind: fault.Timeout, text: "raise --ovs.timeout if ovsdb-server is only slow to send its first rows"},

	// ovs_datapath: the kernel datapaths over generic netlink, then
	// ovs-vswitchd's control socket.
	{collector: "ovs_datapath", kind: fault.Permission, op: ovs.KernelOp,
		text: "OVS_DP_CMD_GET needs no capability: check a seccomp or LSM policy denying generic netlink sockets"},
	{collector: "ovs_datapath", kind: fault.Timeout, op: ovs.KernelOp, text: "raise --ovs.timeout if the kernel is only slow"},
	{collector: "ovs_datapath", kind: fault.Protocol, op: ovs.KernelOp,
		text: "this exporter does not know this kernel's reply: please report it (the kernel datapath metrics of this scrape are left out)"},
	{collector: "ovs_datapath", kind: fault.NotFound, op: ovs.KernelOp,
		text: "run the exporter in ovs-vswitchd's network namespace (the host's: hostNetwork: true), where the kernel datapath is"},
	{collector: "ovs_datapath", kind: fault.Timeout, text: "raise --ovs.timeout if ovs-vswitchd is only slow"},
	{collector: "ovs_datapath", kind: fault.NotFound, op: ovs.MonitorOp, text: "check --ovs.rundir, or pass --ovs.bridge to skip discovery"},
	{collector: "ovs_datapath", kind: anyKind, op: ovs.MonitorOp, text: "pass --ovs.bridge to skip discovery"},
	{collector: "ovs_datapath", kind: fault.NotFound, text: "--ovs.rundir must be the directory holding ovs-vswitchd.pid, or give the socket with --ovs.vswitchd-ctl"},
	{collector: "ovs_datapath", kind: fault.Refused, as: isVersionError,
		text: "add a version this exporter speaks to the bridge's protocols, e.g. `ovs-vsctl set bridge BR protocols=OpenFlow10,OpenFlow13,OpenFlow15`"},
	{collector: "ovs_datapath", kind: fault.Refused, text: "ovs-vswitchd is not running or is restarting"},
	{collector: "ovs_datapath", kind: fault.Permission, text: "the exporter must run as the socket's owner (root in Antrea's agent pod)"},
	{collector: "ovs_datapath", kind: fault.Protocol, as: isFormatError,
		text: "this exporter does not know this OVS version's output: please report it with the line above (the datapath metrics of this scrape are incomplete)"},

	// conntrack, conntrack_zones and conntrack_pods: netlink in
	// --conntrack.netns (and for conntrack_pods, OVSDB).
	{collector: "conntrack", kind: fault.Timeout, text: "raise --conntrack.timeout if the kernel is only slow"},
	{collector: "conntrack_zones", kind: fault.Timeout, text: "raise --conntrack.zones-timeout, or disable the conntrack_zones collector: it dumps the whole table"},
	{collector: "conntrack_pods", kind: fault.Timeout,
		text: "raise --conntrack.pods-timeout (one dump reads the whole table: see datapath_conntrack_pods_read_duration_seconds), or disable the conntrack_pods collector"},
	{collector: "conntrack_pods", kind: fault.NotFound, op: ovs.MonitorOp, text: "check --ovs.rundir: it must hold OVS's db.sock, where the Pods' addresses are"},
	{collector: "conntrack*", kind: fault.Permission, op: conntrack.EnterNetnsOp,
		text: "run as root, or as a sidecar leave --conntrack.netns empty and read the pod's own namespace (with securityContext.capabilities.add: [NET_ADMIN])"},
	{collector: "conntrack*", kind: fault.Permission, op: conntrack.OpenNetnsOp,
		text: "opening another process's network namespace needs root; as a sidecar, leave --conntrack.netns empty to read the pod's own namespace"},
	{collector: "conntrack*", kind: anyKind, op: conntrack.OpenNetnsOp, text: "give --conntrack.netns a network namespace file such as /run/netns/NAME or /proc/PID/ns/net"},
	{collector: "conntrack*", kind: fault.Permission, text: "give the exporter CAP_NET_ADMIN (securityContext.capabilities.add: [NET_ADMIN])"},
	{collector: "conntrack*", kind: fault.NotFound, text: "load nf_conntrack and nf_conntrack_netlink on the node (modprobe nf_conntrack_netlink)"},
	{collector: "conntrack*", kind: fault.Protocol, is: syscall.EINVAL, text: "if nf_conntrack_netlink is not loaded, load it (modprobe nf_conntrack_netlink)"},

	// antrea_agent: the agent's /metrics.
	{collector: "antrea_agent", kind: anyKind, op: antrea.TokenOp,
		text: "check --antrea.token-file: it must hold the pod's service-account token (automountServiceAccountToken must not be false)"},
	{collector: "antrea_agent", kind: fault.Refused, is: antrea.ErrTLS, text: "check the agent's certificate, or give the CA that signs it with --antrea.ca-file"},
	{collector: "antrea_agent", kind: fault.Refused,
		text: "is antrea-agent running? check --antrea.agent-url (the agent's API server listens on port 10350); table names are kept from the last read"},
	{collector: "antrea_agent", kind: fault.Permission, is: antrea.ErrUnauthorized,
		text: "the agent does not accept the token in --antrea.token-file: give the token of the pod's service account"},
	{collector: "antrea_agent", kind: fault.Permission,
		text: "grant get on nonResourceURL /metrics to ServiceAccount kube-system/antrea-agent " +
			"(deploy/antrea-sidecar's ClusterRole datapath-exporter-antrea-metrics and its ClusterRoleBinding)"},
	{collector: "antrea_agent", kind: fault.Timeout, text: "the agent did not answer in time: raise --antrea.timeout if it is slow"},
	{collector: "antrea_agent", kind: fault.Protocol, is: antrea.ErrTooLarge,
		text: "check that --antrea.agent-url is the Antrea agent's API server: its reply is far larger than an agent's"},
	{collector: "antrea_agent", kind: fault.Protocol, text: "check that --antrea.agent-url is the Antrea agent's API server (port 10350)"},
	{collector: "antrea_agent", kind: fault.Remote, text: "check that --antrea.agent-url is the Antrea agent's API server (port 10350)"},
}

func isVersionError(err error) bool {
	var ve *ovs.VersionError
	return errors.As(err, &ve)
}

func isFormatError(err error) bool {
	var fe *ovs.FormatError
	return errors.As(err, &fe)
}

func (h hint) matches(collector string, err error) bool {
	if h.collector != collector && !(h.collector == "conntrack*" && (collector == "conntrack" || collector == "conntrack_zones" || collector == "conntrack_pods")) {
		return false
	}
	if h.kind != anyKind && h.kind != fault.KindOf(err) {
		return false
	}
	if h.op != "" && h.op != fault.OpOf(err) {
		return false
	}
	if h.is != nil && !errors.Is(err, h.is) {
		return false
	}
	return h.as == nil || h.as(err)
}

// hintFor returns the hint for a failure of collector, or "".
func hintFor(collector string, err error) string {
	for _, h := range hints {
		if h.matches(collector, err) {
			return h.text
		}
	}
	return ""
}

// hinted is a failure with its hint; it unwraps to the failure.
type hinted struct {
	err  error
	hint string
}

func (h *hinted) Error() string { return h.err.Error() + "; " + h.hint }
func (h *hinted) Unwrap() error { return h.err }

// withHint returns err with the hint for a failure of collector, if any.
// The failures joined in err (one per bridge, say) get one hint each.
func withHint(collector string, err error) error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs := j.Unwrap()
		out := make([]error, len(errs))
		for i, e := range errs {
			out[i] = withHint(collector, e)
		}
		return errors.Join(out...)
	}
	if errors.As(err, new(*hinted)) {
		return err
	}
	if h := hintFor(collector, err); h != "" {
		return &hinted{err: err, hint: h}
	}
	return err
}
