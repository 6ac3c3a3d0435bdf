// Alerts on the exporter itself.
function(p) [
  // A target is this exporter when the selector matches it, or when it
  // exposed datapath_exporter_build_info within the last hour under any job
  // (a user's own scrape job the selector does not know; a target of such a
  // job that has been down for more than an hour is then only caught by the
  // first form).
  p.alert(
    'DatapathExporterDown',
    |||
      up{%s} == 0
      or
      up == 0 and on(job, instance) last_over_time(datapath_exporter_build_info[1h])
    ||| % p.sel,
    'exporterDownFor',
    'warning',
    'datapath-exporter on {{ $labels.instance }} cannot be scraped.',
    |||
      Prometheus has failed to scrape datapath-exporter ({{ $labels.job }}) on {{ $labels.instance }}
      for %s: OVS flow tables and conntrack on that node are not monitored.
    ||| % p.durationText('exporterDownFor'),
  ),

  p.alert(
    'DatapathCollectorFailing',
    '%s == 0' % p.m('datapath_scrape_collector_success'),
    'collectorFailingFor',
    'warning',
    'The {{ $labels.collector }} collector of datapath-exporter on {{ $labels.instance }} is failing.',
    |||
      The {{ $labels.collector }} collector on {{ $labels.instance }} has failed every scrape for
      %s, so its metrics are missing; the exporter's log names the cause.
    ||| % p.durationText('collectorFailingFor'),
  ),
]
