// Package kernelnode boots the kernel node for tests and the demo: a
// throw-away VM on Debian's own kernel (Start), the guest agent the test
// binary becomes inside it (AgentMain), and the Antrea-like node it builds
// there (SetupAntrea). It uses internal/testenv for prerequisites and
// leftovers; internal/testenv does not import it.
package kernelnode

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
)

// A Node is a throw-away VM running Debian's own kernel, so that tests
// reach what the host's userspace OVS cannot: OVS's kernel datapath
// (system@ovs-system) and a conntrack table whose nf_conntrack_max is the
// guest's own. qemu boots the kernel with a small initramfs that mounts the
// host's / read-only over virtio-9p as the guest's root, tmpfs over the
// writable directories, and a writable share (Dir, /run/dpx in the guest)
// holding a copy of the test binary: that copy, dispatched by
// AgentMain, is the guest's init and answers commands over HTTP on
// a port qemu forwards to the host's loopback. The guest reaches nothing
// outside (user networking with restrict=on).
type Node struct {
	Dir     string // writable share: /run/dpx in the guest
	Kernel  string // the guest kernel's release, e.g. 6.1.0-57-amd64
	Accel   string // "kvm" or "tcg"
	forward map[int]string

	client     *http.Client
	qemu       *exec.Cmd
	forgetQemu func() // drops qemu from the harness' leftovers records
	exited     chan struct{}
	qerr       error // set before exited is closed
	log        *testenv.SyncBuffer

	closeOnce sync.Once
	closeErr  error
}

// Options configure Start.
type Options struct {
	// GuestPorts are TCP ports in the guest forwarded to the host's
	// loopback (Forwarded gives the host address), e.g. an exporter's.
	GuestPorts []int
	// HostAddrs fixes the host address (host:port on loopback) of some
	// of GuestPorts, e.g. the demo's exporter at 127.0.0.1:10357; the
	// others get a free loopback port.
	HostAddrs map[int]string
	// MemoryMB is the guest's memory (default 1024).
	MemoryMB int
}

const (
	// kernelCacheDir keeps the downloaded and unpacked kernel package and
	// the initramfs between runs: outside the repository, never the
	// host's /boot or /lib/modules.
	kernelCacheDir = "/var/cache/datapath-exporter/kernel"
	// guestAgentPort is where the guest agent listens.
	guestAgentPort = 7000
	// guestShare is where the writable share is mounted in the guest.
	guestShare = "/run/dpx"
	// guestIP is the guest's address on qemu's user network.
	guestIP = "10.0.2.15"

	envAgent     = "DPX_KERNELNODE_AGENT" // set by the initramfs' init for the guest agent
	envKernelDir = "DPX_KERNELNODE_DIR"   // the unpacked kernel package, in the guest
	envKernel    = "DPX_KERNELNODE_KVER"
	envAccel     = "DPX_KERNELNODE_ACCEL" // "tcg" or "kvm" forces the accelerator
)

// hostBins are the host executables Start needs.
var hostBins = []string{"qemu-system-x86_64", "apt-get", "apt-cache", "dpkg-deb", "depmod", "modprobe"}

// Start boots a kernel node and returns once its agent answers,
// or when ctx ends. The test binary must call AgentMain first
// thing in TestMain: the guest runs it as its init.
func Start(ctx context.Context, opts Options) (_ *Node, err error) {
	if err := testenv.Check(hostBins...); err != nil {
		return nil, err
	}
	if err := checkStaticBusybox(); err != nil {
		return nil, err
	}
	kdir, kver, err := cachedKernel(ctx)
	if err != nil {
		return nil, err
	}
	initrd, err := cachedInitramfs(kdir, kver)
	if err != nil {
		return nil, err
	}
	dir, err := testenv.OwnedDir("knode")
	if err != nil {
		return nil, err
	}
	n := &Node{Dir: dir, Kernel: kver, forward: map[int]string{}, log: &testenv.SyncBuffer{}}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w\nconsole:\n%s", err, testenv.LastLines(n.log.String(), 40))
			_ = n.Close()
		}
	}()
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("locating the test binary: %w", err)
	}
	if err := copyFile(self, filepath.Join(dir, "agent"), 0o755); err != nil {
		return nil, err
	}

	accels := []string{"tcg"}
	switch forced := os.Getenv(envAccel); {
	case forced != "":
		accels = []string{forced}
	case kvmUsable() && !kvmFailedBefore():
		accels = []string{"kvm", "tcg"}
	}
	for i, accel := range accels {
		// A KVM that works boots to the agent in a few seconds; on hosts
		// where it fails (an MSR error, a hang in the decompressor) the
		// probe's short deadline falls back to TCG.
		bootCtx, cancel := ctx, context.CancelFunc(func() {})
		if i < len(accels)-1 {
			bootCtx, cancel = context.WithTimeout(ctx, 15*time.Second)
		}
		err = n.boot(bootCtx, kdir, kver, initrd, accel, opts)
		// A forwarded port taken by another process between choosing it
		// and qemu's bind: choose again.
		for retry := 0; err != nil && retry < 3 && bootCtx.Err() == nil &&
			strings.Contains(n.log.String(), "Could not set up host forwarding"); retry++ {
			n.stopQemu()
			n.log = &testenv.SyncBuffer{}
			err = n.boot(bootCtx, kdir, kver, initrd, accel, opts)
		}
		cancel()
		if err == nil {
			return n, nil
		}
		if i < len(accels)-1 {
			if accel == "kvm" && ctx.Err() == nil {
				rememberKVMFailed(err)
			}
			n.stopQemu()
			n.log = &testenv.SyncBuffer{}
			if ctx.Err() != nil {
				return nil, err
			}
		}
	}
	return nil, err
}

func (n *Node) boot(ctx context.Context, kdir, kver, initrd, accel string, opts Options) error {
	n.Accel = accel
	agentAddr, err := testenv.FreeLoopbackAddr()
	if err != nil {
		return err
	}
	n.forward = map[int]string{guestAgentPort: agentAddr}
	nic := "user,model=virtio-net-pci,restrict=on"
	for _, p := range append([]int{guestAgentPort}, opts.GuestPorts...) {
		if a := opts.HostAddrs[p]; a != "" && p != guestAgentPort {
			n.forward[p] = a
		} else if p != guestAgentPort {
			if n.forward[p], err = testenv.FreeLoopbackAddr(); err != nil {
				return err
			}
		}
		host, port, _ := net.SplitHostPort(n.forward[p])
		nic += fmt.Sprintf(",hostfwd=tcp:%s:%s-%s:%d", host, port, guestIP, p)
	}
	mem := opts.MemoryMB
	if mem == 0 {
		mem = 1024
	}
	cpu := "max"
	if accel == "kvm" {
		cpu = "host"
	}
	args := []string{
		"-accel", accel, "-cpu", cpu, "-m", strconv.Itoa(mem), "-smp", "1",
		"-display", "none", "-no-reboot", "-nodefaults", "-serial", "stdio",
		"-kernel", filepath.Join(kdir, "boot", "vmlinuz-"+kver), "-initrd", initrd,
		"-append", fmt.Sprintf("console=ttyS0 panic=-1 loglevel=4 quiet %s=%s %s=%s",
			"dpx.kdir", kdir, "dpx.kver", kver),
		"-fsdev", "local,id=rootfs,path=/,security_model=none,readonly=on,multidevs=remap",
		"-device", "virtio-9p-pci,fsdev=rootfs,mount_tag=rootfs",
		"-fsdev", "local,id=share,path=" + n.Dir + ",security_model=none",
		"-device", "virtio-9p-pci,fsdev=share,mount_tag=share",
		"-nic", nic,
	}
	cmd := exec.Command("qemu-system-x86_64", args...)
	cmd.Stdout, cmd.Stderr = n.log, n.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting qemu: %w", err)
	}
	n.qemu, n.exited = cmd, make(chan struct{})
	n.forgetQemu = testenv.OwnProcess(cmd.Process.Pid)
	go func(exited chan struct{}) {
		err := cmd.Wait()
		n.qerr = fmt.Errorf("qemu exited: %v", err)
		close(exited)
	}(n.exited)
	n.client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8, IdleConnTimeout: 5 * time.Minute}}

	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, perr := n.Run(pctx, "true")
		cancel()
		if perr == nil {
			return nil
		}
		select {
		case <-n.exited:
			return fmt.Errorf("booting the kernel node (%s): %w", accel, n.qerr)
		case <-ctx.Done():
			return fmt.Errorf("booting the kernel node (%s): no answer from the guest agent: %w (last: %v)", accel, ctx.Err(), perr)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Forwarded returns the host loopback address forwarded to guest TCP port
// p (one of Options.GuestPorts).
func (n *Node) Forwarded(p int) string { return n.forward[p] }

// QemuPid is the pid of the VM's qemu on the host (0 once closed).
func (n *Node) QemuPid() int {
	if n.qemu == nil {
		return 0
	}
	return n.qemu.Process.Pid
}

// GuestPath is where the guest sees a file put in Dir.
func (n *Node) GuestPath(name string) string { return guestShare + "/" + name }

// CopyIn copies a host file into the share and returns its guest path.
func (n *Node) CopyIn(hostPath, name string) (string, error) {
	if err := copyFile(hostPath, filepath.Join(n.Dir, name), 0o755); err != nil {
		return "", err
	}
	return n.GuestPath(name), nil
}

// agentRequest and agentReply are the guest agent's protocol.
type agentRequest struct {
	Args  []string `json:"args"`
	Stdin string   `json:"stdin,omitempty"`
	Name  string   `json:"name,omitempty"`   // for start and signal
	Sig   int      `json:"signal,omitempty"` // for signal
}

type agentReply struct {
	Stdout string `json:"stdout"`
	Stderr string `json:"stderr"`
	Exit   int    `json:"exit"`
	Error  string `json:"error,omitempty"`
}

// A GuestError is a guest command that failed.
type GuestError struct {
	Args   []string
	Exit   int
	Stderr string
	Err    string
}

func (e *GuestError) Error() string {
	msg := e.Err
	if msg == "" {
		msg = "exit status " + strconv.Itoa(e.Exit)
	}
	return fmt.Sprintf("guest: %s: %s: %s", strings.Join(e.Args, " "), msg, strings.TrimSpace(e.Stderr))
}

func (n *Node) call(ctx context.Context, path string, req agentRequest) (agentReply, error) {
	var rep agentReply
	body, _ := json.Marshal(req)
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+n.forward[guestAgentPort]+path, bytes.NewReader(body))
	if err != nil {
		return rep, err
	}
	resp, err := n.client.Do(hreq)
	if err != nil {
		return rep, fmt.Errorf("guest agent: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return rep, fmt.Errorf("guest agent: %s: %s", resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		return rep, fmt.Errorf("guest agent: decoding reply: %w", err)
	}
	if rep.Exit != 0 || rep.Error != "" {
		return rep, &GuestError{Args: req.Args, Exit: rep.Exit, Stderr: rep.Stderr, Err: rep.Error}
	}
	return rep, nil
}

// Run runs a command in the guest (in its initial network namespace) and
// returns its standard output; a non-zero exit is a *GuestError.
func (n *Node) Run(ctx context.Context, args ...string) (string, error) {
	rep, err := n.call(ctx, "/run", agentRequest{Args: args})
	return rep.Stdout, err
}

// RunStdin is Run with standard input.
func (n *Node) RunStdin(ctx context.Context, stdin string, args ...string) (string, error) {
	rep, err := n.call(ctx, "/run", agentRequest{Args: args, Stdin: stdin})
	return rep.Stdout, err
}

// Sh runs a shell script in the guest.
func (n *Node) Sh(ctx context.Context, script string) (string, error) {
	return n.Run(ctx, "sh", "-ec", script)
}

// Start starts a long-running command in the guest under name, its output
// in the guest's /tmp/<name>.log; a name already running is killed first.
func (n *Node) Start(ctx context.Context, name string, args ...string) error {
	_, err := n.call(ctx, "/start", agentRequest{Name: name, Args: args})
	return err
}

// Signal sends sig to the command started as name (0 checks it runs).
func (n *Node) Signal(ctx context.Context, name string, sig syscall.Signal) error {
	_, err := n.call(ctx, "/signal", agentRequest{Name: name, Sig: int(sig)})
	return err
}

// Close powers the guest off (it has nothing to save) and removes Dir.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.stopQemu()
		if n.Dir != "" {
			n.closeErr = testenv.RemoveOwnedDir(n.Dir)
		}
	})
	return n.closeErr
}

func (n *Node) stopQemu() {
	if n.qemu == nil {
		return
	}
	_ = n.qemu.Process.Kill()
	<-n.exited
	n.forgetQemu()
	n.qemu = nil
}

// kvmUsable reports whether /dev/kvm can be opened; whether it boots is
// for the probe boot to find out.
func kvmUsable() bool {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// kvmFailedFile remembers that a KVM boot failed on this host, so later
// runs boot TCG at once rather than wait for the probe again; remove it
// to probe again (or set DPX_KERNELNODE_ACCEL=kvm).
var kvmFailedFile = filepath.Join(kernelCacheDir, "kvm-failed")

func kvmFailedBefore() bool {
	_, err := os.Stat(kvmFailedFile)
	return err == nil
}

func rememberKVMFailed(err error) {
	_ = os.WriteFile(kvmFailedFile, []byte(err.Error()+"\n"), 0o644)
}

func checkStaticBusybox() error {
	b, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return fmt.Errorf("/bin/busybox: %w: install it with `apt-get install busybox-static` (or run `make deps`)", err)
	}
	// A dynamic executable names its interpreter; the initramfs has none.
	if bytes.Contains(b[:min(len(b), 4096)], []byte("/lib64/ld-linux")) {
		return fmt.Errorf("/bin/busybox is dynamically linked: install busybox-static (or run `make deps`)")
	}
	return nil
}

// cachedKernel returns the directory holding an unpacked Debian kernel
// package (boot/vmlinuz-VER, lib/modules/VER with depmod's files) and VER,
// downloading and unpacking it the first time. A lock serialises test
// packages that start kernel nodes at once.
func cachedKernel(ctx context.Context) (dir, version string, err error) {
	if err := os.MkdirAll(kernelCacheDir, 0o755); err != nil {
		return "", "", fmt.Errorf("creating kernel cache: %w", err)
	}
	unlock, err := lockFile(ctx, filepath.Join(kernelCacheDir, ".lock"))
	if err != nil {
		return "", "", err
	}
	defer unlock()
	// Any complete unpacked kernel will do: a second run needs no network.
	if done, _ := filepath.Glob(filepath.Join(kernelCacheDir, "*", ".complete")); len(done) > 0 {
		sort.Strings(done)
		dir = filepath.Dir(done[len(done)-1])
		return dir, filepath.Base(dir), nil
	}
	out, err := exec.CommandContext(ctx, "apt-cache", "depends", "linux-image-amd64").Output()
	if err != nil {
		return "", "", fmt.Errorf("apt-cache depends linux-image-amd64: %w", err)
	}
	var pkg string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "Depends:" && strings.HasPrefix(f[1], "linux-image-") {
			pkg = f[1]
			break
		}
	}
	if pkg == "" {
		return "", "", fmt.Errorf("apt-cache depends linux-image-amd64 names no linux-image-*: %q", out)
	}
	version = strings.TrimPrefix(pkg, "linux-image-")
	dir = filepath.Join(kernelCacheDir, version)
	tmp, err := os.MkdirTemp(kernelCacheDir, ".download-")
	if err != nil {
		return "", "", err
	}
	defer os.RemoveAll(tmp)
	steps := [][]string{
		{"apt-get", "download", "-q", pkg},
		{"sh", "-c", "dpkg-deb -x ./*.deb root"},
		{"depmod", "-b", "root", version},
	}
	for _, s := range steps {
		c := exec.CommandContext(ctx, s[0], s[1:]...)
		c.Dir = tmp
		if out, err := c.CombinedOutput(); err != nil {
			return "", "", fmt.Errorf("fetching kernel %s: %s: %w: %s", pkg, strings.Join(s, " "), err, testenv.LastLines(string(out), 5))
		}
	}
	_ = os.RemoveAll(dir)
	if err := os.Rename(filepath.Join(tmp, "root"), dir); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(filepath.Join(dir, ".complete"), []byte(pkg+"\n"), 0o644); err != nil {
		return "", "", err
	}
	return dir, version, nil
}

// initramfsModules are what the initramfs loads before it can mount the
// 9p root; everything else the guest loads from the 9p-visible cache.
var initramfsModules = []string{"virtio_pci", "9p", "9pnet_virtio"}

// initScript is the initramfs' /init: mount the host's / read-only over
// 9p, writable tmpfs over it, the share, then run the guest agent.
const initScript = `#!/bin/busybox sh
B=/bin/busybox
$B mkdir -p /proc /sys /dev /newroot
$B mount -t proc proc /proc
$B mount -t sysfs sys /sys
$B mount -t devtmpfs dev /dev
for m in $($B cat /modules); do $B insmod /$m || $B echo "dpx-init: insmod $m failed"; done
KDIR=; KVER=
for a in $($B cat /proc/cmdline); do
	case "$a" in dpx.kdir=*) KDIR=${a#dpx.kdir=};; dpx.kver=*) KVER=${a#dpx.kver=};; esac
done
$B mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,cache=loose,ro rootfs /newroot || { $B echo "dpx-init: no 9p root"; $B poweroff -f; }
$B mount -t proc proc /newroot/proc
$B mount -t sysfs sys /newroot/sys
$B mount -t devtmpfs dev /newroot/dev
$B mkdir -p /newroot/dev/pts /newroot/dev/shm
$B mount -t devpts devpts /newroot/dev/pts
$B mount -t tmpfs tmpfs /newroot/dev/shm
for d in run tmp var/log var/lib/openvswitch etc/openvswitch root; do $B mount -t tmpfs tmpfs /newroot/$d; done
$B mkdir -p /newroot/run/dpx /newroot/run/netns /newroot/run/openvswitch /newroot/var/log/openvswitch
$B mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 share /newroot/run/dpx || { $B echo "dpx-init: no share"; $B poweroff -f; }
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root ` + envAgent + `=1 ` + envKernelDir + `=$KDIR ` + envKernel + `=$KVER
exec $B chroot /newroot /run/dpx/agent
`

// cachedInitramfs builds (once per kernel) the initramfs: static busybox,
// the modules the 9p root needs, and /init.
func cachedInitramfs(kdir, kver string) (string, error) {
	path := filepath.Join(kdir, "dpx-initramfs.cpio.gz")
	script := []byte(initScript)
	stamp := filepath.Join(kdir, ".initramfs-stamp")
	if old, err := os.ReadFile(stamp); err == nil && bytes.Equal(old, script) {
		if _, err := os.Stat(path); err == nil {
			return path, nil
		}
	}
	var files []cpioFile
	var order []string
	seen := map[string]bool{}
	for _, m := range initramfsModules {
		out, err := exec.Command("modprobe", "-d", kdir, "-S", kver, "--show-depends", m).Output()
		if err != nil {
			return "", fmt.Errorf("modprobe --show-depends %s in %s: %w", m, kdir, err)
		}
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			if len(f) < 2 || f[0] != "insmod" || seen[f[1]] {
				continue
			}
			seen[f[1]] = true
			b, err := os.ReadFile(f[1])
			if err != nil {
				return "", err
			}
			name := filepath.Base(f[1])
			files = append(files, cpioFile{name: name, mode: 0o100644, data: b})
			order = append(order, name)
		}
	}
	busybox, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return "", err
	}
	files = append(files,
		cpioFile{name: "bin", mode: 0o40755},
		cpioFile{name: "bin/busybox", mode: 0o100755, data: busybox},
		cpioFile{name: "init", mode: 0o100755, data: script},
		cpioFile{name: "modules", mode: 0o100644, data: []byte(strings.Join(order, "\n") + "\n")},
	)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := writeCpio(zw, files); err != nil {
		return "", err
	}
	if err := zw.Close(); err != nil {
		return "", err
	}
	tmp := path + ".tmp" + strconv.Itoa(os.Getpid())
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", err
	}
	return path, os.WriteFile(stamp, script, 0o644)
}

type cpioFile struct {
	name string
	mode uint32
	data []byte
}

// writeCpio writes files in the "newc" format the kernel unpacks.
func writeCpio(w io.Writer, files []cpioFile) error {
	pad := func(n int) []byte { return make([]byte, (4-n%4)%4) }
	for i, f := range append(files, cpioFile{name: "TRAILER!!!"}) {
		hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
			i+1, f.mode, 0, 0, 1, 0, len(f.data), 0, 0, 0, 0, len(f.name)+1, 0)
		rec := append([]byte(hdr), f.name...)
		rec = append(rec, 0)
		rec = append(rec, pad(len(rec))...)
		rec = append(rec, f.data...)
		rec = append(rec, pad(len(f.data))...)
		if _, err := w.Write(rec); err != nil {
			return err
		}
	}
	return nil
}

// lockFile takes an exclusive flock on path, waiting until ctx ends.
func lockFile(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for %s: %w", path, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copying %s to %s: %w", src, dst, err)
	}
	return out.Close()
}
