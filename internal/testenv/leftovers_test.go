package testenv

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// leftoverChildEnv makes the test binary act as a process that makes a
// network namespace, an OVS-like directory and a Prometheus-like directory
// with this package, prints their names and waits to be killed (see
// TestMain).
const leftoverChildEnv = "DPX_TESTENV_LEFTOVER_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(leftoverChildEnv) == "1" {
		leftoverChild()
		return
	}
	os.Exit(m.Run())
}

func leftoverChild() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := NewNetns(ctx, NetnsOptions{})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	dir, err := OwnedDir("leftover")
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	// A process that outlives its owner, as a kernel node's qemu would if
	// Pdeathsig missed.
	orphan := exec.Command("sleep", "120")
	orphan.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := orphan.Start(); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	OwnProcess(orphan.Process.Pid)
	fmt.Printf("made %s %s %d\n", n.Name, dir, orphan.Process.Pid)
	time.Sleep(time.Minute) // until SIGKILL: no cleanup runs
	os.Exit(1)
}

// TestLeftoversOfKilledProcessAreRemoved runs a process that makes a
// network namespace and a directory with this package and kills it with
// SIGKILL, as go test's -timeout or a killed demo would: nothing of its own
// cleanup runs. The next sweep (the first StartOVS, NewNetns or
// StartPrometheus of any process) removes both, because their owner is
// dead, and leaves alone what a live process (this one) owns.
func TestLeftoversOfKilledProcessAreRemoved(t *testing.T) {
	Require(t, "ip")
	ctx := testContext(t, time.Minute)
	child := exec.CommandContext(ctx, os.Args[0])
	child.Env = append(os.Environ(), leftoverChildEnv+"=1")
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "made ") {
		child.Process.Kill()
		child.Wait()
		t.Fatalf("child said %q (%v)", line, err)
	}
	fields := strings.Fields(line)
	netns, dir := fields[1], fields[2]
	orphan, _ := strconv.Atoi(fields[3])
	orphanID, _ := processIdentity(orphan)
	t.Cleanup(func() { // in case the sweep fails
		_ = deleteNetns(netns)
		_ = os.RemoveAll(dir)
		_ = killIdentified(orphanID)
	})
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	if _, err := os.Lstat(netnsPath(netns)); err != nil {
		t.Fatalf("the child's namespace %s is not there after SIGKILL: %v", netns, err)
	}

	mine := NetnsForTest(t, NetnsOptions{}) // owned by a live process: must stay
	sweepLeftovers()
	if _, err := os.Lstat(netnsPath(netns)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("namespace %s of the killed process is still there (lstat: %v)", netns, err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("directory %s of the killed process is still there (stat: %v)", dir, err)
	}
	if err := WaitFor(ctx, func() bool { return !processRunning(orphanID) }); err != nil {
		t.Errorf("process %s the killed process recorded still runs", orphanID)
	}
	for _, rec := range []string{recordPath(kindNetns, netns), recordPath(kindDir, dir), recordPath(kindProc, orphanID)} {
		if _, err := os.Stat(rec); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("record %s still there", filepath.Base(rec))
		}
	}
	if _, err := os.Lstat(mine.Path); err != nil {
		t.Errorf("the sweep removed %s, which a live process owns: %v", mine.Name, err)
	}
	if err := mine.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(recordPath(kindNetns, mine.Name)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Close left the record of %s", mine.Name)
	}
}

// processRunning reports whether the process identified (processIdentity)
// still runs: not gone, not a zombie waiting for its parent.
func processRunning(identity string) bool {
	pid, _, _ := strings.Cut(identity, " ")
	if now, err := processIdentity(atoiOr0(pid)); err != nil || now != identity {
		return false
	}
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i < 0 || !strings.HasPrefix(strings.TrimSpace(string(b[i+1:])), "Z")
}

func atoiOr0(s string) int { n, _ := strconv.Atoi(s); return n }
