// prometheusAlerts: one file per kind of alert; a new file goes into the
// group its rules file should hold (datapath-exporter.* groups go to
// datapath-exporter.rules.yml, datapath-fleet.* to datapath-fleet.rules.yml).
function(p) {
  groups: [
    {
      name: 'datapath-exporter.alerts',
      rules: (import 'conntrack.libsonnet')(p)
             + (import 'ovs.libsonnet')(p)
             + (import 'ovs_health.libsonnet')(p)
             + (import 'exporter.libsonnet')(p),
    },
    {
      name: 'datapath-fleet.alerts',
      rules: (import 'fleet.libsonnet')(p),
    },
  ],
}
