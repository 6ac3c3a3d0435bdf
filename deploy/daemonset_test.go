package deploy

import (
	"reflect"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

const (
	standaloneDir  = "daemonset"
	standaloneName = "datapath-exporter"
	hostOVSRunDir  = "/var/run/antrea/openvswitch"
)

// standalone builds deploy/daemonset and checks it holds exactly the
// objects of a standalone install.
func standalone(t *testing.T) objects {
	t.Helper()
	return standaloneAt(t, standaloneDir)
}

// standaloneAt builds dir, deploy/daemonset or a kustomization using it.
func standaloneAt(t *testing.T, dir string) objects {
	t.Helper()
	objs := build(t, dir)
	counts := map[string][2]int{
		"DaemonSet":          {len(objs.daemonSets), 1},
		"ServiceAccount":     {len(objs.serviceAccounts), 1},
		"ClusterRole":        {len(objs.clusterRoles), 1},
		"ClusterRoleBinding": {len(objs.clusterBindings), 1},
		"PodMonitor":         {len(objs.podMonitors), 1},
		"ConfigMap":          {len(objs.configMaps), 0},
		"Secret":             {len(objs.secrets), 0},
		"PrometheusRule":     {len(objs.prometheusRules), 0},
	}
	for kind, c := range counts {
		if c[0] != c[1] {
			t.Fatalf("%s: %d %s objects, want %d", dir, c[0], kind, c[1])
		}
	}
	return objs
}

func TestStandaloneDaemonSet(t *testing.T) {
	objs := standalone(t)
	ds := objs.daemonSets[0]
	if ds.Name != standaloneName || ds.Namespace != agentNS {
		t.Errorf("DaemonSet %s/%s, want %s/%s", ds.Namespace, ds.Name, agentNS, standaloneName)
	}
	sel := ds.Spec.Selector
	if sel == nil || len(sel.MatchLabels) == 0 || len(sel.MatchExpressions) != 0 {
		t.Fatalf("selector = %+v, want matchLabels only", sel)
	}
	for k, v := range sel.MatchLabels {
		if ds.Spec.Template.Labels[k] != v {
			t.Errorf("selector %s=%s does not match the pod labels %v", k, v, ds.Spec.Template.Labels)
		}
	}
	if got, want := ds.Spec.UpdateStrategy.Type, "RollingUpdate"; string(got) != want {
		t.Errorf("updateStrategy = %q, want %q", got, want)
	}

	pod := ds.Spec.Template.Spec
	t.Run("pod", func(t *testing.T) {
		if !pod.HostNetwork {
			t.Error("not hostNetwork: conntrack would be the pod's, not the node's")
		}
		if pod.DNSPolicy != corev1.DNSClusterFirstWithHostNet {
			t.Errorf("dnsPolicy = %q, want %q", pod.DNSPolicy, corev1.DNSClusterFirstWithHostNet)
		}
		if pod.PriorityClassName != "system-node-critical" {
			t.Errorf("priorityClassName = %q, want system-node-critical (as Antrea's agent)", pod.PriorityClassName)
		}
		// Antrea's agent tolerates every taint; so must the exporter to be on
		// every node Antrea is on.
		if want := []corev1.Toleration{{Operator: corev1.TolerationOpExists}}; !reflect.DeepEqual(pod.Tolerations, want) {
			t.Errorf("tolerations = %+v, want %+v", pod.Tolerations, want)
		}
		if want := map[string]string{"kubernetes.io/os": "linux"}; !reflect.DeepEqual(pod.NodeSelector, want) {
			t.Errorf("nodeSelector = %v, want %v", pod.NodeSelector, want)
		}
		if pod.Affinity != nil {
			t.Errorf("affinity %+v would keep the exporter off some of Antrea's nodes", pod.Affinity)
		}
		if pod.ServiceAccountName != objs.serviceAccounts[0].Name || objs.serviceAccounts[0].Namespace != agentNS {
			t.Errorf("serviceAccountName = %q, the ServiceAccount is %s/%s", pod.ServiceAccountName, objs.serviceAccounts[0].Namespace, objs.serviceAccounts[0].Name)
		}
		if pod.HostPID || pod.HostIPC {
			t.Error("hostPID or hostIPC set")
		}
		if len(pod.InitContainers) != 0 || len(pod.Containers) != 1 {
			t.Errorf("containers %v, init containers %v; want the exporter alone", containerNames(pod.Containers), containerNames(pod.InitContainers))
		}
	})

	c := container(t, pod, sidecarName)
	t.Run("container is the sidecar's", func(t *testing.T) {
		// Image, args, ports, probes, resources and securityContext are
		// those of the sidecar (checked field by field in TestSidecarSpec);
		// only the mount differs, as there is no agent volume to share.
		sidecar := container(t, oneDaemonSet(t, build(t, "testdata/user")).Spec.Template.Spec, sidecarName)
		a, b := c.DeepCopy(), sidecar.DeepCopy()
		a.VolumeMounts, b.VolumeMounts = nil, nil
		if !reflect.DeepEqual(a, b) {
			x, _ := yaml.Marshal(a)
			y, _ := yaml.Marshal(b)
			t.Errorf("the standalone container differs from the sidecar beyond its mount:\n--- standalone\n%s\n--- sidecar\n%s", x, y)
		}
	})

	t.Run("securityContext", func(t *testing.T) { checkSecurityContext(t, c) })

	t.Run("ovs mount", func(t *testing.T) {
		if len(c.VolumeMounts) != 1 {
			t.Fatalf("volumeMounts = %+v, want one", c.VolumeMounts)
		}
		m := c.VolumeMounts[0]
		if want := (corev1.VolumeMount{Name: m.Name, MountPath: ovsMountPath, ReadOnly: true}); !reflect.DeepEqual(m, want) {
			t.Errorf("volumeMount = %+v, want %+v", m, want)
		}
		for _, ctr := range append(append([]corev1.Container{}, pod.InitContainers...), pod.Containers...) {
			for _, vm := range ctr.VolumeMounts {
				if !vm.ReadOnly {
					t.Errorf("%s mounts %s writable", ctr.Name, vm.Name)
				}
			}
		}
		if len(pod.Volumes) != 1 || pod.Volumes[0].Name != m.Name {
			t.Fatalf("volumes = %+v, want one named %s", pod.Volumes, m.Name)
		}
		hp := pod.Volumes[0].HostPath
		dir := corev1.HostPathDirectory
		if want := (&corev1.HostPathVolumeSource{Path: hostOVSRunDir, Type: &dir}); !reflect.DeepEqual(hp, want) {
			t.Errorf("hostPath = %+v, want %s of type Directory (never created empty by the kubelet)", hp, hostOVSRunDir)
		}
		// The host directory is the one Antrea's antrea-ovs container uses
		// through its host-var-run-antrea volume and subPath openvswitch.
		antrea := oneDaemonSet(t, build(t, "testdata/antrea-agent")).Spec.Template.Spec
		var hostRoot string
		for _, v := range antrea.Volumes {
			if v.Name == "host-var-run-antrea" && v.HostPath != nil {
				hostRoot = v.HostPath.Path
			}
		}
		var sub string
		for _, vm := range container(t, antrea, "antrea-ovs").VolumeMounts {
			if vm.MountPath == ovsMountPath {
				sub = vm.SubPath
			}
		}
		if got := hostRoot + "/" + sub; got != hostOVSRunDir {
			t.Errorf("antrea-ovs keeps its sockets in %s on the host, the DaemonSet mounts %s", got, hostOVSRunDir)
		}
	})
}

func TestStandaloneRBAC(t *testing.T) {
	objs := standalone(t)
	sa := objs.serviceAccounts[0]
	role := objs.clusterRoles[0]
	// get on the agent's /metrics (the table names), nothing else.
	if want := []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}; !reflect.DeepEqual(role.Rules, want) {
		t.Errorf("ClusterRole rules = %+v, want %+v", role.Rules, want)
	}
	if role.AggregationRule != nil {
		t.Errorf("aggregationRule %+v: the role must not grow", role.AggregationRule)
	}
	b := objs.clusterBindings[0]
	if want := (rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role.Name}); b.RoleRef != want {
		t.Errorf("roleRef = %+v, want %+v", b.RoleRef, want)
	}
	if want := []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa.Name, Namespace: sa.Namespace}}; !reflect.DeepEqual(b.Subjects, want) {
		t.Errorf("subjects = %+v, want %+v", b.Subjects, want)
	}
	if sa.AutomountServiceAccountToken != nil && !*sa.AutomountServiceAccountToken {
		t.Error("the ServiceAccount's token is not mounted: the agent could not authorize the exporter")
	}
}

func TestStandalonePodMonitor(t *testing.T) {
	objs := standalone(t)
	pm := objs.podMonitors[0]
	ds := objs.daemonSets[0]
	if pm.Namespace != agentNS {
		t.Errorf("PodMonitor namespace %q, want %q", pm.Namespace, agentNS)
	}
	if pm.Name == "datapath-exporter" {
		t.Error("PodMonitor named as the sidecar's (deploy/prometheus): applying both would overwrite one")
	}
	// Its own namespace, which is the DaemonSet's wherever a user moves both.
	if !reflect.DeepEqual(pm.Spec.NamespaceSelector, monitoringv1.NamespaceSelector{}) {
		t.Errorf("namespaceSelector = %+v, want none (the PodMonitor's own namespace)", pm.Spec.NamespaceSelector)
	}
	if !reflect.DeepEqual(pm.Spec.Selector.MatchLabels, ds.Spec.Selector.MatchLabels) || len(pm.Spec.Selector.MatchExpressions) != 0 {
		t.Errorf("selector = %+v, want the DaemonSet's %v", pm.Spec.Selector, ds.Spec.Selector.MatchLabels)
	}
	if len(pm.Spec.PodMetricsEndpoints) != 1 {
		t.Fatalf("%d podMetricsEndpoints, want 1", len(pm.Spec.PodMetricsEndpoints))
	}
	ep := pm.Spec.PodMetricsEndpoints[0]
	if ep.Port == nil || *ep.Port != metricsPort {
		t.Errorf("port = %v, want %q", ep.Port, metricsPort)
	}
	cfgs := []*relabel.Config{{
		SourceLabels: model.LabelNames{"__meta_kubernetes_pod_container_port_name"},
		Regex:        relabel.MustNewRegexp(metricsPort),
		Action:       relabel.Keep,
	}}
	for _, rc := range ep.RelabelConfigs {
		cfgs = append(cfgs, podMonitorRelabel(t, rc))
	}
	target := labels.FromMap(map[string]string{
		model.AddressLabel:                            "10.0.0.7:10357",
		model.JobLabel:                                "podMonitor/kube-system/" + pm.Name + "/0",
		"__meta_kubernetes_namespace":                 agentNS,
		"__meta_kubernetes_pod_name":                  "datapath-exporter-q8z4m",
		"__meta_kubernetes_pod_node_name":             "node-1",
		"__meta_kubernetes_pod_container_name":        sidecarName,
		"__meta_kubernetes_pod_container_port_name":   metricsPort,
		"__meta_kubernetes_pod_container_port_number": "10357",
	})
	kept := relabelTargets(t, []labels.Labels{target}, cfgs)
	if len(kept) != 1 {
		t.Fatalf("kept %d targets, want 1", len(kept))
	}
	// The sidecar's scheme, with the exporter's own pod.
	want := map[string]string{"instance": "node-1;datapath-exporter-q8z4m", "job": wantTarget["job"], "node": wantTarget["node"]}
	for k, v := range want {
		if kept[0][k] != v {
			t.Errorf("label %s = %q, want %q (all: %v)", k, kept[0][k], v, kept[0])
		}
	}
}

// TestStandaloneInOwnNamespace moves the base to another namespace, as a
// user's kustomization may: the RBAC subject and the PodMonitor follow.
func TestStandaloneInOwnNamespace(t *testing.T) {
	const ns = "datapath-monitoring"
	objs := standaloneAt(t, "testdata/daemonset-namespace")
	ds, sa, pm := objs.daemonSets[0], objs.serviceAccounts[0], objs.podMonitors[0]
	for kind, got := range map[string]string{"DaemonSet": ds.Namespace, "ServiceAccount": sa.Namespace, "PodMonitor": pm.Namespace} {
		if got != ns {
			t.Errorf("%s in namespace %q, want %q", kind, got, ns)
		}
	}
	b := objs.clusterBindings[0]
	if want := []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa.Name, Namespace: ns}}; !reflect.DeepEqual(b.Subjects, want) {
		t.Errorf("subjects = %+v, want %+v", b.Subjects, want)
	}
	if len(pm.Spec.NamespaceSelector.MatchNames) != 0 || pm.Spec.NamespaceSelector.Any {
		t.Errorf("namespaceSelector %+v would look outside %s", pm.Spec.NamespaceSelector, ns)
	}
}
