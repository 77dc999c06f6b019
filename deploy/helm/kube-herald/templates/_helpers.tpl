{{/* Names and labels shared by every template. */}}

{{- define "kube-herald.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* <release>-kube-herald, or the release name if it already holds the chart's name. */}}
{{- define "kube-herald.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "kube-herald.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "kube-herald.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kube-herald
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of a component: pass (dict "root" $ "component" "producer"). */}}
{{- define "kube-herald.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kube-herald.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- with .receiver }}
kube-herald.io/receiver: {{ . }}
{{- end }}
{{- end -}}

{{- define "kube-herald.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "kube-herald.configName" -}}
{{- printf "%s-config" (include "kube-herald.fullname" .) -}}
{{- end -}}

{{- define "kube-herald.secretName" -}}
{{- default (printf "%s-secrets" (include "kube-herald.fullname" .)) .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "kube-herald.producerServiceAccount" -}}
{{- default (printf "%s-producer" (include "kube-herald.fullname" .)) .Values.producer.serviceAccount.name -}}
{{- end -}}

{{/* herald.yaml: values.config with the receivers (less the chart's `deployment` key). */}}
{{- define "kube-herald.heraldYaml" -}}
{{- if hasKey .Values.config "receivers" -}}
{{- fail "put receivers under the top-level `receivers:` value, not under `config:`" -}}
{{- end -}}
{{- $receivers := list -}}
{{- range .Values.receivers -}}
{{- $receivers = append $receivers (omit . "deployment") -}}
{{- end -}}
{{- $config := deepCopy .Values.config -}}
{{- /* The leader-election Lease lives where the chart's Role allows it: the release's namespace. */ -}}
{{- $election := (($config.producer | default dict).leader_election) | default dict -}}
{{- if and $election.enabled (not $election.lease_namespace) -}}
{{- $_ := set $election "lease_namespace" .Release.Namespace -}}
{{- end -}}
{{- if $receivers -}}
{{- $_ := set $config "receivers" $receivers -}}
{{- end -}}
{{- toYaml $config -}}
{{- end -}}

{{/* A port of the config, or its default: (dict "root" $ "section" "producer" "key" "metrics_port" "default" 9464). */}}
{{- define "kube-herald.port" -}}
{{- $section := index .root.Values.config .section | default dict -}}
{{- index $section .key | default .default -}}
{{- end -}}

{{/*
The pod's secret volume, of the keys it mounts (a list), or nothing: pass (dict "root" $ "keys" LIST).
*/}}
{{- define "kube-herald.secretVolume" -}}
{{- if .keys }}
- name: secrets
  secret:
    secretName: {{ include "kube-herald.secretName" .root }}
    defaultMode: 0440
    items:
      {{- range .keys | uniq }}
      - key: {{ . }}
        path: {{ . }}
      {{- end }}
{{- end }}
{{- end -}}

{{- define "kube-herald.secretMount" -}}
{{- if .keys }}
- name: secrets
  mountPath: /etc/herald-secrets
  readOnly: true
{{- end }}
{{- end -}}

{{/* Pod annotations: scraping, the config's checksum (a changed herald.yaml rolls the pods). */}}
{{- define "kube-herald.podAnnotations" -}}
checksum/config: {{ include "kube-herald.heraldYaml" .root | sha256sum }}
{{- if .root.Values.metrics.podAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .port | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- with .extra }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The three HTTP probes every stage answers on its port named http. */}}
{{- define "kube-herald.probes" -}}
livenessProbe:
  httpGet:
    path: /healthz
    port: http
  periodSeconds: 20
  failureThreshold: 3
readinessProbe:
  httpGet:
    path: /readyz
    port: http
  periodSeconds: 10
  failureThreshold: 3
startupProbe:
  httpGet:
    path: /healthz
    port: http
  periodSeconds: 5
  failureThreshold: {{ .startupFailureThreshold | default 24 }}
{{- end -}}
