{{/*
Expand the name of the chart.
*/}}
{{- define "graph-gateway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Create a default fully qualified app name.
We truncate at 63 chars because some Kubernetes name fields are limited to this (by the DNS naming spec).
If release name contains chart name it will be used as a full name.
*/}}
{{- define "graph-gateway.fullname" -}}
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

{{/*
Create chart name and version as used by the chart label.
*/}}
{{- define "graph-gateway.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels
*/}}
{{- define "graph-gateway.labels" -}}
helm.sh/chart: {{ include "graph-gateway.chart" . }}
{{ include "graph-gateway.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/component: gateway
app.kubernetes.io/part-of: graph-gateway
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Selector labels
*/}}
{{- define "graph-gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "graph-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Create the name of the service account to use
*/}}
{{- define "graph-gateway.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "graph-gateway.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The image reference: repository@digest, else repository:tag (tag defaults to appVersion).
*/}}
{{- define "graph-gateway.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
Paths inside the container. /etc/graph-gateway is ONE projected volume (the
ConfigMap, the secrets, the TLS files), so no mount is nested in another.
*/}}
{{- define "graph-gateway.configDir" -}}/etc/graph-gateway{{- end }}
{{- define "graph-gateway.dataDir" -}}/var/lib/graph-gateway{{- end }}

{{/*
More than one pod can run (fixed replicas or autoscaling): "true" or "".
*/}}
{{- define "graph-gateway.multiPod" -}}
{{- if or .Values.autoscaling.enabled (gt (int .Values.replicaCount) 1) }}true{{- end }}
{{- end }}

{{/*
A shared engine (Redis) is configured: "true" or "".
*/}}
{{- define "graph-gateway.redisConfigured" -}}
{{- if or .Values.redis.url .Values.redis.existingSecret }}true{{- end }}
{{- end }}

{{/*
The Secret that holds secrets.<name>: the existing one, else the chart's own
when a value is given, else "" (not configured). Call with
(dict "ctx" $ "name" "appSecret").
*/}}
{{- define "graph-gateway.secretName" -}}
{{- $s := index .ctx.Values.secrets .name }}
{{- if $s.existingSecret }}
{{- $s.existingSecret }}
{{- else if $s.value }}
{{- include "graph-gateway.fullname" .ctx }}
{{- end }}
{{- end }}

{{/*
The chart creates its own Secret: "true" or "".
*/}}
{{- define "graph-gateway.createSecret" -}}
{{- range $name, $s := .Values.secrets }}
{{- if and $s.value (not $s.existingSecret) }}true{{- end }}
{{- end }}
{{- end }}

{{/*
The port the gRPC probes use (always a number): the health-only plaintext
listener with TLS (the kubelet's gRPC probe cannot speak TLS), else the gRPC port.
*/}}
{{- define "graph-gateway.probePort" -}}
{{- if .Values.tls.enabled }}
{{- int .Values.tls.healthPort }}
{{- else }}
{{- int .Values.containerPorts.grpc }}
{{- end }}
{{- end }}

{{/*
Render-time checks: every mistake the chart can see is refused here with a
message naming the value to set, before anything reaches the cluster.
*/}}
{{- define "graph-gateway.validate" -}}
{{- $errors := list }}
{{- if and (include "graph-gateway.multiPod" .) (not (include "graph-gateway.redisConfigured" .)) }}
{{- $errors = append $errors (printf "replicaCount=%d, autoscaling.enabled=%t: several gateways run, and one quota needs a shared engine: set redis.url (or redis.existingSecret), or run one replica" (int .Values.replicaCount) .Values.autoscaling.enabled) }}
{{- end }}
{{- if and .Values.redis.url .Values.redis.existingSecret }}
{{- $errors = append $errors "redis: set url or existingSecret, not both" }}
{{- end }}
{{- range $name, $s := .Values.secrets }}
{{- if and $s.existingSecret $s.value }}
{{- $errors = append $errors (printf "secrets.%s: set existingSecret or value, not both" $name) }}
{{- end }}
{{- end }}
{{- if and .Values.vault.file.enabled (not (include "graph-gateway.secretName" (dict "ctx" . "name" "vaultKey"))) }}
{{- $errors = append $errors "vault.file.enabled: an encrypted vault file needs a key: set secrets.vaultKey.existingSecret (32 random bytes, base64: openssl rand -base64 32)" }}
{{- end }}
{{- if and .Values.vault.file.enabled .Values.vault.file.existingClaim (include "graph-gateway.multiPod" .) }}
{{- $errors = append $errors "vault.file.existingClaim: one vault file cannot be shared by several pods: run one replica, or leave existingClaim empty (emptyDir per pod)" }}
{{- end }}
{{- if and .Values.tls.enabled (not .Values.tls.existingSecret) }}
{{- $errors = append $errors "tls.enabled: set tls.existingSecret to a Secret with tls.crt, tls.key (and ca.crt for clientAuth)" }}
{{- end }}
{{- if and .Values.tls.enabled (eq (int .Values.tls.healthPort) (int .Values.containerPorts.grpc)) }}
{{- $errors = append $errors "tls.healthPort: must differ from containerPorts.grpc" }}
{{- end }}
{{- if and .Values.metrics.enabled (eq (int .Values.containerPorts.metrics) (int .Values.containerPorts.grpc)) }}
{{- $errors = append $errors "containerPorts.metrics: must differ from containerPorts.grpc" }}
{{- end }}
{{- if and (ne (toString .Values.podDisruptionBudget.minAvailable) "") (ne (toString .Values.podDisruptionBudget.maxUnavailable) "") }}
{{- $errors = append $errors "podDisruptionBudget: set minAvailable or maxUnavailable, not both" }}
{{- end }}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- $errors = append $errors "autoscaling: minReplicas must not exceed maxReplicas" }}
{{- end }}
{{- if and .Values.autoscaling.enabled (not (or (gt (int .Values.autoscaling.targetCPUUtilizationPercentage) 0) (gt (int .Values.autoscaling.targetMemoryUtilizationPercentage) 0))) }}
{{- $errors = append $errors "autoscaling: set targetCPUUtilizationPercentage or targetMemoryUtilizationPercentage" }}
{{- end }}
{{- if $errors }}
{{- fail (printf "\n\ngraph-gateway: invalid values:\n  - %s\n" (join "\n  - " $errors)) }}
{{- end }}
{{- end }}
