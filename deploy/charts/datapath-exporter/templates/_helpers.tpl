{{/* The name of every object: the release name if it contains the chart's name, else <release>-<chart>. */}}
{{- define "datapath-exporter.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The labels the pods are selected by (immutable in a DaemonSet). */}}
{{- define "datapath-exporter.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The labels of every object. */}}
{{- define "datapath-exporter.labels" -}}
{{ include "datapath-exporter.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "datapath-exporter.serviceAccountName" -}}
{{- default (include "datapath-exporter.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "datapath-exporter.image" -}}
{{- printf "%s:%s" .Values.image.repository (default (printf "v%s" .Chart.AppVersion) .Values.image.tag) -}}
{{- end -}}

{{/*
"true" when a toggle of auto|true|false is on: auto is on when the cluster
serves the kind (.kind, e.g. monitoring.coreos.com/v1/PodMonitor).
*/}}
{{- define "datapath-exporter.enabled" -}}
{{- if eq (toString .value) "auto" -}}
{{- if .root.Capabilities.APIVersions.Has .kind }}true{{ end -}}
{{- else if .value -}}
true
{{- end -}}
{{- end -}}

{{- define "datapath-exporter.podMonitorEnabled" -}}
{{- include "datapath-exporter.enabled" (dict "root" . "value" .Values.podMonitor.enabled "kind" "monitoring.coreos.com/v1/PodMonitor") -}}
{{- end -}}

{{- define "datapath-exporter.rulesEnabled" -}}
{{- include "datapath-exporter.enabled" (dict "root" . "value" .Values.rules.enabled "kind" "monitoring.coreos.com/v1/PrometheusRule") -}}
{{- end -}}
