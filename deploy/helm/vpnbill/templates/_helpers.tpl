{{/* The chart's name. */}}
{{- define "vpnbill.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's full name, the prefix of every object. */}}
{{- define "vpnbill.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "vpnbill.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "vpnbill.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels of every object. */}}
{{- define "vpnbill.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "vpnbill.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: vpnbill
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "component" "webhook"). */}}
{{- define "vpnbill.selectorLabels" -}}
app.kubernetes.io/name: {{ include "vpnbill.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "vpnbill.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "vpnbill.secretName" -}}
{{- .Values.secrets.name | default (include "vpnbill.fullname" .) -}}
{{- end -}}

{{- define "vpnbill.plansConfigMap" -}}
{{- .Values.plans.existingConfigMap | default (printf "%s-plans" (include "vpnbill.fullname" .)) -}}
{{- end -}}

{{/*
The Secret keys the worker reads: the two it always needs, and each
configured provider's and the Stripe API key's. One per line.
*/}}
{{- define "vpnbill.workerSecretKeys" -}}
smtp-url
credentials-key
{{- with include "vpnbill.providerSecretKeys" . }}
{{ . }}
{{- end }}
{{- if or .Values.config.stripeAPIKey (and .Values.secrets.create (index .Values.secrets.values "stripe-api-key")) }}
stripe-api-key
{{- end }}
{{- end -}}

{{/*
The configured providers' Secret keys, one per line. The worker and the
console read them: the console refuses to start with a provider's URL and
not its secret.
*/}}
{{- define "vpnbill.providerSecretKeys" -}}
{{- $keys := list -}}
{{- if .Values.config.purevpn.apiURL }}{{ $keys = append $keys "purevpn-api-password" }}{{ end -}}
{{- if .Values.config.vpnki.apiURL }}{{ $keys = append $keys "vpnki-api-key" }}{{ end -}}
{{- join "\n" $keys -}}
{{- end -}}

{{/*
The Secret keys the console reads, one per line: console.secretKeys and the
providers' keys; with the customer page, what resend needs too (the page
resets passwords and emails links). The page's own key is mounted apart
(vpnbill.secretVolume's portalKey).
*/}}
{{- define "vpnbill.consoleSecretKeys" -}}
{{- $keys := concat .Values.console.secretKeys (splitList "\n" (include "vpnbill.providerSecretKeys" .)) -}}
{{- if include "vpnbill.portal" . -}}
{{- $keys = without (concat $keys (list "smtp-url" "credentials-key")) "portal-key" .Values.console.portal.secretKey -}}
{{- end -}}
{{- $keys | compact | uniq | join "\n" -}}
{{- end -}}

{{/* Whether the console serves the customer page (the worker then links to it). */}}
{{- define "vpnbill.portal" -}}
{{- if .Values.console.portal.enabled -}}true{{- end -}}
{{- end -}}

{{/*
The customer page's variables shared by the worker and the console: its URL,
its key (a file of the Secret volume, vpnbill.secretVolume's portalKey), how
long a link works.
*/}}
{{- define "vpnbill.portalEnv" -}}
- name: PORTAL_URL
  value: {{ .Values.console.portal.url | quote }}
- name: PORTAL_KEY_FILE
  value: /run/secrets/vpnbill/portal-key
{{- with .Values.console.portal.linkTTL }}
- name: PORTAL_LINK_TTL
  value: {{ . | quote }}
{{- end }}
{{- end -}}

{{/* Whether the webhook serves checkout links. */}}
{{- define "vpnbill.checkout" -}}
{{- if or .Values.webhook.checkout.successURL .Values.webhook.checkout.cancelURL -}}true{{- end -}}
{{- end -}}

{{/* The Secret keys the webhook reads. One per line. */}}
{{- define "vpnbill.webhookSecretKeys" -}}
stripe-webhook-secret
{{- if include "vpnbill.checkout" . }}
stripe-api-key
{{- end }}
{{- end -}}

{{/*
The environment of a process that reads the given Secret keys (list): each
key k as the file /run/secrets/vpnbill/k, named by NAME_FILE where NAME is k
in upper case with '_' for '-' (stripe-webhook-secret: STRIPE_WEBHOOK_SECRET_FILE).
*/}}
{{- define "vpnbill.secretEnv" -}}
{{- range . }}
- name: {{ . | upper | replace "-" "_" }}_FILE
  value: /run/secrets/vpnbill/{{ . }}
{{- end }}
{{- end -}}

{{/*
The volume of those keys: (dict "root" $ "keys" list "portalKey" true), the
last for the customer page's key (console.portal.secretKey) as the file
portal-key, whatever its key's name.
*/}}
{{- define "vpnbill.secretVolume" -}}
- name: secrets
  secret:
    secretName: {{ include "vpnbill.secretName" .root }}
    # 0440: readable by the pod's fsGroup (65532), the processes' group.
    defaultMode: 288
    items:
      {{- range .keys }}
      - key: {{ . }}
        path: {{ . }}
      {{- end }}
      {{- if .portalKey }}
      - key: {{ .root.Values.console.portal.secretKey }}
        path: portal-key
      {{- end }}
{{- end -}}

{{/* Pod template annotations: scraping, and checksums that roll the pods when their configuration changes. */}}
{{- define "vpnbill.podAnnotations" -}}
checksum/env: {{ include (print .root.Template.BasePath "/configmap-env.yaml") .root | sha256sum }}
{{- if not .root.Values.plans.existingConfigMap }}
checksum/plans: {{ include (print .root.Template.BasePath "/configmap-plans.yaml") .root | sha256sum }}
{{- end }}
{{- if .root.Values.secrets.create }}
checksum/secret: {{ include (print .root.Template.BasePath "/secret.yaml") .root | sha256sum }}
{{- end }}
{{- if and .root.Values.metrics.annotations .metricsPort }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .metricsPort | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- with .extra }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The pod spec's common part. */}}
{{- define "vpnbill.podCommon" -}}
automountServiceAccountToken: false
enableServiceLinks: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end -}}

{{/*
Stops rendering with one message naming every required value missing.
*/}}
{{- define "vpnbill.validate" -}}
{{- $missing := list -}}
{{- if not .Values.config.natsURL -}}{{- $missing = append $missing "config.natsURL" -}}{{- end -}}
{{- if not .Values.config.mailFrom -}}{{- $missing = append $missing "config.mailFrom (the customers' emails' sender)" -}}{{- end -}}
{{- if and (not .Values.plans.content) (not .Values.plans.existingConfigMap) -}}{{- $missing = append $missing "plans.content or plans.existingConfigMap (the plans file)" -}}{{- end -}}
{{- if and (not .Values.config.purevpn.apiURL) (not .Values.config.vpnki.apiURL) -}}{{- $missing = append $missing "config.purevpn.apiURL or config.vpnki.apiURL (at least one provider)" -}}{{- end -}}
{{- if and .Values.config.purevpn.apiURL (not .Values.config.purevpn.apiUser) -}}{{- $missing = append $missing "config.purevpn.apiUser" -}}{{- end -}}
{{- if and (include "vpnbill.checkout" .) (not (and .Values.webhook.checkout.successURL .Values.webhook.checkout.cancelURL)) -}}{{- $missing = append $missing "webhook.checkout.successURL and webhook.checkout.cancelURL (both, for checkout links)" -}}{{- end -}}
{{- $portal := .Values.console.portal -}}
{{- if and $portal.enabled (not $portal.url) -}}{{- $missing = append $missing "console.portal.url (the customer page's public URL, e.g. https://vpn.example/account)" -}}{{- end -}}
{{- if and $portal.enabled (not $portal.secretKey) -}}{{- $missing = append $missing "console.portal.secretKey (the Secret's key holding PORTAL_KEY)" -}}{{- end -}}
{{- if $missing -}}
{{- fail (printf "vpnbill: set %s (deploy/helm/vpnbill/README.md)" (join "; " $missing)) -}}
{{- end -}}
{{- if $portal.enabled -}}
{{- if not .Values.console.enabled -}}
{{- fail "vpnbill: console.portal.enabled needs console.enabled: the console serves the customer page" -}}
{{- end -}}
{{- $u := urlParse $portal.url -}}
{{- if or (not (has $u.scheme (list "http" "https"))) (not $u.host) $u.query $u.fragment -}}
{{- fail (printf "vpnbill: console.portal.url %q: want an absolute http(s) URL without query or fragment, e.g. https://vpn.example/account" $portal.url) -}}
{{- end -}}
{{- if eq (int $portal.port) (int .Values.console.port) -}}
{{- fail (printf "vpnbill: console.portal.port %v is the console's port (console.port): the customer page has a listener of its own" $portal.port) -}}
{{- end -}}
{{- if $portal.ingress.enabled -}}
{{- $path := $portal.ingress.path | toString -}}
{{- $prefix := trimSuffix "/" $path -}}
{{- $urlPath := $u.path | default "/" -}}
{{- if not (and (hasPrefix "/" $path) (or (not $prefix) (eq $urlPath $prefix) (hasPrefix (print $prefix "/") $urlPath))) -}}
{{- fail (printf "vpnbill: console.portal.ingress.path %q does not lead to console.portal.url's path %q: the page serves its routes under the URL's path, forwarded unchanged (use / or %s)" $path $urlPath $urlPath) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- range $k, $v := .Values.config.extraEnv -}}
{{- if has (trimSuffix "_FILE" $k) (list "STRIPE_WEBHOOK_SECRET" "PUREVPN_API_PASSWORD" "VPNKI_API_KEY" "SMTP_URL" "CREDENTIALS_KEY" "STRIPE_API_KEY" "CONSOLE_USERS" "CONSOLE_SESSION_KEY" "PORTAL_KEY") -}}
{{- fail (printf "vpnbill: config.extraEnv.%s: secrets go in the Secret (secrets.*), never in the environment" $k) -}}
{{- end -}}
{{- end -}}
{{- if .Values.secrets.create -}}
{{- $need := concat (splitList "\n" (include "vpnbill.webhookSecretKeys" .)) (splitList "\n" (include "vpnbill.workerSecretKeys" .)) -}}
{{- if $portal.enabled -}}{{- $need = append $need $portal.secretKey -}}{{- end -}}
{{- range $need -}}
{{- if not (index $.Values.secrets.values .) -}}
{{- fail (printf "vpnbill: secrets.create is true but secrets.values.%s is empty" .) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
