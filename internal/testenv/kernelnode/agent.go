package kernelnode

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// AgentMain turns the test binary into the kernel node's guest
// agent when the guest runs it, and returns at once anywhere else. Call it
// first thing in TestMain of a package that starts a kernel node:
//
//	func TestMain(m *testing.M) {
//		testenv.AgentMain()
//		...
//	}
func AgentMain() {
	role := os.Getenv(envAgent)
	if role == "" {
		return
	}
	var err error
	switch role {
	case "1":
		err = guestInit()
	case "serve":
		err = guestServe()
	case "udpflood":
		err = guestUDPFlood(os.Args[1:])
	case "httpserve":
		err = guestHTTPServe()
	case "httpget":
		err = guestHTTPGet(os.Args[1:])
	default:
		err = fmt.Errorf("unknown role %q", role)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "dpx-agent %s: %v\n", role, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// guestInit is pid 1: it starts the server as its child and reaps every
// process orphaned to it (OVS's --detach daemons, killed pods' children),
// so a killed ovs-vswitchd is gone rather than a zombie that its pidfile
// still names. When the server ends, the guest powers off.
func guestInit() error {
	cmd := exec.Command("/proc/self/exe")
	cmd.Env = append(os.Environ(), envAgent+"=serve")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil || pid == cmd.Process.Pid {
			fmt.Printf("dpx-agent: server ended (%v, %v); powering off\n", err, ws)
			unix.Sync()
			return unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
		}
	}
}

// guestSetup makes the guest usable: module autoloading from the unpacked
// kernel package, the network to the host, and no conntrack for that
// network (the agent's and the exporter's connections stay out of the
// table a test fills and counts).
func guestSetup() error {
	kdir, kver := os.Getenv(envKernelDir), os.Getenv(envKernel)
	wrapper := "#!/bin/sh\nexec /sbin/modprobe -d " + kdir + " -S " + kver + " \"$@\"\n"
	if err := os.WriteFile("/run/dpx-modprobe", []byte(wrapper), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile("/proc/sys/kernel/modprobe", []byte("/run/dpx-modprobe\n"), 0o644); err != nil {
		return err
	}
	steps := [][]string{
		{"/run/dpx-modprobe", "-a", "virtio_net", "veth", "openvswitch", "nf_conntrack_netlink", "nf_tables"},
		{"ip", "link", "set", "lo", "up"},
		{"ip", "link", "set", "eth0", "up"},
		{"ip", "addr", "add", guestIP + "/24", "dev", "eth0"},
		{"ip", "route", "add", "default", "via", "10.0.2.2"},
	}
	for _, s := range steps {
		if out, err := exec.Command(s[0], s[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %w: %s", strings.Join(s, " "), err, out)
		}
	}
	ruleset := `table inet dpx-agent {
	chain pre { type filter hook prerouting priority raw; iifname "eth0" notrack; }
	chain out { type filter hook output priority raw; oifname "eth0" notrack; }
}
`
	c := exec.Command("nft", "-f", "-")
	c.Stdin = strings.NewReader(ruleset)
	if out, err := c.CombinedOutput(); err != nil {
		return fmt.Errorf("nft (notrack for eth0): %w: %s", err, out)
	}
	return nil
}

type guestServer struct {
	mu    sync.Mutex
	procs map[string]*exec.Cmd
	done  map[string]chan struct{}
}

func guestServe() error {
	if err := guestSetup(); err != nil {
		return err
	}
	s := &guestServer{procs: map[string]*exec.Cmd{}, done: map[string]chan struct{}{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /run", s.handle(s.run))
	mux.HandleFunc("POST /start", s.handle(s.start))
	mux.HandleFunc("POST /signal", s.handle(s.signal))
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(guestAgentPort))
	if err != nil {
		return err
	}
	fmt.Println("dpx-agent: ready")
	return http.Serve(ln, mux)
}

func (s *guestServer) handle(f func(context.Context, agentRequest) agentReply) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req agentRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(f(r.Context(), req))
	}
}

func (s *guestServer) run(ctx context.Context, req agentRequest) agentReply {
	if len(req.Args) == 0 {
		return agentReply{Error: "no command", Exit: -1}
	}
	cmd := exec.CommandContext(ctx, req.Args[0], req.Args[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Stdin = strings.NewReader(req.Stdin)
	// Commands that leave daemons behind (--detach) must not hold the
	// reply open: their output pipes are closed with the command.
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	rep := agentReply{Stdout: stdout.String(), Stderr: stderr.String()}
	if err != nil {
		rep.Exit = -1
		if ee, ok := err.(*exec.ExitError); ok {
			rep.Exit = ee.ExitCode()
		} else {
			rep.Error = err.Error()
		}
	}
	return rep
}

func (s *guestServer) start(_ context.Context, req agentRequest) agentReply {
	if len(req.Args) == 0 || req.Name == "" || strings.ContainsAny(req.Name, "/ ") {
		return agentReply{Error: "start needs a plain name and a command", Exit: -1}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.procs[req.Name]; old != nil {
		_ = old.Process.Kill()
		<-s.done[req.Name]
	}
	log, err := os.Create("/tmp/" + req.Name + ".log")
	if err != nil {
		return agentReply{Error: err.Error(), Exit: -1}
	}
	cmd := exec.Command(req.Args[0], req.Args[1:]...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return agentReply{Error: err.Error(), Exit: -1}
	}
	done := make(chan struct{})
	s.procs[req.Name], s.done[req.Name] = cmd, done
	go func() {
		_ = cmd.Wait()
		log.Close()
		close(done)
	}()
	return agentReply{}
}

func (s *guestServer) signal(_ context.Context, req agentRequest) agentReply {
	s.mu.Lock()
	cmd, done := s.procs[req.Name], s.done[req.Name]
	s.mu.Unlock()
	if cmd == nil {
		return agentReply{Error: "nothing started as " + req.Name, Exit: -1}
	}
	select {
	case <-done:
		return agentReply{Error: req.Name + " has exited: " + cmd.ProcessState.String(), Exit: -1}
	default:
	}
	if err := cmd.Process.Signal(syscall.Signal(req.Sig)); err != nil {
		return agentReply{Error: err.Error(), Exit: -1}
	}
	return agentReply{}
}
