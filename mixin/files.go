package mixin

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
)

// Where the generated files live, relative to the repository's root.
const (
	RulesDir     = "deploy/rules"
	DashboardDir = "grafana"
)

// RegenerateHint says how to bring the generated files up to date.
const RegenerateHint = "run `make generate` at the repository's root (it renders mixin/ and runs deploy's go generate)"

// Files returns the generated files of the default render, keyed by their
// path relative to the repository's root.
func Files() (map[string][]byte, error) {
	out, err := Render(nil)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	for name, b := range out.Rules {
		files[filepath.Join(RulesDir, name)] = b
	}
	for name, b := range out.Dashboards {
		files[filepath.Join(DashboardDir, name)] = b
	}
	return files, nil
}

// Stale returns the files under root that differ from want or that the
// mixin no longer renders (a dashboard JSON it does not know), relative to
// root and sorted.
func Stale(root string, want map[string][]byte) ([]string, error) {
	var stale []string
	for _, rel := range slices.Sorted(maps.Keys(want)) {
		got, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil || !bytes.Equal(got, want[rel]) {
			stale = append(stale, rel)
		}
	}
	extra, err := unknownDashboards(root, want)
	return append(stale, extra...), err
}

func unknownDashboards(root string, want map[string][]byte) ([]string, error) {
	paths, err := filepath.Glob(filepath.Join(root, DashboardDir, "*.json"))
	if err != nil {
		return nil, err
	}
	var extra []string
	for _, p := range paths {
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return nil, err
		}
		if _, ok := want[rel]; !ok {
			extra = append(extra, rel)
		}
	}
	slices.Sort(extra)
	return extra, nil
}

// WriteFiles writes the generated files under root and removes dashboards
// the mixin no longer renders.
func WriteFiles(root string) error {
	files, err := Files()
	if err != nil {
		return err
	}
	extra, err := unknownDashboards(root, files)
	if err != nil {
		return err
	}
	for _, rel := range extra {
		if err := os.Remove(filepath.Join(root, rel)); err != nil {
			return err
		}
	}
	for _, rel := range slices.Sorted(maps.Keys(files)) {
		path := filepath.Join(root, rel)
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, files[rel]) {
			continue
		}
		if err := os.WriteFile(path, files[rel], 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", rel, err)
		}
	}
	return nil
}
