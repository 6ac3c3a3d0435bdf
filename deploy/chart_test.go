package deploy

import (
	"encoding/json"
	"maps"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/pmezard/go-difflib/difflib"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint/support"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"

	"github.com/datapath-exporter/datapath-exporter/deploy/internal/gen"
	"github.com/datapath-exporter/datapath-exporter/mixin"
)

const (
	chartDir     = "charts/datapath-exporter"
	chartRelease = "datapath-exporter"
	chartValues  = "testdata/chart-values.yaml"
)

// monitoringAPI is what a cluster with the Prometheus Operator's CRDs
// serves, as discovery gives it on install (and `helm template
// --api-versions`).
var monitoringAPI = chartutil.VersionSet{"monitoring.coreos.com/v1", "monitoring.coreos.com/v1/PodMonitor", "monitoring.coreos.com/v1/PrometheusRule"}

// chartRender is one `helm install --dry-run` of the chart, without a cluster.
type chartRender struct {
	namespace   string // default kube-system
	apiVersions chartutil.VersionSet
	values      map[string]any // as -f gives them
}

func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	chrt, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	return chrt
}

// run renders the chart and returns the manifest and NOTES.txt, or Helm's
// error.
func (r chartRender) run(t *testing.T) (manifest, notes string, err error) {
	t.Helper()
	install := action.NewInstall(&action.Configuration{})
	install.ReleaseName = chartRelease
	install.Namespace = cmpOr(r.namespace, agentNS)
	install.DryRun = true
	install.ClientOnly = true
	install.APIVersions = r.apiVersions
	rel, err := install.Run(loadChart(t), r.values)
	if err != nil {
		return "", "", err
	}
	return rel.Manifest, rel.Info.Notes, nil
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// objects renders the chart and decodes every object strictly.
func (r chartRender) objects(t *testing.T) (objects, string) {
	t.Helper()
	manifest, notes, err := r.run(t)
	if err != nil {
		t.Fatalf("helm install --dry-run: %v", err)
	}
	return decodeManifest(t, manifest), notes
}

// valuesYAML parses values written as a values file.
func valuesYAML(t *testing.T, s string) map[string]any {
	t.Helper()
	var v map[string]any
	if err := yaml.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func valuesFile(t *testing.T, path string) map[string]any {
	t.Helper()
	v, err := chartutil.ReadValuesFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// countKinds fails unless objs holds exactly want objects of each kind.
func countKinds(t *testing.T, objs objects, want map[string]int) {
	t.Helper()
	got := map[string]int{
		"DaemonSet":          len(objs.daemonSets),
		"ServiceAccount":     len(objs.serviceAccounts),
		"ClusterRole":        len(objs.clusterRoles),
		"ClusterRoleBinding": len(objs.clusterBindings),
		"PodMonitor":         len(objs.podMonitors),
		"PrometheusRule":     len(objs.prometheusRules),
		"ConfigMap":          len(objs.configMaps),
		"Secret":             len(objs.secrets),
	}
	for kind, n := range got {
		if n != want[kind] {
			t.Errorf("%d %s objects, want %d", n, kind, want[kind])
		}
	}
}

// helmLabels are the labels the chart gives every object beyond the
// kustomize base's app.kubernetes.io/name: the recommended ones and Helm's.
func helmLabels(t *testing.T) map[string]string {
	t.Helper()
	md := loadChart(t).Metadata
	return map[string]string{
		"app.kubernetes.io/instance":   chartRelease,
		"app.kubernetes.io/managed-by": "Helm",
		"app.kubernetes.io/version":    md.AppVersion,
		"helm.sh/chart":                md.Name + "-" + md.Version,
	}
}

// selectorHelmLabels are the labels the chart's selectors add to the base's:
// two releases never select each other's pods.
var selectorHelmLabels = map[string]string{"app.kubernetes.io/instance": chartRelease}

// stripLabels checks that labels holds want and deletes those keys.
func stripLabels(t *testing.T, what string, labels, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if labels[k] != v {
			t.Errorf("%s: label %s = %q, want %q", what, k, labels[k], v)
		}
		delete(labels, k)
	}
}

// sameObject fails with a diff of both objects as YAML unless got equals
// want.
func sameObject(t *testing.T, what string, got, want any) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	a, _ := yaml.Marshal(got)
	b, _ := yaml.Marshal(want)
	diff, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(string(b)), B: difflib.SplitLines(string(a)),
		FromFile: "want", ToFile: "chart", Context: 3,
	})
	t.Errorf("%s differs:\n%s", what, diff)
}

func byName[T any](items []T, name func(T) string) map[string]T {
	m := map[string]T{}
	for _, it := range items {
		m[name(it)] = it
	}
	return m
}

// TestChartDefaultIsTheKustomizeBase renders the chart with its defaults on a
// cluster with the Prometheus Operator: every object is the one of
// deploy/daemonset (DaemonSet, ServiceAccount, RBAC, PodMonitor),
// deploy/prometheus (PrometheusRule) or deploy/grafana (dashboards), but for
// Helm's labels, the image tag (the chart's appVersion, where the base has
// latest) and the dashboards' namespace (the release's, where deploy/grafana
// has Grafana's).
func TestChartDefaultIsTheKustomizeBase(t *testing.T) {
	objs, _ := chartRender{apiVersions: monitoringAPI}.objects(t)
	base := standalone(t)
	rules := build(t, "prometheus").prometheusRules
	grafana := build(t, "grafana").configMaps
	countKinds(t, objs, map[string]int{
		"DaemonSet": 1, "ServiceAccount": 1, "ClusterRole": 1, "ClusterRoleBinding": 1, "PodMonitor": 1,
		"PrometheusRule": len(rules), "ConfigMap": len(grafana),
	})
	if t.Failed() {
		t.FailNow()
	}
	all := helmLabels(t)

	ds := objs.daemonSets[0].DeepCopy()
	stripLabels(t, "DaemonSet", ds.Labels, all)
	stripLabels(t, "DaemonSet selector", ds.Spec.Selector.MatchLabels, selectorHelmLabels)
	stripLabels(t, "pod template", ds.Spec.Template.Labels, all)
	c := &ds.Spec.Template.Spec.Containers[0]
	if want := sidecarImage + ":v" + loadChart(t).Metadata.AppVersion; c.Image != want {
		t.Errorf("image = %q, want %q", c.Image, want)
	}
	c.Image = base.daemonSets[0].Spec.Template.Spec.Containers[0].Image
	sameObject(t, "DaemonSet", *ds, base.daemonSets[0])

	pm := objs.podMonitors[0].DeepCopy()
	stripLabels(t, "PodMonitor selector", pm.Spec.Selector.MatchLabels, selectorHelmLabels)
	// The objects whose only difference is Helm's labels (maps shared with
	// the copies compared).
	sa, role, binding, pr := objs.serviceAccounts[0].DeepCopy(), objs.clusterRoles[0].DeepCopy(), objs.clusterBindings[0].DeepCopy(), objs.prometheusRules[0].DeepCopy()
	for _, o := range []struct {
		what      string
		labels    map[string]string
		got, want any
	}{
		{"ServiceAccount", sa.Labels, sa, &base.serviceAccounts[0]},
		{"ClusterRole", role.Labels, role, &base.clusterRoles[0]},
		{"ClusterRoleBinding", binding.Labels, binding, &base.clusterBindings[0]},
		{"PodMonitor", pm.Labels, pm, &base.podMonitors[0]},
		{"PrometheusRule (deploy/prometheus/prometheusrule.yaml)", pr.Labels, pr, &rules[0]},
	} {
		stripLabels(t, o.what, o.labels, all)
		sameObject(t, o.what, o.got, o.want)
	}

	want := byName(grafana, func(c corev1.ConfigMap) string { return c.Name })
	for _, cm := range objs.configMaps {
		w, ok := want[cm.Name]
		if !ok {
			t.Errorf("ConfigMap %s is not in deploy/grafana (%v)", cm.Name, slices.Sorted(maps.Keys(want)))
			continue
		}
		cm := cm.DeepCopy()
		stripLabels(t, "ConfigMap "+cm.Name, cm.Labels, all)
		w.Namespace = agentNS
		sameObject(t, "ConfigMap "+cm.Name, *cm, w)
	}
}

// TestChartMonitoringToggles: the PodMonitor and PrometheusRule follow the
// cluster's API by default (auto), and true or false overrides it.
func TestChartMonitoringToggles(t *testing.T) {
	for _, tc := range []struct {
		name    string
		enabled string // of podMonitor and rules; "" the default
		api     chartutil.VersionSet
		want    int
		notes   string
	}{
		{"auto with the operator", "", monitoringAPI, 1, `scrapes it as job="datapath-exporter"`},
		{"auto without the operator", "", nil, 0, "the cluster does not serve monitoring.coreos.com/v1 PodMonitor"},
		{"true without the operator", "true", nil, 1, `scrapes it as job="datapath-exporter"`},
		{"false with the operator", "false", monitoringAPI, 0, "No PodMonitor (podMonitor.enabled=false)"},
		{"auto with only the group version", "auto", chartutil.VersionSet{"monitoring.coreos.com/v1"}, 0, "does not serve"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var vals map[string]any
			if tc.enabled != "" {
				vals = valuesYAML(t, "podMonitor: {enabled: "+tc.enabled+"}\nrules: {enabled: "+tc.enabled+"}")
			}
			objs, notes := chartRender{apiVersions: tc.api, values: vals}.objects(t)
			countKinds(t, objs, map[string]int{
				"DaemonSet": 1, "ServiceAccount": 1, "ClusterRole": 1, "ClusterRoleBinding": 1,
				"PodMonitor": tc.want, "PrometheusRule": tc.want, "ConfigMap": len(build(t, "grafana").configMaps),
			})
			if !strings.Contains(notes, tc.notes) {
				t.Errorf("NOTES.txt does not say %q:\n%s", tc.notes, notes)
			}
		})
	}
	t.Run("selector without the job", func(t *testing.T) {
		_, notes := chartRender{apiVersions: monitoringAPI, values: valuesYAML(t, "podMonitor: {jobLabel: antrea-datapath}")}.objects(t)
		if want := `WARNING: mixin.datapathExporterSelector (job="datapath-exporter") does not name podMonitor.jobLabel ("antrea-datapath")`; !strings.Contains(notes, want) {
			t.Errorf("NOTES.txt does not say %q:\n%s", want, notes)
		}
	})
	t.Run("dashboards off", func(t *testing.T) {
		objs, notes := chartRender{values: valuesYAML(t, "dashboards: {enabled: false}")}.objects(t)
		if len(objs.configMaps) != 0 || strings.Contains(notes, "Dashboards") {
			t.Errorf("%d ConfigMaps with dashboards.enabled=false; notes:\n%s", len(objs.configMaps), notes)
		}
	})
}

// TestChartValues renders testdata/chart-values.yaml (another image, flags,
// port, resources, names, namespace, monitor labels, dashboards' label and
// namespace, rules off) and checks each object is the default one with
// exactly those changes.
func TestChartValues(t *testing.T) {
	const ns = "datapath-monitoring"
	def, _ := chartRender{namespace: agentNS, apiVersions: monitoringAPI}.objects(t)
	objs, notes := chartRender{namespace: ns, apiVersions: monitoringAPI, values: valuesFile(t, chartValues)}.objects(t)
	countKinds(t, objs, map[string]int{
		"DaemonSet": 1, "ServiceAccount": 1, "ClusterRole": 1, "ClusterRoleBinding": 1, "PodMonitor": 1,
		"PrometheusRule": 0, "ConfigMap": len(def.configMaps),
	})
	if t.Failed() {
		t.FailNow()
	}
	if !strings.Contains(notes, "No PrometheusRule (rules.enabled=false)") {
		t.Errorf("NOTES.txt does not say the rules are off:\n%s", notes)
	}

	ds := def.daemonSets[0].DeepCopy()
	ds.Name, ds.Namespace = "dpx", ns
	pod := &ds.Spec.Template
	pod.Labels["team"] = "network"
	pod.Annotations = map[string]string{"example.com/owner": "network"}
	pod.Spec.ServiceAccountName = "datapath"
	pod.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "mirror"}}
	c := &pod.Spec.Containers[0]
	c.Image = "registry.example.com/mirror/datapath-exporter:v0.2.0"
	c.ImagePullPolicy = corev1.PullIfNotPresent
	c.Args = []string{"--ovs.rundir=/var/run/openvswitch", "--web.listen-address=:10400", "--collector.antrea_agent", "--collector.conntrack_zones"}
	c.Ports[0].ContainerPort = 10400
	c.Resources = corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("20m"), corev1.ResourceMemory: resource.MustParse("48Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m"), corev1.ResourceMemory: resource.MustParse("96Mi")},
	}
	sameObject(t, "DaemonSet", objs.daemonSets[0], *ds)

	sa := def.serviceAccounts[0].DeepCopy()
	sa.Name, sa.Namespace = "datapath", ns
	sa.Annotations = map[string]string{"example.com/role": "datapath-exporter"}
	sameObject(t, "ServiceAccount", objs.serviceAccounts[0], *sa)

	role := def.clusterRoles[0].DeepCopy()
	role.Name = "dpx"
	sameObject(t, "ClusterRole", objs.clusterRoles[0], *role)

	binding := def.clusterBindings[0].DeepCopy()
	binding.Name, binding.RoleRef.Name = "dpx", "dpx"
	binding.Subjects[0].Name, binding.Subjects[0].Namespace = "datapath", ns
	sameObject(t, "ClusterRoleBinding", objs.clusterBindings[0], *binding)

	pm := def.podMonitors[0].DeepCopy()
	pm.Name, pm.Namespace = "dpx-standalone", ns
	pm.Labels["release"] = "kube-prometheus-stack"
	ep := &pm.Spec.PodMetricsEndpoints[0]
	ep.Interval, ep.ScrapeTimeout = monitoringv1.Duration("30s"), monitoringv1.Duration("10s")
	job := "antrea-datapath"
	for i := range ep.RelabelConfigs {
		if ep.RelabelConfigs[i].TargetLabel == "job" {
			ep.RelabelConfigs[i].Replacement = &job
		}
	}
	sameObject(t, "PodMonitor", objs.podMonitors[0], *pm)

	// The dashboards are the mixin's, rendered with the file's mixin values.
	mixinOut := renderMixin(t, valuesFile(t, chartValues))
	got := byName(objs.configMaps, func(c corev1.ConfigMap) string { return c.Name })
	for _, cm := range def.configMaps {
		want := cm.DeepCopy()
		want.Name = strings.Replace(cm.Name, chartRelease, "dpx", 1)
		want.Namespace = "monitoring"
		delete(want.Labels, "grafana_dashboard")
		want.Labels["dashboards"] = "datapath"
		want.Annotations = map[string]string{"grafana_folder": "Antrea"}
		for file := range want.Data {
			want.Data[file] = string(mixinOut.Dashboards[file])
			if want.Data[file] == cm.Data[file] {
				t.Errorf("%s: the file's mixin values change nothing in %s", chartValues, file)
			}
		}
		sameObject(t, "ConfigMap "+want.Name, got[want.Name], *want)
	}
}

// renderMixin renders the mixin with the mixin section of values as its
// _config overrides, as a jsonnet user would.
func renderMixin(t *testing.T, values map[string]any) mixin.Output {
	t.Helper()
	overrides, _ := values[gen.ChartMixinValues].(map[string]any)
	out, err := mixin.Render(overrides)
	if err != nil {
		t.Fatalf("mixin.Render(%v): %v", overrides, err)
	}
	return out
}

// TestChartRulesFromMixinValues: with the mixin values of
// testdata/chart-values.yaml (another selector and thresholds) the
// PrometheusRule holds exactly the rules the mixin renders with them.
func TestChartRulesFromMixinValues(t *testing.T) {
	vals := valuesFile(t, chartValues)
	vals["rules"] = map[string]any{"enabled": true}
	objs, _ := chartRender{values: vals}.objects(t)
	if len(objs.prometheusRules) != 1 {
		t.Fatalf("%d PrometheusRules, want 1", len(objs.prometheusRules))
	}
	out := renderMixin(t, vals)
	names := slices.Sorted(maps.Keys(out.Rules))
	want, err := gen.RulesSpec(names, out.Rules)
	if err != nil {
		t.Fatal(err)
	}
	sameObject(t, "PrometheusRule spec", objs.prometheusRules[0].Spec, want)
	def, _ := chartRender{apiVersions: monitoringAPI}.objects(t)
	if reflect.DeepEqual(def.prometheusRules[0].Spec, want) {
		t.Errorf("%s's mixin values change nothing in the rules", chartValues)
	}
	for _, g := range objs.prometheusRules[0].Spec.Groups {
		for _, r := range g.Rules {
			if e := r.Expr.String(); strings.Contains(e, "datapath_") && !strings.Contains(e, `job="antrea-datapath"`) {
				t.Errorf("%s%s: expr %q does not use the selector", r.Alert, r.Record, e)
			}
		}
	}
}

// TestChartMixinValuesAnyText: mixin values with what a YAML scalar or a
// JSON string could trip on (both quotes, a backslash, ": ", " #") come out
// as mixin.Render gives them.
func TestChartMixinValuesAnyText(t *testing.T) {
	for _, sel := range []string{`job=~"datapath-.*"`, `job='x'`, `job="a\\b"`, `job="x", cluster!="y"`, `job="a: b"`, `job="x #1"`} {
		t.Run(sel, func(t *testing.T) {
			vals := map[string]any{
				gen.ChartMixinValues: map[string]any{"datapathExporterSelector": sel, "antreaServiceTables": `Endpoint\d+|Service: 'LB'`},
				"rules":              map[string]any{"enabled": true},
			}
			objs, _ := chartRender{values: vals}.objects(t)
			out := renderMixin(t, vals)
			want, err := gen.RulesSpec(slices.Sorted(maps.Keys(out.Rules)), out.Rules)
			if err != nil {
				t.Fatal(err)
			}
			if len(objs.prometheusRules) != 1 {
				t.Fatalf("%d PrometheusRules, want 1", len(objs.prometheusRules))
			}
			sameObject(t, "PrometheusRule spec", objs.prometheusRules[0].Spec, want)
			for _, cm := range objs.configMaps {
				for file, data := range cm.Data {
					if data != string(out.Dashboards[file]) {
						t.Errorf("ConfigMap %s: %s is not the mixin's", cm.Name, file)
					}
				}
			}
		})
	}
}

// TestChartMixinDefaults: the mixin section of values.yaml is the mixin's
// default _config for each key the chart templates (gen.ChartMixinKeys), so
// the default render is the mixin's default files.
func TestChartMixinDefaults(t *testing.T) {
	defaults, err := mixin.Defaults()
	if err != nil {
		t.Fatal(err)
	}
	got, _ := valuesFile(t, chartDir+"/values.yaml")[gen.ChartMixinValues].(map[string]any)
	want := map[string]any{}
	for _, k := range gen.ChartMixinKeys {
		want[k] = defaults[k]
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("values.yaml's %s section = %v, want the mixin's defaults %v", gen.ChartMixinValues, got, want)
	}
}

// TestChartSchemaRefuses: values that cannot work are refused before
// anything is rendered, with the value's path and what it must be.
func TestChartSchemaRefuses(t *testing.T) {
	for _, tc := range []struct {
		values, want string
	}{
		{"hostNetwork: false", "at '/hostNetwork': value must be true"},
		{"hostNetwork: null", "missing property 'hostNetwork'"},
		{"ovs: {readOnly: false}", "at '/ovs/readOnly': value must be true"},
		{"ovs: {hostRunDir: var/run}", "at '/ovs/hostRunDir': 'var/run' does not match pattern '^/'"},
		{"securityContext: {capabilities: {add: []}}", "at '/securityContext/capabilities/add': minItems: got 0, want 1"},
		{"securityContext: {capabilities: {add: [SYS_ADMIN]}}", "at '/securityContext/capabilities/add/0': value must be 'NET_ADMIN'"},
		{"securityContext: {capabilities: {add: [NET_ADMIN, SYS_ADMIN]}}", "at '/securityContext/capabilities/add/1': value must be 'NET_ADMIN'"},
		{"securityContext: {capabilities: {drop: []}}", "at '/securityContext/capabilities/drop': minItems: got 0, want 1"},
		{"securityContext: {capabilities: null}", "at '/securityContext': missing property 'capabilities'"},
		{"securityContext: {privileged: true}", "at '/securityContext': additional properties 'privileged' not allowed"},
		{"securityContext: {runAsUser: 65534}", "at '/securityContext/runAsUser': value must be 0"},
		{"securityContext: {readOnlyRootFilesystem: false}", "at '/securityContext/readOnlyRootFilesystem': value must be true"},
		{"securityContext: {allowPrivilegeEscalation: true}", "at '/securityContext/allowPrivilegeEscalation': value must be false"},
		{"podMonitor: {enabled: yes-please}", "at '/podMonitor/enabled': value must be one of 'auto', true, false"},
		{`rules: {enabled: "off"}`, "at '/rules/enabled': value must be one of 'auto', true, false"},
		{"podMonitor: {interval: 30}", "at '/podMonitor/interval': got number, want string"},
		{"hostnetwork: true", "at '': additional properties 'hostnetwork' not allowed"},
		{"port: 0", "at '/port': minimum: got 0, want 1"},
		{"args: [collector.conntrack_zones]", "at '/args/0': 'collector.conntrack_zones' does not match pattern '^--'"},
		{"mixin: {conntrackWarningPercent: 72.5}", "at '/mixin/conntrackWarningPercent': got number, want integer"},
		{"mixin: {conntrackFillingUpMinPercent: 150}", "at '/mixin/conntrackFillingUpMinPercent': maximum: got 150, want 100"},
		{"mixin: {datapathExporterSelector: 5}", "at '/mixin/datapathExporterSelector': got number, want string"},
		{`mixin: {datapathExporterSelector: '{job="x"}'}`, `at '/mixin/datapathExporterSelector': '{job="x"}' does not match pattern`},
		{`mixin: {datapathExporterSelector: "job=\"x\",\ncluster=\"y\""}`, `at '/mixin/datapathExporterSelector': 'job="x",\ncluster="y"' does not match pattern`},
		{"mixin: {clusterLabel: k8s-cluster}", "at '/mixin/clusterLabel': 'k8s-cluster' does not match pattern"},
		{"mixin: {dashboardRefresh: 30}", "at '/mixin/dashboardRefresh': got number, want string"},
		{"mixin: {conntrackNearlyFullFor: 10m}", "at '/mixin': additional properties 'conntrackNearlyFullFor' not allowed"},
	} {
		t.Run(tc.values, func(t *testing.T) {
			_, _, err := chartRender{values: valuesYAML(t, tc.values)}.run(t)
			if err == nil {
				t.Fatal("rendered; want the schema to refuse it")
			}
			if !strings.Contains(err.Error(), "values don't meet the specifications of the schema") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error:\n%v\nwant the schema's %q", err, tc.want)
			}
		})
	}
}

// TestChartLintStrict is `helm lint --strict` with the defaults, with every
// toggle on (the operator's kinds are not rendered by default without a
// cluster) and with testdata/chart-values.yaml.
func TestChartLintStrict(t *testing.T) {
	for name, vals := range map[string]map[string]any{
		"defaults":  nil,
		"all on":    valuesYAML(t, "podMonitor: {enabled: true}\nrules: {enabled: true}"),
		chartValues: valuesFile(t, chartValues),
	} {
		t.Run(name, func(t *testing.T) {
			l := action.NewLint()
			l.Strict = true
			l.Namespace = agentNS
			res := l.Run([]string{chartDir}, vals)
			for _, err := range res.Errors {
				t.Errorf("error: %v", err)
			}
			for _, m := range res.Messages {
				if m.Severity >= support.WarningSev {
					t.Errorf("%s", m)
				}
			}
			if res.TotalChartsLinted != 1 {
				t.Errorf("%d charts linted, want 1", res.TotalChartsLinted)
			}
		})
	}
}

// valuePaths lists the dotted paths of values.yaml's settings: a map is
// walked into where the schema gives its properties, else (labels,
// resources, free-form maps) it is one setting, as is a list.
func valuePaths(prefix string, values map[string]any, schema map[string]any) []string {
	props, _ := schema["properties"].(map[string]any)
	var paths []string
	for k, v := range values {
		p := prefix + k
		sub, _ := props[k].(map[string]any)
		if m, ok := v.(map[string]any); ok && sub["properties"] != nil {
			paths = append(paths, valuePaths(p+".", m, sub)...)
			continue
		}
		paths = append(paths, p)
	}
	return paths
}

var readmeValueRow = regexp.MustCompile("(?m)^\\| `([^`]+)` \\|")

// TestChartREADMEListsEveryValue: the table of the chart README's Values
// section has one row for every setting of values.yaml, and none for a
// setting it does not have.
func TestChartREADMEListsEveryValue(t *testing.T) {
	var schema map[string]any
	if err := json.Unmarshal(loadChart(t).Schema, &schema); err != nil {
		t.Fatal(err)
	}
	want := valuePaths("", valuesFile(t, chartDir+"/values.yaml"), schema)
	sort.Strings(want)
	readme, err := os.ReadFile(chartDir + "/README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(readme), "\n## Values\n")
	section, _, _ = strings.Cut(section, "\n## ")
	var got []string
	for _, m := range readmeValueRow.FindAllStringSubmatch(section, -1) {
		got = append(got, m[1])
	}
	for _, p := range want {
		if !slices.Contains(got, p) {
			t.Errorf("%s/README.md has no row for %s", chartDir, p)
		}
	}
	for _, p := range got {
		if !slices.Contains(want, p) {
			t.Errorf("%s/README.md lists %s, which values.yaml does not have", chartDir, p)
		}
	}
}
