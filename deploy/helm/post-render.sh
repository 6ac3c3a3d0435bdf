#!/bin/sh
# Helm post-renderer adding the datapath-exporter sidecar to Antrea's
# antrea-agent DaemonSet, for Antrea installed with its Helm chart (which has
# no value to add a container):
#
#   helm install antrea antrea/antrea --namespace kube-system \
#     --post-renderer ./deploy/helm/post-render.sh
#
# Helm writes the rendered manifests on stdin and reads the result on stdout.
# This script puts them in a temporary kustomization with the antrea-sidecar
# component and runs `kustomize build` (or `kubectl kustomize` when kustomize
# is not installed). Antrea must be released into kube-system: the component
# patches kube-system/antrea-agent.
#
# Environment:
#   DATAPATH_EXPORTER_TAG        image tag of the exporter (default: the component's)
#   DATAPATH_EXPORTER_COMPONENT  the component's directory (default: ../antrea-sidecar
#                                next to this script)
set -eu

here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
component=${DATAPATH_EXPORTER_COMPONENT:-$here/../antrea-sidecar}
if [ ! -f "$component/kustomization.yaml" ]; then
	echo "post-render.sh: no kustomization.yaml in $component: set DATAPATH_EXPORTER_COMPONENT to deploy/antrea-sidecar of datapath-exporter" >&2
	exit 1
fi

if command -v kustomize >/dev/null 2>&1; then
	set -- kustomize build
elif command -v kubectl >/dev/null 2>&1; then
	set -- kubectl kustomize
else
	echo "post-render.sh: neither kustomize nor kubectl is on PATH: install one of them" >&2
	exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/datapath-exporter-post-render.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

cat >"$tmp/helm-rendered.yaml"
if [ ! -s "$tmp/helm-rendered.yaml" ]; then
	echo "post-render.sh: Helm rendered nothing on stdin" >&2
	exit 1
fi
# kustomize loads components only from below the kustomization's directory.
cp -R "$component" "$tmp/antrea-sidecar"
{
	echo 'apiVersion: kustomize.config.k8s.io/v1beta1'
	echo 'kind: Kustomization'
	echo 'resources:'
	echo '- helm-rendered.yaml'
	echo 'components:'
	echo '- antrea-sidecar'
	if [ -n "${DATAPATH_EXPORTER_TAG:-}" ]; then
		echo 'images:'
		echo '- name: ghcr.io/datapath-exporter/datapath-exporter'
		echo "  newTag: \"$DATAPATH_EXPORTER_TAG\""
	fi
} >"$tmp/kustomization.yaml"

"$@" "$tmp" >"$tmp/out.yaml"
# The component patches kube-system/antrea-agent and nothing else: without
# it in Helm's output the sidecar would be silently missing.
if ! grep -Eq '^ *(- )?name: datapath-exporter$' "$tmp/out.yaml"; then
	echo "post-render.sh: Helm's output has no DaemonSet antrea-agent in namespace kube-system, so no sidecar was added: install Antrea's chart with --namespace kube-system" >&2
	exit 1
fi
cat "$tmp/out.yaml"
