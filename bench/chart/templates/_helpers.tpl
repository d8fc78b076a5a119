{{- define "stack.labels" -}}
app.kubernetes.io/managed-by: {{ .Release.Service }}
shipit.dev/environment: {{ .Values.environment }}
shipit.dev/owner: {{ .Values.owner }}
{{- end }}
