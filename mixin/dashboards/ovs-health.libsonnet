// OVS's health beyond the flow tables, added to the Datapath / OVS flow
// tables dashboard (d, as ovs-flow-tables.libsonnet renders it): a header
// with ovs-vswitchd's version, the datapath type and flow-restore-wait above
// the dashboard's own panels (moved down), and a row of the Pods' OVS
// interfaces (ovs_interfaces collector) at the end.
function(p, d)
  local ds = { type: 'prometheus', uid: '${datasource}' };
  local sel(extra='') = 'job=~"$job",instance=~"$instance"' + extra;
  local ifaceSel(extra) = sel(',bridge=~"$bridge"' + extra);
  local target(expr, legend, instant=false, table=false) = {
    datasource: ds,
    editorMode: 'code',
    expr: expr,
    legendFormat: legend,
    range: !instant,
    instant: instant,
    refId: 'A',
  } + (if table then { format: 'table' } else {});
  local steps(list) = { mode: 'absolute', steps: list };
  // A stat that shows the legend of each series: a label, not a number.
  local labelStat(id, x, title, description, expr, legend) = {
    type: 'stat',
    title: title,
    description: description,
    datasource: ds,
    id: id,
    gridPos: { h: 3, w: 8, x: x, y: 1 },
    fieldConfig: { defaults: { color: { mode: 'fixed', fixedColor: 'text' } }, overrides: [] },
    options: {
      reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
      colorMode: 'none',
      graphMode: 'none',
      justifyMode: 'auto',
      orientation: 'auto',
      textMode: 'name',
    },
    targets: [target(expr, legend, instant=true)],
  };
  local headerHeight = 3;
  local nextID = std.foldl(std.max, [q.id for q in d.panels], 0) + 1;
  local bottom = std.foldl(std.max, [q.gridPos.y + q.gridPos.h for q in d.panels], 0) + headerHeight;
  // Drops of the Pods' interfaces, per direction (rx: what the Pod sent,
  // dropped on the way into OVS; tx: what OVS could not hand to the Pod).
  local podDrops(by) =
    'label_replace(sum by (%(by)s) (rate(datapath_ovs_interface_receive_drop_total{%(s)s}[$__rate_interval])), "direction", "receive", "", "")' % { by: by, s: ifaceSel(',pod!=""') }
    + '\nor\n'
    + 'label_replace(sum by (%(by)s) (rate(datapath_ovs_interface_transmit_drop_total{%(s)s}[$__rate_interval])), "direction", "transmit", "", "")' % { by: by, s: ifaceSel(',pod!=""') };
  local drops(s) =
    ('sum by (instance, interface) (rate(datapath_ovs_interface_receive_drop_total{%(s)s}[$__rate_interval]))'
     + ' + sum by (instance, interface) (rate(datapath_ovs_interface_transmit_drop_total{%(s)s}[$__rate_interval]))') % { s: s };
  local header = [
    labelStat(nextID, 0, 'OVS version',
              "ovs-vswitchd's version (datapath_ovs_info, from its control socket's version command).",
              'datapath_ovs_info{%s}' % sel(), '{{version}}'),
    labelStat(nextID + 1, 8, 'Datapath type',
              'The OVS datapath, as ovs-vswitchd names it: system@ovs-system is the Linux kernel datapath, netdev@ovs-netdev the userspace one (datapath label of datapath_ovs_datapath_flows).',
              'count by (datapath) (datapath_ovs_datapath_flows{%s})' % sel(), '{{datapath}}'),
    {
      type: 'stat',
      title: 'Flow restore wait',
      description: "OVSDB's other_config:flow-restore-wait (datapath_ovs_flow_restore_wait): set by Antrea's agent while it replays its flows after a restart, for seconds. While it is set ovs-vswitchd installs no flows; DatapathOVSFlowRestoreWaitStuck fires after %s." % p.durationText('ovsFlowRestoreWaitFor'),
      datasource: ds,
      id: nextID + 2,
      gridPos: { h: 3, w: 8, x: 16, y: 1 },
      fieldConfig: {
        defaults: {
          color: { mode: 'thresholds' },
          thresholds: steps([{ color: 'green', value: null }, { color: 'red', value: 1 }]),
          mappings: [{ type: 'value', options: { '0': { text: 'no' }, '1': { text: 'waiting' } } }],
        },
        overrides: [],
      },
      options: {
        reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
        colorMode: 'background',
        graphMode: 'none',
        justifyMode: 'auto',
        orientation: 'auto',
        textMode: 'value_and_name',
      },
      targets: [target('max by (instance) (datapath_ovs_flow_restore_wait{%s})' % sel(), '{{instance}}', instant=true)],
    },
  ];
  local moved = [q { gridPos+: { y: q.gridPos.y + headerHeight } } for q in d.panels if q.gridPos.y > 0];
  local kept = [q for q in d.panels if q.gridPos.y == 0];
  local interfaces = [
    {
      id: nextID + 3,
      type: 'row',
      title: 'Pod interfaces',
      collapsed: false,
      gridPos: { h: 1, w: 24, x: 0, y: bottom },
      panels: [],
    },
    {
      type: 'table',
      title: 'Pods dropping packets',
      description: "The 10 Pods whose OVS interface drops most, per direction: receive is what the Pod sent, dropped on its way into OVS; transmit is what OVS could not hand to the Pod (OVSDB's Interface statistics rx_dropped and tx_dropped, which ovs-vswitchd refreshes every 5 s; ovs_interfaces collector). DatapathOVSInterfaceDropping fires above 1 packet/s for %s." % p.durationText('ovsInterfaceDroppingFor'),
      datasource: ds,
      id: nextID + 4,
      gridPos: { h: 9, w: 12, x: 0, y: bottom + 1 },
      fieldConfig: {
        defaults: {
          unit: 'pps',
          custom: { align: 'auto', cellOptions: { type: 'auto' } },
          thresholds: steps([{ color: 'green', value: null }, { color: 'red', value: 1 }]),
        },
        overrides: [],
      },
      options: { cellHeight: 'sm', footer: { fields: '', reducer: ['sum'], show: false }, showHeader: true, sortBy: [{ displayName: 'drops/s', desc: true }] },
      targets: [target('topk(10, %s)' % podDrops('instance, namespace, pod'), '{{instance}} {{namespace}}/{{pod}} {{direction}}', instant=true, table=true)],
      transformations: [{ id: 'organize', options: { excludeByName: { Time: true }, renameByName: { Value: 'drops/s' } } }],
    },
    {
      type: 'timeseries',
      title: 'Drops per node',
      description: "Packets dropped on each node's OVS interfaces per second, receive and transmit: the Pods' together, and each other port (gateway, tunnel, uplink) on its own. The bridge's own internal port (br-int, down on an Antrea node) counts a transmit drop for every flooded packet.",
      datasource: ds,
      id: nextID + 5,
      gridPos: { h: 9, w: 12, x: 12, y: bottom + 1 },
      fieldConfig: { defaults: { unit: 'pps', custom: { drawStyle: 'line', fillOpacity: 10, showPoints: 'never' } }, overrides: [] },
      options: { legend: { displayMode: 'table', placement: 'bottom', calcs: ['max', 'lastNotNull'] }, tooltip: { mode: 'multi', sort: 'desc' } },
      targets: [
        target(podDrops('instance'), '{{instance}} Pods {{direction}}'),
        target(drops(ifaceSel(',pod=""')), '{{instance}} {{interface}}') + { refId: 'B' },
      ],
    },
  ];
  d { panels: kept + header + moved + interfaces }
