{{/*
Names. Object names are DNS labels (63 characters); suffixes are added to `edition.fullname`
so it is cut at 52 to leave room for "-operator" and friends.
*/}}
{{- define "edition.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 52 | trimSuffix "-" -}}
{{- end -}}

{{- define "edition.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "edition.operator.fullname" -}}
{{- printf "%s-operator" (include "edition.fullname" .) -}}
{{- end -}}

{{- define "edition.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "edition.labels" -}}
helm.sh/chart: {{ include "edition.chart" . }}
app.kubernetes.io/name: {{ include "edition.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: edition
{{- end -}}

{{/* Selector of the operator pods: stable across upgrades (never add the version). */}}
{{- define "edition.operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "edition.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "edition.operator.labels" -}}
{{ include "edition.labels" . }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "edition.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "edition.operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "edition.leaseName" -}}
{{- default (printf "%s-leader" (include "edition.operator.fullname" .)) .Values.operator.leaderElection.leaseName -}}
{{- end -}}

{{/*
The namespace the operator watches: "" means every namespace (ClusterRole + binding), a
name means only that one (Role + RoleBinding there).
*/}}
{{- define "edition.watchNamespace" -}}
{{- .Values.operator.watchNamespace -}}
{{- end -}}

{{/* repository[:tag][@digest]; the tag defaults to the chart's appVersion. */}}
{{- define "edition.image" -}}
{{- $tag := default .root.Chart.AppVersion .image.tag -}}
{{- if .image.digest -}}
{{- printf "%s:%s@%s" .image.repository $tag .image.digest -}}
{{- else -}}
{{- printf "%s:%s" .image.repository $tag -}}
{{- end -}}
{{- end -}}
