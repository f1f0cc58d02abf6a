{{/* Names and labels, as `helm create` lays them out. */}}
{{- define "videogate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "videogate.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "videogate.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "videogate.labels" -}}
helm.sh/chart: {{ include "videogate.chart" . }}
{{ include "videogate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "videogate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "videogate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "videogate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "videogate.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "videogate.secretName" -}}
{{- if .Values.secrets.create }}
{{- include "videogate.fullname" . }}
{{- else }}
{{- required "secrets.existingSecret is required when secrets.create is false" .Values.secrets.existingSecret }}
{{- end }}
{{- end }}

{{- define "videogate.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
More than one pod (HTTP replicas, autoscaling, or a worker Deployment) share nothing on
disk unless sharedVolume names a claim: refuse the setups whose pods would not find each
other's files (local assets, the simulated provider's jobs).
*/}}
{{- define "videogate.validate" -}}
{{- $several := or .Values.worker.enabled .Values.autoscaling.enabled (gt (int .Values.replicaCount) 1) }}
{{- if and $several (not .Values.sharedVolume.existingClaim) }}
{{- $assets := .Values.config.assets | default dict }}
{{- if ne (default "local" $assets.backend) "s3" }}
{{- fail "several pods need one place for finished media: set config.assets.backend: s3 (with its s3_* settings) or sharedVolume.existingClaim (a ReadWriteMany claim)" }}
{{- end }}
{{- if hasKey (.Values.config.providers | default dict) "simulated" }}
{{- fail "the simulated provider keeps its jobs on local disk: with several pods remove it from config.providers or set sharedVolume.existingClaim" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The volumes and mounts every videogate container has. */}}
{{- define "videogate.volumes" -}}
- name: config
  configMap:
    name: {{ include "videogate.fullname" . }}
- name: data
  emptyDir: {}
- name: tmp
  emptyDir: {}
- name: shared
{{- if .Values.sharedVolume.existingClaim }}
  persistentVolumeClaim:
    claimName: {{ .Values.sharedVolume.existingClaim }}
{{- else }}
  emptyDir: {}
{{- end }}
{{- end }}

{{- define "videogate.volumeMounts" -}}
- name: config
  mountPath: /etc/videogate
  readOnly: true
- name: data
  mountPath: /var/lib/videogate/data
- name: tmp
  mountPath: /tmp
- name: shared
  mountPath: /var/lib/videogate/shared
{{- end }}

{{/* Pod annotations that roll the pods when the config or the chart's Secret changes. */}}
{{- define "videogate.checksums" -}}
checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
{{- if .Values.secrets.create }}
checksum/secret: {{ include (print $.Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end }}
{{- end }}
