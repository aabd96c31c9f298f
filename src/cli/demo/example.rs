//! The embedded example repository of `driftgate demo`: a small shop as a platform team would
//! keep it in Git.

/// (path, content) of every file in the example repository.
pub const FILES: &[(&str, &str)] = &[
    (
        "clusters/prod/namespace.yaml",
        "apiVersion: v1
kind: Namespace
metadata:
  name: shop
  labels:
    team: shop
",
    ),
    (
        "apps/web/deployment.yaml",
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
      containers:
        - name: web
          image: nginx:1.27
          ports:
            - containerPort: 80
          resources:
            limits: {cpu: 500m, memory: 256Mi}
",
    ),
    (
        "apps/web/service.yaml",
        "apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  selector: {app: web}
  ports:
    - port: 80
      targetPort: 80
",
    ),
    (
        "apps/web/configmap.yaml",
        "apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
  namespace: shop
data:
  GREETING: hello
  FEATURE_FLAGS: checkout=on
",
    ),
    (
        "apps/api/deployment.yaml",
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: shop
spec:
  replicas: 2
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec:
      containers:
        - name: api
          image: ghcr.io/example/shop-api:2.4.1
          env:
            - name: LOG_LEVEL
              value: info
",
    ),
    (
        "README.md",
        "# shop fleet\nWhat runs in the prod cluster. Change it here, not with kubectl.\n",
    ),
];

/// The config the demo serves with: Flux is the GitOps controller, on-call may break glass.
pub const CONFIG: &str = "
mode: enforce
unmanaged: allow
presets: [flux, kubernetes]
breakGlass:
  groups: [oncall]
";
