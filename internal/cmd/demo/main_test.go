package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDemoDoesNotLinkTesting keeps the harness a library the demo can use
// without linking the testing package (and its flags) into a binary: the
// harness takes a T interface, never a *testing.T.
func TestDemoDoesNotLinkTesting(t *testing.T) {
	// go test puts its own go first on PATH.
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg == "testing" {
			t.Fatal("the demo links package testing: something it imports (internal/testenv, internal/testenv/kernelnode?) imports it")
		}
	}
}
