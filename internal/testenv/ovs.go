package testenv

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// vswitchSchema is where Debian's openvswitch-common installs the schema
// that ovsdb-tool needs to create an empty Open_vSwitch database.
const vswitchSchema = "/usr/share/openvswitch/vswitch.ovsschema"

// allOpenFlowVersions is what ovs-ofctl is offered for a bridge created
// without an explicit protocol list: the bridge picks the highest it allows.
var allOpenFlowVersions = []string{"OpenFlow10", "OpenFlow11", "OpenFlow12", "OpenFlow13", "OpenFlow14", "OpenFlow15"}

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

	mu        sync.Mutex
	ovsdb     *daemon
	vswitchd  *daemon
	netnsMade bool
	closed    bool
	protocols map[string][]string // bridge name -> OpenFlow versions it allows
}

// TableStats is one OpenFlow table as printed by `ovs-ofctl dump-tables`.
type TableStats struct {
	ID      int
	Name    string // "" when OVS prints no name (unnamed tables, OF1.3+ dump-tables without features)
	Active  uint64 // flows in the table
	Lookups uint64
	Matches uint64
	// MaxEntries is the table's flow limit, 0 if OVS did not print one.
	MaxEntries uint64
}

// OVSForTest starts a private OVS for t and removes it when t ends. It skips
// t (fails it in CI) when the OVS tools or root are missing.
func OVSForTest(t testing.TB) *OVS {
	t.Helper()
	Require(t, "ovsdb-server", "ovs-vswitchd", "ovsdb-tool", "ovs-vsctl", "ovs-ofctl", "ip")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	o, err := StartOVS(ctx)
	if err != nil {
		t.Fatalf("starting OVS: %v", err)
	}
	t.Cleanup(func() {
		if err := o.Close(); err != nil {
			t.Errorf("stopping OVS: %v", err)
		}
	})
	return o
}

// StartOVS creates a fresh database, starts ovsdb-server and, in a new
// network namespace, ovs-vswitchd. It returns once both answer, or when ctx
// ends. On failure it removes whatever it had started and returns an error
// that includes the tail of the daemons' logs.
func StartOVS(ctx context.Context) (_ *OVS, err error) {
	dir, err := os.MkdirTemp(shortTempDir(), "dpx-ovs-")
	if err != nil {
		return nil, fmt.Errorf("creating OVS directory: %w", err)
	}
	suffix, err := randomHex(4)
	if err != nil {
		os.RemoveAll(dir)
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
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w%s", err, o.logTails())
			if cerr := o.Close(); cerr != nil {
				err = fmt.Errorf("%w (cleanup: %v)", err, cerr)
			}
		}
	}()

	db := filepath.Join(dir, "conf.db")
	if out, err := exec.CommandContext(ctx, "ovsdb-tool", "create", db, vswitchSchema).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("creating OVS database %s: %w: %s", db, err, bytes.TrimSpace(out))
	}

	o.mu.Lock()
	o.ovsdb, err = o.startDaemon("ovsdb-server", "ovsdb-server", db,
		"--remote=punix:"+o.dbSock(),
		"--pidfile="+filepath.Join(dir, "ovsdb-server.pid"),
		"--unixctl="+filepath.Join(dir, "ovsdb-server.ctl"),
		"--log-file="+filepath.Join(dir, "ovsdb-server.log"),
		"--no-chdir", "-vconsole:off")
	o.mu.Unlock()
	if err != nil {
		return nil, err
	}
	// `init` creates the Open_vSwitch root row that ovs-vswitchd expects.
	if err := retry(ctx, o.ovsdb, func() error {
		_, err := o.run(ctx, "ovs-vsctl", "--db=unix:"+o.dbSock(), "--timeout=2", "--no-wait", "init")
		return err
	}); err != nil {
		return nil, fmt.Errorf("waiting for ovsdb-server on %s: %w", o.dbSock(), err)
	}

	if _, err := o.run(ctx, "ip", "netns", "add", o.Netns); err != nil {
		return nil, fmt.Errorf("creating network namespace for ovs-vswitchd: %w", err)
	}
	o.mu.Lock()
	o.netnsMade = true
	pidfile := filepath.Join(dir, "ovs-vswitchd.pid")
	// `ip netns exec` execs ovs-vswitchd in place, so the pid we get is
	// the daemon's own.
	o.vswitchd, err = o.startDaemon("ovs-vswitchd", "ip", "netns", "exec", o.Netns,
		"ovs-vswitchd", "unix:"+o.dbSock(),
		"--pidfile="+pidfile,
		"--log-file="+filepath.Join(dir, "ovs-vswitchd.log"),
		"--no-chdir", "-vconsole:off")
	o.mu.Unlock()
	if err != nil {
		return nil, err
	}
	pid := o.vswitchd.cmd.Process.Pid
	ctl := filepath.Join(dir, fmt.Sprintf("ovs-vswitchd.%d.ctl", pid))
	if err := retry(ctx, o.vswitchd, func() error {
		b, err := os.ReadFile(pidfile)
		if err != nil {
			return err
		}
		if got := strings.TrimSpace(string(b)); got != strconv.Itoa(pid) {
			return fmt.Errorf("pidfile %s holds %q, want %d", pidfile, got, pid)
		}
		if _, err := os.Stat(ctl); err != nil {
			return err
		}
		// Without --no-wait, ovs-vsctl returns only after ovs-vswitchd has
		// read the change, which proves it is connected and configured.
		_, err = o.run(ctx, "ovs-vsctl", "--db=unix:"+o.dbSock(), "--timeout=5",
			"set", "Open_vSwitch", ".", "external_ids:dpx-testenv=ready")
		return err
	}); err != nil {
		return nil, fmt.Errorf("waiting for ovs-vswitchd (pid %d): %w", pid, err)
	}
	return o, nil
}

// Close stops ovs-vswitchd and ovsdb-server (only the processes StartOVS
// started), deletes the network namespace and removes Dir. Calling it again
// does nothing.
func (o *OVS) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil
	}
	o.closed = true
	var errs []error
	if err := o.vswitchd.stop(); err != nil {
		errs = append(errs, err)
	}
	if err := o.ovsdb.stop(); err != nil {
		errs = append(errs, err)
	}
	if o.netnsMade {
		ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
		defer cancel()
		if _, err := o.run(ctx, "ip", "netns", "delete", o.Netns); err != nil {
			errs = append(errs, fmt.Errorf("deleting network namespace: %w", err))
		}
	}
	if err := os.RemoveAll(o.Dir); err != nil {
		errs = append(errs, fmt.Errorf("removing OVS directory: %w", err))
	}
	return errors.Join(errs...)
}

// StopVswitchd stops ovs-vswitchd only, leaving ovsdb-server running, to
// test what happens when the switch goes away mid-run. Close still works
// afterwards.
func (o *OVS) StopVswitchd() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.vswitchd.stop()
}

// Vsctl runs ovs-vsctl against this instance's database and returns its
// standard output.
func (o *OVS) Vsctl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	return o.run(ctx, "ovs-vsctl", append([]string{"--db=unix:" + o.dbSock(), "--timeout=10"}, args...)...)
}

// Ofctl runs ovs-ofctl with OVS_RUNDIR set to RunDir, so a bare bridge name
// resolves to RunDir/<bridge>.mgmt. Pass -O (--protocols) yourself for bridges that do not
// allow OpenFlow 1.0; the bridge helpers below do that.
func (o *OVS) Ofctl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	return o.run(ctx, "ovs-ofctl", args...)
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
	mgmt := o.MgmtSocket(name)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := retry(ctx, o.vswitchd, func() error {
		_, err := os.Stat(mgmt)
		return err
	}); err != nil {
		return fmt.Errorf("waiting for bridge %s management socket: %w", name, err)
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

// AddFlows adds flows (ovs-ofctl syntax, one per element) to bridge with a
// single ovs-ofctl call reading them from a file in Dir.
func (o *OVS) AddFlows(bridge string, flows []string) error {
	f, err := os.CreateTemp(o.Dir, "flows-*.txt")
	if err != nil {
		return fmt.Errorf("writing flows for bridge %s: %w", bridge, err)
	}
	defer os.Remove(f.Name())
	w := bufio.NewWriter(f)
	for _, fl := range flows {
		w.WriteString(fl)
		w.WriteByte('\n')
	}
	if err := errors.Join(w.Flush(), f.Close()); err != nil {
		return fmt.Errorf("writing flows for bridge %s: %w", bridge, err)
	}
	if _, err := o.Ofctl(o.versionFlag(bridge), "add-flows", bridge, f.Name()); err != nil {
		return fmt.Errorf("adding %d flows to bridge %s: %w", len(flows), bridge, err)
	}
	return nil
}

// DelFlows deletes the flows of bridge that match each match; with none it
// deletes all flows.
func (o *OVS) DelFlows(bridge string, match ...string) error {
	if len(match) == 0 {
		if _, err := o.Ofctl(o.versionFlag(bridge), "del-flows", bridge); err != nil {
			return fmt.Errorf("deleting flows of bridge %s: %w", bridge, err)
		}
		return nil
	}
	for _, m := range match {
		if _, err := o.Ofctl(o.versionFlag(bridge), "del-flows", bridge, m); err != nil {
			return fmt.Errorf("deleting flows %q of bridge %s: %w", m, bridge, err)
		}
	}
	return nil
}

// DumpTables returns the table statistics of bridge as ovs-ofctl prints
// them, using the OpenFlow versions the bridge was created with (ovs-ofctl
// negotiates the highest).
func (o *OVS) DumpTables(bridge string) (map[int]TableStats, error) {
	return o.DumpTablesVersion(bridge, "")
}

// DumpTablesVersion is DumpTables over a given OpenFlow version such as
// "OpenFlow13" ("" = the bridge's own). OpenFlow 1.3+ table statistics
// carry no names or limits, so for those it also reads
// `dump-table-features` and fills in Name and MaxEntries from there.
func (o *OVS) DumpTablesVersion(bridge, version string) (map[int]TableStats, error) {
	flag := o.versionFlag(bridge)
	if version != "" {
		flag = "--protocols=" + version
	}
	out, err := o.Ofctl(flag, "--no-names", "dump-tables", bridge)
	if err != nil {
		return nil, fmt.Errorf("dumping tables of bridge %s: %w", bridge, err)
	}
	tables, err := ParseDumpTables(out)
	if err != nil {
		return nil, fmt.Errorf("parsing dump-tables of bridge %s: %w", bridge, err)
	}
	if dumpVersion(out) < 3 {
		return tables, nil
	}
	out, err = o.Ofctl(flag, "--no-names", "dump-table-features", bridge)
	if err != nil {
		return nil, fmt.Errorf("dumping table features of bridge %s: %w", bridge, err)
	}
	features, err := ParseDumpTables(out)
	if err != nil {
		return nil, fmt.Errorf("parsing dump-table-features of bridge %s: %w", bridge, err)
	}
	for id, t := range tables {
		f := features[id]
		t.Name, t.MaxEntries = f.Name, f.MaxEntries
		tables[id] = t
	}
	return tables, nil
}

// FlowCountsPerTable counts the flows `ovs-ofctl dump-flows` lists for each
// table of bridge; tables without flows are absent. Hidden flows (OVS
// internal, priority above 65535) are not listed by dump-flows.
func (o *OVS) FlowCountsPerTable(bridge string) (map[int]int, error) {
	out, err := o.Ofctl(o.versionFlag(bridge), "--no-names", "dump-flows", bridge)
	if err != nil {
		return nil, fmt.Errorf("dumping flows of bridge %s: %w", bridge, err)
	}
	counts, err := parseFlowCounts(out)
	if err != nil {
		return nil, fmt.Errorf("parsing dump-flows of bridge %s: %w", bridge, err)
	}
	return counts, nil
}

// flowTableRE finds the table of a dump-flows line printed with statistics,
// which always includes "table=N" even for table 0:
//
//	cookie=0x0, duration=8.592s, table=0, n_packets=0, n_bytes=0, priority=0 actions=NORMAL
var flowTableRE = regexp.MustCompile(`^\s*cookie=\S+, duration=\S+, table=(\d+),`)

func parseFlowCounts(out string) (map[int]int, error) {
	counts := map[int]int{}
	for line := range strings.Lines(out) {
		if !strings.HasPrefix(line, " ") { // "OFPST_FLOW reply (OF1.3) (xid=0x2):" headers
			continue
		}
		m := flowTableRE.FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("flow line without table: %q", strings.TrimSpace(line))
		}
		id, err := strconv.Atoi(m[1])
		if err != nil {
			return nil, fmt.Errorf("flow line %q: %w", strings.TrimSpace(line), err)
		}
		counts[id]++
	}
	return counts, nil
}

// tableHeaderRE matches the line that starts a table (or a run of tables
// identical to the previous one) in dump-tables / dump-table-features:
//
//	table 0:
//	table 1 ("SpoofGuard"):
//	table 1 ("SpoofGuard"): ditto
//	tables 12...253: ditto
var tableHeaderRE = regexp.MustCompile(`^tables? (\d+)(?:\.\.\.(\d+))?(?: \("(.*)"\))?:( ditto)?$`)

// tableStatsRE matches a table's counters: "active=2, lookup=1, matched=1".
var tableStatsRE = regexp.MustCompile(`^active=(\d+), lookup=(\d+), matched=(\d+)$`)

// ParseDumpTables parses the output of `ovs-ofctl --no-names dump-tables`
// for OpenFlow 1.0 to 1.5, and of `dump-table-features` (which yields names
// and max_entries with zero counters). OpenFlow 1.0 prints names and
// features:
//
//	OFPST_TABLE reply (xid=0x2):
//	  table 0:
//	    active=2, lookup=1, matched=1
//	    max_entries=1000000
//	    matching:
//	      exact match or wildcard: in_port eth_{src,dst,type} ...
//
//	  table 1 ("SpoofGuard"): ditto
//	  table 2:
//	    active=0, lookup=0, matched=0
//	    (same features)
//
//	  tables 3...253: ditto
//
// OpenFlow 1.3 to 1.5 print counters only ("OFPST_TABLE reply (OF1.5)
// (xid=0x2):", then "  table 0:", "    active=2, lookup=1, matched=1", ...).
// "ditto" means the same counters and features as the table printed just
// before (the name is not compared, so a named table can be a ditto); "(same
// features)" means the previous table's features, max_entries included.
func ParseDumpTables(out string) (map[int]TableStats, error) {
	tables := map[int]TableStats{}
	var cur *TableStats // the last table printed in full
	var prevMax uint64  // max_entries of the table printed in full before cur
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "table ") || strings.HasPrefix(line, "tables "):
			m := tableHeaderRE.FindStringSubmatch(line)
			if m == nil {
				return nil, fmt.Errorf("unrecognized table header %q", line)
			}
			first, err := strconv.Atoi(m[1])
			if err != nil {
				return nil, fmt.Errorf("table header %q: %w", line, err)
			}
			last := first
			if m[2] != "" {
				if last, err = strconv.Atoi(m[2]); err != nil {
					return nil, fmt.Errorf("table header %q: %w", line, err)
				}
			}
			if last < first || last > 255 {
				return nil, fmt.Errorf("table header %q: bad table range", line)
			}
			if m[4] == "" {
				if m[2] != "" {
					return nil, fmt.Errorf("table header %q: range without ditto", line)
				}
				if cur != nil {
					prevMax = cur.MaxEntries
				}
				cur = &TableStats{ID: first, Name: m[3]}
				tables[first] = *cur
				continue
			}
			if cur == nil {
				return nil, fmt.Errorf("table header %q: ditto before any table", line)
			}
			for id := first; id <= last; id++ {
				t := *cur
				t.ID, t.Name = id, m[3]
				tables[id] = t
			}
		case strings.HasPrefix(line, "active="):
			if cur == nil {
				return nil, fmt.Errorf("counters %q before any table", line)
			}
			m := tableStatsRE.FindStringSubmatch(line)
			if m == nil {
				return nil, fmt.Errorf("table %d: unrecognized counters %q", cur.ID, line)
			}
			var err error
			for i, dst := range []*uint64{&cur.Active, &cur.Lookups, &cur.Matches} {
				if *dst, err = strconv.ParseUint(m[i+1], 10, 64); err != nil {
					return nil, fmt.Errorf("table %d: counters %q: %w", cur.ID, line, err)
				}
			}
			tables[cur.ID] = *cur
		case strings.HasPrefix(line, "max_entries="):
			if cur == nil {
				return nil, fmt.Errorf("%q before any table", line)
			}
			n, err := strconv.ParseUint(strings.TrimPrefix(line, "max_entries="), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("table %d: %q: %w", cur.ID, line, err)
			}
			cur.MaxEntries = n
			tables[cur.ID] = *cur
		case line == "(same features)":
			if cur == nil {
				return nil, fmt.Errorf("%q before any table", line)
			}
			cur.MaxEntries = prevMax
			tables[cur.ID] = *cur
		}
	}
	if len(tables) == 0 {
		return nil, fmt.Errorf("no tables in output %q", truncate(out, 200))
	}
	return tables, nil
}

// dumpVersion returns the OpenFlow 1.x minor version of an ovs-ofctl reply
// from its first line: "OFPST_TABLE reply (OF1.5) (xid=0x2):"; OpenFlow 1.0
// replies carry no "(OF1.x)".
func dumpVersion(out string) int {
	first, _, _ := strings.Cut(out, "\n")
	if _, rest, ok := strings.Cut(first, "(OF1."); ok && rest != "" && rest[0] >= '0' && rest[0] <= '9' {
		return int(rest[0] - '0')
	}
	return 0
}

// versionFlag is the -O option offering ovs-ofctl the OpenFlow versions
// bridge allows (all of them if AddBridge was given none, or if the bridge
// was made some other way); ovs-ofctl then negotiates the highest.
func (o *OVS) versionFlag(bridge string) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	versions := o.protocols[bridge]
	if len(versions) == 0 {
		versions = allOpenFlowVersions
	}
	return "--protocols=" + strings.Join(versions, ",")
}

func (o *OVS) dbSock() string { return filepath.Join(o.RunDir, "db.sock") }

// run runs an OVS or ip command with the instance's environment and returns
// its standard output; the error carries the command and its stderr.
func (o *OVS) run(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = o.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w: %s", name, truncate(strings.Join(args, " "), 300), err, truncate(strings.TrimSpace(stderr.String()), 2000))
	}
	return stdout.String(), nil
}

// daemon is a process StartOVS started and therefore may stop.
type daemon struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has been reaped
	err  error         // from Wait, valid after done
}

// startDaemon starts a long-running process (not bound to any context:
// it must outlive StartOVS) with stdout and stderr going to Dir/<name>.out.
// Callers hold o.mu.
func (o *OVS) startDaemon(name, bin string, args ...string) (*daemon, error) {
	out, err := os.Create(filepath.Join(o.Dir, name+".out"))
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	defer out.Close() // the child has its own copy
	cmd := exec.Command(bin, args...)
	cmd.Env = o.env
	cmd.Stdout, cmd.Stderr = out, out
	// Should the test binary die without running Close, take the daemons
	// with it rather than leave them running.
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

// logTails returns the last lines of each daemon's log and console output,
// for startup errors.
func (o *OVS) logTails() string {
	var b strings.Builder
	for _, name := range []string{"ovsdb-server.log", "ovsdb-server.out", "ovs-vswitchd.log", "ovs-vswitchd.out"} {
		data, err := os.ReadFile(filepath.Join(o.Dir, name))
		if err != nil || len(bytes.TrimSpace(data)) == 0 {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(lines) > logTailLines {
			lines = lines[len(lines)-logTailLines:]
		}
		fmt.Fprintf(&b, "\n--- tail of %s ---\n%s", name, strings.Join(lines, "\n"))
	}
	return b.String()
}

// shortTempDir is where StartOVS makes its directory: unix socket paths
// (RunDir/ovs-vswitchd.PID.ctl, RunDir/<bridge>.mgmt) must stay under 108
// bytes, so a long $TMPDIR is passed over for /tmp.
func shortTempDir() string {
	if d := os.TempDir(); len(d) <= 40 {
		return d
	}
	return "/tmp"
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
