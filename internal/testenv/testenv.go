// Package testenv starts and stops the real components that tests, benchmarks
// and the demo run against: a private userspace Open vSwitch (ovsdb-server and
// ovs-vswitchd in a temporary directory, inside a network namespace of its own)
// and private network namespaces whose conntrack table is filled with entries.
//
// Nothing here touches host settings: every daemon, directory and namespace it
// creates is removed by the matching Close.
//
// Each component has one constructor taking an options struct (StartOVS,
// NewNetns, StartPrometheus, StartAntreaAgent) and a ForTest variant that
// ties it to a test's cleanup. The package does not import testing, so the
// demo binary that uses it does not link it: tests pass their *testing.T as
// a T.
package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"time"
)

// T is the part of testing.TB the harness uses; *testing.T and *testing.B
// satisfy it.
type T interface {
	Helper()
	Cleanup(func())
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
}

// forTest is the body of every XForTest: it requires root and bins, if any
// (skipping t, or failing it in CI), starts the component with opts and
// closes it when t ends.
func forTest[O any, C interface{ Close() error }](t T, what string, start func(context.Context, O) (C, error), opts O, bins ...string) C {
	t.Helper()
	if len(bins) > 0 {
		Require(t, bins...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := start(ctx, opts)
	if err != nil {
		t.Fatalf("starting %s: %v", what, err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("stopping %s: %v", what, err)
		}
	})
	return c
}

// undoOnError is deferred by constructors: when *err is set, it adds the
// tail of each log to it, then closes c (which uses contexts of its own:
// the constructor's may be what just expired) and adds any cleanup error.
func undoOnError(err *error, c interface{ Close() error }, logs ...string) {
	if *err == nil {
		return
	}
	for _, l := range logs {
		*err = fmt.Errorf("%w%s", *err, logTail(l))
	}
	if cerr := c.Close(); cerr != nil {
		*err = fmt.Errorf("%w (cleanup: %v)", *err, cerr)
	}
}

// debianPackage names the Debian package that ships each executable the
// harness needs, so a missing one can be reported with the fix.
var debianPackage = map[string]string{
	"ovsdb-server": "openvswitch-switch",
	"ovs-vswitchd": "openvswitch-switch",
	"ovsdb-tool":   "openvswitch-switch",
	"ovs-vsctl":    "openvswitch-switch",
	"ovs-ofctl":    "openvswitch-switch",
	"ovs-appctl":   "openvswitch-switch",
	"conntrack":    "conntrack",
	"nft":          "nftables",
	"ip":           "iproute2",
	"setpriv":      "util-linux",
	// the kernel node's (internal/testenv/kernelnode)
	"qemu-system-x86_64": "qemu-system-x86",
	"depmod":             "kmod",
	"modprobe":           "kmod",
	"busybox":            "busybox-static",
}

// InCI reports whether the tests run in CI (CI=true), where a missing
// prerequisite is a failure rather than a skip.
func InCI() bool { return os.Getenv("CI") == "true" }

// Require checks that each named executable is on PATH and that the process
// runs as root (network namespaces and OVS need it). When something is
// missing the test is skipped, or failed in CI, with a message naming the
// Debian package to install (`make test` installs them all).
func Require(t T, bins ...string) {
	t.Helper()
	skipOrFail(t, Check(bins...))
}

// skipOrFail skips t, or fails it in CI, when a prerequisite is missing
// (err is not nil).
func skipOrFail(t T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if InCI() {
		t.Fatalf("missing prerequisite (CI=true, so this fails instead of skipping): %v", err)
	}
	t.Skipf("missing prerequisite: %v", err)
}

// Check is Require without a T: it returns an error naming what is
// missing and how to install it.
func Check(bins ...string) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("must run as root (network namespaces, OVS daemons); run `sudo make test`")
	}
	for _, b := range bins {
		if _, err := exec.LookPath(b); err != nil {
			pkg := debianPackage[b]
			if pkg == "" {
				pkg = "the package providing " + b
			}
			return fmt.Errorf("%s not found on PATH: install it with `apt-get install %s` (or run `make deps`)", b, pkg)
		}
	}
	return nil
}
