#!/usr/bin/env bash
# Builds Prometheus 3 and promtool from the Go module proxy, once per pinned
# version, into a cache the tests and the demo read
# (/var/cache/datapath-exporter/prometheus-<module version>/, the path
# internal/testenv's Prometheus3 names), and points bin/prometheus3 and
# bin/promtool3 at them. Debian packages only Prometheus 2.42, the oldest
# release the tests run; users run 3.x.
#
# The module's own go.mod pins every dependency (`go install pkg@version`),
# so the build is Prometheus's, not ours. It takes a few minutes of CPU on
# a fresh machine (most of a full build is the cloud service discoveries,
# left out below); a second run finds the cache and returns at once. Two runs
# at the same time build once (a lock on the cache).
#
# No web UI: the UI's JavaScript is built with npm and not in the module, so
# these binaries serve the HTTP API (everything the tests use) and no graph
# page; `make screenshots` uses Debian's 2.42 for its classic UI.
set -euo pipefail
cd "$(dirname "$0")/.."

# The pinned module version; github.com/prometheus/prometheus v0.X.Y is
# Prometheus 3.X.Y. internal/testenv/prometheus.go names the same (a test
# checks that they agree).
module_version=v0.316.0
release=3.16.0
cache=${DPX_CACHE:-/var/cache/datapath-exporter}/prometheus-$module_version

log() { printf '%s prometheus3: %s\n' "$(date +%T)" "$*" >&2; }

link() {
	mkdir -p bin
	ln -sfn "$cache/prometheus" bin/prometheus3
	ln -sfn "$cache/promtool" bin/promtool3
}

built() { [ -f "$cache/.complete" ] && [ -x "$cache/prometheus" ] && [ -x "$cache/promtool" ]; }

if built; then
	link
	exit 0
fi
command -v go >/dev/null || { log "go is missing: install Go (see go.mod for the version) and run make deps again"; exit 1; }
command -v flock >/dev/null || { log "flock is missing: apt-get install util-linux"; exit 1; }

mkdir -p "$(dirname "$cache")"
exec 9>"$cache.lock"
flock 9
if built; then # another run built it while this one waited
	link
	exit 0
fi

tmp=$(mktemp -d "$cache.build-XXXXXX")
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
log "building Prometheus $release and promtool from github.com/prometheus/prometheus@$module_version (a few minutes of CPU, once)"
start=$(date +%s)
# As Prometheus's own release builds (.promu.yml): netgo, the version in
# common/version. Not builtinassets: the UI's assets are not in the module.
# Service discovery: only file, http (always built in) and kubernetes
# (deploy/prometheus/scrape-config.yml, checked by promtool in the tests);
# Prometheus's remove_all_sd tag drops the cloud SDKs the tests never use,
# which were most of the build's CPU (the tests use static and file targets).
ldflags="-s -w"
ldflags+=" -X github.com/prometheus/common/version.Version=$release"
ldflags+=" -X github.com/prometheus/common/version.Revision=$module_version"
ldflags+=" -X github.com/prometheus/common/version.Branch=$module_version"
ldflags+=" -X github.com/prometheus/common/version.BuildUser=datapath-exporter"
# Outside this repository, so that its go.mod has no say.
(cd "$tmp" && CGO_ENABLED=0 GOBIN="$tmp" go install -trimpath -tags netgo,remove_all_sd,enable_kubernetes_sd -ldflags "$ldflags" \
	"github.com/prometheus/prometheus/cmd/prometheus@$module_version" \
	"github.com/prometheus/prometheus/cmd/promtool@$module_version")
got=$("$tmp/prometheus" --version 2>&1 | head -n 1)
case $got in
*"version $release "*) ;;
*) log "the build reports \"$got\", want version $release"; exit 1 ;;
esac
touch "$tmp/.complete"
rm -rf "$cache"
mv "$tmp" "$cache"
trap - EXIT
log "built in $(($(date +%s) - start))s: $cache"
link
