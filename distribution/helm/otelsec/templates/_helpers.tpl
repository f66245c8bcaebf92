{{- define "otelsec.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "otelsec.serviceAccountName" -}}
{{- .Values.serviceAccount.name | default (include "otelsec.fullname" .) -}}
{{- end -}}

{{- define "otelsec.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "otelsec.labels" -}}
{{ include "otelsec.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: agent
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* The collector configuration: receiver -> memory_limiter -> k8senrich -> batch -> exporters. */}}
{{- define "otelsec.config" -}}
{{- $exporters := keys .Values.exporters | sortAlpha -}}
{{- $k8senrich := merge (dict "node_name" "${env:NODE_NAME}" "cluster_name" .Values.clusterName) .Values.k8senrich -}}
{{- $base := dict
  "receivers" (dict "ebpfsecurity" .Values.receiver)
  "processors" (dict
    "memory_limiter" (dict "check_interval" "1s" "limit_percentage" 80 "spike_limit_percentage" 20)
    "k8senrich" $k8senrich
    "batch" (dict))
  "exporters" .Values.exporters
  "extensions" (dict "health_check" (dict "endpoint" (printf "${env:POD_IP}:%v" .Values.ports.healthCheck)))
  "service" (dict
    "extensions" (list "health_check")
    "pipelines" (dict
      "logs" (dict "receivers" (list "ebpfsecurity") "processors" (list "memory_limiter" "k8senrich" "batch") "exporters" $exporters)
      "metrics" (dict "receivers" (list "ebpfsecurity") "processors" (list "memory_limiter" "k8senrich" "batch") "exporters" $exporters))
    "telemetry" (dict "metrics" (dict "level" "normal" "readers" (list (dict "pull" (dict "exporter" (dict "prometheus" (dict "host" "${env:POD_IP}" "port" .Values.ports.metrics)))))))) -}}
{{- if .Values.runtimePolicy.enabled -}}
{{- $_ := set $base.extensions "runtimepolicy" (dict
  "paths" (list "/etc/otelsec/policies")
  "kubernetes" (dict "enabled" .Values.runtimePolicy.crds "auth_type" "serviceAccount")) -}}
{{- $_ := set $base.service "extensions" (list "health_check" "runtimepolicy") -}}
{{- $_ := set $base.receivers "ebpfsecurity" (merge (dict "policy" (dict "extension" "runtimepolicy")) .Values.receiver) -}}
{{- end -}}
{{- toYaml (mergeOverwrite $base .Values.extraConfig) -}}
{{- end -}}
