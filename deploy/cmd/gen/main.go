// Command gen writes the generated Kubernetes objects of the deploy module:
// the PrometheusRule from rules/*.rules.yml and the Grafana
// dashboard ConfigMaps from ../grafana/*.json. Run it with `go generate ./...`
// in deploy/.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/datapath-exporter/datapath-exporter/deploy/internal/gen"
)

func main() {
	root := flag.String("root", ".", "the deploy module's directory")
	flag.Parse()
	files, err := gen.Generate(*root)
	if err == nil {
		err = gen.Write(*root, files)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
