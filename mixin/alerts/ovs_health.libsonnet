// Alerts on OVS's health beyond the flow tables: the Pods' interfaces
// (ovs_interfaces collector) and flow-restore-wait (ovs collector), both
// from OVSDB.
function(p) [
  // Drops counted on a Pod's OVS interface (OVSDB's statistics, refreshed
  // every 5 s). Only Pods' ports: br-int's own internal port, down on an
  // Antrea node, counts a transmit drop for every flooded packet. More than
  // 1 packet/s for a while is loss its connections feel; the `for` lets a
  // Pod's start and stop pass. label_replace keeps one alert per direction,
  // as DatapathConntrackDropping keeps one per counter.
  p.alert(
    'DatapathOVSInterfaceDropping',
    |||
      label_replace(rate(%s[5m]), "direction", "receive", "", "") > 1
      or
      label_replace(rate(%s[5m]), "direction", "transmit", "", "") > 1
    ||| % [p.m('datapath_ovs_interface_receive_drop_total', 'pod!=""'), p.m('datapath_ovs_interface_transmit_drop_total', 'pod!=""')],
    'ovsInterfaceDroppingFor',
    'warning',
    'Pod {{ $labels.namespace }}/{{ $labels.pod }} on {{ $labels.instance }} is dropping packets ({{ $labels.direction }}).',
    |||
      The OVS interface {{ $labels.interface }} of Pod {{ $labels.namespace }}/{{ $labels.pod }} on
      {{ $labels.instance }} has counted more than 1 {{ $labels.direction }} drop per second for %s
      (now {{ printf "%%.3g" $value }}/s over 5 minutes): packets to or from the Pod are lost.
    ||| % [p.durationText('ovsInterfaceDroppingFor')],
  ),

  // Antrea's agent sets flow-restore-wait while it replays its flows after a
  // restart and clears it within seconds; while it is set ovs-vswitchd
  // installs no datapath flows.
  p.alert(
    'DatapathOVSFlowRestoreWaitStuck',
    '%s == 1' % p.m('datapath_ovs_flow_restore_wait'),
    'ovsFlowRestoreWaitFor',
    'critical',
    'OVS on {{ $labels.instance }} is stuck waiting for its flows to be restored.',
    |||
      other_config:flow-restore-wait has been true in OVSDB on {{ $labels.instance }} for %s:
      ovs-vswitchd installs no datapath flows until Antrea's agent has replayed its flows and cleared
      it, so traffic that needs a new flow (new connections, new Pods) is not forwarded.
    ||| % [p.durationText('ovsFlowRestoreWaitFor')],
  ),
]
