// Alerts across the nodes of a cluster (datapath-fleet.rules.yml), on the
// fleet records of rules/fleet.libsonnet.
function(p) [
  // Antrea's Service tables (antreaServiceTables: EndpointDNAT and
  // ServiceLB) hold one flow per Service endpoint and per Service port of
  // the whole cluster: every agent programs the same set. A node whose
  // count differs from the cluster's median for serviceFlowsOutOfSyncFor
  // has an agent that stopped syncing (the seed article's table 11, equal on
  // every node). Tables are named by table_name: their IDs depend on the
  // features enabled. With two nodes the median is their mean and both are
  // named; from three on, the odd one out.
  p.alert(
    'DatapathServiceFlowsOutOfSync',
    |||
      %s
      != on(%s, job, bridge, table_id, table_name) group_left()
      cluster_job_table:datapath_ovs_table_flows:median
    ||| % [p.m('datapath_ovs_table_flows', 'table_name=~"%s"' % p.cfg.antreaServiceTables), p.cluster],
    'serviceFlowsOutOfSyncFor',
    'warning',
    'Service flows on {{ $labels.instance }} differ from the cluster ({{ $labels.table_name }}).',
    |||
      OpenFlow table {{ $labels.table_id }} ({{ $labels.table_name }}) of {{ $labels.bridge }} on
      {{ $labels.instance }} has held {{ $value | humanize }} flows for %s, while the median of
      the nodes of {{ $labels.job }} is
      {{ with printf "cluster_job_table:datapath_ovs_table_flows:median{job=%%q,bridge=%%q,table_name=%%q}" $labels.job $labels.bridge $labels.table_name | query }}{{ . | first | value | humanize }}{{ end }}.
      Every agent programs the same Service flows, so this node's agent has stopped syncing
      Services or endpoints: traffic to Services from this node may go to stale endpoints.
    ||| % p.durationText('serviceFlowsOutOfSyncFor'),
  ),
]
