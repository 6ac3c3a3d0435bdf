#!/usr/bin/env bash
# Renders the PNGs in docs/screenshots/ from a real run of the demo: starts
# `bin/datapath-demo` on its own loopback ports (so a running `make demo` is
# not disturbed), waits until Prometheus has a few minutes of data (conntrack
# filling up to the limit, pod churn in the flow tables named by the Antrea
# agent stand-in, the drift while two SpoofGuard flows are missing, datapath
# traffic and meter drops, alerts pending and firing), screenshots
# Prometheus' graph and alerts pages with headless Chromium while the drift
# lasts, then stops the demo and checks that nothing of it is left.
#
# The demo's Prometheus is Debian's 2.42 here, for its classic web UI: the
# Prometheus 3 the tests run is built from the Go module without the UI's
# assets and serves the HTTP API only (scripts/prometheus3.sh).
#
# Needs root (the demo makes network namespaces and private OVS daemons) and
# Debian (installs `chromium` with apt-get if missing). `make screenshots`.
#
# Environment:
#   SCREENSHOT_EXPORTER_ADDRESS  exporter listen address   (127.0.0.1:10457)
#   SCREENSHOT_PROMETHEUS_ADDRESS Prometheus listen address (127.0.0.1:9190)
#   SCREENSHOT_WAIT              seconds of data to collect before rendering (245)
#   SCREENSHOT_CHURN             the demo's pod churn interval (45s): its drift
#                                lasts from 3 to 7 intervals in, around the rendering
#   SCREENSHOT_RANGE             range of the graphs   (the minutes of data collected)
#   SCREENSHOT_OUT               output directory           (docs/screenshots)
set -euo pipefail
cd "$(dirname "$0")/.."

exporter_addr=${SCREENSHOT_EXPORTER_ADDRESS:-127.0.0.1:10457}
prom_addr=${SCREENSHOT_PROMETHEUS_ADDRESS:-127.0.0.1:9190}
wait_seconds=${SCREENSHOT_WAIT:-245}
churn=${SCREENSHOT_CHURN:-45s}
out=${SCREENSHOT_OUT:-docs/screenshots}
chromium=${CHROMIUM:-/usr/bin/chromium}
prom="http://$prom_addr"

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

log() { printf '%s screenshots: %s\n' "$(date +%T)" "$*" >&2; }

# --- tools ------------------------------------------------------------------
if [ ! -x "$chromium" ]; then
	log "installing Debian package chromium"
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq
	$sudo apt-get install -y -qq chromium
fi
for tool in curl jq ip; do
	command -v "$tool" >/dev/null || { log "$tool is missing"; exit 1; }
done

log "building the exporter and the demo"
${MAKE:-make} --no-print-directory build
go build -o bin/datapath-demo ./internal/cmd/demo

# --- the demo ---------------------------------------------------------------
work=$(mktemp -d /tmp/dpx-screenshots-XXXXXX)
pidfile=$work/demo.pid
demo_log=$work/demo.log
demo_pid=""

# Names of what the demo made, read from its log: the netns of the private
# OVS and of the conntrack load, and the OVS directory.
demo_netns() {
	sed -n -e 's/.*OVS runs in .* (netns \([^)]*\)).*/\1/p' \
		-e 's/.*private network namespace \([^ ]*\) .*/\1/p' "$demo_log" 2>/dev/null
}
demo_ovs_dir() {
	sed -n 's/.*OVS runs in \([^ ]*\) (netns.*/\1/p' "$demo_log" 2>/dev/null
}

stop_demo() {
	local rc=$? pid="" leftovers=""
	trap - EXIT INT TERM
	if [ -s "$pidfile" ]; then pid=$(cat "$pidfile"); fi
	[ -n "$pid" ] || pid=$demo_pid
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		log "stopping the demo (pid $pid)"
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
		if kill -0 "$pid" 2>/dev/null; then
			log "the demo did not stop within 60s; killing it"
			kill -KILL "$pid" 2>/dev/null || true
			rc=1
		fi
	fi
	[ -z "$demo_pid" ] || wait "$demo_pid" 2>/dev/null || true

	# Nothing of the demo may be left: its netns, its OVS daemons, its Prometheus.
	local ns ovs_dir
	for ns in $(demo_netns); do
		if ip netns list | awk '{print $1}' | grep -qx "$ns"; then leftovers+=" netns:$ns"; fi
	done
	ovs_dir=$(demo_ovs_dir)
	if [ -n "$ovs_dir" ] && pgrep -f -- "$ovs_dir" >/dev/null; then
		leftovers+=" ovs:$(pgrep -f -- "$ovs_dir" | tr '\n' ',')"
	fi
	if pgrep -f -- "prometheus.*--web.listen-address=$prom_addr" >/dev/null; then
		leftovers+=" prometheus:$(pgrep -f -- "prometheus.*--web.listen-address=$prom_addr" | tr '\n' ',')"
	fi
	if pgrep -f -- "datapath-exporter.*--web.listen-address=$exporter_addr" >/dev/null; then
		leftovers+=" exporter:$(pgrep -f -- "datapath-exporter.*--web.listen-address=$exporter_addr" | tr '\n' ',')"
	fi
	if [ -n "$leftovers" ]; then
		log "the demo left behind:$leftovers (demo log: $demo_log)"
		exit 1
	fi
	if [ "$rc" -ne 0 ]; then
		log "failed; the demo's log:"
		tail -n 30 "$demo_log" >&2 || true
		log "demo log kept in $demo_log"
	else
		log "demo stopped, nothing left behind"
		rm -rf "$work"
	fi
	exit "$rc"
}
trap stop_demo EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "starting the demo: exporter on $exporter_addr, Prometheus on $prom_addr (log: $demo_log)"
# -duration is a safety net should this script be killed without its trap.
bin/datapath-demo -exporter bin/datapath-exporter \
	-exporter-address "$exporter_addr" -prometheus-address "$prom_addr" \
	-fill 1.02 -fill-minutes 2 -churn "$churn" -prometheus 2.42.0 \
	-duration 20m -pidfile "$pidfile" >"$demo_log" 2>&1 &
demo_pid=$!

# --- wait for data ------------------------------------------------------------
query() { # prints the number of series an instant query returns
	curl -fsS --max-time 5 -G "$prom/api/v1/query" --data-urlencode "query=$1" 2>/dev/null |
		jq -r '.data.result | length' 2>/dev/null || echo 0
}
log "waiting for Prometheus to have data"
for i in $(seq 1 120); do
	kill -0 "$demo_pid" 2>/dev/null || { log "the demo exited early"; exit 1; }
	if [ "$(query 'datapath_conntrack_entries')" -gt 0 ] &&
		[ "$(query 'datapath_ovs_table_flows{bridge="br-int"}')" -gt 0 ]; then
		break
	fi
	[ "$i" -lt 120 ] || { log "no data in Prometheus after 120s"; exit 1; }
	sleep 1
done
data_start=$(date +%s)
log "data is flowing; collecting ${wait_seconds}s of it (conntrack fill, pod churn, drift, datapath traffic, alerts)"
for _ in $(seq 1 "$wait_seconds"); do
	kill -0 "$demo_pid" 2>/dev/null || { log "the demo exited early"; exit 1; }
	sleep 1
done
# drift.png and alerts.png need the drift on (SpoofGuard 2 flows short of
# the agent's count) and no churn step under way (during one, the agent's
# count, read every 5 s, lags OVS's by the step's 200 flows).
drift='datapath_ovs_table_flows{bridge="br-int"} - on(instance,job,bridge,table_id) group_left datapath_antrea_agent_table_flows'
spoofguard_drift='datapath_ovs_table_flows{bridge="br-int",table_name="SpoofGuard"} - on(instance,job,bridge,table_id) group_left datapath_antrea_agent_table_flows'
for i in $(seq 1 60); do
	[ "$(query "($spoofguard_drift == -2) and on() (count($drift != 0) == 1)")" -eq 0 ] || break
	[ "$i" -lt 60 ] || {
		log "no drift on SpoofGuard alone in the last minute (the demo's log says when it made it); set SCREENSHOT_WAIT and SCREENSHOT_CHURN so that rendering falls inside it"
		exit 1
	}
	sleep 1
done

# --- screenshots ----------------------------------------------------------------
# Debian's Prometheus serves only the classic UI, under /classic/ (its /alerts
# is a 404); upstream builds serve the React UI at /.
ui=""
if [ "$(curl -s -o /dev/null -w '%{http_code}' "$prom/alerts")" != 200 ] &&
	[ "$(curl -s -o /dev/null -w '%{http_code}' "$prom/classic/alerts")" = 200 ]; then
	ui=/classic
fi
# The graphs span the data there is (rounded up to whole minutes).
range=${SCREENSHOT_RANGE:-$((($(date +%s) - data_start + 59) / 60))m}
urlencode() {
	jq -rn --arg s "$1" '$s | @uri'
}
graph_url() { # a graph page with one panel per expression; "table:EXPR" is a table of its values now
	local url="$prom$ui/graph?" i=0 expr tab
	for expr in "$@"; do
		tab=0
		case $expr in table:*) tab=1 expr=${expr#table:} ;; esac
		url+="g$i.expr=$(urlencode "$expr")&g$i.tab=$tab&g$i.stacked=0&g$i.show_exemplars=0&g$i.range_input=$range&"
		i=$((i + 1))
	done
	echo "${url%&}"
}
shoot() { # file url [window size]
	local file=$1 url=$2 size=${3:-1400,900} profile
	profile=$(mktemp -d "$work/chromium-XXXXXX")
	log "rendering $file"
	rm -f "$file"
	"$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync \
		--disable-dev-shm-usage --hide-scrollbars --user-data-dir="$profile" \
		--window-size="$size" --virtual-time-budget=15000 \
		--screenshot="$file" "$url" >"$work/chromium.log" 2>&1 || {
		log "chromium failed on $url:"
		tail -n 20 "$work/chromium.log" >&2
		return 1
	}
	rm -rf "$profile"
	[ -s "$file" ] || { log "chromium wrote no $file"; return 1; }
}

mkdir -p "$out"
# While the drift lasts: SpoofGuard's drift over the run, clamped to +-5 so
# that the 2 missing flows show next to the churn steps' spikes of 200, and
# the drift of every table now (SpoofGuard -2, the others 0); then the
# alerts (its alert pending next to the conntrack ones).
shoot "$out/drift.png" "$(graph_url "clamp($spoofguard_drift, -5, 5)" "table:sort($drift)")" 1400,1800
shoot "$out/alerts.png" "$prom$ui/alerts"
shoot "$out/flows-per-table.png" \
	"$(graph_url 'datapath_ovs_table_flows{bridge="br-int",table_name=~"SpoofGuard|EndpointDNAT|ServiceLB|L3Forwarding|L2ForwardingCalc"}')"
# Two graphs on one page: the datapath's hit/missed/lost lookups and the
# packet-in meter's drops, as the dashboard's OVS datapath row shows them.
shoot "$out/datapath.png" "$(graph_url 'sum by (datapath, result) (rate(datapath_ovs_datapath_lookups_total[1m]))' \
	'sum by (bridge, meter_id) (rate(datapath_ovs_meter_packets_dropped_total[1m]))')" 1400,1400
shoot "$out/conntrack-percent.png" \
	"$(graph_url '100 * datapath_conntrack_entries / datapath_conntrack_entries_limit')"

ls -l "$out"/*.png >&2
