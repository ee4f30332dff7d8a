{{/* The image of both Deployments. */}}
{{- define "driftless.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default (printf "v%s" .Chart.AppVersion) }}
{{- end }}

{{/* Labels of an object: (dict "root" $ "name" NAME "component" COMPONENT). */}}
{{- define "driftless.labels" -}}
app.kubernetes.io/name: {{ .name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
app.kubernetes.io/part-of: driftless
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end }}

{{/* Labels of a pod (no Helm labels: they change with every upgrade). */}}
{{- define "driftless.podLabels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/part-of: driftless
{{- end }}

{{/* A cluster-scoped name: suffixed with the namespace outside argocd, so
     that installs in several namespaces do not collide (as `driftless
     install` names them). (dict "root" $ "name" NAME) */}}
{{- define "driftless.clusterName" -}}
{{ .name }}{{ if ne .root.Release.Namespace "argocd" }}-{{ .root.Release.Namespace }}{{ end }}
{{- end }}

{{- define "driftless.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "driftless.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end }}
