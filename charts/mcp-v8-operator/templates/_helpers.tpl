{{/* Object names and labels shared by every template. */}}

{{- define "mcp-v8-operator.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The executors' NetworkPolicy admits pods by this exact name label, so it is never overridable. */}}
{{- define "mcp-v8-operator.selectorLabels" -}}
app.kubernetes.io/name: mcp-v8-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "mcp-v8-operator.labels" -}}
{{ include "mcp-v8-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: mcp-v8
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "mcp-v8-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "mcp-v8-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Leader election is required as soon as two replicas could reconcile at once. */}}
{{- define "mcp-v8-operator.leaderElect" -}}
{{- if or .Values.leaderElection (gt (int .Values.replicas) 1) -}}true{{- end -}}
{{- end -}}
