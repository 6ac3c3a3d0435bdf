package main

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// setup is one step of BenchmarkScrapes: a benchmark and a size.
type setup struct {
	bench string
	size  int
}

func (s setup) String() string {
	if s.bench == "ScrapeFlows" {
		return sizeLabel(s.size) + " flows, 0 entries"
	}
	return "100k flows, " + sizeLabel(s.size) + " entries"
}

// scrapeSetups lists the steps of BenchmarkScrapes in order; entries=0 is
// the same run as flows=100k and is left out.
func scrapeSetups(p *parsed) []setup {
	var out []setup
	for _, bench := range []string{"ScrapeFlows", "ScrapeEntries"} {
		var sizes []int
		for s := range p.results[bench] {
			if bench == "ScrapeEntries" && s == 0 {
				continue
			}
			sizes = append(sizes, s)
		}
		slices.Sort(sizes)
		for _, s := range sizes {
			out = append(out, setup{bench, s})
		}
	}
	return out
}

// nsop is the median time of method at a setup, NaN if not measured.
func nsop(p *parsed, s setup, method string) float64 {
	return median(p.results[s.bench][s.size][method]["ns/op"])
}

// writeTargets writes the targets, each with the measured ratio at
// every setup and whether it is met everywhere.
func writeTargets(w func(string, ...any), p *parsed) {
	setups := scrapeSetups(p)
	if len(setups) == 0 {
		return
	}
	w("## Targets\n\n")
	w("From the medians below (whole HTTP scrapes, gzip, kept-alive connection). A collector's own time is what the " +
		"default exporter reports for it in each of those scrapes (`datapath_scrape_collector_duration_seconds`); " +
		"its floor is one round trip on the socket it reads (OpenFlow ECHO on a kept session to `br-int.mgmt`, " +
		"ctnetlink global statistics on a kept socket in the namespace), measured in the same rounds.\n\n")
	w("| target | limit | measured (per setup) | met |\n|---|---:|---|---|\n")

	type check struct {
		name   string
		limit  float64
		atMost bool // the ratio must be ≤ limit (else ≥)
		ratio  func(s setup) float64
	}
	perSetup := []check{
		{"default scrape ÷ every collector off", 1.3, true, func(s setup) float64 {
			return nsop(p, s, "default") / nsop(p, s, "all-off")
		}},
		{"default scrape ÷ node_exporter conntrack-only scrape", 1.5, true, func(s setup) float64 {
			return nsop(p, s, "default") / nsop(p, s, "node-exporter-conntrack")
		}},
		{"one `ovs-ofctl dump-tables` exec ÷ OVS-only scrape", 5, false, func(s setup) float64 {
			return nsop(p, s, "ovs-ofctl-dump-tables") / nsop(p, s, "ovs-only")
		}},
		// The ovs collector's own time reading in the scrape, alone
		// (`ovs-only`): in the default scrape it serves a background
		// reading, which says nothing of what a read costs.
		{"`ovs` collector's own time, reading in the scrape (`ovs-only`), ÷ OpenFlow ECHO floor", 3, true, func(s setup) float64 {
			return nsop(p, s, "collector-ovs-alone") / nsop(p, s, "floor-openflow-echo")
		}},
		{"`conntrack` collector's own time, reading in the scrape (`conntrack-only`), ÷ netlink floor", 3, true, func(s setup) float64 {
			return nsop(p, s, "collector-conntrack-alone") / nsop(p, s, "floor-netlink-statsglobal")
		}},
	}
	verdict := func(rs []float64, limit float64, atMost bool) string {
		worst := math.NaN()
		for _, r := range rs {
			if math.IsNaN(r) {
				continue
			}
			if math.IsNaN(worst) || (atMost && r > worst) || (!atMost && r < worst) {
				worst = r
			}
		}
		switch {
		case math.IsNaN(worst):
			return "not measured"
		case atMost && worst <= limit, !atMost && worst >= limit:
			return "yes"
		case atMost:
			return fmt.Sprintf("**no**: %.2f×, %.0f%% over", worst, (worst/limit-1)*100)
		default:
			return fmt.Sprintf("**no**: %.2f×, %.0f%% short", worst, (1-worst/limit)*100)
		}
	}
	for _, c := range perSetup {
		var rs []float64
		var parts []string
		for _, s := range setups {
			r := c.ratio(s)
			rs = append(rs, r)
			parts = append(parts, fmt.Sprintf("%s: %s", s, plainRatio(r)))
		}
		op := "≤"
		if !c.atMost {
			op = "≥"
		}
		w("| %s | %s %s× | %s | %s |\n", c.name, op, strconv.FormatFloat(c.limit, 'g', -1, 64),
			strings.Join(parts, "<br>"), verdict(rs, c.limit, c.atMost))
	}
	flat := func(name, bench string, from, to int) {
		a, b := setup{bench, from}, setup{bench, to}
		r := nsop(p, b, "default") / nsop(p, a, "default")
		w("| %s | ≤ 1.2× | %s → %s: %s | %s |\n", name,
			formatValue("ns/op", nsop(p, a, "default")), formatValue("ns/op", nsop(p, b, "default")),
			plainRatio(r), verdict([]float64{r}, 1.2, true))
	}
	flat("flat in flows: default scrape at 100k flows ÷ at 0", "ScrapeFlows", 0, 100_000)
	flat("flat in entries: default scrape at 250k entries ÷ at 0 (100k flows)", "ScrapeEntries", 0, 250_000)
	w("\n")

	w("How far each scrape is from the floor: the collector's own time, the whole scrape with that collector " +
		"alone and what that scrape adds to the one with every collector off (HTTP, gzip, the Go and process " +
		"metrics are in every scrape):\n\n")
	w("| setup | OpenFlow ECHO | raw table stats (÷ ECHO) | `ovs` own, alone, reading (÷ ECHO) | `ovs` own, default, serving (÷ ECHO) | OVS-only scrape (− all off) | " +
		"netlink request | `Reader.Read` (÷ request) | `conntrack` own, alone, reading (÷ request) | `conntrack` own, default, serving (÷ request) | conntrack-only scrape (− all off) | all off |\n" +
		"|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range setups {
		off := nsop(p, s, "all-off")
		e, o := nsop(p, s, "floor-openflow-echo"), nsop(p, s, "ovs-only")
		n, c := nsop(p, s, "floor-netlink-statsglobal"), nsop(p, s, "conntrack-only")
		of := func(method string, floor float64) string {
			v := nsop(p, s, method)
			return fmt.Sprintf("%s (%s)", formatValue("ns/op", v), plainRatio(v/floor))
		}
		w("| %s | %s | %s | %s | %s | %s (%s) | %s | %s | %s | %s | %s (%s) | %s |\n", s,
			formatValue("ns/op", e), of("openflow-table-stats-raw", e), of("collector-ovs-alone", e), of("collector-ovs", e),
			formatValue("ns/op", o), signed(o-off),
			formatValue("ns/op", n), of("conntrack-reader-read", n), of("collector-conntrack-alone", n), of("collector-conntrack", n),
			formatValue("ns/op", c), signed(c-off),
			formatValue("ns/op", off))
	}
	w("\n")
	// The default set against itself reading more in the scrape: OVS in
	// every scrape (this tree), or the slow control-socket commands at
	// every scrape (bench.txt of runs before the background reads).
	for _, v := range []struct{ method, text string }{
		{"default-read-in-scrape", "The default set reading OVS and conntrack in the background (`default`) or in every scrape " +
			"(`default-read-in-scrape`: `--ovs.openflow-read-interval=0s --ovs.datapath-read-interval=0s " +
			"--conntrack.read-interval=0s`), in the same rounds:"},
		{"default-slow-every-scrape", "The slow control-socket commands (`upcall/show`, `memory/show`, `coverage/show`) read at most every " +
			"`--ovs.slow-stats-max-age` (`default`) or at every scrape (`default-slow-every-scrape`, what every scrape " +
			"pays at a scrape interval longer than that), in the same rounds:"},
	} {
		if !slices.ContainsFunc(setups, func(s setup) bool { return !math.IsNaN(nsop(p, s, v.method)) }) {
			continue
		}
		w("%s\n\n", v.text)
		w("| setup | default | ÷ all off | ÷ node_exporter | %s | ÷ all off | ÷ node_exporter |\n|---|---:|---:|---:|---:|---:|---:|\n", v.method)
		for _, s := range setups {
			d, e := nsop(p, s, "default"), nsop(p, s, v.method)
			off, ne := nsop(p, s, "all-off"), nsop(p, s, "node-exporter-conntrack")
			w("| %s | %s | %s | %s | %s | %s | %s |\n", s, formatValue("ns/op", d), plainRatio(d/off), plainRatio(d/ne),
				formatValue("ns/op", e), plainRatio(e/off), plainRatio(e/ne))
		}
		w("\n")
	}
	writeDatapathReads(w, p)
	if note := p.config["targets-note"]; note != "" {
		w("%s\n\n", note)
	}
}

// signed is a time difference with its sign ("+1.2 ms", "−80 µs").
func signed(d float64) string {
	if math.IsNaN(d) {
		return "—"
	}
	if d < 0 {
		return "−" + formatValue("ns/op", -d)
	}
	return "+" + formatValue("ns/op", d)
}

func plainRatio(r float64) string {
	if math.IsNaN(r) || math.IsInf(r, 0) {
		return "—"
	}
	return fmt.Sprintf("%.2f×", r)
}

// writeStorm writes the storm's results, read from the "storm-*: value"
// lines BenchmarkScrapes prints.
func writeStorm(w func(string, ...any), p *parsed) {
	c := p.config
	if c["storm-scrapes"] == "" {
		return
	}
	num := func(k string) float64 {
		v, err := strconv.ParseFloat(c[k], 64)
		if err != nil {
			return math.NaN()
		}
		return v
	}
	yes := func(ok bool) string {
		if ok {
			return "yes"
		}
		return "**no**"
	}
	w("## Scrape storm\n\n")
	w("%s concurrent clients × %s scrapes each (%s scrapes in all, gzip, one kept-alive connection per client, "+
		"all released at once) against the default exporter process at 100k flows and 100k conntrack entries. "+
		"Peak RSS is the process's VmHWM, reset through `/proc/PID/clear_refs` just before the storm; open fds are "+
		"counted in `/proc/PID/fd`.\n\n",
		c["storm-clients"], strconv.Itoa(int(num("storm-scrapes")/math.Max(1, num("storm-clients")))), c["storm-scrapes"])
	w("| measure | value | target | met |\n|---|---:|---:|---|\n")
	w("| errors (non-200 or transport) | %s | 0 | %s |\n", c["storm-errors"], yes(num("storm-errors") == 0))
	w("| latency p50 | %s ms | | |\n", c["storm-p50-ms"])
	w("| latency p99 | %s ms | < 1000 ms | %s |\n", c["storm-p99-ms"], yes(num("storm-p99-ms") < 1000))
	w("| latency max | %s ms | | |\n", c["storm-max-ms"])
	w("| wall time of the storm | %s ms | | |\n", c["storm-wall-ms"])
	w("| RSS before | %.1f MiB | | |\n", num("storm-rss-before-kib")/1024)
	w("| peak RSS during the storm | %.1f MiB | < 30 MiB | %s |\n", num("storm-peak-rss-kib")/1024, yes(num("storm-peak-rss-kib") < 30*1024))
	w("| open fds before → peak → after | %s → %s → %s | back to before | %s |\n",
		c["storm-fds-before"], c["storm-fds-peak"], c["storm-fds-after"], yes(num("storm-fds-after") <= num("storm-fds-before")))
	if e := c["storm-first-error"]; e != "" {
		w("\nFirst error: `%s`\n", e)
	}
	w("\n")
	var procs []string
	for k := range c {
		if m, ok := strings.CutPrefix(k, "peak-rss-kib-"); ok {
			procs = append(procs, m)
		}
	}
	if len(procs) > 0 {
		slices.Sort(procs)
		w("Peak RSS (VmHWM) of each scraped process over the whole run (for the default exporter: since the storm):\n\n")
		w("| process | peak RSS |\n|---|---:|\n")
		for _, m := range procs {
			w("| `%s` | %.1f MiB |\n", m, num("peak-rss-kib-"+m)/1024)
		}
		w("\n")
	}
}

// writeDatapathReads writes the ovs_datapath collector's reads against
// their floors (BenchmarkDatapathRead), on the host and in the kernel node,
// as ratios of medians measured in the same process, in turns.
func writeDatapathReads(w func(string, ...any), p *parsed) {
	type where struct{ bench, label string }
	var rows []where
	for _, wh := range []where{{"DatapathReadHost", "host, userspace OVS (`netdev@ovs-netdev`)"},
		{"DatapathReadKernelNode", "kernel node, kernel datapath (`system@ovs-system`), " + p.config["kernelnode-accel"] + " guest"}} {
		if len(p.results[wh.bench]) > 0 {
			rows = append(rows, wh)
		}
	}
	if len(rows) == 0 {
		return
	}
	w("The `ovs_datapath` collector's reads against their floors (`BenchmarkDatapathRead`, each on its kept socket or " +
		"connection, in turns in one process; in the kernel node all inside the same guest, whose TCG timings are " +
		"emulated: only these ratios mean anything there):\n\n")
	w("| where | genetlink read ÷ its floor | `dpctl/show` ÷ control-socket floor | four commands ÷ control-socket floor | `dpctl/show` ÷ genetlink read | genetlink floor ÷ control-socket floor |\n|---|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		for size, byMethod := range p.results[r.bench] {
			m := func(name string) float64 { return median(byMethod[name]["ns/op"]) }
			_ = size
			w("| %s | %s | %s | %s | %s | %s |\n", r.label,
				plainRatio(m("genetlink-read")/m("genetlink-floor")),
				plainRatio(m("unixctl-dpctl-show")/m("unixctl-floor")),
				plainRatio(m("unixctl-all")/m("unixctl-floor")),
				plainRatio(m("unixctl-dpctl-show")/m("genetlink-read")),
				plainRatio(m("genetlink-floor")/m("unixctl-floor")))
		}
	}
	w("\n")
}
