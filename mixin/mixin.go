// Package mixin renders the datapath-exporter monitoring mixin (the jsonnet
// beside this file, the single source of the project's alerts, recording
// rules and Grafana dashboards) into the files the repository ships:
// deploy/rules/*.rules.yml and grafana/*.json. Render gives them for a
// _config of values; RenderTemplate gives them with a template engine's
// placeholders (Helm's {{ .Values.x }}) where chosen _config values would
// be, for a chart to fill in at install time. See README.md.
package mixin

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/google/go-jsonnet"
)

// The jsonnet sources, as a jsonnet user vendors them.
//
//go:embed mixin.libsonnet config.libsonnet alerts rules dashboards lib
var sources embed.FS

// Rule file names: every group whose name starts with FleetGroupPrefix goes
// to FleetRulesFile, the others to RulesFile.
const (
	RulesFile        = "datapath-exporter.rules.yml"
	FleetRulesFile   = "datapath-fleet.rules.yml"
	FleetGroupPrefix = "datapath-fleet."
)

// RatioSuffix, appended to a percent key of _config, names the placeholder
// of its ratio in RenderTemplate: the dashboards' colour steps are ratios
// (0.75 for 75), which the mixin cannot compute from a placeholder.
const RatioSuffix = "/100"

// Output is what the mixin renders: rules files (YAML, with a generated-file
// header) and dashboards (JSON), each keyed by its file name.
type Output struct {
	Rules      map[string][]byte
	Dashboards map[string][]byte
}

// Render renders the mixin with overrides merged into its default _config
// (keys as in config.libsonnet, values of JSON types). An unknown key or a
// value of the wrong type is an error naming the key.
func Render(overrides map[string]any) (Output, error) {
	if err := checkKeys(overrides); err != nil {
		return Output{}, err
	}
	return render(overrides, nil, nil, nil)
}

// Template says what RenderTemplate puts where _config values would be.
type Template struct {
	// Placeholders maps _config keys to the text inserted verbatim where
	// the value would appear (inside PromQL expressions, annotations, record
	// names, titles and JSON numbers alike), so it must be valid in all of
	// those once the template engine has run: Helm's `{{ .Values.x }}` is
	// for numbers and durations. A percent key K (e.g.
	// conntrackWarningPercent) also needs K+RatioSuffix, the text giving
	// the value divided by 100 (Helm: `{{ divf .Values.x 100 }}`). Lists
	// (dashboardTags) cannot be placeholders.
	Placeholders map[string]string
	// JSONPlaceholders, per key, is the text used inside the dashboards'
	// JSON strings instead, where a value holding a double quote or a
	// backslash must come out escaped (the selector; Helm:
	// `{{ .Values.x | toJson | trimPrefix "\"" | trimSuffix "\"" }}`).
	JSONPlaceholders map[string]string
	// Escape, if not nil, is applied to every rendered file before the
	// placeholders go in: for Helm, the escaping of the `{{ }}` that
	// Prometheus' annotations and Grafana's legends hold.
	Escape func([]byte) []byte
}

// RenderTemplate renders the mixin with tmpl's placeholders where their
// keys' values would be, for a template engine (a Helm chart) to fill in at
// install time. Values of keys not given are the defaults; type checks are
// skipped for the keys given; durations in the alerts' descriptions appear
// as written ("for 5m") instead of in words.
func RenderTemplate(tmpl Template) (Output, error) {
	placeholders, jsonPlaceholders := tmpl.Placeholders, tmpl.JSONPlaceholders
	kinds, err := configKinds()
	if err != nil {
		return Output{}, err
	}
	for k := range jsonPlaceholders {
		if _, ok := placeholders[k]; !ok {
			return Output{}, fmt.Errorf("datapath-exporter mixin: JSON placeholder %s given without its placeholder", k)
		}
	}
	var keys []string
	for k := range placeholders {
		base, isRatio := strings.CutSuffix(k, RatioSuffix)
		kind, known := kinds[base]
		switch {
		case !known:
			return Output{}, unknownKey(k, kinds)
		case isRatio && kind != "percent":
			return Output{}, fmt.Errorf("datapath-exporter mixin: %s: only percent keys have a %s placeholder", k, RatioSuffix)
		case isRatio:
			if _, ok := placeholders[base]; !ok {
				return Output{}, fmt.Errorf("datapath-exporter mixin: %s given without %s", k, base)
			}
		case kind == "tags":
			return Output{}, fmt.Errorf("datapath-exporter mixin: _config.%s is a list and cannot be a placeholder", k)
		case kind == "percent":
			if _, ok := placeholders[k+RatioSuffix]; !ok {
				return Output{}, fmt.Errorf("datapath-exporter mixin: placeholder %s needs %s too, the text of its value / 100 (the dashboards' colour steps are ratios)", k, k+RatioSuffix)
			}
			keys = append(keys, k)
		default:
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	// Each placeholder renders as a token of letters and digits (valid
	// anywhere the mixin puts a value, never quoted or split by YAML),
	// replaced by its text afterwards.
	overrides := map[string]any{}
	var tokens []token
	for i, k := range slices.Sorted(maps.Keys(placeholders)) {
		t := token{
			text:   fmt.Sprintf("DPXPLACEHOLDER%dEND", i),
			with:   placeholders[k],
			inJSON: placeholders[k],
			number: strings.HasSuffix(k, RatioSuffix),
		}
		if j, ok := jsonPlaceholders[k]; ok {
			t.inJSON = j
		}
		overrides[k] = t.text
		tokens = append(tokens, t)
	}
	return render(overrides, keys, tokens, tmpl.Escape)
}

type token struct {
	text         string
	with, inJSON string // the placeholder in the rules and in the dashboards
	number       bool   // stands for a JSON number: replaced with its quotes
}

// Defaults returns the mixin's default _config.
func Defaults() (map[string]any, error) {
	var cfg map[string]any
	err := evaluate(`(import 'mixin.libsonnet')._config`, nil, &cfg)
	return cfg, err
}

// configKinds maps each _config key to its kind (lib/config.libsonnet:
// selector, label, percent, regex, duration, string, tags).
var configKinds = sync.OnceValues(func() (map[string]string, error) {
	var k map[string]string
	err := evaluate(`(import 'lib/config.libsonnet').kinds`, nil, &k)
	return k, err
})

func checkKeys(overrides map[string]any) error {
	kinds, err := configKinds()
	if err != nil {
		return err
	}
	for _, k := range slices.Sorted(maps.Keys(overrides)) {
		if _, ok := kinds[k]; !ok {
			return unknownKey(k, kinds)
		}
	}
	return nil
}

func unknownKey(k string, kinds map[string]string) error {
	return fmt.Errorf("datapath-exporter mixin: _config has no key %q (known: %s)", k, strings.Join(slices.Sorted(maps.Keys(kinds)), ", "))
}

// rendered is the JSON the driver snippet returns.
type rendered struct {
	Rules      ruleFile                   `json:"rules"`
	Alerts     ruleFile                   `json:"alerts"`
	Dashboards map[string]json.RawMessage `json:"dashboards"`
}

const driver = `
local overrides = std.extVar('overrides');
local mixin = (import 'mixin.libsonnet') + {
  _config+:: overrides.config,
  _templateKeys:: overrides.templateKeys,
};
{
  rules: mixin.prometheusRules,
  alerts: mixin.prometheusAlerts,
  dashboards: mixin.grafanaDashboards,
}
`

func render(overrides map[string]any, templateKeys []string, tokens []token, escape func([]byte) []byte) (Output, error) {
	if overrides == nil {
		overrides = map[string]any{}
	}
	if templateKeys == nil {
		templateKeys = []string{}
	}
	var r rendered
	if err := evaluate(driver, map[string]any{"config": overrides, "templateKeys": templateKeys}, &r); err != nil {
		return Output{}, err
	}
	out := Output{Rules: map[string][]byte{}, Dashboards: map[string][]byte{}}

	files := map[string]*ruleFile{RulesFile: {}, FleetRulesFile: {}}
	for _, g := range append(r.Rules.Groups, r.Alerts.Groups...) {
		name := RulesFile
		if strings.HasPrefix(g.Name, FleetGroupPrefix) {
			name = FleetRulesFile
		}
		files[name].Groups = append(files[name].Groups, g)
	}
	for name, f := range files {
		b, err := f.marshal(ruleHeaders[name])
		if err != nil {
			return Output{}, fmt.Errorf("datapath-exporter mixin: %s: %w", name, err)
		}
		out.Rules[name] = replaceTokens(b, tokens, false, escape)
	}

	for name, raw := range r.Dashboards {
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return Output{}, fmt.Errorf("datapath-exporter mixin: dashboard %s: %w", name, err)
		}
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(v); err != nil {
			return Output{}, fmt.Errorf("datapath-exporter mixin: dashboard %s: %w", name, err)
		}
		out.Dashboards[name] = replaceTokens(b.Bytes(), tokens, true, escape)
	}
	return out, nil
}

// replaceTokens escapes b if escape is not nil, then puts each
// placeholder's text where its token is; in JSON, a token standing for a
// number loses its quotes.
func replaceTokens(b []byte, tokens []token, isJSON bool, escape func([]byte) []byte) []byte {
	if escape != nil {
		b = escape(b)
	}
	for _, t := range tokens {
		if !isJSON {
			b = bytes.ReplaceAll(b, []byte(t.text), []byte(t.with))
			continue
		}
		if t.number {
			b = bytes.ReplaceAll(b, []byte(`"`+t.text+`"`), []byte(t.inJSON))
		}
		b = bytes.ReplaceAll(b, []byte(t.text), []byte(t.inJSON))
	}
	return b
}

// evaluate runs snippet with the embedded sources importable (relative to
// the importing file, as the jsonnet command does) and ext, if not nil, as
// std.extVar('overrides'), and decodes its JSON into v.
func evaluate(snippet string, ext map[string]any, v any) error {
	vm := jsonnet.MakeVM()
	vm.Importer(embedImporter{})
	if ext != nil {
		b, err := json.Marshal(ext)
		if err != nil {
			return fmt.Errorf("datapath-exporter mixin: encoding _config: %w", err)
		}
		vm.ExtCode("overrides", string(b))
	}
	out, err := vm.EvaluateAnonymousSnippet("render.jsonnet", snippet)
	if err != nil {
		return errors.New(firstLine(err.Error()))
	}
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("datapath-exporter mixin: decoding the rendered mixin: %w", err)
	}
	return nil
}

// firstLine is jsonnet's error message without its stack trace.
func firstLine(msg string) string {
	msg, _, _ = strings.Cut(msg, "\n")
	return strings.TrimPrefix(msg, "RUNTIME ERROR: ")
}

type embedImporter struct{}

func (embedImporter) Import(importedFrom, importedPath string) (jsonnet.Contents, string, error) {
	p := path.Join(path.Dir(importedFrom), importedPath)
	b, err := fs.ReadFile(sources, p)
	if err != nil {
		return jsonnet.Contents{}, "", fmt.Errorf("import %q from %q: %w", importedPath, importedFrom, err)
	}
	return jsonnet.MakeContentsRaw(b), p, nil
}
