package testenv

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// What a process made with this package is removed by its Close calls. A
// process that is killed before (go test's -timeout panics without running
// cleanups; a demo killed with SIGKILL) leaves its network namespaces and
// directories behind; its daemons die with it (Pdeathsig). So every network
// namespace and directory is recorded here, with the process that owns it,
// and the first StartOVS, NewNetns or StartPrometheus of any later process
// removes what dead owners left. Only recorded things whose owner is gone are
// touched: those of processes still running, in parallel test packages, are
// theirs to remove.

// leftoversDir holds one file per recorded thing: "<kind>-<name>" holding
// the owner's pid and start time.
const leftoversDir = "/run/dpx-testenv"

const (
	kindNetns = "netns"
	kindDir   = "dir"
	// kindProc is a process that may outlive its owner (a kernel node's
	// qemu, should Pdeathsig miss): its name is its processIdentity.
	kindProc = "proc"
)

// recordOwned notes that this process owns the network namespace or
// directory (absolute path) name, before it is made. An error here is not
// fatal to the caller: it only loses the safety net.
func recordOwned(kind, name string) error {
	sweepOnce.Do(sweepLeftovers)
	owner, err := processIdentity(os.Getpid())
	if err != nil {
		return err
	}
	if err := os.MkdirAll(leftoversDir, 0o700); err != nil {
		return fmt.Errorf("recording %s %s: %w", kind, name, err)
	}
	return os.WriteFile(recordPath(kind, name), []byte(owner+"\n"+name+"\n"), 0o600)
}

// OwnedDir makes a directory dpx-<what>-* for one component and records it.
// It sits below a short temporary root: unix socket paths in it
// (ovs-vswitchd.PID.ctl, <bridge>.mgmt) must stay under 108 bytes, so a
// long $TMPDIR is passed over for /tmp.
func OwnedDir(what string) (string, error) {
	root := os.TempDir()
	if len(root) > 40 {
		root = "/tmp"
	}
	dir, err := os.MkdirTemp(root, "dpx-"+what+"-")
	if err == nil {
		dir, err = filepath.Abs(dir)
	}
	if err != nil {
		return "", fmt.Errorf("creating the %s directory: %w", what, err)
	}
	_ = recordOwned(kindDir, dir)
	return dir, nil
}

// RemoveOwnedDir removes a directory made by OwnedDir and its record.
func RemoveOwnedDir(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("removing %s: %w", dir, err)
	}
	forgetOwned(kindDir, dir)
	return nil
}

// OwnProcess records a process that might outlive this one (a kernel
// node's qemu, should Pdeathsig miss), so that a later process kills it;
// forget drops the record once it has been reaped.
func OwnProcess(pid int) (forget func()) {
	id, err := processIdentity(pid)
	if err != nil {
		return func() {}
	}
	_ = recordOwned(kindProc, id)
	return func() { forgetOwned(kindProc, id) }
}

// forgetOwned drops the record once the thing is removed.
func forgetOwned(kind, name string) {
	_ = os.Remove(recordPath(kind, name))
}

func recordPath(kind, name string) string {
	return filepath.Join(leftoversDir, kind+"-"+strings.ReplaceAll(name, "/", "%"))
}

var sweepOnce sync.Once

// sweepLeftovers removes what dead owners recorded.
func sweepLeftovers() {
	entries, err := os.ReadDir(leftoversDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		path := filepath.Join(leftoversDir, e.Name())
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		owner, name, ok := strings.Cut(strings.TrimSpace(string(b)), "\n")
		if !ok || ownerAlive(owner) {
			continue
		}
		kind, _, _ := strings.Cut(e.Name(), "-")
		var rerr error
		switch kind {
		case kindNetns:
			rerr = deleteNetns(name)
		case kindDir:
			if filepath.IsAbs(name) && strings.HasPrefix(filepath.Base(name), "dpx-") {
				rerr = os.RemoveAll(name)
			}
		case kindProc:
			rerr = killIdentified(name)
		}
		if rerr == nil {
			_ = os.Remove(path)
		}
	}
}

// processIdentity is "pid starttime": a pid alone can be reused by another
// process once its owner is gone.
func processIdentity(pid int) (string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", err
	}
	// The command name in parentheses may hold spaces: fields count from
	// the last ')'. Start time is field 22, the 20th after it.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return "", fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	fields := strings.Fields(string(b[i+1:]))
	if len(fields) < 20 {
		return "", fmt.Errorf("/proc/%d/stat: %d fields after the command name", pid, len(fields))
	}
	return strconv.Itoa(pid) + " " + fields[19], nil
}

// ownerAlive reports whether the process recorded as owner still runs.
func ownerAlive(owner string) bool {
	pidText, _, _ := strings.Cut(owner, " ")
	pid, err := strconv.Atoi(pidText)
	if err != nil {
		return false
	}
	now, err := processIdentity(pid)
	if errors.Is(err, fs.ErrNotExist) {
		return false
	}
	return err != nil || now == owner // unreadable: leave it alone
}

// killIdentified kills the process recorded as identity, if that very
// process (not a later one with its pid) still runs.
func killIdentified(identity string) error {
	pidText, _, _ := strings.Cut(identity, " ")
	pid, err := strconv.Atoi(pidText)
	if err != nil {
		return nil
	}
	if now, err := processIdentity(pid); err != nil || now != identity {
		return nil
	}
	return syscall.Kill(pid, syscall.SIGKILL)
}
