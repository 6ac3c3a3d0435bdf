package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// The processes the harness runs: short commands (run, runIn) and daemons
// that outlive their constructor (startDaemon), with the directories they
// own (RemoveOwnedDir).

// run runs a command and returns its standard output; the error carries the
// command line and its standard error.
func run(ctx context.Context, name string, args ...string) (string, error) {
	return runIn(ctx, nil, "", name, args...)
}

// runIn is run with an environment (nil: this process's) and standard input.
func runIn(ctx context.Context, env []string, stdin, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w: %s", name, truncate(strings.Join(args, " "), 300), err, truncate(strings.TrimSpace(stderr.String()), 2000))
	}
	return stdout.String(), nil
}

// daemon is a process this package started and therefore may stop.
type daemon struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has been reaped
	err  error         // from Wait, valid after done
}

// startDaemon starts a long-running process (not bound to any context: it
// must outlive its constructor) in the directory of logPath, with stdout
// and stderr going to logPath. A nil env is this process's.
func startDaemon(logPath string, env []string, name, bin string, args ...string) (*daemon, error) {
	out, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	defer out.Close() // the child has its own copy
	cmd := exec.Command(bin, args...)
	cmd.Dir, cmd.Env = filepath.Dir(logPath), env
	cmd.Stdout, cmd.Stderr = out, out
	// Should the test binary die without running Close, take the daemon
	// with it rather than leave it running.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	d := &daemon{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		d.err = cmd.Wait()
		close(d.done)
	}()
	return d, nil
}

// exited returns an error if the daemon is no longer running.
func (d *daemon) exited() error {
	if d == nil {
		return nil
	}
	select {
	case <-d.done:
		return fmt.Errorf("%s (pid %d) exited: %v", d.name, d.cmd.Process.Pid, d.err)
	default:
		return nil
	}
}

// stop sends SIGTERM, then SIGKILL if the daemon has not exited after
// stopTimeout, and waits for it. Stopping a stopped daemon does nothing.
func (d *daemon) stop() error {
	if d == nil {
		return nil
	}
	select {
	case <-d.done:
		return nil
	default:
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
		return nil
	case <-time.After(stopTimeout):
	}
	_ = d.cmd.Process.Kill()
	select {
	case <-d.done:
		return nil
	case <-time.After(stopTimeout):
		return fmt.Errorf("%s (pid %d) did not exit after SIGKILL", d.name, d.cmd.Process.Pid)
	}
}

// retry calls try until it succeeds, ctx ends, or d exits.
func retry(ctx context.Context, d *daemon, try func() error) error {
	for {
		err := try()
		if err == nil {
			return nil
		}
		if exitErr := d.exited(); exitErr != nil {
			return exitErr
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// WaitFor polls cond every 50ms until it is true or ctx ends.
func WaitFor(ctx context.Context, cond func() bool) error {
	for !cond() {
		select {
		case <-ctx.Done():
			return errors.New("condition not met before the deadline")
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// logTail returns the last lines of a daemon's log, for startup errors.
func logTail(path string) string {
	data, err := os.ReadFile(path)
	if err != nil || len(bytes.TrimSpace(data)) == 0 {
		return ""
	}
	return fmt.Sprintf("\n--- tail of %s ---\n%s", filepath.Base(path), LastLines(string(data), logTailLines))
}

// LastLines is the last n lines of s.
func LastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
