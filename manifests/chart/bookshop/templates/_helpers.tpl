{{/* The app's image, the Deployment's and the migration Job's alike. */}}
{{- define "bookshop.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}
{{- end -}}

{{/* migration.helmHook, refused unless each event is one Helm knows: Helm ignores an
unknown one, and a hook with no event it knows is never run (nor installed). */}}
{{- define "bookshop.helmHook" -}}
{{- $known := list "pre-install" "post-install" "pre-delete" "post-delete" "pre-upgrade" "post-upgrade" "pre-rollback" "post-rollback" "test" -}}
{{- range $event := splitList "," .Values.migration.helmHook -}}
{{- if not (has (trim $event) $known) -}}
{{- fail (printf "migration.helmHook: %q is not a Helm hook event (%s)" (trim $event) (join ", " $known)) -}}
{{- end -}}
{{- end -}}
{{ .Values.migration.helmHook }}
{{- end -}}
