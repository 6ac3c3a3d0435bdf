// Alerts on Open vSwitch: OpenFlow tables, the Antrea agent's view of them,
// and the datapath.
function(p) [
  p.alert(
    'DatapathOVSFlowTableNearlyFull',
    '%s / (%s > 0) > %s' % [p.m('datapath_ovs_table_flows'), p.m('datapath_ovs_table_flows_limit'), p.ratioText('ovsFlowTableWarningPercent')],
    'ovsFlowTableNearlyFullFor',
    'warning',
    'OpenFlow table {{ $labels.table_id }} {{ $labels.table_name }} of {{ $labels.bridge }} on {{ $labels.instance }} is {{ $value | humanizePercentage }} full.',
    |||
      OpenFlow table {{ $labels.table_id }} ({{ $labels.table_name }}) of bridge {{ $labels.bridge }}
      on {{ $labels.instance }} has held more than %s%% of its max_entries for %s (now
      {{ $value | humanizePercentage }}). When it is full, OVS refuses new flows and the agent cannot
      program new pods, Services or policies.
    ||| % [p.text('ovsFlowTableWarningPercent'), p.durationText('ovsFlowTableNearlyFullFor')],
  ),

  // OVS's count of a table's flows against the Antrea agent's own count
  // (antrea_agent_ovs_flow_count, which the agent adjusts as it adds and
  // deletes flows; the antrea_agent collector reads it). A lasting
  // difference is flows deleted or added behind the agent's back, a failed
  // replay after an OVS restart, or a bookkeeping bug. The agent's count may
  // lag OVS's by --antrea.refresh (30s) and differs for a moment during
  // churn, hence the long driftWindow. group_left keeps table_name (OVS's
  // or the agent's name).
  p.alert(
    'DatapathOVSFlowsDivergeFromAntrea',
    |||
      %s - on(instance, job, bridge, table_id) group_left %s != 0
    ||| % [p.m('datapath_ovs_table_flows'), p.m('datapath_antrea_agent_table_flows')],
    'driftWindow',
    'warning',
    'OVS and the Antrea agent disagree on the flows of table {{ $labels.table_id }} {{ $labels.table_name }} of {{ $labels.bridge }} on {{ $labels.instance }}.',
    |||
      For %s OpenFlow table {{ $labels.table_id }} ({{ $labels.table_name }}) of bridge
      {{ $labels.bridge }} on {{ $labels.instance }} has held
      {{ with printf "datapath_ovs_table_flows{instance=%%q,job=%%q,bridge=%%q,table_id=%%q}" $labels.instance $labels.job $labels.bridge $labels.table_id | query }}{{ . | first | value | humanize }}{{ end }}
      flows in OVS while the Antrea agent counts
      {{ with printf "datapath_antrea_agent_table_flows{instance=%%q,job=%%q,bridge=%%q,table_id=%%q}" $labels.instance $labels.job $labels.bridge $labels.table_id | query }}{{ . | first | value | humanize }}{{ end }}
      (OVS minus agent: {{ $value | humanize }}). Flows were deleted or added behind the agent's back, or
      the agent failed to install or replay them: traffic of this table may not be handled as Antrea intends.
    ||| % [p.durationText('driftWindow')],
  ),

  // lost: packets the datapath dropped because their upcall could not be
  // queued to ovs-vswitchd's handler threads. Each one is a dropped packet.
  p.alert(
    'DatapathOVSUpcallsLost',
    'rate(%s[5m]) > 0' % p.m('datapath_ovs_datapath_lookups_total', 'result="lost"'),
    'ovsUpcallsLostFor',
    'warning',
    'OVS datapath {{ $labels.datapath }} on {{ $labels.instance }} is losing upcalls.',
    |||
      The OVS datapath {{ $labels.datapath }} on {{ $labels.instance }} is dropping packets whose flow
      lookup missed because their upcall to ovs-vswitchd could not be queued
      ({{ printf "%.3g" $value }} packets/s over 5 minutes): new connections through the node see
      loss and retransmits.
    |||,
  ),

  // ovs-vswitchd keeps the datapath's flows under a dynamic limit; at the
  // limit it stops installing flows (upcall_flow_limit_hit) and evicts
  // them, so more packets take the slow path.
  p.alert(
    'DatapathOVSFlowLimitReached',
    |||
      %s / (%s > 0) >= %s
      or
      rate(%s[5m]) > 0
    ||| % [
      p.m('datapath_ovs_datapath_flows'),
      p.m('datapath_ovs_datapath_flow_limit'),
      p.ratioText('ovsDatapathFlowLimitPercent'),
      p.m('datapath_ovs_coverage_total', 'event="upcall_flow_limit_hit"'),
    ],
    'ovsFlowLimitReachedFor',
    'warning',
    "OVS datapath flows on {{ $labels.instance }} are at ovs-vswitchd's flow limit.",
    |||
      On {{ $labels.instance }} the OVS datapath holds at least %s%% of ovs-vswitchd's dynamic flow
      limit, or ovs-vswitchd is refusing to install datapath flows because of it
      (value {{ printf "%%.3g" $value }}), for %s: flows are evicted, the miss rate and
      ovs-vswitchd's CPU climb, and latency rises.
    ||| % [p.text('ovsDatapathFlowLimitPercent'), p.durationText('ovsFlowLimitReachedFor')],
  ),

  // netlink_overflow: a handler's netlink socket buffer overflowed; the
  // upcalls in it were lost (ENOBUFS).
  p.alert(
    'DatapathOVSHandlerOverflow',
    'rate(%s[5m]) > 0' % p.m('datapath_ovs_coverage_total', 'event="netlink_overflow"'),
    'ovsHandlerOverflowFor',
    'warning',
    "ovs-vswitchd's upcall handlers on {{ $labels.instance }} are overflowing.",
    |||
      ovs-vswitchd on {{ $labels.instance }} counts netlink socket overflows
      ({{ printf "%.3g" $value }}/s over 5 minutes): upcalls arrive faster than its handler threads
      take them and are dropped.
    |||,
  ),
]
