// prometheusRules: the recording rules, per-node first (the fleet's build
// on them).
function(p) {
  groups: [(import 'node.libsonnet')(p)] + (import 'fleet.libsonnet')(p),
}
