// Checks the types of the mixin's _config and turns its values into the
// texts the rules and dashboards insert: each value is formatted where it
// appears (never computed on), so a template engine's placeholder can stand
// in for it (mixin.go's RenderTemplate). Keys listed in templateKeys hold
// such placeholders: their checks are skipped and they are inserted as they
// are; a percent key K then comes with K + '/100', the placeholder of its
// ratio (0.75 for 75), which the dashboards' colour steps need.
local kinds = {
  datapathExporterSelector: 'selector',
  clusterLabel: 'label',
  conntrackWarningPercent: 'percent',
  conntrackCriticalPercent: 'percent',
  conntrackFillingUpMinPercent: 'percent',
  ovsFlowTableWarningPercent: 'percent',
  ovsDatapathFlowLimitPercent: 'percent',
  antreaServiceTables: 'regex',
  driftWindow: 'duration',
  conntrackNearlyFullFor: 'duration',
  conntrackFullFor: 'duration',
  conntrackFillingUpFor: 'duration',
  conntrackDroppingFor: 'duration',
  conntrackInsertFailingFor: 'duration',
  ovsFlowTableNearlyFullFor: 'duration',
  ovsUpcallsLostFor: 'duration',
  ovsFlowLimitReachedFor: 'duration',
  ovsHandlerOverflowFor: 'duration',
  ovsInterfaceDroppingFor: 'duration',
  ovsFlowRestoreWaitFor: 'duration',
  exporterDownFor: 'duration',
  collectorFailingFor: 'duration',
  serviceFlowsOutOfSyncFor: 'duration',
  runbookURLBase: 'string',
  dashboardTags: 'tags',
  dashboardUIDPrefix: 'string',
  dashboardRefresh: 'duration',
  fleetDashboardRefresh: 'duration',
};

local want = {
  selector: 'a PromQL label matcher list without braces, e.g. \'job="datapath-exporter"\'',
  label: 'a label name, e.g. \'cluster\'',
  percent: 'a number above 0 and at most 100 (a percent: 75 for 75%), e.g. 75',
  regex: 'a non-empty regular expression without double quotes, e.g. \'EndpointDNAT|ServiceLB\'',
  duration: 'a Prometheus duration, e.g. \'5m\'',
  string: 'a non-empty string',
  tags: 'an array of strings, e.g. [\'datapath-exporter\']',
};

local isLabelName(s) =
  local chars = std.stringChars(s);
  std.length(chars) > 0
  && std.all([
    (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (i > 0 && c >= '0' && c <= '9')
    for i in std.range(0, std.length(chars) - 1)
    for c in [chars[i]]
  ]);

local isDuration(s) =
  local chars = std.stringChars(s);
  std.length(chars) > 1
  && chars[0] >= '0' && chars[0] <= '9'
  && std.member('smhdwy', chars[std.length(chars) - 1])
  && std.all([(c >= '0' && c <= '9') || std.member('smhdwy', c) for c in chars]);

local valid(kind, v) =
  if kind == 'selector' then std.isString(v) && std.length(std.stripChars(v, ' ')) > 0
                             && !std.member(v, '{') && !std.member(v, '}')
  else if kind == 'label' then std.isString(v) && isLabelName(v)
  else if kind == 'percent' then std.isNumber(v) && v > 0 && v <= 100
  else if kind == 'regex' then std.isString(v) && v != '' && !std.member(v, '"')
  else if kind == 'duration' then std.isString(v) && isDuration(v)
  else if kind == 'string' then std.isString(v) && v != ''
  else if kind == 'tags' then std.isArray(v) && std.all([std.isString(t) for t in v])
  else error 'unknown kind ' + kind;

local shown(v) = std.manifestJsonMinified(v) + ' (' + std.type(v) + ')';

// number is x in decimal with at most 10 decimals and no trailing zeros:
// 0.9, not std.toString's 0.90000000000000002 (nor jsonnet's %g, which
// keeps too few digits of small numbers).
local number(x) = std.rstripChars(std.rstripChars('%.10f' % x, '0'), '.');

// The unit names of durations in texts ("for 5 minutes").
local units = { s: 'second', m: 'minute', h: 'hour', d: 'day', w: 'week', y: 'year' };

{
  kinds: kinds,

  // check returns true, or fails naming the first key of cfg whose value
  // does not fit its kind.
  check(cfg, templateKeys)::
    local bad = [
      k
      for k in std.objectFields(kinds)
      if !std.member(templateKeys, k) && (!std.objectHas(cfg, k) || !valid(kinds[k], cfg[k]))
    ];
    if bad == [] then true
    else
      local k = bad[0];
      if !std.objectHas(cfg, k) then error 'datapath-exporter mixin: _config.%s is missing' % k
      else error 'datapath-exporter mixin: _config.%s must be %s, got %s' % [k, want[kinds[k]], shown(cfg[k])],

  // params are the values of cfg as the rules and dashboards insert them.
  params(cfg, templateKeys):: {
    local p = self,
    local templated(k) = std.member(templateKeys, k),
    // The value as text: 75, 0.5, 'job="x"', '5m'.
    text(k):: if std.isString(cfg[k]) then cfg[k] else number(cfg[k]),
    // A percent as a ratio: a number for JSON (0.75), or the placeholder.
    ratio(k):: if templated(k) then cfg[k + '/100'] else cfg[k] / 100,
    ratioText(k):: if templated(k) then self.ratio(k) else number(self.ratio(k)),
    // A percent for metric names: 75, 72_5.
    nameText(k):: std.strReplace(self.text(k), '.', '_'),
    // A duration for texts: '5m' -> '5 minutes'; others as written.
    durationText(k)::
      local v = cfg[k];
      local n = std.substr(v, 0, std.length(v) - 1);
      local u = std.substr(v, std.length(v) - 1, 1);
      if templated(k) || !std.objectHas(units, u) || !std.all([c >= '0' && c <= '9' for c in std.stringChars(n)]) then v
      else n + ' ' + units[u] + (if n == '1' then '' else 's'),

    sel: cfg.datapathExporterSelector,
    cluster: cfg.clusterLabel,
    // metric{selector}, or metric{selector,extra}.
    m(metric, extra=''):: metric + '{' + cfg.datapathExporterSelector + (if extra == '' then '' else ',' + extra) + '}',
    runbook(alert):: cfg.runbookURLBase + '#' + std.asciiLower(alert),
    // A text block as one line, the way YAML's folded style (>-) reads it.
    fold(s):: std.join(' ', std.filter(function(l) l != '', std.split(s, '\n'))),
    // An alert with its for, severity and runbook_url from cfg.
    alert(name, expr, forKey, severity, summary, description):: {
      alert: name,
      expr: expr,
      'for': cfg[forKey],
      labels: { severity: severity },
      annotations: {
        summary: summary,
        description: p.fold(description),
        runbook_url: p.runbook(name),
      },
    },
    cfg: cfg,
  },
}
