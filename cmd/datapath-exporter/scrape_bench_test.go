package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	ctnl "github.com/ti-mo/conntrack"

	"github.com/datapath-exporter/datapath-exporter/conntrack"
	"github.com/datapath-exporter/datapath-exporter/internal/testenv"
)

// BenchmarkScrapes measures whole HTTP scrapes of the exporter, built and run
// as its own process, side by side with the alternatives and the round-trip
// floors, on a private OVS and a private conntrack table that grow step by
// step:
//
//	flows 0 → 10k → 100k (conntrack empty), then entries 0 → 100k → 250k
//	(100k flows on br-int).
//
// It ignores b.N and prints its own results, in the format of `go test
// -bench`, for scripts/benchreport: run it with -benchtime 1x. Each sample
// line is the median of one round of scrapes; the methods of a step take
// turns round after round (in a rotating order), so that the noise of a
// shared machine spreads over all of them alike. The storm (200 clients × 5
// scrapes against the default exporter) runs at 100k flows / 100k entries
// and the per-zone dump comparison at 250k entries.
//
// BENCH_ROUNDS (default 15) sets the rounds per step. BENCH_QUICK=1 runs
// only the steps at 0 and 10k flows, without the storm and the zone dump:
// a quick side-by-side comparison while changing the exporter.
func BenchmarkScrapes(b *testing.B) {
	testenv.Require(b, "ovs-ofctl", "ip", "conntrack", "nft", "prometheus-node-exporter")
	rounds := 15
	if s := os.Getenv("BENCH_ROUNDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("BENCH_ROUNDS=%q: want a positive number", s)
		}
		rounds = n
	}
	quick := os.Getenv("BENCH_QUICK") == "1"
	ctx := testenv.Context(b, 60*time.Minute)

	o := testenv.OVSForTest(b, testenv.OVSOptions{})
	if err := o.AddBridge("br-int", "OpenFlow10", "OpenFlow15"); err != nil {
		b.Fatal(err)
	}
	// As on a real Antrea node, OVS names no table; no flow yet: add-br's
	// NORMAL flow in table 0 goes.
	if err := o.DelFlows("br-int"); err != nil {
		b.Fatal(err)
	}
	ns := testenv.NetnsForTest(b, testenv.NetnsOptions{})

	bin := buildExporter(b)
	common := []string{"--ovs.rundir=" + o.RunDir, "--conntrack.netns=" + ns.Path}
	readInScrape := []string{"--ovs.openflow-read-interval=0s", "--ovs.datapath-read-interval=0s", "--conntrack.read-interval=0s"}
	variants := []struct {
		method string
		args   []string
	}{
		// The default set: OVS and conntrack read in the background
		// every 5s, each scrape serving the last reading.
		{"default", nil},
		// The default set reading OVS and conntrack in every scrape (as
		// before the background reads; the slow control-socket commands still at
		// most every --ovs.slow-stats-max-age).
		{"default-read-in-scrape", readInScrape},
		// One collector alone, reading its source in the scrape: what a
		// read costs (compared with its floor and with ovs-ofctl).
		{"ovs-only", append([]string{"--no-collector.conntrack", "--no-collector.ovs_datapath"}, readInScrape...)},
		{"ovs_datapath-only", append([]string{"--no-collector.ovs", "--no-collector.conntrack"}, readInScrape...)},
		{"conntrack-only", append([]string{"--no-collector.ovs", "--no-collector.ovs_datapath"}, readInScrape...)},
		{"conntrack_zones-only", []string{"--no-collector.ovs", "--no-collector.ovs_datapath", "--no-collector.conntrack", "--collector.conntrack_zones"}},
		{"all-off", []string{"--no-collector.ovs", "--no-collector.ovs_datapath", "--no-collector.conntrack"}},
	}
	var methods []*method
	var defaultExp *process
	for _, v := range variants {
		p := startDaemon(b, testenv.FreeAddr(b), []string{bin}, append(slices.Clone(common), v.args...), nil)
		if v.method == "default" {
			defaultExp = p
		}
		methods = append(methods, httpMethod(b, v.method, p, nil))
	}
	nodeExp := startNodeExporter(b, ns)
	methods = append(methods, httpMethod(b, "node-exporter-conntrack", nodeExp, dialInNetns(ns.Path)))
	methods = append(methods, ofctlMethod(o.RunDir))
	echo, tableStats := echoFloor(b, o.MgmtSocket("br-int"))
	methods = append(methods, echo, tableStats)
	methods = append(methods, netlinkFloor(b, ns.Path), readerMethod(b, ns.Path))

	flows := 0
	addFlows := func(to int) {
		b.Helper()
		// Drop flows spread evenly over Antrea's 30 tables, added in
		// batches.
		const batch = 20_000
		for first := flows; first < to; first += batch {
			var fs []string
			for i := first; i < min(first+batch, to); i++ {
				fs = append(fs, testenv.DropFlows(i%len(testenv.AntreaAgentTableNames), i, 1)...)
			}
			if err := o.AddFlows("br-int", fs); err != nil {
				b.Fatal(err)
			}
		}
		flows = max(flows, to)
	}
	fill := func(to int) {
		b.Helper()
		if err := ns.SendUDP(ctx, to, 0); err != nil {
			b.Fatal(err)
		}
		got, err := ns.Count(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if got < uint64(to) {
			b.Fatalf("conntrack holds %d entries after sending %d flows (nf_conntrack_max %d)", got, to, testenv.ConntrackMax(b))
		}
	}

	fmt.Printf("nf_conntrack_max: %d\n", testenv.ConntrackMax(b))
	fmt.Printf("rounds: %d\n", rounds)
	steps := []int{0, 10_000, 100_000}
	if quick {
		steps = steps[:2]
	}
	for _, f := range steps {
		addFlows(f)
		names := []string{fmt.Sprintf("ScrapeFlows/flows=%d", f)}
		if f == 100_000 {
			names = append(names, "ScrapeEntries/entries=0")
		}
		measure(b, names, methods, rounds)
	}
	if quick {
		return
	}
	for _, e := range []int{100_000, 250_000} {
		fill(e)
		measure(b, []string{fmt.Sprintf("ScrapeEntries/entries=%d", e)}, methods, rounds)
		if e == 100_000 {
			storm(b, defaultExp, 200, 5)
		}
	}
	zoneDump(b, ns.Path, ns.Name, 250_000, max(3, rounds/3))
	for _, m := range methods {
		if m.proc != nil {
			if kib, err := m.proc.status("VmHWM"); err == nil {
				fmt.Printf("peak-rss-kib-%s: %d\n", m.name, kib)
			}
		}
	}
}

// method is one way to get the numbers of one scrape.
type method struct {
	name string
	proc *process // the process scraped, if any
	once func() (size int, err error)
	// after, if set, is called after each timed call (outside the timing)
	// and returns samples of other methods by name, such as the
	// collectors' own durations the exporter reports in its scrape.
	after func() (map[string]float64, error)
}

// measure runs rounds rounds of every method (in an order rotated each
// round) and prints one sample line per round and method under each of
// names: the median time of the round's scrapes and the body size.
func measure(b *testing.B, names []string, methods []*method, rounds int) {
	b.Helper()
	// Warm up and choose how many scrapes make a round: about 40 ms of
	// work, between 3 and 20 scrapes.
	perRound := map[string]int{}
	for _, m := range methods {
		start := time.Now()
		if _, err := m.once(); err != nil {
			b.Fatalf("%s %s: %v", names[0], m.name, err)
		}
		d := time.Since(start)
		perRound[m.name] = max(3, min(20, int(40*time.Millisecond/max(d, time.Microsecond))))
	}
	for r := range rounds {
		for i := range methods {
			m := methods[(i+r)%len(methods)]
			times := make([]float64, 0, perRound[m.name])
			extra := map[string][]float64{}
			size := 0
			for range perRound[m.name] {
				start := time.Now()
				n, err := m.once()
				times = append(times, float64(time.Since(start).Nanoseconds()))
				if err != nil {
					b.Fatalf("%s %s: %v", names[0], m.name, err)
				}
				size = n
				if m.after != nil {
					more, err := m.after()
					if err != nil {
						b.Fatalf("%s %s: %v", names[0], m.name, err)
					}
					for k, v := range more {
						extra[k] = append(extra[k], v)
					}
				}
			}
			for _, name := range names {
				line := fmt.Sprintf("Benchmark%s/method=%s\t%d\t%.0f ns/op", name, m.name, len(times), medianOf(times))
				if size > 0 {
					line += fmt.Sprintf("\t%d resp-B/op", size)
				}
				fmt.Println(line)
				for _, k := range slices.Sorted(maps.Keys(extra)) {
					fmt.Printf("Benchmark%s/method=%s\t%d\t%.0f ns/op\n", name, k, len(extra[k]), medianOf(extra[k]))
				}
			}
		}
	}
}

func medianOf(vs []float64) float64 {
	s := slices.Clone(vs)
	slices.Sort(s)
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}

// buildExporter builds the exporter's binary into a temporary directory.
func buildExporter(b *testing.B) string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "datapath-exporter")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("building the exporter: %v\n%s", err, out)
	}
	return bin
}

// process is a daemon started for the benchmark, stopped when it ends.
type process struct {
	cmd  *exec.Cmd
	addr string
	logs *testenv.SyncBuffer
}

// startDaemon starts argv with args plus --web.listen-address=addr and
// waits until its /metrics answers (reached through dial, if not nil).
func startDaemon(b *testing.B, addr string, argv, args []string, dial func(context.Context, string, string) (net.Conn, error)) *process {
	b.Helper()
	p := &process{addr: addr, logs: &testenv.SyncBuffer{}}
	full := append(slices.Clone(argv[1:]), args...)
	full = append(full, "--web.listen-address="+addr)
	p.cmd = exec.Command(argv[0], full...)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(exited) }()
	b.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-exited
		}
	})
	client := &http.Client{Transport: &http.Transport{DialContext: dial}, Timeout: time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := client.Get("http://" + addr + "/metrics")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				client.CloseIdleConnections()
				return p
			}
			err = errors.New(resp.Status)
		}
		select {
		case <-exited:
			b.Fatalf("%s exited: %s", argv, p.logs)
		default:
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s not answering on %s: %v\n%s", argv, addr, err, p.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// status reads a "kB" field of /proc/PID/status, such as VmHWM or VmRSS.
func (p *process) status(field string) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, p.cmd.Process.Pid)
}

// fds counts the process's open file descriptors.
func (p *process) fds() int {
	es, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.cmd.Process.Pid))
	return len(es)
}

// startNodeExporter runs Debian's node_exporter with only its conntrack
// collector inside the namespace (`ip netns exec`, which execs it, so the
// PID is node_exporter's), where it reads the namespace's
// /proc/sys/net/netfilter/nf_conntrack_{count,max}. It listens on the
// namespace's loopback; the benchmark reaches it with sockets made inside
// the namespace (dialInNetns).
func startNodeExporter(b *testing.B, ns *testenv.Netns) *process {
	b.Helper()
	return startDaemon(b, "127.0.0.1:9100",
		[]string{"ip", "netns", "exec", ns.Name, "prometheus-node-exporter"},
		[]string{"--collector.disable-defaults", "--collector.conntrack"},
		dialInNetns(ns.Path))
}

// dialInNetns returns a dial function whose sockets are made in the network
// namespace at path (testenv.InNetns). A socket stays in the namespace it
// was made in, so a kept-alive connection needs this only once.
func dialInNetns(path string) func(context.Context, string, string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (c net.Conn, err error) {
		err = testenv.InNetns(path, func() error {
			var d net.Dialer
			c, err = d.DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
}

// scrapeClient scrapes as Prometheus does: one kept-alive connection,
// Accept-Encoding: gzip. The body is read whole but not decompressed.
type scrapeClient struct {
	c    *http.Client
	url  string
	last bytes.Buffer // the last body, gzipped
}

func newScrapeClient(addr string, dial func(context.Context, string, string) (net.Conn, error)) *scrapeClient {
	return &scrapeClient{
		c: &http.Client{
			Transport: &http.Transport{DialContext: dial, DisableCompression: true, MaxIdleConnsPerHost: 1},
			Timeout:   30 * time.Second,
		},
		url: "http://" + addr + "/metrics",
	}
}

func (s *scrapeClient) scrape() (int, error) {
	req, err := http.NewRequest(http.MethodGet, s.url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := s.c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	s.last.Reset()
	n, err := io.Copy(&s.last, resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %s", s.url, resp.Status)
	}
	if resp.Header.Get("Content-Encoding") != "gzip" {
		return 0, fmt.Errorf("GET %s: not gzipped (Content-Encoding %q)", s.url, resp.Header.Get("Content-Encoding"))
	}
	return int(n), nil
}

func httpMethod(b *testing.B, name string, p *process, dial func(context.Context, string, string) (net.Conn, error)) *method {
	b.Helper()
	c := newScrapeClient(p.addr, dial)
	b.Cleanup(c.c.CloseIdleConnections)
	m := &method{name: name, proc: p, once: c.scrape}
	switch name {
	case "default":
		m.after = func() (map[string]float64, error) { return collectorDurations(c.last.Bytes(), 3, "") }
	case "default-read-in-scrape":
		m.after = func() (map[string]float64, error) { return collectorDurations(c.last.Bytes(), 3, "-read-in-scrape") }
	case "ovs-only", "ovs_datapath-only", "conntrack-only":
		m.after = func() (map[string]float64, error) { return collectorDurations(c.last.Bytes(), 1, "-alone") }
	}
	return m
}

// collectorDurations reads datapath_scrape_collector_duration_seconds of
// the want collectors from a gzipped scrape: each collector's own wall time
// in that scrape, as the exporter measures it, returned in ns as methods
// "collector-NAME"+suffix.
func collectorDurations(gzipped []byte, want int, suffix string) (map[string]float64, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gzipped))
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), `datapath_scrape_collector_duration_seconds{collector="`)
		if !ok {
			continue
		}
		name, value, ok := strings.Cut(rest, `"} `)
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return nil, fmt.Errorf("collector duration %q: %w", sc.Text(), err)
		}
		out["collector-"+name+suffix] = v * 1e9
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) != want {
		return nil, fmt.Errorf("want the durations of %d collectors in the scrape, got %v", want, out)
	}
	return out, nil
}

// ofctlMethod forks `ovs-ofctl -O OpenFlow15 dump-tables br-int` once per
// scrape, the exec-per-scrape alternative, and reads its output whole.
func ofctlMethod(runDir string) *method {
	env := append(os.Environ(), "OVS_RUNDIR="+runDir)
	return &method{name: "ovs-ofctl-dump-tables", once: func() (int, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "ovs-ofctl", "-O", "OpenFlow15", "dump-tables", "br-int")
		cmd.Env = env
		out, err := cmd.Output()
		if err != nil {
			return 0, fmt.Errorf("ovs-ofctl dump-tables: %w", err)
		}
		if !bytes.Contains(out, []byte("active=")) {
			return 0, fmt.Errorf("ovs-ofctl dump-tables: no table in %q", out)
		}
		return 0, nil
	}}
}

// echoFloor is the OpenFlow floor: one ECHO_REQUEST/ECHO_REPLY round trip
// on a kept session to br-int.mgmt (after an OpenFlow 1.5 HELLO exchange),
// written raw on the socket. An OVS collector scrape on its kept session is
// one multipart request and reply over the same socket; the second method
// returned makes that request (table statistics) raw on the same session,
// so that the report can tell what OVS takes to answer it from what the
// exporter adds.
func echoFloor(b *testing.B, path string) (*method, *method) {
	b.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	r := bufio.NewReader(c)
	const version = 0x06 // OpenFlow 1.5
	var xid uint32
	var lastFlags uint16 // flags of the last multipart reply
	msg := func(typ uint8) []byte {
		xid++
		h := make([]byte, 8)
		h[0], h[1] = version, typ
		binary.BigEndian.PutUint16(h[2:], 8)
		binary.BigEndian.PutUint32(h[4:], xid)
		return h
	}
	// wait reads messages until one of type typ with the last xid.
	wait := func(typ uint8, anyXID bool) error {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		for {
			h := make([]byte, 8)
			if _, err := io.ReadFull(r, h); err != nil {
				return err
			}
			n := int(binary.BigEndian.Uint16(h[2:]))
			if n < 8 {
				return fmt.Errorf("OpenFlow message of length %d", n)
			}
			body := make([]byte, n-8)
			if _, err := io.ReadFull(r, body); err != nil {
				return err
			}
			if h[1] == 2 { // the switch's own ECHO_REQUEST: answer it
				reply := append(slices.Clone(h), body...)
				reply[1] = 3
				if _, err := c.Write(reply); err != nil {
					return err
				}
				continue
			}
			if h[1] == 1 { // ERROR
				return fmt.Errorf("OpenFlow error from %s", path)
			}
			if h[1] == typ && (anyXID || binary.BigEndian.Uint32(h[4:]) == xid) {
				if typ == 19 && len(body) >= 4 {
					lastFlags = binary.BigEndian.Uint16(body[2:])
				}
				return nil
			}
		}
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(msg(0)); err != nil { // HELLO
		b.Fatal(err)
	}
	if err := wait(0, true); err != nil {
		b.Fatalf("OpenFlow hello on %s: %v", path, err)
	}
	echo := &method{name: "floor-openflow-echo", once: func() (int, error) {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(msg(2)); err != nil { // ECHO_REQUEST
			return 0, err
		}
		return 0, wait(3, false) // ECHO_REPLY
	}}
	// The bare request the collector makes: OFPMP_TABLE_STATS (multipart
	// type 3), its reply read and dropped, nothing decoded.
	tableStats := &method{name: "openflow-table-stats-raw", once: func() (int, error) {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		req := append(msg(18), 0, 3, 0, 0, 0, 0, 0, 0) // MULTIPART_REQUEST, OFPMP_TABLE
		binary.BigEndian.PutUint16(req[2:], uint16(len(req)))
		if _, err := c.Write(req); err != nil {
			return 0, err
		}
		for {
			if err := wait(19, false); err != nil { // MULTIPART_REPLY
				return 0, err
			}
			if lastFlags&1 == 0 { // no OFPMPF_REPLY_MORE
				return 0, nil
			}
		}
	}}
	return echo, tableStats
}

// netlinkFloor is the conntrack floor: one ctnetlink global-statistics
// request and reply on a kept netlink socket in the namespace, the same
// kind of socket and the first of the two requests conntrack.Reader.Read
// makes (on a socket it dials per scrape).
func netlinkFloor(b *testing.B, nsPath string) *method {
	b.Helper()
	f, err := os.Open(nsPath)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	c, err := ctnl.Dial(&netlink.Config{NetNS: int(f.Fd())})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return &method{name: "floor-netlink-statsglobal", once: func() (int, error) {
		_, err := c.StatsGlobal()
		return 0, err
	}}
}

// readerMethod is what the conntrack collector does per scrape, in this
// process: conntrack.Reader.Read, which dials a netlink socket in the
// namespace, asks for the global and the per-CPU statistics and closes it.
func readerMethod(b *testing.B, nsPath string) *method {
	b.Helper()
	r, err := conntrack.NewReader(conntrack.Config{NetnsPath: nsPath})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	return &method{name: "conntrack-reader-read", once: func() (int, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := r.Read(ctx)
		return 0, err
	}}
}

// storm sends clients concurrent clients, each with its own kept-alive
// connection, scrapes gzip scrapes each, all released at once, against the
// exporter p. It prints the errors, latency percentiles, the exporter's
// peak RSS during the storm (VmHWM, reset before through clear_refs) and
// its open file descriptors before, at the peak and after.
func storm(b *testing.B, p *process, clients, scrapes int) {
	b.Helper()
	fdsBefore := p.fds()
	// Writing 5 to clear_refs resets the peak RSS (VmHWM) to the current RSS.
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", p.cmd.Process.Pid), []byte("5"), 0); err != nil {
		b.Fatalf("resetting the exporter's peak RSS: %v", err)
	}
	rssBefore, _ := p.status("VmRSS")

	var (
		mu        sync.Mutex
		latencies []float64
		errs      int
		firstErr  error
		start     = make(chan struct{})
		wg        sync.WaitGroup
		peakFDs   int
		stopWatch = make(chan struct{})
		watched   = make(chan struct{})
	)
	go func() { // the fds during the storm
		defer close(watched)
		for {
			peakFDs = max(peakFDs, p.fds())
			select {
			case <-stopWatch:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	cs := make([]*scrapeClient, clients)
	for i := range cs {
		cs[i] = newScrapeClient(p.addr, nil)
		cs[i].c.Timeout = 10 * time.Second
	}
	for _, c := range cs {
		wg.Go(func() {
			<-start
			for range scrapes {
				t0 := time.Now()
				_, err := c.scrape()
				d := time.Since(t0)
				mu.Lock()
				latencies = append(latencies, float64(d.Nanoseconds()))
				if err != nil {
					errs++
					firstErr = cmpOr(firstErr, err)
				}
				mu.Unlock()
			}
		})
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	wall := time.Since(t0)
	close(stopWatch)
	<-watched
	hwm, err := p.status("VmHWM")
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range cs {
		c.c.CloseIdleConnections()
	}
	// The server closes its side once the client has: wait for that.
	fdsAfter := p.fds()
	for deadline := time.Now().Add(5 * time.Second); fdsAfter > fdsBefore && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		fdsAfter = p.fds()
	}
	slices.Sort(latencies)
	pct := func(q float64) float64 { return latencies[min(len(latencies)-1, int(q*float64(len(latencies))))] / 1e6 }
	fmt.Printf("storm-clients: %d\n", clients)
	fmt.Printf("storm-scrapes: %d\n", clients*scrapes)
	fmt.Printf("storm-errors: %d\n", errs)
	if firstErr != nil {
		fmt.Printf("storm-first-error: %v\n", firstErr)
	}
	fmt.Printf("storm-wall-ms: %.0f\n", float64(wall.Microseconds())/1e3)
	fmt.Printf("storm-p50-ms: %.1f\n", pct(0.50))
	fmt.Printf("storm-p99-ms: %.1f\n", pct(0.99))
	fmt.Printf("storm-max-ms: %.1f\n", latencies[len(latencies)-1]/1e6)
	fmt.Printf("storm-rss-before-kib: %d\n", rssBefore)
	fmt.Printf("storm-peak-rss-kib: %d\n", hwm)
	fmt.Printf("storm-fds-before: %d\n", fdsBefore)
	fmt.Printf("storm-fds-peak: %d\n", peakFDs)
	fmt.Printf("storm-fds-after: %d\n", fdsAfter)
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// zoneDump compares the per-zone count of the whole table three ways, in
// rounds of one call each: this project's conntrack.Reader.ZoneCounts (a
// dump it decodes only as far as the zone), ti-mo/conntrack's Dump (every
// entry decoded into a Flow) and `conntrack -L` forked in the namespace.
// Each dials (or forks) per call, as a scrape would.
func zoneDump(b *testing.B, nsPath, nsName string, entries, rounds int) {
	b.Helper()
	r, err := conntrack.NewReader(conntrack.Config{NetnsPath: nsPath})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	f, err := os.Open(nsPath)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	ctx := context.Background()
	methods := []struct {
		name string
		once func() (uint64, error)
	}{
		{"zonecounts", func() (uint64, error) {
			ctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			zones, err := r.ZoneCounts(ctx)
			var n uint64
			for _, c := range zones {
				n += c
			}
			return n, err
		}},
		{"ti-mo-dump", func() (uint64, error) {
			c, err := ctnl.Dial(&netlink.Config{NetNS: int(f.Fd())})
			if err != nil {
				return 0, err
			}
			defer c.Close()
			flows, err := c.Dump(nil)
			zones := map[uint16]uint64{}
			for _, fl := range flows {
				zones[fl.Zone]++
			}
			return uint64(len(flows)), err
		}},
		{"conntrack-L", func() (uint64, error) {
			ctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "ip", "netns", "exec", nsName, "conntrack", "-L")
			out, err := cmd.StdoutPipe()
			if err != nil {
				return 0, err
			}
			if err := cmd.Start(); err != nil {
				return 0, err
			}
			zones := map[string]uint64{}
			var n uint64
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				zone := "0"
				if _, z, ok := strings.Cut(sc.Text(), " zone="); ok {
					zone, _, _ = strings.Cut(z, " ")
				}
				zones[zone]++
				n++
			}
			return n, errors.Join(sc.Err(), cmd.Wait())
		}},
	}
	for i := range rounds {
		for j := range methods {
			m := methods[(i+j)%len(methods)]
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			before := ms.TotalAlloc
			t0 := time.Now()
			n, err := m.once()
			d := time.Since(t0)
			runtime.ReadMemStats(&ms)
			if err != nil {
				b.Fatalf("zone dump %s: %v", m.name, err)
			}
			if n < uint64(entries) {
				b.Fatalf("zone dump %s: %d entries, want at least %d", m.name, n, entries)
			}
			fmt.Printf("BenchmarkZoneDump/entries=%d/method=%s\t1\t%d ns/op\t%d B/op\n", entries, m.name, d.Nanoseconds(), ms.TotalAlloc-before)
		}
	}
}
