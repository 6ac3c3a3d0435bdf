// Fleet recording rules (datapath-fleet.rules.yml): aggregates across the
// nodes of a cluster, for dashboards and alerts that look at thousands of
// nodes at once without reading every node's series. They build on the
// per-node record datapath:conntrack_usage:ratio (rules/node.libsonnet).
//
// Aggregation keeps the cluster label (_config.clusterLabel) and `job`:
// `job` is the scrape job of one cluster's exporters, the cluster label the
// external or target label a multi-cluster setup adds (absent labels
// aggregate as empty, so single-cluster setups lose nothing). These records
// are what a global view (federation, Thanos, Mimir) should pull: a few
// series per cluster and table instead of every node's. Their names say
// cluster_job whatever the cluster label is called.
function(p)
  local byJob = 'by (%s, job)' % p.cluster;
  local byTable = 'by (%s, job, bridge, table_id, table_name)' % p.cluster;
  local flows = p.m('datapath_ovs_table_flows');
  [
    {
      name: 'datapath-fleet.node.records',
      rules: [
        {
          // Seconds until the conntrack table is full at the slope of the
          // last hour, per node; only where it grows (the same as the node
          // dashboard's panel).
          record: 'datapath:conntrack_seconds_until_full:deriv1h',
          expr: |||
            (%(limit)s - predict_linear(%(entries)s[1h], 0))
            / (deriv(%(entries)s[1h]) > 0)
          ||| % { limit: p.m('datapath_conntrack_entries_limit'), entries: p.m('datapath_conntrack_entries') },
        },
      ],
    },
    {
      name: 'datapath-fleet.cluster.records',
      rules: [
        // Nodes reporting conntrack usage, the highest usage, and how many
        // are above the thresholds of DatapathConntrackTableNearlyFull and
        // DatapathConntrackTableFull (their percent is in the name); 0 when
        // none is.
        {
          record: 'cluster_job:datapath_conntrack_nodes:count',
          expr: 'count %s (datapath:conntrack_usage:ratio)' % byJob,
        },
        {
          record: 'cluster_job:datapath_conntrack_usage:max',
          expr: 'max %s (datapath:conntrack_usage:ratio)' % byJob,
        },
        {
          record: 'cluster_job:datapath_conntrack_nodes_above_%spct:count' % p.nameText('conntrackWarningPercent'),
          expr: 'sum %s (datapath:conntrack_usage:ratio > bool %s)' % [byJob, p.ratioText('conntrackWarningPercent')],
        },
        {
          record: 'cluster_job:datapath_conntrack_nodes_above_%spct:count' % p.nameText('conntrackCriticalPercent'),
          expr: 'sum %s (datapath:conntrack_usage:ratio > bool %s)' % [byJob, p.ratioText('conntrackCriticalPercent')],
        },

        // The Pods with the most conntrack entries in each cluster, job
        // and direction (source: the Pod opened them; destination: they
        // are aimed at it), from the opt-in conntrack_pods collector, with
        // the node they are on (instance). Each node serves its own top
        // (--conntrack.pods-top, 10 by default) and the rest as pod="";
        // this keeps 2 x 10 series per cluster and job whatever the
        // number of nodes, for a global view of who fills the tables.
        // Empty where no node runs the collector.
        {
          record: 'cluster_job_pod:datapath_conntrack_pod_entries:top10',
          expr: 'topk by (%s, job, direction) (10, %s)' % [p.cluster, p.m('datapath_conntrack_pod_entries', 'pod!=""')],
        },

        // OpenFlow tables across nodes, per table: the total, and the
        // spread (max - min), median and standard deviation of the per-node
        // counts. Tables Antrea fills from cluster-wide state (Services,
        // endpoints, policies) should have the same count on every node.
        {
          record: 'cluster_job_table:datapath_ovs_table_flows:sum',
          expr: 'sum %s (%s)' % [byTable, flows],
        },
        {
          record: 'cluster_job_table:datapath_ovs_table_flows:spread',
          expr: |||
            max %(by)s (%(flows)s)
            - min %(by)s (%(flows)s)
          ||| % { by: byTable, flows: flows },
        },
        {
          record: 'cluster_job_table:datapath_ovs_table_flows:median',
          expr: 'quantile %s (0.5, %s)' % [byTable, flows],
        },
        {
          record: 'cluster_job_table:datapath_ovs_table_flows:stddev',
          expr: 'stddev %s (%s)' % [byTable, flows],
        },
      ],
    },
  ]
