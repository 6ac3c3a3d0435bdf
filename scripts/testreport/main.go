// Command testreport reads `go test -json` on standard input and prints what
// plain `go test` prints (a line per package, the output of failed tests),
// then a closing line "N passed, N failed, N skipped".
//
// It exists for one rule: with CI=true a skipped test fails the run. A skip
// in CI means a prerequisite was missing or a test chose not to run, and a
// green run must not hide either. Plain `go test` prints nothing for a skip,
// so `make test` pipes its JSON through this.
//
// It exits 1 when a test or package failed, or, with CI=true, when a test
// was skipped. Lines that are not test events (the go command's own, such as
// "go: downloading") are printed as they are; run it behind `set -o
// pipefail` so the go command's exit status counts too.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Elapsed float64
	Output  string
}

type key struct{ pkg, test string }

type report struct {
	out                     io.Writer
	outputs                 map[key][]string
	passed, failed, skipped int
	skips                   []string // "pkg Test: reason"
	badPackages             []string
}

func main() {
	r := &report{out: os.Stdout, outputs: map[key][]string{}}
	if err := r.read(os.Stdin); err != nil {
		fmt.Fprintf(os.Stderr, "testreport: reading go test -json: %v\n", err)
		os.Exit(1)
	}
	os.Exit(r.close(os.Getenv("CI") == "true"))
}

func (r *report) read(in io.Reader) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			// Not from test2json: the go command's own errors.
			fmt.Fprintf(r.out, "%s\n", line)
			continue
		}
		r.handle(e)
	}
	return sc.Err()
}

func (r *report) handle(e event) {
	k := key{e.Package, e.Test}
	switch e.Action {
	case "output", "build-output":
		r.outputs[k] = append(r.outputs[k], e.Output)
	case "build-fail":
		r.badPackages = append(r.badPackages, e.Package+" (build failed)")
	case "pass":
		if e.Test != "" {
			r.passed++
		} else {
			fmt.Fprintf(r.out, "ok  \t%s\t%.3fs\n", e.Package, e.Elapsed)
		}
		delete(r.outputs, k)
	case "skip":
		if e.Test != "" {
			r.skipped++
			r.skips = append(r.skips, fmt.Sprintf("%s %s: %s", e.Package, e.Test, skipReason(r.outputs[k])))
		} else {
			fmt.Fprintf(r.out, "?   \t%s\t[no test files]\n", e.Package)
		}
		delete(r.outputs, k)
	case "fail":
		// A parent's output comes after its subtests' and holds only its
		// own lines, so each failed test prints what it logged.
		fmt.Fprint(r.out, strings.Join(r.outputs[k], ""))
		if e.Test != "" {
			r.failed++
		} else {
			fmt.Fprintf(r.out, "FAIL\t%s\t%.3fs\n", e.Package, e.Elapsed)
			r.badPackages = append(r.badPackages, e.Package)
		}
		delete(r.outputs, k)
	}
}

// skipReason is what the test said when it skipped: the lines after its
// "--- SKIP" line.
func skipReason(lines []string) string {
	for i, l := range lines {
		if strings.Contains(l, "--- SKIP:") {
			return strings.TrimSpace(strings.Join(lines[i+1:], " "))
		}
	}
	return "(no reason given)"
}

// close prints the skips and the closing line and returns the exit code.
func (r *report) close(ci bool) int {
	code := 0
	if len(r.skips) > 0 {
		sort.Strings(r.skips)
		fmt.Fprintf(r.out, "skipped tests:\n  %s\n", strings.Join(r.skips, "\n  "))
		if ci {
			fmt.Fprintln(r.out, "CI=true: a skipped test fails the run (install what it needs, or make it not skip)")
			code = 1
		}
	}
	if len(r.badPackages) > 0 || r.failed > 0 {
		code = 1
	}
	if len(r.badPackages) > 0 {
		fmt.Fprintf(r.out, "failed packages: %s\n", strings.Join(r.badPackages, ", "))
	}
	fmt.Fprintf(r.out, "%d passed, %d failed, %d skipped\n", r.passed, r.failed, r.skipped)
	return code
}
