package e2e

import (
	"context"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
)

// runningDemo is a demo program started by a test, as `make demo` runs it.
type runningDemo struct {
	cmd     *exec.Cmd
	logs    *testenv.SyncBuffer
	exited  chan error
	stopped bool
	start   time.Time
}

// startDemo starts the demo binary with args from the repository's root.
// Past ctx's deadline it is stopped with SIGTERM, as make demo-stop does,
// so that it removes what it made (SIGKILL only if it does not exit); at
// the end of t it is stopped if the test did not stop it.
func startDemo(t *testing.T, ctx context.Context, demo string, args ...string) *runningDemo {
	t.Helper()
	cmd := exec.CommandContext(ctx, demo, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = time.Minute
	cmd.Dir = "../.."
	d := &runningDemo{cmd: cmd, logs: &testenv.SyncBuffer{}, exited: make(chan error, 1), start: time.Now()}
	cmd.Stdout, cmd.Stderr = d.logs, d.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if !d.stopped {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			<-d.exited
		}
	})
	return d
}

// waitForQueries waits, in turn, until each query returns data from the
// demo's Prometheus at promAddr; it fails t if the demo exits or ctx ends
// first.
func (d *runningDemo) waitForQueries(t *testing.T, ctx context.Context, promAddr string, queries []string) {
	t.Helper()
	client, err := api.NewClient(api.Config{Address: "http://" + promAddr})
	if err != nil {
		t.Fatal(err)
	}
	prom := promv1.NewAPI(client)
	for _, q := range queries {
		for {
			v, _, _, err := prom.Query(ctx, q, time.Now())
			if err == nil && len(v.(model.Vector)) > 0 {
				t.Logf("%5.1fs: %s", time.Since(d.start).Seconds(), q)
				break
			}
			select {
			case err := <-d.exited:
				t.Fatalf("demo exited early (%v):\n%s", err, d.logs)
			case <-ctx.Done():
				t.Fatalf("no data for %s: %v\n%s", q, err, d.logs)
			case <-time.After(time.Second):
			}
		}
	}
}

// waitForLog waits until the demo's log holds text; it fails t if the
// demo exits or ctx ends first.
func (d *runningDemo) waitForLog(t *testing.T, ctx context.Context, text string) {
	t.Helper()
	for !strings.Contains(d.logs.String(), text) {
		select {
		case err := <-d.exited:
			t.Fatalf("demo exited early (%v):\n%s", err, d.logs)
		case <-ctx.Done():
			t.Fatalf("the demo never logged %q:\n%s", text, d.logs)
		case <-time.After(time.Second):
		}
	}
	t.Logf("%5.1fs: the demo logged %q", time.Since(d.start).Seconds(), text)
}

// stop stops the demo with SIGTERM, as make demo-stop does, and fails t
// unless it exits cleanly within a minute. It returns the demo's log.
func (d *runningDemo) stop(t *testing.T) string {
	t.Helper()
	d.stopped = true
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-d.exited:
		if err != nil {
			t.Fatalf("demo exited with %v after SIGTERM:\n%s", err, d.logs)
		}
	case <-time.After(time.Minute):
		t.Fatalf("demo did not stop within a minute of SIGTERM:\n%s", d.logs)
	}
	t.Logf("demo up and down in %.0fs", time.Since(d.start).Seconds())
	return d.logs.String()
}
