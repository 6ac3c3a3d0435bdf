package deploy

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// finalStage returns the instructions of the Dockerfile's last stage, with
// its COPY --from=<stage> of the binary rewritten to copy from the build
// context: the base image of the build stage comes from a registry, the
// final stage needs none.
func finalStage(t *testing.T, dockerfile []byte) string {
	t.Helper()
	lines := strings.Split(string(dockerfile), "\n")
	start := -1
	for i, l := range lines {
		if strings.HasPrefix(strings.ToUpper(strings.TrimSpace(l)), "FROM ") {
			start = i
		}
	}
	if start < 0 || strings.TrimSpace(lines[start]) != "FROM scratch" {
		t.Fatalf("the last stage of deploy/Dockerfile does not start with FROM scratch")
	}
	copyFrom := regexp.MustCompile(`^COPY\s+--from=\S+\s+\S+\s+(\S+)$`)
	var out []string
	copies := 0
	for _, l := range lines[start:] {
		if m := copyFrom.FindStringSubmatch(strings.TrimSpace(l)); m != nil {
			l = "COPY datapath-exporter " + m[1]
			copies++
		}
		out = append(out, l)
	}
	if copies != 1 {
		t.Fatalf("the final stage has %d COPY --from lines, want 1 (the binary)", copies)
	}
	return strings.Join(out, "\n")
}

// imageTool is podman or buildah, whichever is installed.
func imageTool(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"podman", "buildah"} {
		if _, err := exec.LookPath(tool); err == nil {
			return tool
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("neither podman nor buildah is installed (apt-get install podman)")
	}
	t.Skip("neither podman nor buildah is installed (apt-get install podman)")
	return ""
}

func run(t *testing.T, ctx context.Context, dir string, env []string, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String(), err
}

// TestImage builds the Dockerfile's final stage around a binary built here
// the way the build stage builds it, and checks the image: user, port,
// entrypoint, and that the binary runs in an otherwise empty filesystem.
func TestImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the exporter and an image")
	}
	tool := imageTool(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	dockerfile, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "datapath-exporter")
	if _, err := run(t, ctx, "..", []string{"CGO_ENABLED=0"}, "go", "build", "-trimpath", "-o", bin, "./cmd/datapath-exporter"); err != nil {
		t.Fatal(err)
	}
	assertStatic(t, bin)
	if err := os.WriteFile(filepath.Join(dir, "Containerfile"), []byte(finalStage(t, dockerfile)), 0o644); err != nil {
		t.Fatal(err)
	}

	image := fmt.Sprintf("localhost/datapath-exporter-deploy-test:%d", os.Getpid())
	if _, err := run(t, ctx, dir, nil, tool, "build", "-f", "Containerfile", "-t", image, "."); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := run(t, context.Background(), dir, nil, tool, "rmi", "-f", image); err != nil {
			t.Log(err)
		}
	})

	format := "{{json .Config}}"
	inspect := []string{"image", "inspect", "--format", format, image}
	if tool == "buildah" {
		format = "{{json .OCIv1.Config}}"
		inspect = []string{"inspect", "--type", "image", "--format", format, image}
	}
	out, err := run(t, ctx, dir, nil, tool, inspect...)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		User         string
		ExposedPorts map[string]struct{}
		Entrypoint   []string
	}
	if err := json.Unmarshal([]byte(out), &cfg); err != nil {
		t.Fatalf("image config %q: %v", out, err)
	}
	if cfg.User != "0" {
		t.Errorf("user = %q, want 0 (the OVS sockets are root's)", cfg.User)
	}
	if _, ok := cfg.ExposedPorts["10357/tcp"]; !ok || len(cfg.ExposedPorts) != 1 {
		t.Errorf("exposed ports = %v, want 10357/tcp", cfg.ExposedPorts)
	}
	if want := []string{"/bin/datapath-exporter"}; !reflect.DeepEqual(cfg.Entrypoint, want) {
		t.Errorf("entrypoint = %q, want %q", cfg.Entrypoint, want)
	}

	out = runVersion(t, ctx, tool, dir, image)
	if !strings.Contains(out, "datapath-exporter, version") {
		t.Errorf("--version in the image printed %q", out)
	}
}

// runVersion runs the image's entrypoint with --version. `podman run` needs an
// OCI runtime that can set up a container, which sandboxes (no
// CAP_SYS_RESOURCE, hybrid cgroups) may forbid; then the binary is run by a
// RUN step of a throwaway image built FROM it with chroot isolation, which
// still runs it on the image's filesystem alone.
func runVersion(t *testing.T, ctx context.Context, tool, dir, image string) string {
	t.Helper()
	if tool == "podman" {
		out, err := run(t, ctx, dir, nil, "podman", "run", "--rm", "--network=none", image, "--version")
		if err == nil {
			return out
		}
		t.Logf("podman run failed, running the binary in a chroot-isolated build step instead: %v", err)
	}
	probe := filepath.Join(dir, "Containerfile.version")
	if err := os.WriteFile(probe, []byte("FROM "+image+"\nRUN [\"/bin/datapath-exporter\", \"--version\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	probeImage := image + "-version"
	out, err := run(t, ctx, dir, nil, tool, "build", "--isolation=chroot", "-f", probe, "-t", probeImage, ".")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := run(t, context.Background(), dir, nil, tool, "rmi", "-f", probeImage); err != nil {
			t.Log(err)
		}
	})
	return out
}

// assertStatic fails unless bin is an ELF executable without a program
// interpreter or shared libraries: the image has no libc.
func assertStatic(t *testing.T, bin string) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has a program interpreter: not static", bin)
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) != 0 {
		t.Errorf("%s needs shared libraries %v (%v): not static", bin, libs, err)
	}
}
