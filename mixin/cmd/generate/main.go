// Command generate renders the mixin with its default _config into the
// repository's rules files (deploy/rules/*.rules.yml) and dashboards
// (grafana/*.json), and removes dashboards the mixin no longer renders.
// `make generate` runs it, then deploy's `go generate ./...`.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/datapath-exporter/datapath-exporter/mixin"
)

func main() {
	root := flag.String("root", ".", "the repository's root directory")
	flag.Parse()
	if err := mixin.WriteFiles(*root); err != nil {
		fmt.Fprintln(os.Stderr, "generate:", err)
		os.Exit(1)
	}
}
