// Command benchreport turns the output of `go test -bench` for
// BenchmarkTableCounts, BenchmarkConntrackCount and BenchmarkScrapes (whose
// sample lines are ScrapeFlows, ScrapeEntries and ZoneDump, plus the storm's
// "storm-*: value" lines) and BenchmarkPodDump into docs/bench/README.md: per size and method the
// median of each metric over the samples, ratio tables of each alternative
// against this project's method, and the targets with whether each
// is met. It also writes one gnuplot data file per benchmark (median ns/op
// per size, one column per method). scripts/bench.sh runs it; stdlib only.
//
//	go run ./scripts/benchreport -in docs/bench/bench.txt -out docs/bench/README.md -data /tmp/d
package main

import (
	"bufio"
	"cmp"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// benchmark describes one benchmark of the report: which method is this
// project's (the denominator of every ratio) and what each method is.
type benchmark struct {
	name    string // without the "Benchmark" prefix
	title   string
	sizeKey string // "flows", "entries"
	plot    string // PNG next to the report, if any
	// plotMethods, if set, are the methods in the plot's data (the
	// others are in the tables only).
	plotMethods []string
	intro       string
	baseline    string
	methods     map[string]string // method -> what it does
	optional    bool              // left out of the report when not run
}

var benchmarks = []benchmark{
	{
		name:    "TableCounts",
		title:   "OVS per-table flow counts",
		sizeKey: "flows",
		plot:    "ovs-table-counts.png",
		intro: "One scrape of the per-table flow counts of an Antrea-like `br-int` (protocols OpenFlow10,OpenFlow15, " +
			"the flows spread evenly over Antrea's 30 named tables) on a private userspace OVS, set up once per size.",
		baseline: "openflow",
		methods: map[string]string{
			"openflow": "**this project**: `ovs.Client.Tables` on the OpenFlow session to `br-int.mgmt` it keeps between scrapes " +
				"(table statistics; names from a table-features reply cached by the client, as in the exporter)",
			"ovs-ofctl-dump-tables": "fork `ovs-ofctl -O OpenFlow15 dump-tables br-int` and parse its text " +
				"(counts only: OF1.5 statistics carry no names, which would need a second fork for `dump-table-features`)",
			"go-openvswitch-dumpflows": "go-openvswitch `OpenFlow.DumpFlows` (forks `ovs-ofctl dump-flows " +
				"--protocols=OpenFlow15` and parses every flow), then a count per table",
		},
	},
	{
		name:    "ConntrackCount",
		title:   "Conntrack entry count",
		sizeKey: "entries",
		plot:    "conntrack-count.png",
		intro: "One scrape of the conntrack entry count of a private network namespace filled with real UDP flows " +
			"on loopback, each method dialling its own netlink socket per scrape.",
		baseline: "statsglobal",
		methods: map[string]string{
			"statsglobal": "**this project**: `conntrack.Reader.Read`, ctnetlink global statistics (count, max) " +
				"and per-CPU statistics: two requests whatever the table size",
			"dump": "ti-mo/conntrack `Dump` of the whole table and `len()`: how a count is had from a dump " +
				"(Antrea's Flow Exporter dumps the table to build its connection store)",
		},
	},
	{
		name:    "ScrapeFlows",
		title:   "Whole HTTP scrapes against flows on br-int",
		sizeKey: "flows",
		plot:    "scrape-flows.png",
		intro: "`BenchmarkScrapes` in cmd/datapath-exporter: whole HTTP scrapes of `/metrics` over one kept-alive " +
			"connection with `Accept-Encoding: gzip`, as Prometheus scrapes (the gzip body is read whole, not " +
			"decompressed). Each exporter is the built binary running as its own process, started once and scraped " +
			"at every step while br-int grows from 0 to 10k to 100k flows (spread over Antrea's 30 named tables; " +
			"the namespace's conntrack table is empty). All methods take turns round after round, so the noise of the " +
			"machine falls on all alike; a sample is the median of one round's scrapes (3 to 20 of them).",
		baseline:    "default",
		methods:     scrapeMethods,
		plotMethods: scrapePlotted,
	},
	{
		name:    "ScrapeEntries",
		title:   "Whole HTTP scrapes against conntrack entries",
		sizeKey: "entries",
		plot:    "scrape-entries.png",
		intro: "The same processes and clients as above, br-int holding 100k flows, while the private namespace's " +
			"conntrack table grows from 0 to 100k to 250k entries (real UDP flows on loopback; nf_conntrack_max is " +
			"left as it is). `entries=0` is the same run as `flows=100k` above.",
		baseline:    "default",
		methods:     scrapeMethods,
		plotMethods: scrapePlotted,
	},
	{
		name:    "ZoneDump",
		title:   "Per-zone count of the whole conntrack table",
		sizeKey: "entries",
		intro: "What the opt-in `conntrack_zones` collector does at every scrape: count the entries of every " +
			"conntrack zone, which only a dump of the whole table can tell. One call per sample, the methods in turns; " +
			"each dials its own netlink socket (or forks) per call. Go B/op is the heap allocated by the benchmark " +
			"process during the call (nothing for the forked `conntrack`'s own memory).",
		baseline: "zonecounts",
		methods: map[string]string{
			"zonecounts": "**this project**: `conntrack.Reader.ZoneCounts`, a ctnetlink dump decoded only as far " +
				"as each entry's zone attribute",
			"ti-mo-dump":  "ti-mo/conntrack `Dump` (every entry decoded into a `Flow`), then a count per `Flow.Zone`",
			"conntrack-L": "fork `ip netns exec NS conntrack -L` and count its lines per `zone=`",
		},
	},
	{
		name:    "PodDump",
		title:   "Conntrack entries per Pod: the dump and the join",
		sizeKey: "entries",
		intro: "`BenchmarkPodDump` in collector: what the opt-in `conntrack_pods` collector does once per " +
			"`--conntrack.pods-refresh`: dump the whole table (real UDP flows on loopback, every one to an address of " +
			"its own) and count its entries per source and destination address of 100 Pods, then build the top-10 " +
			"series. Each call runs in a process of its own, the methods in turns; peak RSS is that process's " +
			"(for `conntrack -L`, the larger of the counting process and the forked `conntrack`), the test binary's " +
			"own ~15 MiB included; series is the number of `datapath_conntrack_pod_entries` series (at most 2×top+2).",
		baseline: "addrcounts",
		methods: map[string]string{
			"addrcounts": "**this project**: `conntrack.Reader.AddrCounts` keeping only the Pods' addresses (a ctnetlink " +
				"dump through a fixed buffer, decoded only as far as the original tuple's addresses and the zone), the join and the export",
			"ti-mo-dump":  "ti-mo/conntrack `Dump` (every entry decoded into a `Flow`), then a map per source and destination address, joined",
			"conntrack-L": "fork `ip netns exec NS conntrack -L` and count its lines per the first `src=` and `dst=`, joined",
		},
		optional: true,
	},
	{
		name:    "DatapathReadHost",
		title:   "ovs_datapath's reads against their floors, host (userspace OVS)",
		sizeKey: "datapaths",
		intro: "`BenchmarkDatapathRead` in ovs: the `ovs_datapath` collector's control-socket reads on a private userspace " +
			"OVS (`netdev@ovs-netdev`), its control socket found at its default name (`ovs-vswitchd.<pid>.ctl`, from the " +
			"pidfile), each on the connection it keeps between scrapes. The methods take turns round after round; a sample " +
			"is the median of one round's calls. The host has no openvswitch module: no generic netlink read here.",
		baseline: "unixctl-dpctl-show",
		methods:  datapathReadMethods,
		optional: true,
	},
	{
		name:    "DatapathReadKernelNode",
		title:   "ovs_datapath's reads against their floors, kernel node (kernel datapath, in the VM)",
		sizeKey: "datapaths",
		intro: "The same benchmark run inside the kernel node (`BenchmarkKernelNodeDatapathRead` in internal/kernelnode " +
			"boots the VM, runs the ovs package's test binary in the guest against its ovs-vswitchd and " +
			"`system@ovs-system`). **The guest runs under TCG when KVM is not usable (this run: see `kernelnode-accel` in " +
			"bench.txt): its timings are emulated and mean nothing by themselves; only the ratios between methods measured " +
			"in the same guest, in turns, do.**",
		baseline: "genetlink-read",
		methods:  datapathReadMethods,
		optional: true,
	},
}

var datapathReadMethods = map[string]string{
	"genetlink-read": "**this project** for `system@` datapaths: `ovs.KernelDatapathReader.Read`, one `OVS_DP_CMD_GET` " +
		"dump of every kernel datapath on the generic netlink socket it keeps, decoded",
	"genetlink-floor": "floor of the genetlink read: `CTRL_CMD_GETFAMILY` of `nlctrl` on the same kept socket (the cheapest " +
		"generic netlink round trip; no module is asked for)",
	"unixctl-dpctl-show": "the same numbers from ovs-vswitchd: `dpctl/show` on the kept control-socket connection, parsed " +
		"(`VswitchdReader.ReadCommands(CmdDpctlShow)`; **this project** for `netdev@` datapaths, read at every scrape)",
	"unixctl-all": "the four commands of the collector at once (`dpctl/show`, `upcall/show`, `memory/show`, `coverage/show`), " +
		"parsed: a scrape when the slow commands are due (`--ovs.slow-stats-max-age`)",
	"unixctl-floor": "floor of the control socket: `version` on the same kept connection (one turn of ovs-vswitchd's main loop)",
}

// scrapePlotted are the lines of the scrape plots: the whole scrapes, the
// exec and the floors.
var scrapePlotted = []string{"default", "ovs-only", "conntrack-only", "all-off", "node-exporter-conntrack",
	"ovs-ofctl-dump-tables", "floor-openflow-echo", "floor-netlink-statsglobal"}

var scrapeMethods = map[string]string{
	"default": "**this project**, default collectors (`ovs`, `ovs_datapath`, `conntrack`), each reading its source " +
		"in the background every 5s (`--ovs.openflow-read-interval`, `--ovs.datapath-read-interval`, `--conntrack.read-interval`) " +
		"and the scrape serving the last reading",
	"default-read-in-scrape": "this project, default collectors with `--ovs.openflow-read-interval=0s " +
		"--ovs.datapath-read-interval=0s --conntrack.read-interval=0s`: every source read in every scrape, as before the background reads (`ovs_datapath`'s " +
		"slow commands still at most every `--ovs.slow-stats-max-age`, so in these back-to-back scrapes mostly `dpctl/show` alone)",
	"default-slow-every-scrape": "this project, default collectors with `--ovs.slow-stats-max-age=0s`: all four control-socket commands at every scrape (runs before the background reads)",
	"ovs-only":                  "this project, `ovs` collector alone (`--no-collector.conntrack --no-collector.ovs_datapath`), reading in the scrape (`--ovs.openflow-read-interval=0s`): what a read costs",
	"ovs_datapath-only":         "this project, `ovs_datapath` collector alone, reading in the scrape (`--ovs.datapath-read-interval=0s`): `dpctl/show` (the slow commands when due) on ovs-vswitchd's control socket",
	"conntrack-only":            "this project, `conntrack` collector alone (`--no-collector.ovs --no-collector.ovs_datapath`), reading in the scrape (`--conntrack.read-interval=0s`)",
	"conntrack_zones-only":      "this project, the opt-in `conntrack_zones` collector alone (a dump of the whole table per scrape)",
	"all-off":                   "this project with every collector off: Go, process and build metrics only",
	"node-exporter-conntrack": "Debian's `prometheus-node-exporter --collector.disable-defaults --collector.conntrack` " +
		"run with `ip netns exec` in the same namespace (it reads that namespace's " +
		"`/proc/sys/net/netfilter/nf_conntrack_{count,max}`), scraped over a socket made inside the namespace",
	"ovs-ofctl-dump-tables": "fork `ovs-ofctl -O OpenFlow15 dump-tables br-int` once (not an HTTP scrape)",
	"collector-ovs": "the `ovs` collector's own wall time within the `default` scrapes, as the exporter reports it " +
		"(`datapath_scrape_collector_duration_seconds{collector=\"ovs\"}`): serving the last background reading; not an HTTP scrape",
	"collector-ovs_datapath": "the `ovs_datapath` collector's own wall time within the `default` scrapes: serving the " +
		"last background reading (not an HTTP scrape)",
	"collector-conntrack-read-in-scrape": "the `conntrack` collector's own wall time within the `default-read-in-scrape` " +
		"scrapes (not an HTTP scrape)",
	"collector-ovs-read-in-scrape": "the `ovs` collector's own wall time within the `default-read-in-scrape` scrapes: " +
		"a read of every bridge beside the other collectors (not an HTTP scrape)",
	"collector-ovs_datapath-read-in-scrape": "the `ovs_datapath` collector's own wall time within the " +
		"`default-read-in-scrape` scrapes (not an HTTP scrape)",
	"collector-ovs_datapath-alone": "the `ovs_datapath` collector's own wall time within the `ovs_datapath-only` scrapes " +
		"(not an HTTP scrape)",
	"collector-conntrack": "the `conntrack` collector's own wall time within the `default` scrapes " +
		"(`datapath_scrape_collector_duration_seconds{collector=\"conntrack\"}`): serving the last background reading; not an HTTP scrape",
	"floor-openflow-echo": "floor of the `ovs` collector: one OpenFlow ECHO request/reply on a kept session " +
		"to `br-int.mgmt` (not an HTTP scrape)",
	"collector-ovs-alone": "the `ovs` collector's own wall time within the `ovs-only` scrapes (no other collector " +
		"of this project running beside it; not an HTTP scrape)",
	"collector-conntrack-alone": "the `conntrack` collector's own wall time within the `conntrack-only` scrapes " +
		"(not an HTTP scrape)",
	"openflow-table-stats-raw": "the `ovs` collector's one request, made raw on the same kept session: an OpenFlow " +
		"1.5 table-statistics multipart request, its reply read and dropped (what OVS takes to answer it; not an HTTP scrape)",
	"conntrack-reader-read": "the `conntrack` collector's work in process: `conntrack.Reader.Read`, which dials a " +
		"netlink socket in the namespace on its first read and keeps it, makes the global and the per-CPU statistics requests " +
		"(not an HTTP scrape)",
	"floor-netlink-statsglobal": "floor of the `conntrack` collector: one ctnetlink global-statistics request on a " +
		"kept netlink socket in the namespace (not an HTTP scrape)",
}

// unit columns shown in the per-method table, in order, and their headings.
var columns = []struct{ unit, heading string }{
	{"ns/op", "time/op"},
	{"resp-B/op", "gzip body"},
	{"B/op", "Go B/op"},
	{"allocs/op", "Go allocs/op"},
	{"ofctl-cpu-ms/op", "ovs-ofctl CPU/op"},
	{"ofctl-peak-RSS-MiB", "ovs-ofctl peak RSS"},
	{"peak-RSS-MiB", "peak RSS"},
	{"series", "series"},
}

func main() {
	in := flag.String("in", "docs/bench/bench.txt", "output of go test -bench")
	out := flag.String("out", "docs/bench/README.md", "report to write")
	stat := flag.String("benchstat", "", "benchstat summary to include, if the file exists")
	data := flag.String("data", "", "directory for the gnuplot data files (none if empty)")
	analysis := flag.String("analysis", "", "hand-written analysis of the targets to include after them, if the file exists")
	flag.Parse()
	if err := run(*in, *out, *stat, *data, *analysis); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

// results holds every sample: benchmark -> size -> method -> unit -> values.
type results map[string]map[int]map[string]map[string][]float64

type parsed struct {
	config  map[string]string
	results results
	order   map[string][]string // methods of a benchmark in order of appearance
	notes   []string            // logged lines worth keeping (go-openvswitch DumpTables)
	runs    int                 // the largest number of samples of one case
}

var (
	benchLineRE = regexp.MustCompile(`^Benchmark(\S+?)(?:-\d+)?\s+(\d+)\s+(.+)$`)
	configRE    = regexp.MustCompile(`^([a-z][a-zA-Z0-9_-]*): (.+)$`)
	logLineRE   = regexp.MustCompile(`^\s+\S+\.go:\d+: (.*)$`)
)

func parse(path string) (*parsed, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p := &parsed{config: map[string]string{}, results: results{}, order: map[string][]string{}}
	seenNote := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := logLineRE.FindStringSubmatch(line); m != nil {
			if strings.Contains(m[1], "go-openvswitch DumpTables") || strings.Contains(m[1], "dump-tables begins") {
				if !seenNote[m[1]] {
					seenNote[m[1]] = true
					p.notes = append(p.notes, m[1])
				}
			}
			continue
		}
		if m := configRE.FindStringSubmatch(line); m != nil {
			p.config[m[1]] = m[2]
			continue
		}
		m := benchLineRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		parts := strings.Split(m[1], "/")
		if len(parts) != 3 {
			continue
		}
		name := parts[0]
		_, sizeStr, ok1 := strings.Cut(parts[1], "=")
		_, method, ok2 := strings.Cut(parts[2], "=")
		size, err := strconv.Atoi(sizeStr)
		if !ok1 || !ok2 || err != nil {
			return nil, fmt.Errorf("%s: unexpected benchmark name %q", path, m[1])
		}
		fields := strings.Fields(m[3])
		if len(fields)%2 != 0 {
			return nil, fmt.Errorf("%s: odd number of value/unit fields in %q", path, line)
		}
		bySize := p.results[name]
		if bySize == nil {
			bySize = map[int]map[string]map[string][]float64{}
			p.results[name] = bySize
		}
		byMethod := bySize[size]
		if byMethod == nil {
			byMethod = map[string]map[string][]float64{}
			bySize[size] = byMethod
		}
		byUnit := byMethod[method]
		if byUnit == nil {
			byUnit = map[string][]float64{}
			byMethod[method] = byUnit
			if !slices.Contains(p.order[name], method) {
				p.order[name] = append(p.order[name], method)
			}
		}
		for i := 0; i < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				return nil, fmt.Errorf("%s: value %q in %q: %w", path, fields[i], line, err)
			}
			byUnit[fields[i+1]] = append(byUnit[fields[i+1]], v)
			p.runs = max(p.runs, len(byUnit[fields[i+1]]))
		}
	}
	return p, sc.Err()
}

func run(in, out, stat, data, analysis string) error {
	p, err := parse(in)
	if err != nil {
		return err
	}
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }

	w("# Benchmarks\n\n")
	w("Generated by `make bench` (`scripts/bench.sh`); do not edit. Raw output: [bench.txt](bench.txt)")
	if _, err := os.Stat(stat); stat != "" && err == nil {
		w(", benchstat summary: [benchstat.txt](benchstat.txt)")
	}
	w(".\n\n")
	w("Run %s on %s (%s CPUs, %s/%s), kernel %s, %s. ", p.config["date"], p.config["cpu"], p.config["nproc"],
		p.config["goos"], p.config["goarch"], p.config["kernel"], p.config["ovs"])
	w("Every figure is the median of its samples: %s runs (`-count`) of the in-process benchmarks of `ovs` and "+
		"`conntrack`, %s rounds of `BenchmarkScrapes`; ± is half the spread between the fastest and slowest sample. ",
		cmp.Or(p.config["count"], strconv.Itoa(p.runs)), cmp.Or(p.config["rounds"], "—"))
	w("Time is wall-clock per scrape, child processes included. Go B/op and allocs/op count the Go heap of the " +
		"benchmark process only; the memory of a forked `ovs-ofctl` is shown separately as its peak RSS " +
		"(measured under `/usr/bin/time`, since the rusage of a child started by Go reports the parent's RSS).\n\n")
	w("Ratios are *alternative ÷ this project*: 40× means the alternative takes 40 times as long, or allocates " +
		"40 times as many bytes, per scrape.\n\n")
	writeTargets(w, p)
	if text, err := os.ReadFile(analysis); analysis != "" && err == nil {
		w("%s\n\n", strings.TrimSpace(string(text)))
	}
	writeStorm(w, p)

	for _, bm := range benchmarks {
		bySize := p.results[bm.name]
		if len(bySize) == 0 && bm.optional {
			continue
		}
		if len(bySize) == 0 {
			return fmt.Errorf("%s: no results for Benchmark%s", in, bm.name)
		}
		methods := slices.Clone(p.order[bm.name])
		slices.SortStableFunc(methods, func(a, c string) int { // baseline first
			return cmp.Compare(boolInt(a != bm.baseline), boolInt(c != bm.baseline))
		})
		sizes := make([]int, 0, len(bySize))
		for s := range bySize {
			sizes = append(sizes, s)
		}
		slices.Sort(sizes)

		w("## %s (`Benchmark%s`)\n\n%s\n\n", bm.title, bm.name, bm.intro)
		for _, m := range methods {
			w("- `%s`: %s\n", m, cmp.Or(bm.methods[m], "(undocumented method)"))
		}
		if bm.plot != "" {
			w("\n![%s: time per scrape against %s](%s)\n\n", bm.title, bm.sizeKey, bm.plot)
		} else {
			w("\n")
		}

		w("### Ratios against this project (`%s`)\n\n", bm.baseline)
		w("| %s | alternative | time ratio | Go B/op ratio | time (this project → alternative) |\n|---:|---|---:|---:|---|\n", bm.sizeKey)
		for _, s := range sizes {
			base := bySize[s][bm.baseline]
			if base == nil {
				return fmt.Errorf("benchmark %s %s=%d: no %s results", bm.name, bm.sizeKey, s, bm.baseline)
			}
			for _, m := range methods {
				if m == bm.baseline || bySize[s][m] == nil {
					continue
				}
				alt := bySize[s][m]
				w("| %s | `%s` | %s | %s | %s → %s |\n", sizeLabel(s), m,
					ratio(median(alt["ns/op"]), median(base["ns/op"])),
					ratio(median(alt["B/op"]), median(base["B/op"])),
					formatValue("ns/op", median(base["ns/op"])), formatValue("ns/op", median(alt["ns/op"])))
			}
		}
		w("\n### Per method\n\n")
		var present []int
		for i, c := range columns {
			for _, s := range sizes {
				for _, m := range methods {
					if len(bySize[s][m][c.unit]) > 0 && !slices.Contains(present, i) {
						present = append(present, i)
					}
				}
			}
		}
		w("| %s | method |", bm.sizeKey)
		for _, i := range present {
			w(" %s |", columns[i].heading)
		}
		w("\n|---:|---|%s\n", strings.Repeat("---:|", len(present)))
		for _, s := range sizes {
			for _, m := range methods {
				byUnit := bySize[s][m]
				if byUnit == nil {
					continue
				}
				w("| %s | `%s` |", sizeLabel(s), m)
				for _, i := range present {
					vs := byUnit[columns[i].unit]
					if len(vs) == 0 {
						w(" — |")
						continue
					}
					w(" %s%s |", formatValue(columns[i].unit, median(vs)), spread(vs))
				}
				w("\n")
			}
		}
		w("\n")
		if bm.name == "TableCounts" && len(p.notes) > 0 {
			w("### go-openvswitch `OpenFlow.DumpTables` against this OVS\n\n")
			w("Logged by the benchmark (not timed). It reads a table as two joined lines in the pre-2.0 format " +
				"`0: classifier: wild=0x3fffff, max=1000000, active=0` / `lookup=0, matched=0`:\n\n```text\n")
			for _, n := range p.notes {
				w("%s\n", n)
			}
			w("```\n\n")
		}
		if data != "" {
			plotted := methods
			if len(bm.plotMethods) > 0 {
				plotted = slices.DeleteFunc(slices.Clone(methods), func(m string) bool { return !slices.Contains(bm.plotMethods, m) })
			}
			if err := writeData(filepath.Join(data, bm.name+".dat"), bySize, sizes, plotted); err != nil {
				return err
			}
		}
	}

	if st, err := os.ReadFile(stat); stat != "" && err == nil {
		w("## benchstat\n\n<details><summary>`benchstat -col /method bench.txt`</summary>\n\n```text\n%s```\n\n</details>\n",
			strings.TrimRight(string(st), "\n")+"\n")
	}
	return os.WriteFile(out, []byte(b.String()), 0o644)
}

// writeData writes median ns/op per size, one column per method, with a
// header row gnuplot reads as column titles.
func writeData(path string, bySize map[int]map[string]map[string][]float64, sizes []int, methods []string) error {
	var b strings.Builder
	b.WriteString("size")
	for _, m := range methods {
		b.WriteString(" " + m)
	}
	b.WriteString("\n")
	for _, s := range sizes {
		fmt.Fprintf(&b, "%d", s)
		for _, m := range methods {
			if vs := bySize[s][m]["ns/op"]; len(vs) > 0 {
				fmt.Fprintf(&b, " %g", median(vs))
			} else {
				b.WriteString(" NaN")
			}
		}
		b.WriteString("\n")
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func median(vs []float64) float64 {
	if len(vs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// spread is " ±x%": half the range over the median, omitted below 1%.
func spread(vs []float64) string {
	m := median(vs)
	if len(vs) < 2 || m == 0 {
		return ""
	}
	pct := (slices.Max(vs) - slices.Min(vs)) / 2 / m * 100
	if pct < 1 {
		return ""
	}
	return fmt.Sprintf(" ±%.0f%%", pct)
}

func ratio(alt, base float64) string {
	if base == 0 || math.IsNaN(alt) || math.IsNaN(base) {
		return "—"
	}
	r := alt / base
	switch {
	case r >= 10:
		return fmt.Sprintf("**%.0f×**", r)
	case r >= 1:
		return fmt.Sprintf("%.1f×", r)
	default:
		return fmt.Sprintf("%.2f×", r)
	}
}

func sizeLabel(n int) string {
	if n >= 1000 && n%1000 == 0 {
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}

func formatValue(unit string, v float64) string {
	switch unit {
	case "ns/op":
		switch {
		case v >= 1e9:
			return fmt.Sprintf("%.2f s", v/1e9)
		case v >= 1e6:
			return fmt.Sprintf("%.3g ms", v/1e6)
		case v >= 1e3:
			return fmt.Sprintf("%.3g µs", v/1e3)
		}
		return fmt.Sprintf("%.0f ns", v)
	case "B/op", "resp-B/op":
		switch {
		case v >= 1<<20:
			return fmt.Sprintf("%.3g MiB", v/(1<<20))
		case v >= 1<<10:
			return fmt.Sprintf("%.3g KiB", v/(1<<10))
		}
		return fmt.Sprintf("%.0f B", v)
	case "allocs/op":
		return strconv.FormatFloat(math.Round(v), 'f', -1, 64)
	case "ofctl-cpu-ms/op":
		return fmt.Sprintf("%.3g ms", v)
	case "ofctl-peak-RSS-MiB", "peak-RSS-MiB":
		return fmt.Sprintf("%.3g MiB", v)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
