// Alerts on the kernel's conntrack table.
function(p)
  local usage = '%s / (%s > 0)' % [p.m('datapath_conntrack_entries'), p.m('datapath_conntrack_entries_limit')];
  [
    p.alert(
      'DatapathConntrackTableNearlyFull',
      '%s > %s' % [usage, p.ratioText('conntrackWarningPercent')],
      'conntrackNearlyFullFor',
      'warning',
      'Conntrack table on {{ $labels.instance }} is {{ $value | humanizePercentage }} full.',
      |||
        The kernel conntrack table on {{ $labels.instance }} has been more than %s%% full for %s
        (now {{ $value | humanizePercentage }} of nf_conntrack_max). When it is full, new connections
        through the node are dropped.
      ||| % [p.text('conntrackWarningPercent'), p.durationText('conntrackNearlyFullFor')],
    ),
    p.alert(
      'DatapathConntrackTableFull',
      '%s > %s' % [usage, p.ratioText('conntrackCriticalPercent')],
      'conntrackFullFor',
      'critical',
      'Conntrack table on {{ $labels.instance }} is {{ $value | humanizePercentage }} full.',
      |||
        The kernel conntrack table on {{ $labels.instance }} has been more than %s%% full for %s
        (now {{ $value | humanizePercentage }} of nf_conntrack_max). At 100%% the kernel drops the first
        packet of every new connection (pods, Services, NodePorts on this node).
      ||| % [p.text('conntrackCriticalPercent'), p.durationText('conntrackFullFor')],
    ),

    // Linear extrapolation of the last hour, 4 hours ahead. The usage guard
    // (conntrackFillingUpMinPercent) keeps it quiet on nearly empty tables,
    // where a burst of a few thousand entries (a job starting) extrapolates
    // to anything; the fast cases are covered by the two alerts above.
    p.alert(
      'DatapathConntrackTableFillingUp',
      |||
        predict_linear(%s[1h], 4 * 3600) >= %s
        and
        %s > %s
      ||| % [p.m('datapath_conntrack_entries'), p.m('datapath_conntrack_entries_limit'), usage, p.ratioText('conntrackFillingUpMinPercent')],
      'conntrackFillingUpFor',
      'warning',
      'Conntrack table on {{ $labels.instance }} is predicted to be full within 4 hours.',
      |||
        At the rate of the last hour the conntrack table on {{ $labels.instance }} will hold
        {{ $value | humanize }} entries in 4 hours, at or above its limit
        ({{ with printf "datapath_conntrack_entries_limit{instance=%%q,job=%%q}" $labels.instance $labels.job | query }}{{ . | first | value | humanize }}{{ end }}).
        It is already more than %s%% full.
      ||| % [p.text('conntrackFillingUpMinPercent')],
    ),

    // drop: a packet dropped because no entry could be allocated (table
    // full and nothing evictable); early_drop: an unconfirmed entry evicted
    // to make room. Both happen only when the table is full, so any
    // increase matters. Each counter is its own metric; label_replace keeps
    // one alert per counter, labelled stat as before.
    p.alert(
      'DatapathConntrackDropping',
      |||
        label_replace(rate(%s[5m]), "stat", "drop", "", "") > 0
        or
        label_replace(rate(%s[5m]), "stat", "early_drop", "", "") > 0
      ||| % [p.m('datapath_conntrack_drop_total'), p.m('datapath_conntrack_early_drop_total')],
      'conntrackDroppingFor',
      'critical',
      'Conntrack on {{ $labels.instance }} is dropping ({{ $labels.stat }}).',
      |||
        The kernel's conntrack {{ $labels.stat }} counter on {{ $labels.instance }} is increasing
        ({{ printf "%.3g" $value }}/s over 5 minutes): the table is full and new connections are
        being dropped or evicted.
      |||,
    ),

    // insert_failed: an entry could not be confirmed, most often two
    // packets of the same new flow racing on two CPUs (the UDP DNS race
    // behind 5 s lookup timeouts), or a NAT clash. The packet that lost is
    // dropped.
    p.alert(
      'DatapathConntrackInsertFailing',
      'label_replace(rate(%s[5m]), "stat", "insert_failed", "", "") > 0' % p.m('datapath_conntrack_insert_failed_total'),
      'conntrackInsertFailingFor',
      'warning',
      'Conntrack inserts are failing on {{ $labels.instance }}.',
      |||
        The kernel's conntrack insert_failed counter on {{ $labels.instance }} is increasing
        ({{ printf "%.3g" $value }}/s over 5 minutes): packets of new connections are being dropped
        because their entry could not be inserted.
      |||,
    ),
  ]
