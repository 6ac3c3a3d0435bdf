package deploy

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/postrender"
	"sigs.k8s.io/yaml"
)

const (
	postRenderer = "helm/post-render.sh"
	antreaChart  = "testdata/antrea-chart"
)

// toolsPath builds the kustomize CLI stand-in (internal/kustomizecli: kustomize's
// own engine, krusty) as `kustomize` and/or `kubectl` into a directory that,
// with links to the few tools the post-renderer uses, becomes the whole PATH:
// the script must find exactly what the test gives it.
func toolsPath(t *testing.T, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	if len(names) > 0 {
		bin := kustomizeCLI(t)
		for _, n := range names {
			if err := os.Link(bin, filepath.Join(dir, n)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tool := range []string{"sh", "dirname", "cat", "cp", "mktemp", "rm", "grep"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Fatalf("%s: %v", tool, err)
		}
		if err := os.Symlink(p, filepath.Join(dir, tool)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// kustomizeCLIBin is internal/kustomizecli, built once per test binary
// into a directory TestMain removes.
var kustomizeCLIBin struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func kustomizeCLI(t *testing.T) string {
	t.Helper()
	b := &kustomizeCLIBin
	b.once.Do(func() {
		if b.dir, b.err = os.MkdirTemp("", "dpx-kustomizecli-"); b.err != nil {
			return
		}
		b.path = filepath.Join(b.dir, "kustomizecli")
		if out, err := exec.Command("go", "build", "-o", b.path, "./internal/kustomizecli").CombinedOutput(); err != nil {
			b.err = fmt.Errorf("building internal/kustomizecli: %v\n%s", err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

func TestMain(m *testing.M) {
	code := m.Run()
	if kustomizeCLIBin.dir != "" {
		os.RemoveAll(kustomizeCLIBin.dir)
	}
	os.Exit(code)
}

// renderAntrea renders the Antrea chart fixture as `helm install antrea
// --namespace kube-system [--post-renderer post-render.sh]` does, without a
// cluster, and decodes the manifest strictly.
func renderAntrea(t *testing.T, pr postrender.PostRenderer) objects {
	t.Helper()
	objs, err := renderAntreaIn(t, agentNS, pr)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// renderAntreaIn renders the chart into namespace; an error is Helm's.
func renderAntreaIn(t *testing.T, namespace string, pr postrender.PostRenderer) (objects, error) {
	t.Helper()
	chrt, err := loader.Load(antreaChart)
	if err != nil {
		t.Fatal(err)
	}
	install := action.NewInstall(&action.Configuration{})
	install.ReleaseName = "antrea"
	install.Namespace = namespace
	install.DryRun = true
	install.ClientOnly = true
	install.PostRenderer = pr
	rel, err := install.Run(chrt, nil)
	if err != nil {
		return objects{}, fmt.Errorf("helm install --dry-run: %w", err)
	}
	return decodeManifest(t, rel.Manifest), nil
}

// decodeManifest decodes every object of a Helm release's manifest
// strictly (duplicate keys included) into its typed struct.
func decodeManifest(t *testing.T, manifest string) objects {
	t.Helper()
	var objs objects
	for _, doc := range strings.Split(manifest, "\n---") {
		if strings.TrimSpace(strings.TrimPrefix(doc, "---")) == "" {
			continue
		}
		js, err := yaml.YAMLToJSONStrict([]byte(doc))
		if err != nil {
			t.Fatalf("%v in:\n%s", err, doc)
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal(js, &head); err != nil {
			t.Fatal(err)
		}
		if err := objs.add(head.APIVersion+"/"+head.Kind, js); err != nil {
			t.Errorf("%s: %v", head.Kind, err)
		}
	}
	return objs
}

func TestHelmPostRenderer(t *testing.T) {
	plain := oneDaemonSet(t, renderAntrea(t, nil))
	if got := containerNames(plain.Spec.Template.Spec.Containers); !reflect.DeepEqual(got, []string{"antrea-agent", "antrea-ovs"}) {
		t.Fatalf("the chart fixture renders containers %v", got)
	}
	// The component's own sidecar, as the kustomize user gets it.
	wantSidecar := container(t, oneDaemonSet(t, build(t, "testdata/user")).Spec.Template.Spec, sidecarName)

	for _, tc := range []struct {
		name  string
		tools []string
		tag   string
	}{
		{"kustomize", []string{"kustomize"}, ""},
		{"kubectl kustomize without kustomize", []string{"kubectl"}, ""},
		{"pinned tag", []string{"kustomize", "kubectl"}, "v0.1.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("PATH", toolsPath(t, tc.tools...))
			t.Setenv("DATAPATH_EXPORTER_TAG", tc.tag)
			pr, err := postrender.NewExec("./" + postRenderer)
			if err != nil {
				t.Fatal(err)
			}
			objs := renderAntrea(t, pr)
			ds := oneDaemonSet(t, objs)
			if got, want := containerNames(ds.Spec.Template.Spec.Containers), []string{"antrea-agent", "antrea-ovs", sidecarName}; !reflect.DeepEqual(got, want) {
				t.Fatalf("containers = %v, want %v", got, want)
			}
			got := container(t, ds.Spec.Template.Spec, sidecarName)
			want := *wantSidecar.DeepCopy()
			if tc.tag != "" {
				want.Image = sidecarImage + ":" + tc.tag
			}
			if !reflect.DeepEqual(got, want) {
				a, _ := yaml.Marshal(got)
				b, _ := yaml.Marshal(want)
				t.Errorf("sidecar differs from the component's:\n--- post-rendered\n%s\n--- component\n%s", a, b)
			}
			// Antrea's DaemonSet is otherwise unchanged, and its other
			// objects pass through.
			stripped := ds.DeepCopy()
			stripped.Spec.Template.Spec.Containers = stripped.Spec.Template.Spec.Containers[:2]
			if !reflect.DeepEqual(*stripped, plain) {
				a, _ := yaml.Marshal(plain)
				b, _ := yaml.Marshal(stripped)
				t.Errorf("the post-renderer changed Antrea's DaemonSet beyond adding %s:\n--- helm\n%s\n--- post-rendered, sidecar removed\n%s", sidecarName, a, b)
			}
			if len(objs.serviceAccounts) != 1 || len(objs.configMaps) != 1 {
				t.Errorf("%d ServiceAccounts and %d ConfigMaps, want the chart's 1 and 1", len(objs.serviceAccounts), len(objs.configMaps))
			}
		})
	}
}

func TestHelmPostRendererOtherNamespace(t *testing.T) {
	t.Setenv("PATH", toolsPath(t, "kustomize"))
	pr, err := postrender.NewExec("./" + postRenderer)
	if err != nil {
		t.Fatal(err)
	}
	_, err = renderAntreaIn(t, "antrea", pr)
	if err == nil || !strings.Contains(err.Error(), "--namespace kube-system") {
		t.Errorf("helm install --namespace antrea with the post-renderer: err = %v, want one saying to install into kube-system", err)
	}
}

func TestHelmPostRendererErrors(t *testing.T) {
	for _, tc := range []struct {
		name      string
		tools     []string
		env       map[string]string
		stdin     string
		wantInErr string
	}{
		{"no kustomize or kubectl", nil, nil, "kind: ConfigMap\n", "neither kustomize nor kubectl"},
		{"empty input", []string{"kustomize"}, nil, "", "rendered nothing"},
		{"missing component", []string{"kustomize"}, map[string]string{"DATAPATH_EXPORTER_COMPONENT": "/nonexistent"}, "kind: ConfigMap\n", "DATAPATH_EXPORTER_COMPONENT"},
		{"not YAML", []string{"kustomize"}, nil, "{{{\n", "Error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command("./" + postRenderer)
			cmd.Env = []string{"PATH=" + toolsPath(t, tc.tools...), "TMPDIR=" + t.TempDir()}
			for k, v := range tc.env {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			cmd.Stdin = strings.NewReader(tc.stdin)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			if err == nil {
				t.Fatal("the post-renderer succeeded")
			}
			if !strings.Contains(stderr.String(), tc.wantInErr) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tc.wantInErr)
			}
			// Its temporary directory is gone.
			tmp, _ := filepath.Glob(filepath.Join(strings.TrimPrefix(cmd.Env[1], "TMPDIR="), "*"))
			if len(tmp) != 0 {
				t.Errorf("left behind %v", tmp)
			}
		})
	}
}
