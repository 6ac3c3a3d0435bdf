package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
	yamlv2 "go.yaml.in/yaml/v2"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	k8sjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/datapath-exporter/datapath-exporter/deploy/internal/gen"
)

const (
	sidecarName  = "datapath-exporter"
	sidecarImage = "ghcr.io/datapath-exporter/datapath-exporter"
	agentName    = "antrea-agent"
	agentNS      = "kube-system"
	metricsPort  = "metrics"
	ovsMountPath = "/var/run/openvswitch"
)

// objects is a kustomize build decoded strictly into typed structs.
type objects struct {
	daemonSets      []appsv1.DaemonSet
	configMaps      []corev1.ConfigMap
	secrets         []corev1.Secret
	serviceAccounts []corev1.ServiceAccount
	clusterRoles    []rbacv1.ClusterRole
	clusterBindings []rbacv1.ClusterRoleBinding
	podMonitors     []monitoringv1.PodMonitor
	prometheusRules []monitoringv1.PrometheusRule
}

// decodeStrict decodes JSON into v the way the API server does: field names
// are case-sensitive, and unknown or duplicate fields are errors.
func decodeStrict(data []byte, v any) error {
	strictErrs, err := k8sjson.UnmarshalStrict(data, v)
	if err != nil {
		return err
	}
	return errors.Join(strictErrs...)
}

// build runs kustomize on dir (relative to the deploy module) as
// `kustomize build dir` would, and decodes every object strictly.
func build(t *testing.T, dir string) objects {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var objs objects
	for _, r := range m.Resources() {
		js, err := r.MarshalJSON()
		if err != nil {
			t.Fatalf("%s: %s: %v", dir, r.CurId(), err)
		}
		gvk := r.GetGvk()
		if err := objs.add(gvk.ApiVersion()+"/"+gvk.Kind, js); err != nil {
			t.Errorf("%s: %s: %v", dir, r.CurId(), err)
		}
	}
	return objs
}

// add decodes one object, of kind "<apiVersion>/<kind>", strictly into its
// typed struct and appends it.
func (objs *objects) add(kind string, js []byte) error {
	var into any
	switch kind {
	case "apps/v1/DaemonSet":
		objs.daemonSets = append(objs.daemonSets, appsv1.DaemonSet{})
		into = &objs.daemonSets[len(objs.daemonSets)-1]
	case "v1/ConfigMap":
		objs.configMaps = append(objs.configMaps, corev1.ConfigMap{})
		into = &objs.configMaps[len(objs.configMaps)-1]
	case "v1/Secret":
		objs.secrets = append(objs.secrets, corev1.Secret{})
		into = &objs.secrets[len(objs.secrets)-1]
	case "v1/ServiceAccount":
		objs.serviceAccounts = append(objs.serviceAccounts, corev1.ServiceAccount{})
		into = &objs.serviceAccounts[len(objs.serviceAccounts)-1]
	case "rbac.authorization.k8s.io/v1/ClusterRole":
		objs.clusterRoles = append(objs.clusterRoles, rbacv1.ClusterRole{})
		into = &objs.clusterRoles[len(objs.clusterRoles)-1]
	case "rbac.authorization.k8s.io/v1/ClusterRoleBinding":
		objs.clusterBindings = append(objs.clusterBindings, rbacv1.ClusterRoleBinding{})
		into = &objs.clusterBindings[len(objs.clusterBindings)-1]
	case "monitoring.coreos.com/v1/PodMonitor":
		objs.podMonitors = append(objs.podMonitors, monitoringv1.PodMonitor{})
		into = &objs.podMonitors[len(objs.podMonitors)-1]
	case "monitoring.coreos.com/v1/PrometheusRule":
		objs.prometheusRules = append(objs.prometheusRules, monitoringv1.PrometheusRule{})
		into = &objs.prometheusRules[len(objs.prometheusRules)-1]
	default:
		return fmt.Errorf("no typed struct for %s in this test; add one", kind)
	}
	if err := decodeStrict(js, into); err != nil {
		return fmt.Errorf("does not decode strictly into %T: %w", into, err)
	}
	return nil
}

// kustomizations lists every directory of the module with a kustomization
// that builds on its own (Components are built through testdata/user).
func kustomizations(t *testing.T) (dirs, components []string) {
	t.Helper()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "kustomization.yaml" {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var head struct {
			Kind string `json:"kind"`
		}
		if err := yaml.Unmarshal(b, &head); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if head.Kind == "Component" {
			components = append(components, filepath.Dir(path))
		} else {
			dirs = append(dirs, filepath.Dir(path))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dirs, components
}

func TestEveryKustomizationBuildsStrictly(t *testing.T) {
	dirs, components := kustomizations(t)
	for _, want := range []string{"prometheus", "grafana", "daemonset", "testdata/antrea-agent", "testdata/user", "testdata/user-image"} {
		if !contains(dirs, want) {
			t.Errorf("no kustomization in %s (found %v)", want, dirs)
		}
	}
	if !reflect.DeepEqual(components, []string{"antrea-sidecar"}) {
		t.Errorf("components = %v, want [antrea-sidecar]", components)
	}
	for _, dir := range dirs {
		t.Run(dir, func(t *testing.T) { build(t, dir) })
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func oneDaemonSet(t *testing.T, objs objects) appsv1.DaemonSet {
	t.Helper()
	if len(objs.daemonSets) != 1 {
		t.Fatalf("%d DaemonSets, want 1", len(objs.daemonSets))
	}
	ds := objs.daemonSets[0]
	if ds.Name != agentName || ds.Namespace != agentNS {
		t.Fatalf("DaemonSet %s/%s, want %s/%s", ds.Namespace, ds.Name, agentNS, agentName)
	}
	return ds
}

func container(t *testing.T, spec corev1.PodSpec, name string) corev1.Container {
	t.Helper()
	for _, c := range spec.Containers {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no container %s in %v", name, containerNames(spec.Containers))
	return corev1.Container{}
}

func containerNames(cs []corev1.Container) []string {
	var names []string
	for _, c := range cs {
		names = append(names, c.Name)
	}
	return names
}

func TestSidecarLeavesAntreaUntouched(t *testing.T) {
	antrea := oneDaemonSet(t, build(t, "testdata/antrea-agent"))
	user := build(t, "testdata/user")
	withSidecar := oneDaemonSet(t, user)

	if got, want := containerNames(withSidecar.Spec.Template.Spec.Containers), []string{"antrea-agent", "antrea-ovs", sidecarName}; !reflect.DeepEqual(got, want) {
		t.Fatalf("containers = %v, want %v", got, want)
	}
	// Everything but the added container is Antrea's, unchanged.
	stripped := withSidecar.DeepCopy()
	stripped.Spec.Template.Spec.Containers = stripped.Spec.Template.Spec.Containers[:2]
	if !reflect.DeepEqual(*stripped, antrea) {
		a, _ := yaml.Marshal(antrea)
		b, _ := yaml.Marshal(stripped)
		t.Errorf("the component changed Antrea's DaemonSet beyond adding %s:\n--- antrea\n%s\n--- with sidecar, sidecar removed\n%s", sidecarName, a, b)
	}
	// The other objects of Antrea's manifest pass through.
	if len(user.serviceAccounts) != 1 || len(user.configMaps) != 1 {
		t.Errorf("got %d ServiceAccounts and %d ConfigMaps, want Antrea's 1 and 1", len(user.serviceAccounts), len(user.configMaps))
	}
}

func TestSidecarSpec(t *testing.T) {
	ds := oneDaemonSet(t, build(t, "testdata/user"))
	pod := ds.Spec.Template.Spec
	if !pod.HostNetwork {
		t.Error("the antrea-agent pod is no longer hostNetwork")
	}
	c := container(t, pod, sidecarName)

	if want := sidecarImage + ":latest"; c.Image != want {
		t.Errorf("image = %q, want %q", c.Image, want)
	}
	if want := []string{"--ovs.rundir=" + ovsMountPath, "--web.listen-address=:10357", "--collector.antrea_agent", "--collector.ovs_interfaces"}; !reflect.DeepEqual(c.Args, want) {
		t.Errorf("args = %q, want %q", c.Args, want)
	}
	if len(c.Command) != 0 {
		t.Errorf("command = %q, want the image's entrypoint", c.Command)
	}
	if want := []corev1.ContainerPort{{Name: metricsPort, ContainerPort: 10357, Protocol: corev1.ProtocolTCP}}; !reflect.DeepEqual(c.Ports, want) {
		t.Errorf("ports = %+v, want %+v", c.Ports, want)
	}

	t.Run("ovs mount", func(t *testing.T) {
		want := []corev1.VolumeMount{{Name: "host-var-run-antrea", MountPath: ovsMountPath, SubPath: "openvswitch", ReadOnly: true}}
		if !reflect.DeepEqual(c.VolumeMounts, want) {
			t.Fatalf("volumeMounts = %+v, want %+v", c.VolumeMounts, want)
		}
		// The same host directory antrea-ovs uses for its sockets.
		ovs := container(t, pod, "antrea-ovs")
		var ovsMount *corev1.VolumeMount
		for i := range ovs.VolumeMounts {
			if ovs.VolumeMounts[i].MountPath == ovsMountPath {
				ovsMount = &ovs.VolumeMounts[i]
			}
		}
		if ovsMount == nil || ovsMount.Name != want[0].Name || ovsMount.SubPath != want[0].SubPath {
			t.Errorf("antrea-ovs mounts %+v at %s, the sidecar %+v", ovsMount, ovsMountPath, want[0])
		}
		var vol *corev1.Volume
		for i := range pod.Volumes {
			if pod.Volumes[i].Name == want[0].Name {
				vol = &pod.Volumes[i]
			}
		}
		if vol == nil || vol.HostPath == nil || vol.HostPath.Path != "/var/run/antrea" {
			t.Errorf("volume %s = %+v, want hostPath /var/run/antrea", want[0].Name, vol)
		}
	})

	t.Run("securityContext", func(t *testing.T) { checkSecurityContext(t, c) })

	t.Run("probes", func(t *testing.T) {
		for name, tc := range map[string]struct {
			probe *corev1.Probe
			path  string
		}{
			"liveness":  {c.LivenessProbe, "/-/healthy"},
			"readiness": {c.ReadinessProbe, "/-/ready"},
		} {
			if tc.probe == nil || tc.probe.HTTPGet == nil {
				t.Errorf("%s: no httpGet probe", name)
				continue
			}
			g := tc.probe.HTTPGet
			if g.Path != tc.path || g.Port != intstr.FromString(metricsPort) || (g.Scheme != "" && g.Scheme != corev1.URISchemeHTTP) {
				t.Errorf("%s probe = %+v, want GET %s on port %q over HTTP", name, g, tc.path, metricsPort)
			}
		}
	})

	t.Run("resources", func(t *testing.T) {
		want := corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("32Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
		}
		for _, kind := range []struct {
			name      string
			got, want corev1.ResourceList
		}{{"requests", c.Resources.Requests, want.Requests}, {"limits", c.Resources.Limits, want.Limits}} {
			if len(kind.got) != len(kind.want) {
				t.Errorf("%s = %v, want %v", kind.name, kind.got, kind.want)
			}
			for res, q := range kind.want {
				if got, ok := kind.got[res]; !ok || got.Cmp(q) != 0 {
					t.Errorf("%s[%s] = %v, want %v", kind.name, res, kind.got[res], q.String())
				}
			}
		}
	})
}

// TestSidecarRBAC checks the least RBAC of the antrea_agent collector: get
// on the non-resource URL /metrics and nothing else, bound to the
// ServiceAccount the agent's pod (and so the sidecar) runs as.
func TestSidecarRBAC(t *testing.T) {
	objs := build(t, "testdata/user")
	const name = "datapath-exporter-antrea-metrics"
	if len(objs.clusterRoles) != 1 || len(objs.clusterBindings) != 1 {
		t.Fatalf("%d ClusterRoles and %d ClusterRoleBindings, want 1 and 1", len(objs.clusterRoles), len(objs.clusterBindings))
	}
	role := objs.clusterRoles[0]
	if role.Name != name || role.Namespace != "" {
		t.Errorf("ClusterRole %q (namespace %q), want %q", role.Name, role.Namespace, name)
	}
	if want := []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}; !reflect.DeepEqual(role.Rules, want) {
		t.Errorf("rules = %+v, want exactly %+v", role.Rules, want)
	}
	if role.AggregationRule != nil {
		t.Errorf("aggregationRule = %+v: the role must grant only its own rule", role.AggregationRule)
	}
	b := objs.clusterBindings[0]
	if b.Name != name || b.Namespace != "" {
		t.Errorf("ClusterRoleBinding %q (namespace %q), want %q", b.Name, b.Namespace, name)
	}
	if want := (rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: name}); b.RoleRef != want {
		t.Errorf("roleRef = %+v, want %+v", b.RoleRef, want)
	}
	ds := oneDaemonSet(t, objs)
	sa := ds.Spec.Template.Spec.ServiceAccountName
	if want := []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa, Namespace: agentNS}}; sa != agentName || !reflect.DeepEqual(b.Subjects, want) {
		t.Errorf("subjects = %+v, want %+v (the DaemonSet runs as %q)", b.Subjects, want, sa)
	}
	// Antrea's own manifest holds no such objects: they come only with
	// the component.
	if antrea := build(t, "testdata/antrea-agent"); len(antrea.clusterRoles)+len(antrea.clusterBindings) != 0 {
		t.Error("the Antrea fixture already has RBAC objects")
	}
}

func TestUserOverridesImage(t *testing.T) {
	antrea := oneDaemonSet(t, build(t, "testdata/antrea-agent"))
	ds := oneDaemonSet(t, build(t, "testdata/user-image"))
	if got, want := container(t, ds.Spec.Template.Spec, sidecarName).Image, "registry.example.com/mirror/datapath-exporter:v0.1.0"; got != want {
		t.Errorf("sidecar image = %q, want %q", got, want)
	}
	for _, name := range []string{"antrea-agent", "antrea-ovs"} {
		if got, want := container(t, ds.Spec.Template.Spec, name).Image, container(t, antrea.Spec.Template.Spec, name).Image; got != want {
			t.Errorf("%s image = %q, want Antrea's %q", name, got, want)
		}
	}
}

// podTargets are the label sets Prometheus's Kubernetes pod discovery gives
// for an antrea-agent pod (one per container port, one per container
// without ports), plus another pod of kube-system and, for the keep on the
// container name, a hypothetical other container with a port named "metrics".
func podTargets() []labels.Labels {
	pod := func(name, app, component, ctr, portName, port string) labels.Labels {
		addr := "10.0.0.7"
		if port != "" {
			addr += ":" + port
		}
		// Labels with empty values are absent, as for Prometheus.
		return labels.FromMap(map[string]string{
			model.AddressLabel:                            addr,
			model.JobLabel:                                "placeholder",
			"__meta_kubernetes_namespace":                 agentNS,
			"__meta_kubernetes_pod_name":                  name,
			"__meta_kubernetes_pod_node_name":             "node-1",
			"__meta_kubernetes_pod_label_app":             app,
			"__meta_kubernetes_pod_label_component":       component,
			"__meta_kubernetes_pod_container_name":        ctr,
			"__meta_kubernetes_pod_container_port_name":   portName,
			"__meta_kubernetes_pod_container_port_number": port,
		})
	}
	return []labels.Labels{
		pod("antrea-agent-x7k2p", "antrea", "antrea-agent", "antrea-agent", "api", "10350"),
		pod("antrea-agent-x7k2p", "antrea", "antrea-agent", "antrea-ovs", "", ""),
		pod("antrea-agent-x7k2p", "antrea", "antrea-agent", sidecarName, metricsPort, "10357"),
		pod("antrea-agent-x7k2p", "antrea", "antrea-agent", "some-other-sidecar", metricsPort, "9100"),
		pod("coredns-5d78c9869d-abcde", "", "", "coredns", metricsPort, "9153"),
	}
}

// wantTarget is the one target both scrape configurations must keep.
var wantTarget = map[string]string{
	"instance": "node-1;antrea-agent-x7k2p",
	"job":      "datapath-exporter",
	"node":     "node-1",
}

// relabelTargets runs cfgs over targets as Prometheus does and returns the
// kept targets' labels that do not start with "__".
func relabelTargets(t *testing.T, targets []labels.Labels, cfgs []*relabel.Config) []map[string]string {
	t.Helper()
	for _, c := range cfgs {
		if err := c.Validate(model.UTF8Validation); err != nil {
			t.Fatalf("relabel config %+v: %v", c, err)
		}
	}
	var kept []map[string]string
	for _, lset := range targets {
		lb := labels.NewBuilder(lset)
		if !relabel.ProcessBuilder(lb, cfgs...) {
			continue
		}
		out := map[string]string{}
		lb.Labels().Range(func(l labels.Label) {
			if !strings.HasPrefix(l.Name, "__") {
				out[l.Name] = l.Value
			}
		})
		kept = append(kept, out)
	}
	return kept
}

func TestPodMonitor(t *testing.T) {
	objs := build(t, "prometheus")
	if len(objs.podMonitors) != 1 {
		t.Fatalf("%d PodMonitors, want 1", len(objs.podMonitors))
	}
	pm := objs.podMonitors[0]
	if want := (monitoringv1.NamespaceSelector{MatchNames: []string{agentNS}}); !reflect.DeepEqual(pm.Spec.NamespaceSelector, want) {
		t.Errorf("namespaceSelector = %+v, want %+v", pm.Spec.NamespaceSelector, want)
	}
	if want := map[string]string{"app": "antrea", "component": "antrea-agent"}; !reflect.DeepEqual(pm.Spec.Selector.MatchLabels, want) || len(pm.Spec.Selector.MatchExpressions) != 0 {
		t.Errorf("selector = %+v, want matchLabels %v", pm.Spec.Selector, want)
	}
	// The selector matches the pods of Antrea's DaemonSet.
	ds := oneDaemonSet(t, build(t, "testdata/user"))
	for k, v := range pm.Spec.Selector.MatchLabels {
		if ds.Spec.Template.Labels[k] != v {
			t.Errorf("selector %s=%s does not match the antrea-agent pod labels %v", k, v, ds.Spec.Template.Labels)
		}
	}
	if len(pm.Spec.PodMetricsEndpoints) != 1 {
		t.Fatalf("%d podMetricsEndpoints, want 1", len(pm.Spec.PodMetricsEndpoints))
	}
	ep := pm.Spec.PodMetricsEndpoints[0]
	if ep.Port == nil || *ep.Port != metricsPort {
		t.Errorf("port = %v, want %q", ep.Port, metricsPort)
	}
	if c := container(t, ds.Spec.Template.Spec, sidecarName); len(c.Ports) != 1 || c.Ports[0].Name != metricsPort {
		t.Errorf("the sidecar's ports %+v do not name %q", c.Ports, metricsPort)
	}

	// The operator keeps the endpoint's port by name before the user's
	// relabelings; simulate that, then the PodMonitor's own relabelings.
	cfgs := []*relabel.Config{{
		SourceLabels: model.LabelNames{"__meta_kubernetes_pod_container_port_name"},
		Regex:        relabel.MustNewRegexp(metricsPort),
		Action:       relabel.Keep,
	}}
	for _, rc := range ep.RelabelConfigs {
		cfgs = append(cfgs, podMonitorRelabel(t, rc))
	}
	// The pod selector and namespace are the operator's: give it only matching pods.
	var targets []labels.Labels
	for _, lset := range podTargets() {
		if lset.Get("__meta_kubernetes_pod_label_component") == "antrea-agent" {
			targets = append(targets, lset)
		}
	}
	kept := relabelTargets(t, targets, cfgs)
	if len(kept) != 1 {
		t.Fatalf("kept %d targets %v, want only %s's", len(kept), kept, sidecarName)
	}
	for k, v := range wantTarget {
		if kept[0][k] != v {
			t.Errorf("label %s = %q, want %q (all: %v)", k, kept[0][k], v, kept[0])
		}
	}
}

// podMonitorRelabel converts a PodMonitor relabeling into Prometheus's
// config with the operator's defaults (those of Prometheus).
func podMonitorRelabel(t *testing.T, rc monitoringv1.RelabelConfig) *relabel.Config {
	t.Helper()
	c := relabel.DefaultRelabelConfig
	for _, l := range rc.SourceLabels {
		c.SourceLabels = append(c.SourceLabels, model.LabelName(l))
	}
	if rc.Separator != nil {
		c.Separator = *rc.Separator
	}
	if rc.Regex != "" {
		re, err := relabel.NewRegexp(rc.Regex)
		if err != nil {
			t.Fatal(err)
		}
		c.Regex = re
	}
	if rc.Replacement != nil {
		c.Replacement = *rc.Replacement
	}
	c.TargetLabel = rc.TargetLabel
	c.Modulus = uint64(rc.Modulus)
	if rc.Action != "" {
		c.Action = relabel.Action(strings.ToLower(rc.Action))
	}
	return &c
}

// scrapeConfigFile is the part of Prometheus's configuration that
// scrape-config.yml may use; anything else is an unknown field.
type scrapeConfigFile struct {
	ScrapeConfigs []struct {
		JobName             string `yaml:"job_name"`
		KubernetesSDConfigs []struct {
			Role       string `yaml:"role"`
			Namespaces struct {
				Names []string `yaml:"names"`
			} `yaml:"namespaces"`
		} `yaml:"kubernetes_sd_configs"`
		RelabelConfigs []*relabel.Config `yaml:"relabel_configs"`
	} `yaml:"scrape_configs"`
}

func TestScrapeConfig(t *testing.T) {
	b, err := os.ReadFile("prometheus/scrape-config.yml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg scrapeConfigFile
	if err := yamlv2.UnmarshalStrict(b, &cfg); err != nil {
		t.Fatalf("prometheus/scrape-config.yml: %v", err)
	}
	if len(cfg.ScrapeConfigs) != 1 {
		t.Fatalf("%d scrape configs, want 1", len(cfg.ScrapeConfigs))
	}
	sc := cfg.ScrapeConfigs[0]
	if sc.JobName != wantTarget["job"] {
		t.Errorf("job_name = %q, want %q", sc.JobName, wantTarget["job"])
	}
	if len(sc.KubernetesSDConfigs) != 1 || sc.KubernetesSDConfigs[0].Role != "pod" ||
		!reflect.DeepEqual(sc.KubernetesSDConfigs[0].Namespaces.Names, []string{agentNS}) {
		t.Errorf("kubernetes_sd_configs = %+v, want role pod in %s", sc.KubernetesSDConfigs, agentNS)
	}
	// Prometheus sets job from job_name before relabeling.
	var targets []labels.Labels
	for _, lset := range podTargets() {
		targets = append(targets, labels.NewBuilder(lset).Set(model.JobLabel, sc.JobName).Labels())
	}
	kept := relabelTargets(t, targets, sc.RelabelConfigs)
	if len(kept) != 1 {
		t.Fatalf("kept %d targets %v, want only %s's", len(kept), kept, sidecarName)
	}
	for k, v := range wantTarget {
		if kept[0][k] != v {
			t.Errorf("label %s = %q, want %q (all: %v)", k, kept[0][k], v, kept[0])
		}
	}
}

func TestGeneratedFilesAreUpToDate(t *testing.T) {
	want, err := gen.Generate(".")
	if err != nil {
		t.Fatal(err)
	}
	paths := make([]string, 0, len(want))
	for p := range want {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		got, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("%s: %v; %s", p, err, gen.RegenerateHint)
			continue
		}
		if !bytes.Equal(got, want[p]) {
			t.Errorf("deploy/%s is out of date: %s", p, gen.RegenerateHint)
		}
	}
	stale, err := gen.Stale(".", want)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range stale {
		t.Errorf("deploy/%s is left over from a removed source: %s", p, gen.RegenerateHint)
	}
}

func TestPrometheusRuleMatchesRulesFiles(t *testing.T) {
	names, err := gen.RulesFiles(".")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"rules/datapath-exporter.rules.yml", "rules/datapath-fleet.rules.yml"}; !reflect.DeepEqual(names, want) {
		t.Errorf("rules files = %v, want %v", names, want)
	}
	files := map[string][]byte{}
	for _, n := range names {
		if files[n], err = os.ReadFile(n); err != nil {
			t.Fatal(err)
		}
	}
	spec, err := gen.RulesSpec(names, files)
	if err != nil {
		t.Fatal(err)
	}
	objs := build(t, "prometheus")
	if len(objs.prometheusRules) != 1 {
		t.Fatalf("%d PrometheusRules, want 1", len(objs.prometheusRules))
	}
	pr := objs.prometheusRules[0]
	if pr.Namespace != agentNS {
		t.Errorf("PrometheusRule namespace = %q, want %q", pr.Namespace, agentNS)
	}
	if !reflect.DeepEqual(pr.Spec, spec) {
		t.Errorf("the PrometheusRule's spec differs from %v: %s", names, gen.RegenerateHint)
	}
	// Every group of every file is in it, once.
	n := 0
	for _, b := range files {
		var f monitoringv1.PrometheusRuleSpec
		if err := yaml.UnmarshalStrict(b, &f); err != nil {
			t.Fatal(err)
		}
		n += len(f.Groups)
	}
	if len(pr.Spec.Groups) != n {
		t.Errorf("the PrometheusRule has %d groups, the files %d", len(pr.Spec.Groups), n)
	}
}

func TestRulesSpecRejectsDuplicateGroups(t *testing.T) {
	files := map[string][]byte{
		"a.rules.yml": []byte("groups:\n- name: g\n  rules:\n  - record: a\n    expr: up\n"),
		"b.rules.yml": []byte("groups:\n- name: g\n  rules:\n  - record: b\n    expr: up\n"),
	}
	if _, err := gen.RulesSpec([]string{"a.rules.yml", "b.rules.yml"}, files); err == nil || !strings.Contains(err.Error(), "also in") {
		t.Errorf("RulesSpec with group g twice: err = %v, want it named", err)
	}
}

// grafanaDatasources is the Grafana provisioning format the datasource
// Secret may use.
type grafanaDatasources struct {
	APIVersion  int `json:"apiVersion"`
	Datasources []struct {
		Name      string         `json:"name"`
		UID       string         `json:"uid"`
		Type      string         `json:"type"`
		Access    string         `json:"access"`
		URL       string         `json:"url"`
		IsDefault bool           `json:"isDefault"`
		Editable  bool           `json:"editable"`
		JSONData  map[string]any `json:"jsonData"`
	} `json:"datasources"`
}

func TestGrafana(t *testing.T) {
	objs := build(t, "grafana")

	t.Run("datasource", func(t *testing.T) {
		if len(objs.secrets) != 1 {
			t.Fatalf("%d Secrets, want 1", len(objs.secrets))
		}
		s := objs.secrets[0]
		if s.Labels["grafana_datasource"] != "1" {
			t.Errorf("labels = %v, want grafana_datasource: \"1\"", s.Labels)
		}
		if len(s.StringData) != 1 {
			t.Fatalf("stringData has %d keys, want 1", len(s.StringData))
		}
		for key, v := range s.StringData {
			if !strings.HasSuffix(key, ".yaml") {
				t.Errorf("key %q: the sidecar provisions *.yaml files", key)
			}
			var ds grafanaDatasources
			if err := yaml.UnmarshalStrict([]byte(v), &ds); err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			if ds.APIVersion != 1 || len(ds.Datasources) != 1 {
				t.Fatalf("%s: %+v, want apiVersion 1 and one datasource", key, ds)
			}
			d := ds.Datasources[0]
			if d.Type != "prometheus" || d.Access != "proxy" || d.URL != "http://prometheus-operated.monitoring.svc:9090" || d.Name == "" || d.UID == "" {
				t.Errorf("datasource = %+v", d)
			}
		}
	})

	t.Run("dashboards", func(t *testing.T) {
		sources, err := filepath.Glob(filepath.Join(gen.DashboardDir, "*.json"))
		if err != nil {
			t.Fatal(err)
		}
		if len(objs.configMaps) != len(sources) {
			t.Fatalf("%d dashboard ConfigMaps for %d files grafana/*.json: %s", len(objs.configMaps), len(sources), gen.RegenerateHint)
		}
		for _, cm := range objs.configMaps {
			if cm.Labels["grafana_dashboard"] != "1" {
				t.Errorf("%s: labels = %v, want grafana_dashboard: \"1\"", cm.Name, cm.Labels)
			}
			if len(cm.Data) != 1 {
				t.Errorf("%s: %d data keys, want 1", cm.Name, len(cm.Data))
			}
			for key, v := range cm.Data {
				src, err := os.ReadFile(filepath.Join(gen.DashboardDir, key))
				if err != nil {
					t.Errorf("%s: key %s: %v", cm.Name, key, err)
					continue
				}
				if v != string(src) || !json.Valid(src) {
					t.Errorf("%s: key %s differs from grafana/%s or is not JSON: %s", cm.Name, key, key, gen.RegenerateHint)
				}
			}
		}
	})
}

// checkSecurityContext checks the exporter container's securityContext, the
// same for the sidecar and the standalone DaemonSet: root (the OVS sockets
// are root's), NET_ADMIN only, read-only root filesystem, no privilege
// escalation, not privileged.
func checkSecurityContext(t *testing.T, c corev1.Container) {
	t.Helper()
	sc := c.SecurityContext
	if sc == nil {
		t.Fatal("no securityContext")
	}
	if sc.Capabilities == nil ||
		!reflect.DeepEqual(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) ||
		!reflect.DeepEqual(sc.Capabilities.Add, []corev1.Capability{"NET_ADMIN"}) {
		t.Errorf("capabilities = %+v, want drop [ALL] add [NET_ADMIN]", sc.Capabilities)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("readOnlyRootFilesystem is not true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("allowPrivilegeEscalation is not false")
	}
	if sc.RunAsUser == nil || *sc.RunAsUser != 0 {
		t.Error("runAsUser is not 0 (the OVS sockets are root's)")
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Error("privileged")
	}
}
