#!/usr/bin/env bash
# Installs the Debian packages the tests and the demo run for real, if any is
# missing, and builds Prometheus 3 once (scripts/prometheus3.sh). Needs root
# (or sudo). Touches no host settings.
set -euo pipefail
# podman: the deploy module builds and checks the image's final stage.
# prometheus-node-exporter: `make bench` scrapes its conntrack collector
# side by side with this exporter.
# qemu-system-x86, busybox-static, kmod: the kernel node (internal/testenv/kernelnode.go)
# boots Debian's kernel package in a VM; that package is fetched into a cache by
# the harness itself, never installed.
# Prometheus 3 and promtool, built once from the Go module proxy into a
# cache (Debian's prometheus package is 2.42, the oldest release tested),
# and the Go modules of both of this repository's modules, fetched while
# apt-get installs the packages: on a fresh machine the build is the longest
# step, and neither needs a package below (flock is util-linux's, in every
# Debian base system).
here=$(dirname "$0")
"$here/prometheus3.sh" &
prometheus3=$!
(cd "$here/.." && go mod download && cd deploy && go mod download) &
modules=$!
packages=(openvswitch-switch conntrack nftables iproute2 util-linux prometheus podman prometheus-node-exporter qemu-system-x86 busybox-static kmod)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "installing Debian packages: ${missing[*]}"
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq
	# The packages' own services (host OVS, Prometheus) are not needed: the tests
	# start private instances. policy-rc.d keeps them from being started.
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
		$sudo chmod +x /usr/sbin/policy-rc.d
		trap '$sudo rm -f /usr/sbin/policy-rc.d' EXIT
	fi
	$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
wait "$modules" || { echo "deps: go mod download failed (is the Go module proxy reachable?)" >&2; exit 1; }
wait "$prometheus3" || { echo "deps: building Prometheus 3 failed (scripts/prometheus3.sh, above)" >&2; exit 1; }
