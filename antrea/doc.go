// Package antrea reads what the Antrea agent knows about the OpenFlow tables
// of its bridge (br-int unless configured) and that Open vSwitch does not: each table's name, and the
// agent's own count of the flows it installed there.
//
// A real Antrea agent never names its tables in OVS (OVSDB Flow_Table stays
// empty) and assigns table IDs at start from the features it runs, so the
// only source of the names is the agent's API server, which publishes
// antrea_agent_ovs_flow_count{table_id,table_name} and
// antrea_agent_ovs_total_flow_count on https://<node>:10350/metrics. The
// agent authenticates the request's bearer token (the pod's service-account
// token) and authorises it with a SubjectAccessReview of the non-resource
// URL /metrics, verb get.
//
// Client reads that endpoint at most once per refresh interval, one request
// at a time, and parses only those two families, streaming, within a size
// bound. Tables holds the names learnt so far: the one piece of state the
// ovs and antrea_agent collectors share.
//
// The package knows nothing of Prometheus client libraries or of the
// exporter's flags: its errors are *fault.Error values (internal/fault) of a
// kind, with the operation and URL or file, wrapping the sentinel errors of
// client.go where one kind has several causes (HTTP 401 or 403), so that
// the caller can add the fix that names its own flags.
package antrea
