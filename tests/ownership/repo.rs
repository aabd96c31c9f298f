//! The Git repository every row is decided against: one file per class of object the rows
//! need, written as people write them.

/// The repository every case is decided against, file by file.
pub const FILES: &[(&str, &str)] = &[
    (
        "apps/web.yaml",
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels: {app: web}
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      hostNetwork: false
      automountServiceAccountToken: false
      containers:
      - name: web
        image: registry.example.com/web:1.4.2
        args: [\"--listen=:8080\"]
        ports:
        - containerPort: 53
          protocol: UDP
        - containerPort: 8080
        env:
        - name: MODE
          value: prod
        - name: EMPTY
          value: \"\"
        - name: POD
          valueFrom:
            fieldRef: {fieldPath: metadata.name}
        resources:
          limits: {cpu: 500m, memory: 256Mi}
        securityContext:
          allowPrivilegeEscalation: false
          runAsNonRoot: true
        volumeMounts:
        - name: tmp
          mountPath: /tmp
      volumes:
      - name: tmp
        emptyDir: {}
",
    ),
    (
        "apps/pdb.yaml",
        "apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web, namespace: shop}
spec:
  maxUnavailable: 0
  selector:
    matchLabels: {app: web}
",
    ),
    (
        "apps/namespace.yaml",
        "apiVersion: v1
kind: Namespace
metadata:
  name: shop
  labels:
    team: \"\"
",
    ),
    (
        "apps/serviceaccount.yaml",
        "apiVersion: v1
kind: ServiceAccount
metadata: {name: web, namespace: shop}
automountServiceAccountToken: false
",
    ),
    (
        "apps/settings.yaml",
        "apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: shop
  finalizers: [example.com/protect]
data:
  feature: \"\"
  level: info
",
    ),
    (
        "net/policies.yaml",
        "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: shop}
spec:
  podSelector: {}
  policyTypes: [Ingress]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-web, namespace: shop}
spec:
  podSelector:
    matchLabels: {app: web}
  ingress:
  - from:
    - podSelector:
        matchLabels: {role: frontend}
    ports:
    - port: 8080
",
    ),
    (
        "platform/issuer.yaml",
        "apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata:
  name: letsencrypt
spec:
  acme:
    server: https://acme-v02.api.letsencrypt.org/directory
    email: ops@example.com
    privateKeySecretRef: {name: letsencrypt}
",
    ),
    (
        "platform/gadget.yaml",
        "apiVersion: cluster.example.io/v1
kind: ClusterGadget
metadata:
  name: shared
spec:
  mode: strict
---
apiVersion: apps.example.io/v1
kind: Canary
metadata: {name: probe, namespace: shop}
spec:
  replicas: 2
",
    ),
    (
        "apps/rollout.yaml",
        "apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: canary, namespace: shop}
spec:
  replicas: 5
  paused: false
  strategy:
    canary:
      steps:
      - setWeight: 20
",
    ),
    (
        "crds/widgets.yaml",
        "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              ports:
                type: array
                x-kubernetes-list-type: map
                x-kubernetes-list-map-keys: [port, protocol]
                items:
                  type: object
                  properties:
                    port: {type: integer}
                    protocol: {type: string, default: TCP}
                    name: {type: string}
              args:
                type: array
                items: {type: string}
              enabled: {type: boolean}
",
    ),
    (
        "apps/widget.yaml",
        "apiVersion: example.com/v1
kind: Widget
metadata: {name: w1, namespace: shop}
spec:
  enabled: false
  args: [--option-0=a-long-value, --option-1=a-long-value, --option-2=a-long-value,
    --option-3=a-long-value, --option-4=a-long-value, --option-5=a-long-value,
    --option-6=a-long-value, --option-7=a-long-value, --option-8=a-long-value,
    --option-9=a-long-value, --option-10=a-long-value, --option-11=a-long-value, --one]
  ports:
  - port: 53
    protocol: UDP
    name: dns
",
    ),
    (
        "apps/from-json.json",
        "{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\",
 \"metadata\": {\"name\": \"from-json\", \"namespace\": \"shop\"},
 \"data\": {\"mode\": \"strict\"}}
",
    ),
    (
        "jobs/migrate.yaml",
        "apiVersion: batch/v1
kind: Job
metadata:
  generateName: migrate-
  namespace: shop
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: migrate
        image: registry.example.com/migrate:7
",
    ),
    (
        "apps/list.yaml",
        "apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: list-a, namespace: shop}
  data: {k: a}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: list-b, namespace: shop}
  data: {k: b}
",
    ),
    (
        "apps/script.yaml",
        "apiVersion: v1
kind: ConfigMap
metadata: {name: script, namespace: shop}
data:
  run.sh: >
    exec server
      --verbose
",
    ),
];
