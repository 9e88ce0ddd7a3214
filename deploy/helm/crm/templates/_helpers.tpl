{{/* Names, labels and the settings every template shares. */}}

{{- define "crm.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else if contains "crm" .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-crm" .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "crm.labels" -}}
app.kubernetes.io/name: crm
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "name" "contacts") */}}
{{- define "crm.selector" -}}
app.kubernetes.io/name: crm
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{/* One service's settings: `defaults` overridden key by key by `services.<name>`. */}}
{{- define "crm.service" -}}
{{- $own := index .root.Values.services .name | default dict -}}
{{- toYaml (mergeOverwrite (deepCopy .root.Values.defaults) (deepCopy $own)) -}}
{{- end -}}

{{- define "crm.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/* What the code needs besides its database and Kafka (facts about the services). */}}
{{- define "crm.usesRedis" -}}
{{- if has . (list "gateway" "reminders" "notifier") }}true{{ end -}}
{{- end -}}

{{/* Who calls whom over HTTP besides the gateway (which calls every service): caller →
callees, facts of the code (a service's `<other>_url` setting; tests/deploy/test_chart.py
checks this list against the code). Each caller gets CRM_<CALLER>_<CALLEE>_URL in the
ConfigMap, and the NetworkPolicies let exactly these calls through. */}}
{{- define "crm.httpCalls" -}}
history: [contacts]
{{- end -}}

{{- define "crm.kafkaBootstrap" -}}
{{- if eq .Values.kafka.mode "external" -}}
{{- required "kafka.external.bootstrap is needed with kafka.mode=external" .Values.kafka.external.bootstrap -}}
{{- else -}}
{{- $k := .Values.kafka.strimzi -}}
{{- printf "%s-kafka-bootstrap.%s.svc:%d" $k.clusterName ($k.namespace | default .Release.Namespace) (int $k.port) -}}
{{- end -}}
{{- end -}}

{{- define "crm.kafkaProtocol" -}}
{{- if eq .Values.kafka.mode "external" -}}
{{- .Values.kafka.external.securityProtocol -}}
{{- else -}}
{{- $k := .Values.kafka.strimzi -}}
{{- $sasl := eq $k.authentication "scram-sha-512" -}}
{{- if and $k.tls $sasl }}SASL_SSL{{ else if $sasl }}SASL_PLAINTEXT{{ else if $k.tls }}SSL{{ else }}PLAINTEXT{{ end -}}
{{- end -}}
{{- end -}}

{{- define "crm.publicUrl" -}}
{{- if .Values.config.publicUrl -}}
{{- .Values.config.publicUrl -}}
{{- else if .Values.ingress.enabled -}}
{{- printf "%s://%s" (ternary "https" "http" .Values.ingress.tls.enabled) .Values.ingress.host -}}
{{- else -}}
http://localhost:8080
{{- end -}}
{{- end -}}

{{/* The KafkaUser (and its Secret) of a principal: (dict "root" $ "name" "contacts") */}}
{{- define "crm.kafkaUser" -}}
{{- printf "%s-%s" (include "crm.fullname" .root) .name -}}
{{- end -}}

{{/* Port every service listens on inside its pod. */}}
{{- define "crm.port" -}}8000{{- end -}}

{{/* The pod security context every pod runs with. */}}
{{- define "crm.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "crm.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: ["ALL"]
{{- end -}}

{{/* Environment of the Kafka connection (security from the KafkaUser's Secret). */}}
{{- define "crm.kafkaEnv" -}}
{{- $root := .root -}}
{{- $user := include "crm.kafkaUser" . -}}
- name: CRM_KAFKA_BOOTSTRAP
  value: {{ include "crm.kafkaBootstrap" $root | quote }}
- name: CRM_KAFKA_SECURITY_PROTOCOL
  value: {{ include "crm.kafkaProtocol" $root | quote }}
{{- if eq $root.Values.kafka.mode "external" }}
{{- $e := $root.Values.kafka.external }}
{{- if $e.existingSecret }}
- name: CRM_KAFKA_SASL_MECHANISM
  value: {{ $e.saslMechanism | quote }}
- name: CRM_KAFKA_SASL_USERNAME
  valueFrom: {secretKeyRef: {name: {{ $e.existingSecret | quote }}, key: username}}
- name: CRM_KAFKA_SASL_PASSWORD
  valueFrom: {secretKeyRef: {name: {{ $e.existingSecret | quote }}, key: password}}
{{- end }}
{{- if $e.caSecret }}
- name: CRM_KAFKA_SSL_CAFILE
  value: /etc/crm/kafka-ca/ca.crt
{{- end }}
{{- else }}
{{- $k := $root.Values.kafka.strimzi }}
{{- if eq $k.authentication "scram-sha-512" }}
- name: CRM_KAFKA_SASL_MECHANISM
  value: SCRAM-SHA-512
- name: CRM_KAFKA_SASL_USERNAME
  value: {{ $user | quote }}
- name: CRM_KAFKA_SASL_PASSWORD
  valueFrom: {secretKeyRef: {name: {{ $user | quote }}, key: password}}
{{- else if eq $k.authentication "tls" }}
- name: CRM_KAFKA_SSL_CERTFILE
  value: /etc/crm/kafka-user/user.crt
- name: CRM_KAFKA_SSL_KEYFILE
  value: /etc/crm/kafka-user/user.key
{{- end }}
{{- if $k.tls }}
- name: CRM_KAFKA_SSL_CAFILE
  value: /etc/crm/kafka-ca/ca.crt
{{- end }}
{{- end }}
{{- end -}}

{{/* Volumes for the Kafka certificates: (dict "root" $ "name" "contacts") */}}
{{- define "crm.kafkaVolumes" -}}
{{- $root := .root -}}
{{- if eq $root.Values.kafka.mode "external" }}
{{- if $root.Values.kafka.external.caSecret }}
- name: kafka-ca
  secret: {secretName: {{ $root.Values.kafka.external.caSecret | quote }}, items: [{key: ca.crt, path: ca.crt}]}
{{- end }}
{{- else }}
{{- $k := $root.Values.kafka.strimzi }}
{{- if $k.tls }}
- name: kafka-ca
  secret: {secretName: {{ printf "%s-cluster-ca-cert" $k.clusterName | quote }}, items: [{key: ca.crt, path: ca.crt}]}
{{- end }}
{{- if eq $k.authentication "tls" }}
- name: kafka-user
  secret: {secretName: {{ include "crm.kafkaUser" . | quote }}}
{{- end }}
{{- end }}
{{- end -}}

{{- define "crm.kafkaMounts" -}}
{{- $root := .root -}}
{{- if or (and (eq $root.Values.kafka.mode "external") $root.Values.kafka.external.caSecret) (and (eq $root.Values.kafka.mode "strimzi") $root.Values.kafka.strimzi.tls) }}
- {name: kafka-ca, mountPath: /etc/crm/kafka-ca, readOnly: true}
{{- end }}
{{- if and (eq $root.Values.kafka.mode "strimzi") (eq $root.Values.kafka.strimzi.authentication "tls") }}
- {name: kafka-user, mountPath: /etc/crm/kafka-user, readOnly: true}
{{- end }}
{{- end -}}

{{/* A service's database URL from the databases Secret: (dict "root" $ "name" "contacts") */}}
{{- define "crm.databaseEnv" -}}
{{- $db := .root.Values.secrets.databases -}}
- name: {{ printf "CRM_%s_DATABASE_URL" (upper .name) }}
  valueFrom: {secretKeyRef: {name: {{ $db.existingSecret | quote }}, key: {{ index $db.keys .name | quote }}}}
{{- end -}}

{{/* Variables the gateway, the Job and the ops pod read to start in prod. */}}
{{- define "crm.secretEnv" -}}
{{- $s := .Values.secrets -}}
- name: CRM_JWT_SECRET
  valueFrom: {secretKeyRef: {name: {{ $s.jwt.existingSecret | quote }}, key: {{ $s.jwt.key | quote }}}}
{{- end -}}

{{- define "crm.adminEnv" -}}
{{- $a := .Values.secrets.admin -}}
- name: CRM_ADMIN_USERNAME
  valueFrom: {secretKeyRef: {name: {{ $a.existingSecret | quote }}, key: {{ $a.usernameKey | quote }}}}
- name: CRM_ADMIN_PASSWORD
  valueFrom: {secretKeyRef: {name: {{ $a.existingSecret | quote }}, key: {{ $a.passwordKey | quote }}}}
- name: CRM_ADMIN_EMAIL
  valueFrom: {secretKeyRef: {name: {{ $a.existingSecret | quote }}, key: {{ $a.emailKey | quote }}}}
{{- end -}}

{{- define "crm.redisEnv" -}}
- name: CRM_REDIS_URL
  valueFrom: {secretKeyRef: {name: {{ .Values.secrets.redis.existingSecret | quote }}, key: {{ .Values.secrets.redis.key | quote }}}}
{{- end -}}
