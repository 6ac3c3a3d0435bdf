// grafanaDashboards, keyed by the file name under grafana/.
function(p) {
  'conntrack.json': (import 'conntrack.libsonnet')(p),
  'datapath-fleet.json': (import 'datapath-fleet.libsonnet')(p),
  'ovs-flow-tables.json': (import 'ovs-health.libsonnet')(p, (import 'ovs-flow-tables.libsonnet')(p)),
}
