package testenv

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// netnsPrefix starts the name of every namespace this package creates, so a
// leftover one (after a crashed test) is easy to recognise in `ip netns list`.
const netnsPrefix = "dpx-ct-"

// fillTable is the nftables table FillUDP installs in the namespace.
const fillTable = "dpx_fill"

// fillUDPTimeout is the UDP conntrack timeout FillUDP sets inside the
// namespace, so entries outlive any test that reads them.
const fillUDPTimeout = 3600

// Netns is a private network namespace created with `ip netns add`. Its
// conntrack table is its own: entries put there never reach the host's.
type Netns struct {
	Name string
	Path string // /run/netns/NAME, what --conntrack.netns takes

	closeOnce sync.Once
	closeErr  error
}

// NetnsOptions configures NewNetns. There is nothing to choose yet but the
// test hook.
type NetnsOptions struct {
	// afterAdd, for this package's tests, is called once `ip netns add`
	// has done its work: an error from it fails NewNetns as if the command
	// had failed after making the namespace.
	afterAdd func(n *Netns) error
}

// NetnsForTest is NewNetns, deleted when t ends. It skips t (fails it in
// CI) when not root or when ip, conntrack or nft is missing.
func NetnsForTest(t T, opts NetnsOptions) *Netns {
	t.Helper()
	return forTest(t, "network namespace", NewNetns, opts, "ip", "conntrack", "nft")
}

// NewNetns creates a network namespace with a unique name and its loopback
// interface up. On failure nothing is left behind, even when ctx ended while
// `ip netns add` ran (the kernel may have made the namespace by then).
func NewNetns(ctx context.Context, opts NetnsOptions) (_ *Netns, err error) {
	suffix, err := randomHex(6)
	if err != nil {
		return nil, fmt.Errorf("naming a network namespace: %w", err)
	}
	name := netnsPrefix + suffix
	n := &Netns{Name: name, Path: netnsPath(name)}
	defer undoOnError(&err, n)
	_ = recordOwned(kindNetns, name)
	if _, err := run(ctx, "ip", "netns", "add", name); err != nil {
		return nil, fmt.Errorf("creating network namespace: %w", err)
	}
	if opts.afterAdd != nil {
		if err := opts.afterAdd(n); err != nil {
			return nil, fmt.Errorf("creating network namespace: %w", err)
		}
	}
	if _, err := run(ctx, "ip", "-n", name, "link", "set", "lo", "up"); err != nil {
		return nil, fmt.Errorf("setting lo up in network namespace %s: %w", name, err)
	}
	return n, nil
}

// Close deletes the namespace, which also frees its conntrack table. It is
// safe to call more than once. It stops no process: anything started in the
// namespace belongs to whoever started it.
func (n *Netns) Close() error {
	n.closeOnce.Do(func() {
		n.closeErr = removeOwnedNetns(n.Name)
	})
	return n.closeErr
}

// netnsPath is where `ip netns add NAME` pins a namespace.
func netnsPath(name string) string { return "/run/netns/" + name }

// deleteNetns deletes the named namespace if it exists. It runs under a
// context of its own, never the caller's, which may be the one that just
// expired. A file that `ip netns add` made but was killed before mounting is
// removed too (`ip netns delete` unmounts what it can and unlinks).
func deleteNetns(name string) error {
	if _, err := os.Lstat(netnsPath(name)); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := run(ctx, "ip", "netns", "delete", name); err != nil {
		return fmt.Errorf("deleting network namespace %s: %w", name, err)
	}
	return nil
}

// removeOwnedNetns deletes a namespace recorded as this process's, and
// its record.
func removeOwnedNetns(name string) error {
	err := deleteNetns(name)
	if err == nil {
		forgetOwned(kindNetns, name)
	}
	return err
}

// Exec runs a command inside the namespace and returns its standard output.
// The error includes the command's standard error.
func (n *Netns) Exec(ctx context.Context, args ...string) (string, error) {
	return run(ctx, "ip", append([]string{"netns", "exec", n.Name}, args...)...)
}

// InsertEntries adds count UDP entries in the given conntrack zone with
// `conntrack -I`, each with its own tuple (10.Z.x.y → 10.200.x.y, where Z
// depends on the zone so that calls for different zones never collide). It
// runs one process per entry: fine for up to about a thousand; use FillUDP for
// volume.
func (n *Netns) InsertEntries(ctx context.Context, zone uint16, count int) error {
	if count < 0 || count > 1<<16 {
		return fmt.Errorf("inserting %d conntrack entries: count must be between 0 and 65536", count)
	}
	// Entries already in this zone shift the tuples so repeated calls add
	// new entries instead of failing with "File exists".
	start, err := n.zoneCount(ctx, zone)
	if err != nil {
		return err
	}
	for i := start; i < start+count; i++ {
		src := fmt.Sprintf("10.%d.%d.%d", zone%200, (i>>8)&0xff, i&0xff)
		dst := fmt.Sprintf("10.200.%d.%d", (i>>8)&0xff, i&0xff)
		sport := strconv.Itoa(1024 + i>>16)
		if _, err := n.Exec(ctx, "conntrack", "-I", "-p", "udp",
			"-s", src, "-d", dst, "--sport", sport, "--dport", "53",
			"-t", "3600", "-w", strconv.Itoa(int(zone))); err != nil {
			return fmt.Errorf("inserting conntrack entry %d of %d in zone %d: %w", i-start+1, count, zone, err)
		}
	}
	return nil
}

// zoneCount counts the entries in one zone (a dump: for test setup only).
func (n *Netns) zoneCount(ctx context.Context, zone uint16) (int, error) {
	out, err := n.Exec(ctx, "conntrack", "-L", "-w", strconv.Itoa(int(zone)))
	if err != nil {
		return 0, fmt.Errorf("listing conntrack zone %d: %w", zone, err)
	}
	return strings.Count(out, "\n"), nil
}

// Count returns the number of entries in the namespace's conntrack table as
// `conntrack -C` reports it: the ground truth tests compare against.
func (n *Netns) Count(ctx context.Context) (uint64, error) {
	out, err := n.Exec(ctx, "conntrack", "-C")
	if err != nil {
		return 0, fmt.Errorf("counting conntrack entries: %w", err)
	}
	c, err := strconv.ParseUint(strings.TrimSpace(out), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("counting conntrack entries: parsing `conntrack -C` output %q: %w", out, err)
	}
	return c, nil
}

// FillUDP makes real traffic create count conntrack entries in the namespace:
// one UDP datagram each to count distinct loopback destinations
// (127.1.0.0:9 onwards). When zone is not 0 the entries go into that zone.
//
// To get there it installs an nftables table (conntrack stays idle in a
// namespace until a rule needs it, here `ct state`, and `ct zone set` in the
// raw-priority prerouting and output chains picks the zone) and raises
// nf_conntrack_udp_timeout inside the namespace, where it is a per-namespace
// setting, so the entries outlive the test. The datagrams are sent from a
// goroutine locked to an OS thread that has joined the namespace; the thread
// is never handed back to the runtime, so it exits with the goroutine.
func (n *Netns) FillUDP(ctx context.Context, count int, zone uint16) error {
	before, err := n.Count(ctx)
	if err != nil {
		return err
	}
	if err := n.SendUDP(ctx, count, zone); err != nil {
		return err
	}
	after, err := n.Count(ctx)
	if err != nil {
		return err
	}
	if after < before+uint64(count) {
		return fmt.Errorf("filling conntrack with %d UDP entries: the table grew by only %d (from %d to %d); is nf_conntrack_max (%s) too small?",
			count, after-before, before, after, readTrim("/proc/sys/net/netfilter/nf_conntrack_max"))
	}
	return nil
}

// SendUDP is FillUDP without the check that the table grew: past
// nf_conntrack_max the kernel drops the new connections (and counts the
// drops), which is what a flood does to a full table.
func (n *Netns) SendUDP(ctx context.Context, count int, zone uint16) error {
	const maxCount = 250 << 16
	if count < 0 || count > maxCount {
		return fmt.Errorf("filling conntrack with %d UDP entries: count must be between 0 and %d", count, maxCount)
	}
	if _, err := n.Exec(ctx, "ip", "link", "set", "lo", "up"); err != nil {
		return fmt.Errorf("setting lo up: %w", err)
	}
	if _, err := runIn(ctx, nil, fillRuleset(zone), "ip", "netns", "exec", n.Name, "nft", "-f", "-"); err != nil {
		return fmt.Errorf("installing nftables ruleset: %w", err)
	}
	if err := InNetns(n.Path, func() error { return sendUDP(ctx, count) }); err != nil {
		return fmt.Errorf("filling conntrack with %d UDP entries: %w", count, err)
	}
	return nil
}

// fillRuleset is the nftables ruleset FillUDP installs. Adding and deleting
// the table first makes it replace an earlier one atomically.
func fillRuleset(zone uint16) string {
	var b strings.Builder
	fmt.Fprintf(&b, "add table inet %s\ndelete table inet %s\ntable inet %s {\n", fillTable, fillTable, fillTable)
	if zone != 0 {
		for _, hook := range []string{"prerouting", "output"} {
			fmt.Fprintf(&b, "\tchain zone_%s {\n\t\ttype filter hook %s priority raw; policy accept;\n\t\tct zone set %d\n\t}\n", hook, hook, zone)
		}
	}
	b.WriteString("\tchain track {\n\t\ttype filter hook output priority filter; policy accept;\n\t\tct state new counter\n\t}\n}\n")
	return b.String()
}

// InNetns runs f on a goroutine whose OS thread has joined the network
// namespace pinned at path, and returns f's error; sockets f opens stay in
// that namespace. The thread is moved back before it is unlocked: it must
// not simply die, since a child process started with Pdeathsig from it
// (the harness's daemons, the demo's exporter) would be killed with it.
// Only if moving back fails is it left locked, so the runtime discards it
// instead of reusing it in the wrong namespace.
func InNetns(path string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		home, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("opening this thread's network namespace: %w", err)
			return
		}
		defer home.Close()
		ns, err := os.Open(path)
		if err == nil {
			defer ns.Close()
			err = unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET)
		}
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("setns %s: %w", path, err)
			return
		}
		err = f()
		if unix.Setns(int(home.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// sendUDP runs inside the namespace (InNetns).
func sendUDP(ctx context.Context, count int) error {
	// /proc/sys/net is resolved against the opening thread's namespace, so
	// this changes the namespace's timeout and not the host's.
	timeout := "/proc/sys/net/netfilter/nf_conntrack_udp_timeout"
	if err := os.WriteFile(timeout, []byte(strconv.Itoa(fillUDPTimeout)), 0); err != nil {
		return fmt.Errorf("raising the UDP conntrack timeout in the namespace: %w", err)
	}

	base := netip.MustParseAddr("127.1.0.0").As4()
	return SendDatagrams(ctx, count, 0, func(i int) *unix.SockaddrInet4 {
		a := base
		a[1] += byte(i >> 16)
		a[2] = byte(i >> 8)
		a[3] = byte(i)
		return &unix.SockaddrInet4{Port: 9, Addr: a}
	})
}

// SendDatagrams sends count one-byte UDP datagrams, the i-th to to(i), from
// a socket made in the calling thread's network namespace. A full socket
// buffer or an ICMP error from an earlier datagram is not a reason to stop:
// the datagram is sent again, after backoff. EPERM is netfilter dropping
// it, as it does when the conntrack table is full: that is what a flood
// meets; the kernel counts the drop, and the next one goes on.
func SendDatagrams(ctx context.Context, count int, backoff time.Duration, to func(i int) *unix.SockaddrInet4) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening UDP socket: %w", err)
	}
	defer unix.Close(fd)
	payload := []byte{0}
	for i := 0; i < count; i++ {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("after %d datagrams: %w", i, err)
			}
		}
		dst := to(i)
		for {
			err := unix.Sendto(fd, payload, 0, dst)
			if err == nil || errors.Is(err, unix.EPERM) {
				break
			}
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.ECONNREFUSED) || errors.Is(err, unix.EINTR) {
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("sending datagram %d to %v: %w", i, netip.AddrFrom4(dst.Addr), err)
		}
	}
	return nil
}

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "unreadable: " + err.Error()
	}
	return strings.TrimSpace(string(b))
}
