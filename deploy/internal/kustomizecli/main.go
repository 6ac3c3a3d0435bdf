// Command kustomizecli is `kustomize build DIR` (and `kubectl kustomize DIR`,
// by the name it is called by) on kustomize's own Go API, the version of the
// deploy module. The Helm post-renderer's test puts it on PATH as kustomize
// and as kubectl: the kustomize v5.8.3 CLI module needs a newer Go than this
// project's, and kubectl is not a Debian package. The build is krusty's, the
// engine of both CLIs; only the argument parsing is this file's.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

func main() {
	verb := "build"
	if filepath.Base(os.Args[0]) == "kubectl" {
		verb = "kustomize"
	}
	if len(os.Args) != 3 || os.Args[1] != verb {
		fmt.Fprintf(os.Stderr, "usage: %s %s DIR\n", filepath.Base(os.Args[0]), verb)
		os.Exit(2)
	}
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
	out, err := m.AsYaml()
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
	os.Stdout.Write(out)
}
