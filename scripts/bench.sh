#!/usr/bin/env bash
# Runs the benchmarks that back the README's performance claims, side by side
# in one run, and writes docs/bench/: the raw output (bench.txt), benchstat's
# summary (benchstat.txt, when benchstat can be had), ratio tables
# (README.md) and plots (*.png).
#
# Needs root and the Debian packages of `make deps` (private OVS, network
# namespaces, conntrack); installs gnuplot-nox and time if missing.
#
# Three parts: the in-process benchmarks of the sources (BenchmarkTableCounts,
# BenchmarkConntrackCount; -count/-benchtime); BenchmarkScrapes, which
# builds the exporter, runs it as separate processes next to node_exporter
# and scrapes them over HTTP in interleaved rounds (it takes its own samples:
# BENCH_ROUNDS rounds per step, run once with -benchtime 1x), then the storm;
# and BenchmarkDatapathRead (ovs_datapath's reads against their floors, in
# turns) on the host and, through BenchmarkKernelNodeDatapathRead, inside the
# kernel node VM (TCG: only its ratios mean anything).
#
#   BENCH_COUNT=6 BENCH_TIME=1s BENCH_ROUNDS=15 scripts/bench.sh   (the defaults)
#   BENCH_REPORT_ONLY=1 scripts/bench.sh   (report and plots from docs/bench/bench.txt)
set -euo pipefail
cd "$(dirname "$0")/.."

count=${BENCH_COUNT:-6} # benchstat needs 6 samples for a confidence interval
benchtime=${BENCH_TIME:-1s}
out=docs/bench
mkdir -p "$out"

need=()
command -v gnuplot >/dev/null || need+=(gnuplot-nox)
[ -x /usr/bin/time ] || need+=(time) # peak RSS of the forked ovs-ofctl
if [ ${#need[@]} -gt 0 ]; then
	echo "installing ${need[*]}"
	apt-get install -y -q "${need[@]}" >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q "${need[@]}" >/dev/null; }
fi

# BENCH_REPORT_ONLY=1 skips the runs and rewrites the report and plots
# from the bench.txt there is (after editing analysis.md, say).
if [ -z "${BENCH_REPORT_ONLY:-}" ]; then
	# CI=true: a missing prerequisite fails the run instead of skipping a
	# benchmark and leaving a hole in the tables.
	echo "running benchmarks (-count $count -benchtime $benchtime), raw output in $out/bench.txt"
	{
		echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
		echo "kernel: $(uname -r)"
		echo "ovs: $(ovs-vswitchd --version | head -1)"
		echo "nproc: $(nproc)"
		echo "count: $count"
		CI=true go test -run '^$' -bench '^Benchmark(TableCounts|ConntrackCount)$' -benchmem -benchtime "$benchtime" -count "$count" -timeout 30m ./ovs ./conntrack
		# conntrack_pods's dump and join against conntrack -L and a ti-mo
		# Dump, each call in a process of its own (its peak RSS).
		CI=true BENCH_ROUNDS=${BENCH_ROUNDS:-15} go test -run '^$' -bench '^BenchmarkPodDump$' -benchtime 1x -count 1 -timeout 30m ./collector
		CI=true BENCH_ROUNDS=${BENCH_ROUNDS:-15} go test -run '^$' -bench '^BenchmarkScrapes$' -benchtime 1x -count 1 -timeout 60m ./cmd/datapath-exporter
		# The ovs_datapath collector's reads against their floors: on the
		# host's userspace OVS (control socket only: no openvswitch module
		# here), then inside the kernel node (a VM booted for it; its own
		# samples take turns in the guest, see BenchmarkDatapathRead).
		CI=true BENCH_ROUNDS=${BENCH_ROUNDS:-15} go test -run '^$' -bench '^BenchmarkDatapathRead$' -benchtime 1x -count 1 -timeout 10m ./ovs
		CI=true BENCH_ROUNDS=${BENCH_ROUNDS:-15} go test -run '^$' -bench '^BenchmarkKernelNodeDatapathRead$' -benchtime 1x -count 1 -timeout 15m ./internal/kernelnode
	} 2>&1 | tee "$out/bench.txt.tmp"
	mv "$out/bench.txt.tmp" "$out/bench.txt"

	# benchstat is not a dependency of the module: fetched and run on the side,
	# skipped if the module proxy cannot be reached.
	rm -f "$out/benchstat.txt"
	if timeout 300 go run golang.org/x/perf/cmd/benchstat@latest -col /method "$out/bench.txt" >"$out/benchstat.txt.tmp" 2>/dev/null; then
		mv "$out/benchstat.txt.tmp" "$out/benchstat.txt"
	else
		rm -f "$out/benchstat.txt.tmp"
		echo "benchstat not available (module proxy unreachable?): skipping its summary"
	fi
fi

data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
# analysis.md: the hand-written reading of the targets (why one is missed,
# from profiles), kept next to the report and included in it.
go run ./scripts/benchreport -in "$out/bench.txt" -benchstat "$out/benchstat.txt" -analysis "$out/analysis.md" -out "$out/README.md" -data "$data"

# One plot per benchmark: median time/op against table size, one line per
# method, log-log (or log y only when the sizes start at 0). The data files
# have a header row naming the methods.
plot() { # data-file png title xlabel [linear-x]
	local cols xscale="set logscale xy" xrange="set xrange [500:200000]" key="set key top left box opaque"
	cols=$(head -1 "$1" | wc -w)
	if [ "${5:-}" = linear-x ]; then
		xscale="set logscale y"
		xrange="set xrange [-10000:*]"
		key="set key outside right top box"
	fi
	gnuplot <<EOF
set terminal pngcairo size 1000,600 font "sans,11"
set output "$2"
set termoption noenhanced
set title "$3"
set xlabel "$4"
set ylabel "time per scrape (ms, median)"
$xscale
set format x "%.0s%c"
set format y "%g"
set grid xtics ytics mxtics mytics
$key
$xrange
plot for [i=2:$cols] "$1" using 1:(column(i)/1e6) with linespoints lw 2 pt 7 ps 1.3 title columnhead(i)
EOF
}
plot "$data/TableCounts.dat" "$out/ovs-table-counts.png" \
	"OVS per-table flow counts: one scrape of br-int (OVS $(ovs-vswitchd --version | head -1 | awk '{print $NF}'))" "flows on the bridge"
plot "$data/ConntrackCount.dat" "$out/conntrack-count.png" \
	"Conntrack entry count: one scrape (kernel $(uname -r))" "conntrack entries"
plot "$data/ScrapeFlows.dat" "$out/scrape-flows.png" \
	"Whole HTTP scrapes (gzip, kept-alive) against flows on br-int, conntrack empty" "flows on br-int" linear-x
plot "$data/ScrapeEntries.dat" "$out/scrape-entries.png" \
	"Whole HTTP scrapes (gzip, kept-alive) against conntrack entries, 100k flows" "conntrack entries" linear-x
echo "wrote $out/README.md, $out/ovs-table-counts.png, $out/conntrack-count.png, $out/scrape-flows.png, $out/scrape-entries.png"
