// Per-node recording rules (datapath-exporter.rules.yml).
//
// A limit of 0 means "no limit" (nf_conntrack_max=0 disables the check in
// the kernel; an OVS table without max_entries): ratios divide by
// `(limit > 0)` so such a target yields no ratio instead of +Inf.
// datapath_ovs_table_flows_limit exists only for tables with a flow_limit
// set in OVSDB (OVS's default of 1000000 is not exported), so the OVS table
// ratio and alert cover exactly those tables.
function(p) {
  name: 'datapath-exporter.records',
  rules: [
    {
      // Fraction of nf_conntrack_max in use, per node.
      record: 'datapath:conntrack_usage:ratio',
      expr: '%s / (%s > 0)' % [p.m('datapath_conntrack_entries'), p.m('datapath_conntrack_entries_limit')],
    },
    {
      // Fraction of an OpenFlow table's max_entries in use, per node, bridge and table.
      record: 'datapath:ovs_table_usage:ratio',
      expr: '%s / (%s > 0)' % [p.m('datapath_ovs_table_flows'), p.m('datapath_ovs_table_flows_limit')],
    },
  ],
}
