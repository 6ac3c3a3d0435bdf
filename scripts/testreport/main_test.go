package main

import (
	"strings"
	"testing"
)

func TestReport(t *testing.T) {
	const in = `go: downloading example.com/m v1.0.0
{"Action":"start","Package":"p"}
{"Action":"run","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Test":"TestA","Output":"=== RUN   TestA\n"}
{"Action":"pass","Package":"p","Test":"TestA","Elapsed":0.1}
{"Action":"run","Package":"p","Test":"TestB"}
{"Action":"output","Package":"p","Test":"TestB","Output":"--- SKIP: TestB (0.00s)\n"}
{"Action":"output","Package":"p","Test":"TestB","Output":"    b_test.go:9: missing prerequisite: ovs-vswitchd not found\n"}
{"Action":"skip","Package":"p","Test":"TestB","Elapsed":0}
{"Action":"pass","Package":"p","Elapsed":0.5}
{"Action":"run","Package":"q","Test":"TestC"}
{"Action":"output","Package":"q","Test":"TestC","Output":"    c_test.go:3: boom\n"}
{"Action":"output","Package":"q","Test":"TestC","Output":"--- FAIL: TestC (0.00s)\n"}
{"Action":"fail","Package":"q","Test":"TestC","Elapsed":0}
{"Action":"output","Package":"q","Output":"FAIL\n"}
{"Action":"fail","Package":"q","Elapsed":0.2}
{"Action":"skip","Package":"r"}
`
	tests := []struct {
		name     string
		input    string
		ci       bool
		wantCode int
		want     []string
	}{
		{"failure fails", in, false, 1, []string{"go: downloading", "ok  \tp\t0.500s", "c_test.go:3: boom", "FAIL\tq\t0.200s",
			"?   \tr\t[no test files]", "p TestB: b_test.go:9: missing prerequisite", "1 passed, 1 failed, 1 skipped"}},
		{"skip passes outside CI", in[:strings.Index(in, `{"Action":"run","Package":"q"`)], false, 0, []string{"1 passed, 0 failed, 1 skipped"}},
		{"skip fails in CI", in[:strings.Index(in, `{"Action":"run","Package":"q"`)], true, 1, []string{"CI=true: a skipped test fails the run"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			r := &report{out: &out, outputs: map[key][]string{}}
			if err := r.read(strings.NewReader(tt.input)); err != nil {
				t.Fatal(err)
			}
			if code := r.close(tt.ci); code != tt.wantCode {
				t.Errorf("exit code %d, want %d", code, tt.wantCode)
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			if lines := strings.Split(strings.TrimSpace(out.String()), "\n"); !strings.Contains(lines[len(lines)-1], " passed, ") {
				t.Errorf("last line %q is not the closing count", lines[len(lines)-1])
			}
		})
	}
}
