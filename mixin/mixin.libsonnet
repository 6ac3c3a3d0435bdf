// The datapath-exporter monitoring mixin: the single source of the
// project's alerts, recording rules and Grafana dashboards.
//
//   local dpx = (import 'github.com/datapath-exporter/datapath-exporter/mixin/mixin.libsonnet')
//               + { _config+:: { datapathExporterSelector: 'job="datapath-exporter"' } };
//   dpx.prometheusAlerts, dpx.prometheusRules, dpx.grafanaDashboards
//
// _config (config.libsonnet) is checked when any of them is read: a value
// of the wrong type fails naming its key. See README.md.
local lib = import 'lib/config.libsonnet';

(import 'config.libsonnet') + {
  local m = self,
  // Keys of _config that hold a template engine's placeholder instead of a
  // value (mixin.go's RenderTemplate): not checked, inserted as they are.
  _templateKeys:: [],
  local p = lib.params(m._config, m._templateKeys),

  assert lib.check(m._config, m._templateKeys),

  prometheusRules+:: (import 'rules/rules.libsonnet')(p),
  prometheusAlerts+:: (import 'alerts/alerts.libsonnet')(p),
  grafanaDashboards+:: (import 'dashboards/dashboards.libsonnet')(p),
}
