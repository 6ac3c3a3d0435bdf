package testenv

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// vswitchSchema is where Debian's openvswitch-common installs the schema
// that ovsdb-tool needs to create an empty Open_vSwitch database.
const vswitchSchema = "/usr/share/openvswitch/vswitch.ovsschema"

const (
	// commandTimeout bounds every helper command (ovs-vsctl, ovs-ofctl, ip)
	// run after StartOVS, whose own waits are bounded by its context.
	commandTimeout = 2 * time.Minute
	// stopTimeout is how long a daemon gets to exit after SIGTERM before
	// it is killed.
	stopTimeout = 5 * time.Second
	// logTailLines is how much of each daemon log goes into a startup error.
	logTailLines = 20
)

// OVS is a private userspace Open vSwitch: an ovsdb-server on a fresh
// database and an ovs-vswitchd running inside a network namespace of its
// own, so that the netdev datapath's "ovs-netdev" tap device cannot collide
// with another instance. Everything lives in Dir; nothing touches the host's
// /var/run/openvswitch. Use StartOVS (or OVSForTest) to get one and Close to
// remove it.
type OVS struct {
	Dir    string // short temporary directory holding conf.db, logs and pidfiles
	RunDir string // where db.sock, the unixctl sockets and <bridge>.mgmt live (== Dir)
	Netns  string // name of the network namespace ovs-vswitchd runs in

	env []string

	mu       sync.Mutex
	ovsdb    *daemon
	vswitchd *daemon
	// netnsAdded is set before `ip netns add` runs, not after it
	// succeeds: a command killed by a deadline may have made the
	// namespace all the same.
	netnsAdded bool
	closed     bool // set by Close, whose outcome closeOnce and closeErr keep
	closeOnce  sync.Once
	closeErr   error
	protocols  map[string][]string // bridge name -> OpenFlow versions it allows
}

// OVSOptions configures StartOVS. There is nothing to choose yet but the
// test hook.
type OVSOptions struct {
	// afterStep, for this package's tests, is called after each step of
	// StartOVS has done its work: an error from it fails StartOVS as if
	// that step had failed after its command took effect (a command killed
	// by the context's deadline just after the kernel made the namespace,
	// say), so tests can fail at a chosen step rather than hope a short
	// deadline lands there.
	afterStep func(o *OVS, step string) error
}

// OVSForTest is StartOVS, removed when t ends. It skips t (fails it in CI)
// when the OVS tools or root are missing.
func OVSForTest(t T, opts OVSOptions) *OVS {
	t.Helper()
	return forTest(t, "OVS", StartOVS, opts, "ovsdb-server", "ovs-vswitchd", "ovsdb-tool", "ovs-vsctl", "ovs-ofctl", "ip")
}

// The steps of StartOVS, in order, as passed to its test hook.
const (
	stepCreateDB      = "create database"
	stepOvsdbServer   = "start ovsdb-server"
	stepInitDB        = "initialise database"
	stepAddNetns      = "add network namespace"
	stepVswitchd      = "start ovs-vswitchd"
	stepVswitchdReady = "ovs-vswitchd ready"
)

// StartOVS creates a fresh database, starts ovsdb-server and, in a new
// network namespace, ovs-vswitchd. It returns once both answer, or when ctx
// ends. On failure it removes whatever it had started and returns an error
// that includes the tail of the daemons' logs.
func StartOVS(ctx context.Context, opts OVSOptions) (_ *OVS, err error) {
	dir, err := OwnedDir("ovs")
	if err != nil {
		return nil, err
	}
	suffix, err := randomHex(4)
	if err != nil {
		_ = RemoveOwnedDir(dir)
		return nil, fmt.Errorf("naming OVS network namespace: %w", err)
	}
	o := &OVS{
		Dir:       dir,
		RunDir:    dir,
		Netns:     "dpx-ovs-" + suffix,
		protocols: map[string][]string{},
	}
	// OVS_* make every default path (pidfiles, unixctl sockets, logs, the
	// database, certificates) resolve inside dir rather than the host's.
	o.env = append(os.Environ(),
		"OVS_RUNDIR="+dir, "OVS_DBDIR="+dir, "OVS_LOGDIR="+dir, "OVS_SYSCONFDIR="+dir, "OVS_PKGDATADIR="+filepath.Dir(vswitchSchema))
	var logs []string
	for _, name := range []string{"ovsdb-server.log", "ovsdb-server.out", "ovs-vswitchd.log", "ovs-vswitchd.out"} {
		logs = append(logs, filepath.Join(dir, name))
	}
	defer undoOnError(&err, o, logs...)

	db := filepath.Join(dir, "conf.db")
	steps := []struct {
		name string
		do   func() error
	}{
		{stepCreateDB, func() error {
			_, err := o.run(ctx, "ovsdb-tool", "create", db, vswitchSchema)
			return err
		}},
		{stepOvsdbServer, o.startOVSDB},
		// `init` creates the Open_vSwitch root row that ovs-vswitchd expects.
		{stepInitDB, func() error {
			if err := o.waitOVSDB(ctx, "init"); err != nil {
				return fmt.Errorf("waiting for ovsdb-server on %s: %w", o.dbSock(), err)
			}
			return nil
		}},
		// Close deletes the namespace if it exists, whatever `ip netns
		// add` returned: killed by ctx, it may have made the namespace
		// already.
		{stepAddNetns, func() error {
			o.mu.Lock()
			o.netnsAdded = true
			o.mu.Unlock()
			_ = recordOwned(kindNetns, o.Netns)
			if _, err := o.run(ctx, "ip", "netns", "add", o.Netns); err != nil {
				return fmt.Errorf("creating network namespace for ovs-vswitchd: %w", err)
			}
			return nil
		}},
		{stepVswitchd, o.startVswitchd},
		{stepVswitchdReady, func() error { return o.waitVswitchd(ctx) }},
	}
	for _, step := range steps {
		if err := step.do(); err != nil {
			return nil, err
		}
		if opts.afterStep != nil {
			if err := opts.afterStep(o, step.name); err != nil {
				return nil, fmt.Errorf("%s: %w", step.name, err)
			}
		}
	}
	return o, nil
}

// startVswitchd starts ovs-vswitchd in the namespace.
func (o *OVS) startVswitchd() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return errors.New("OVS is closed")
	}
	var err error
	// `ip netns exec` execs ovs-vswitchd in place, so the pid we get is
	// the daemon's own.
	o.vswitchd, err = startDaemon(filepath.Join(o.Dir, "ovs-vswitchd.out"), o.env, "ovs-vswitchd", "ip", "netns", "exec", o.Netns,
		"ovs-vswitchd", "unix:"+o.dbSock(),
		"--pidfile="+o.VswitchdPidfile(),
		"--log-file="+filepath.Join(o.Dir, "ovs-vswitchd.log"),
		"--no-chdir", "-vconsole:off")
	return err
}

// waitVswitchd returns once the ovs-vswitchd just started has written its
// pidfile, opened its control socket and read the database.
func (o *OVS) waitVswitchd(ctx context.Context) error {
	o.mu.Lock()
	d := o.vswitchd
	o.mu.Unlock()
	pid := d.cmd.Process.Pid
	want := filepath.Join(o.RunDir, fmt.Sprintf("ovs-vswitchd.%d.ctl", pid))
	if err := retry(ctx, d, func() error {
		ctl, err := o.VswitchdCtl()
		if err != nil {
			return err
		}
		if ctl != want {
			return fmt.Errorf("pidfile %s names %s, want %d", o.VswitchdPidfile(), ctl, pid)
		}
		if _, err := os.Stat(ctl); err != nil {
			return err
		}
		// Without --no-wait, ovs-vsctl returns only after ovs-vswitchd has
		// read the change, which proves it is connected and configured.
		_, err = o.run(ctx, "ovs-vsctl", "--db=unix:"+o.dbSock(), "--timeout=5",
			"set", "Open_vSwitch", ".", "external_ids:dpx-testenv=ready-"+strconv.Itoa(pid))
		return err
	}); err != nil {
		return fmt.Errorf("waiting for ovs-vswitchd (pid %d): %w", pid, err)
	}
	return nil
}

// Close stops ovs-vswitchd and ovsdb-server (only the processes StartOVS
// started), deletes the network namespace and removes Dir. Calling it again
// returns what the first call did.
func (o *OVS) Close() error {
	o.closeOnce.Do(func() {
		o.mu.Lock()
		defer o.mu.Unlock()
		o.closed = true
		var netnsErr error
		if o.netnsAdded {
			netnsErr = removeOwnedNetns(o.Netns)
		}
		o.closeErr = errors.Join(o.vswitchd.stop(), o.ovsdb.stop(), netnsErr, RemoveOwnedDir(o.Dir))
	})
	return o.closeErr
}

// startOVSDB starts ovsdb-server on Dir/conf.db.
func (o *OVS) startOVSDB() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	var err error
	o.ovsdb, err = startDaemon(filepath.Join(o.Dir, "ovsdb-server.out"), o.env, "ovsdb-server", "ovsdb-server", filepath.Join(o.Dir, "conf.db"),
		"--remote=punix:"+o.dbSock(),
		"--pidfile="+filepath.Join(o.Dir, "ovsdb-server.pid"),
		"--unixctl="+filepath.Join(o.Dir, "ovsdb-server.ctl"),
		"--log-file="+filepath.Join(o.Dir, "ovsdb-server.log"),
		"--no-chdir", "-vconsole:off")
	return err
}

// waitOVSDB runs `ovs-vsctl --no-wait command` until ovsdb-server answers.
func (o *OVS) waitOVSDB(ctx context.Context, command string) error {
	o.mu.Lock()
	d := o.ovsdb
	o.mu.Unlock()
	return retry(ctx, d, func() error {
		_, err := o.run(ctx, "ovs-vsctl", "--db=unix:"+o.dbSock(), "--timeout=2", "--no-wait", command)
		return err
	})
}

// StopOVSDB stops ovsdb-server only, as a restart or crash of it would;
// StartOVSDBAgain brings it back on the same database.
func (o *OVS) StopOVSDB() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.ovsdb.stop()
}

// StartOVSDBAgain starts ovsdb-server again after StopOVSDB and returns
// once it answers.
func (o *OVS) StartOVSDBAgain() error {
	o.mu.Lock()
	running := o.ovsdb.exited() == nil
	o.mu.Unlock()
	if running {
		return errors.New("ovsdb-server is still running: call StopOVSDB first")
	}
	if err := o.startOVSDB(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return o.waitOVSDB(ctx, "show")
}

// StopVswitchd stops ovs-vswitchd only, leaving ovsdb-server running, to
// test what happens when the switch goes away mid-run. Close still works
// afterwards.
func (o *OVS) StopVswitchd() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.vswitchd.stop()
}

// StartVswitchdAgain starts ovs-vswitchd again after StopVswitchd, as a
// restart would (with a new pid, and new sockets for the bridges), and
// returns once it has read the database and made the sockets of the
// bridges AddBridge added that still exist.
func (o *OVS) StartVswitchdAgain() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return o.startVswitchdAgain(ctx)
}

// RestartVswitchd is StopVswitchd then StartVswitchdAgain, bounded by ctx.
func (o *OVS) RestartVswitchd(ctx context.Context) error {
	if err := o.StopVswitchd(); err != nil {
		return err
	}
	return o.startVswitchdAgain(ctx)
}

func (o *OVS) startVswitchdAgain(ctx context.Context) error {
	o.mu.Lock()
	running := o.vswitchd.exited() == nil
	bridges := slices.Collect(maps.Keys(o.protocols))
	o.mu.Unlock()
	if running {
		return errors.New("ovs-vswitchd is still running: call StopVswitchd first")
	}
	if err := o.startVswitchd(); err != nil {
		return err
	}
	if err := o.waitVswitchd(ctx); err != nil {
		return err
	}
	// Only the bridges that still exist get a socket again.
	exist, err := o.run(ctx, "ovs-vsctl", "--db=unix:"+o.dbSock(), "--timeout=5", "list-br")
	if err != nil {
		return err
	}
	for _, br := range bridges {
		if !slices.Contains(strings.Fields(exist), br) {
			continue
		}
		if err := o.waitMgmtSocket(ctx, br); err != nil {
			return err
		}
	}
	return nil
}

// Vsctl runs ovs-vsctl against this instance's database and returns its
// standard output.
func (o *OVS) Vsctl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	return o.run(ctx, "ovs-vsctl", append([]string{"--db=unix:" + o.dbSock(), "--timeout=10"}, args...)...)
}

// AddBridge adds a bridge on the userspace (netdev) datapath. protocols are
// OVSDB names such as "OpenFlow10" or "OpenFlow15"; none leaves OVS's
// default. It returns once the bridge's OpenFlow management socket exists.
func (o *OVS) AddBridge(name string, protocols ...string) error {
	args := []string{"add-br", name, "--", "set", "Bridge", name, "datapath_type=netdev"}
	if len(protocols) > 0 {
		args = append(args, "protocols="+strings.Join(protocols, ","))
	}
	if _, err := o.Vsctl(args...); err != nil {
		return fmt.Errorf("adding bridge %s: %w", name, err)
	}
	o.mu.Lock()
	o.protocols[name] = append([]string(nil), protocols...)
	o.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return o.waitMgmtSocket(ctx, name)
}

func (o *OVS) waitMgmtSocket(ctx context.Context, bridge string) error {
	o.mu.Lock()
	d := o.vswitchd
	o.mu.Unlock()
	if err := retry(ctx, d, func() error {
		_, err := os.Stat(o.MgmtSocket(bridge))
		return err
	}); err != nil {
		return fmt.Errorf("waiting for bridge %s management socket: %w", bridge, err)
	}
	return nil
}

// MgmtSocket is the path of the bridge's OpenFlow management socket.
func (o *OVS) MgmtSocket(bridge string) string {
	return filepath.Join(o.RunDir, bridge+".mgmt")
}

// SetTableName names one OpenFlow table of bridge through OVSDB.
func (o *OVS) SetTableName(bridge string, table int, name string) error {
	return o.SetTableNames(bridge, map[int]string{table: name})
}

// SetTableNames names OpenFlow tables of bridge in one OVSDB transaction:
// a Flow_Table row per table, referenced from Bridge.flow_tables.
func (o *OVS) SetTableNames(bridge string, names map[int]string) error {
	ids := make([]int, 0, len(names))
	for id := range names {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	var args []string
	for _, id := range ids {
		ref := fmt.Sprintf("@ft%d", id)
		args = append(args,
			"--", "--id="+ref, "create", "Flow_Table", "name="+strconv.Quote(names[id]),
			"--", "set", "Bridge", bridge, fmt.Sprintf("flow_tables:%d=%s", id, ref))
	}
	if len(args) == 0 {
		return nil
	}
	if _, err := o.Vsctl(args...); err != nil {
		return fmt.Errorf("naming tables of bridge %s: %w", bridge, err)
	}
	return nil
}

// SetFlowLimit sets an OpenFlow table's flow limit through OVSDB (what
// `ovs-vsctl -- --id=@ft create Flow_Table flow_limit=N -- set Bridge ...`
// does), with name as its name ("" for none): the Flow_Table row replaces
// any the table had. OVS then reports limit as the table's max_entries
// instead of its default of 1000000.
func (o *OVS) SetFlowLimit(bridge string, table int, name string, limit int) error {
	args := []string{"--", "--id=@ft", "create", "Flow_Table", "flow_limit=" + strconv.Itoa(limit)}
	if name != "" {
		args = append(args, "name="+strconv.Quote(name))
	}
	args = append(args, "--", "set", "Bridge", bridge, fmt.Sprintf("flow_tables:%d=@ft", table))
	if _, err := o.Vsctl(args...); err != nil {
		return fmt.Errorf("setting the flow limit of table %d of bridge %s: %w", table, bridge, err)
	}
	return nil
}

func (o *OVS) dbSock() string { return filepath.Join(o.RunDir, "db.sock") }

// run runs an OVS or ip command with the instance's environment.
func (o *OVS) run(ctx context.Context, name string, args ...string) (string, error) {
	return runIn(ctx, o.env, "", name, args...)
}
