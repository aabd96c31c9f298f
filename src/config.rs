//! The configuration file (`driftgate.yaml`): plain structs, camelCase keys as in Kubernetes,
//! unknown keys rejected so a typo is a startup error and never a silently ignored setting.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

mod admin_auth;

pub use admin_auth::{AdminAuth, AdminAuthMode};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read config {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config {path}: {message}")]
    Parse { path: String, message: String },
    #[error("config: {0}")]
    Invalid(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default, clap::ValueEnum)]
#[serde(rename_all = "camelCase")]
pub enum Mode {
    #[default]
    Enforce,
    Warn,
    Off,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Warn => "warn",
            Mode::Off => "off",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum Unmanaged {
    #[default]
    Allow,
    Warn,
    Deny,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum DryRun {
    /// Dry-runs get warnings instead of a denial so `kubectl diff` keeps working.
    #[default]
    Warn,
    Enforce,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum Preset {
    Flux,
    Argocd,
    #[default]
    Kubernetes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum Render {
    /// Directories holding a kustomization are rendered, everything else is read as plain YAML.
    #[default]
    Auto,
    Plain,
    Kustomize,
}

/// A webhook endpoint: `/validate` decides, `/mutate` only annotates. A config value too:
/// `audit.from` names the one whose decisions are recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Endpoint {
    #[default]
    Validate,
    Mutate,
}

impl Endpoint {
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Validate => "validate",
            Endpoint::Mutate => "mutate",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum NotReady {
    /// Before the first snapshot, deny: a webhook that allows everything while it starts is a hole.
    #[default]
    Deny,
    Allow,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Source {
    pub name: String,
    /// https, git, ssh, file URL or a local path.
    pub url: String,
    /// Branch, tag or full commit id; `HEAD` (the default) follows the repository's HEAD.
    #[serde(default = "default_ref", rename = "ref")]
    pub git_ref: String,
    /// Sub-trees to read; empty means the whole tree.
    #[serde(default)]
    pub paths: Vec<String>,
    #[serde(default = "default_namespace")]
    pub default_namespace: String,
    #[serde(default = "default_interval", with = "duration")]
    pub interval: Duration,
    #[serde(default)]
    pub render: Render,
    /// Command that renders a kustomization directory (the directory is appended).
    #[serde(default = "default_kustomize")]
    pub kustomize_command: Vec<String>,
    /// `flux` reads Flux Kustomizations declared in the repository to find what to render;
    /// `flux:NAMESPACE/NAME` names the GitRepository that stands for this repository
    /// (`flux` means `flux-system/flux-system`, the one `flux bootstrap` creates); `argocd`
    /// follows Argo CD Applications from the root ones in `paths`.
    #[serde(default)]
    pub discover: Option<Discover>,
    /// Other URLs of this repository (the one Argo CD Applications name, when driftgate reads
    /// a mirror or a local clone).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Pin the revision to what the GitOps controller applied (see README).
    #[serde(default)]
    pub revision_from: Option<RevisionFrom>,
    /// File holding an HTTPS token (a mounted Secret), sent as the password of `username`.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Environment variable holding an HTTPS token, when no `tokenFile` is given.
    #[serde(default)]
    pub token_env: Option<String>,
    /// User name sent with the token (GitHub accepts any; GitLab wants `oauth2`).
    #[serde(default = "default_token_user")]
    pub username: String,
    /// SSH private key for `ssh://` URLs (a mounted Secret); default: the system ssh's own config.
    #[serde(default)]
    pub ssh_key_file: Option<PathBuf>,
    /// The host keys trusted for `ssh://` URLs, in `known_hosts` format (a mounted ConfigMap).
    /// Replaces the system's known hosts; the host key is always checked, never added.
    #[serde(default)]
    pub known_hosts_file: Option<PathBuf>,
    /// PEM bundle of CA certificates trusted for `https://` URLs in addition to the system
    /// roots (a Git host with a private CA).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// How long a fetch waits for the remote to connect or to send anything more before the
    /// attempt fails; a remote that stalls must not hold the source's thread.
    #[serde(default = "default_timeout", with = "duration")]
    pub timeout: Duration,
    /// Let kustomizations reference remote bases (URLs). Off: a build must come from this commit.
    #[serde(default)]
    pub allow_remote_bases: bool,
}

/// `sources[].discover`: which GitOps objects in the repository say what it builds.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub enum Discover {
    /// Flux Kustomizations that sync from the `GitRepository` standing for this repository:
    /// `flux` names `flux-system/flux-system` (what `flux bootstrap` creates),
    /// `flux:NAMESPACE/NAME` another.
    Flux { namespace: String, name: String },
    /// Argo CD Applications, from the root ones in `paths`.
    Argocd,
}

/// A `discover` value that is none of the known ones.
#[derive(Debug, thiserror::Error)]
#[error("discover: {0:?} is not `flux`, `flux:NAMESPACE/NAME` or `argocd`")]
pub struct BadDiscover(String);

impl TryFrom<String> for Discover {
    type Error = BadDiscover;

    fn try_from(text: String) -> Result<Discover, BadDiscover> {
        let found = match text.trim() {
            "argocd" => Some(Discover::Argocd),
            "flux" => Some(Discover::Flux {
                namespace: "flux-system".into(),
                name: "flux-system".into(),
            }),
            other => other
                .strip_prefix("flux:")
                .and_then(|rest| rest.split_once('/'))
                .filter(|(ns, name)| !ns.is_empty() && !name.is_empty())
                .map(|(ns, name)| Discover::Flux {
                    namespace: ns.to_string(),
                    name: name.to_string(),
                }),
        };
        found.ok_or(BadDiscover(text))
    }
}

impl From<Discover> for String {
    fn from(discover: Discover) -> String {
        match discover {
            Discover::Argocd => "argocd".into(),
            Discover::Flux { namespace, name } => format!("flux:{namespace}/{name}"),
        }
    }
}

/// Which GitOps controller object says what was applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum PinKind {
    /// Flux `Kustomization`: `.status.lastAppliedRevision`.
    Kustomization,
    /// Flux `GitRepository`: `.status.artifact.revision`.
    GitRepository,
    /// Argo CD `Application`: `.status.sync.revision`.
    Application,
}

/// `sources[].revisionFrom`: compare against the commit this object reports as applied, not the
/// branch tip, so a commit Git has but the cluster does not yet is not enforced early.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RevisionFrom {
    pub kind: PinKind,
    pub name: String,
    pub namespace: String,
    /// Overrides the API version read (`kustomize.toolkit.fluxcd.io/v1`,
    /// `source.toolkit.fluxcd.io/v1`, `argoproj.io/v1alpha1` by default).
    #[serde(default)]
    pub api_version: Option<String>,
}

fn default_token_user() -> String {
    "git".into()
}

fn default_ref() -> String {
    "HEAD".into()
}
fn default_namespace() -> String {
    "default".into()
}
fn default_interval() -> Duration {
    Duration::from_secs(30)
}
fn default_timeout() -> Duration {
    Duration::from_secs(60)
}
fn default_kustomize() -> Vec<String> {
    vec!["kubectl".into(), "kustomize".into()]
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Bypass {
    /// Exact user names, or prefixes ending in `*`.
    #[serde(default)]
    pub users: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Match {
    #[serde(default)]
    pub namespaces: Vec<String>,
    #[serde(default)]
    pub kinds: Vec<String>,
    /// API groups; `""` or `core` is the core group.
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub names: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Ignore {
    #[serde(default, rename = "match")]
    pub matches: Match,
    /// JSON pointers; `*` matches one segment, and a prefix covers everything beneath it.
    pub paths: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Override {
    #[serde(rename = "match")]
    pub matches: Match,
    pub mode: Mode,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BreakGlass {
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default = "default_break_glass_annotation")]
    pub annotation: String,
}

impl Default for BreakGlass {
    fn default() -> Self {
        BreakGlass {
            groups: Vec::new(),
            annotation: default_break_glass_annotation(),
        }
    }
}

fn default_break_glass_annotation() -> String {
    "driftgate.io/break-glass".into()
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Audit {
    /// SQLite file (one replica).
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// `postgres://…` for several replicas writing one trail.
    #[serde(default)]
    pub url: Option<String>,
    /// Also write each record as one JSON line on stdout.
    #[serde(default)]
    pub stdout: bool,
    #[serde(default = "default_retention", with = "duration")]
    pub retention: Duration,
    /// Which endpoint writes records: `validate` (default) or `mutate` (no validating webhook).
    #[serde(default)]
    pub from: Endpoint,
    /// Emit a Kubernetes Warning Event per blocked edit (needs cluster credentials).
    #[serde(default)]
    pub events: bool,
    #[serde(default = "default_queue")]
    pub queue: usize,
}

impl Default for Audit {
    fn default() -> Self {
        Audit {
            path: None,
            url: None,
            stdout: false,
            retention: default_retention(),
            from: Endpoint::default(),
            events: false,
            queue: default_queue(),
        }
    }
}

fn default_retention() -> Duration {
    Duration::from_secs(30 * 24 * 3600)
}
fn default_queue() -> usize {
    4096
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Server {
    #[serde(default = "default_listen")]
    pub listen: String,
    #[serde(default = "default_admin_listen")]
    pub admin_listen: String,
    #[serde(default = "default_cert")]
    pub cert_file: PathBuf,
    #[serde(default = "default_key")]
    pub key_file: PathBuf,
    /// Require client certificates signed by this CA on the TLS port.
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
    #[serde(default)]
    pub not_ready: NotReady,
    /// Shared secret for `POST /sync` (GitHub `X-Hub-Signature-256`).
    #[serde(default)]
    pub sync_secret: Option<String>,
    /// How long SIGTERM waits for in-flight requests.
    #[serde(default = "default_grace", with = "duration")]
    pub shutdown_grace: Duration,
    /// Largest request body accepted; an UPDATE carries two objects of up to 3 MiB.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Open connections on the TLS port; at the bound the oldest idle one is closed to admit a
    /// new one (see SECURITY.md).
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Who may read `/report` and `/api/*` on the admin port.
    #[serde(default)]
    pub admin_auth: AdminAuth,
}

impl Default for Server {
    fn default() -> Self {
        Server {
            listen: default_listen(),
            admin_listen: default_admin_listen(),
            cert_file: default_cert(),
            key_file: default_key(),
            client_ca_file: None,
            not_ready: NotReady::default(),
            sync_secret: None,
            shutdown_grace: default_grace(),
            max_body_bytes: default_max_body(),
            max_connections: default_max_connections(),
            admin_auth: AdminAuth::default(),
        }
    }
}

fn default_listen() -> String {
    "0.0.0.0:8443".into()
}
fn default_admin_listen() -> String {
    "0.0.0.0:8080".into()
}
fn default_cert() -> PathBuf {
    "certs/tls.crt".into()
}
fn default_key() -> PathBuf {
    "certs/tls.key".into()
}
fn default_grace() -> Duration {
    Duration::from_secs(20)
}
fn default_max_body() -> usize {
    8 * 1024 * 1024
}
fn default_max_connections() -> usize {
    1024
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub sources: Vec<Source>,
    #[serde(default)]
    pub mode: Mode,
    #[serde(default)]
    pub unmanaged: Unmanaged,
    #[serde(default)]
    pub dry_run: DryRun,
    #[serde(default = "default_presets")]
    pub presets: Vec<Preset>,
    #[serde(default)]
    pub bypass: Bypass,
    #[serde(default)]
    pub ignore: Vec<Ignore>,
    #[serde(default)]
    pub overrides: Vec<Override>,
    #[serde(default)]
    pub break_glass: BreakGlass,
    /// Compare Secret `data`/`stringData` (off: Git usually holds Secrets encrypted).
    #[serde(default)]
    pub compare_secret_data: bool,
    #[serde(default)]
    pub audit: Audit,
    #[serde(default)]
    pub server: Server,
    /// Where remote sources are cloned (bare, one directory per source).
    #[serde(default = "default_cache_dir")]
    pub cache_dir: PathBuf,
    /// Periodic drift scans in `serve` (off unless `scan.interval` is set).
    #[serde(default)]
    pub scan: Scan,
}

/// `scan`: `serve` compares the live state with Git every `interval` (cluster credentials
/// needed) and serves it at `/api/drift`, in `/report` and metrics.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Scan {
    /// How often; absent means no periodic scan.
    #[serde(default, with = "duration::optional")]
    pub interval: Option<Duration>,
    /// Also report objects in managed namespaces that Git does not declare.
    #[serde(default)]
    pub unmanaged: bool,
    /// Write `PolicyReport`/`ClusterPolicyReport` objects (`wgpolicyk8s.io/v1alpha2`).
    #[serde(default)]
    pub policy_reports: bool,
}

fn default_presets() -> Vec<Preset> {
    vec![Preset::Kubernetes]
}
fn default_cache_dir() -> PathBuf {
    std::env::temp_dir().join("driftgate-cache")
}

impl Default for Config {
    fn default() -> Self {
        Config {
            sources: Vec::new(),
            mode: Mode::default(),
            unmanaged: Unmanaged::default(),
            dry_run: DryRun::default(),
            presets: default_presets(),
            bypass: Bypass::default(),
            ignore: Vec::new(),
            overrides: Vec::new(),
            break_glass: BreakGlass::default(),
            compare_secret_data: false,
            audit: Audit::default(),
            server: Server::default(),
            cache_dir: default_cache_dir(),
            scan: Scan::default(),
        }
    }
}

impl Config {
    pub fn from_file(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config = Config::from_yaml(&text, &path.display().to_string())?;
        config.resolve_relative_sources(path.parent().unwrap_or(Path::new(".")));
        Ok(config)
    }

    /// A relative local source path that does not exist from the working directory is taken
    /// relative to the config file, so a config can sit beside the repository it names.
    fn resolve_relative_sources(&mut self, config_dir: &Path) {
        for source in &mut self.sources {
            let url = source.url.as_str();
            if url.contains("://") || url.starts_with("git@") || Path::new(url).is_absolute() {
                continue;
            }
            if !Path::new(url).exists() && config_dir.join(url).exists() {
                source.url = config_dir.join(url).display().to_string();
            }
        }
    }

    /// Parses and validates; `origin` names the file in errors.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Config> {
        let config: Config =
            crate::manifest::yaml::from_str_config(text).map_err(|message| Error::Parse {
                path: origin.to_string(),
                message,
            })?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<()> {
        let mut names = std::collections::HashSet::new();
        for source in &self.sources {
            if source.name.is_empty() {
                return Err(Error::Invalid("sources[].name must not be empty".into()));
            }
            if !names.insert(source.name.as_str()) {
                return Err(Error::Invalid(format!(
                    "sources: the name {:?} is used twice",
                    source.name
                )));
            }
            if source.timeout.is_zero() {
                return Err(Error::Invalid(format!(
                    "sources[{}].timeout must be more than zero",
                    source.name
                )));
            }
            if source.url.is_empty() {
                return Err(Error::Invalid(format!(
                    "sources[{}].url must not be empty",
                    source.name
                )));
            }
        }
        if self.server.max_connections == 0 {
            return Err(Error::Invalid(
                "server.maxConnections must be more than zero".into(),
            ));
        }
        self.server.admin_auth.validate().map_err(Error::Invalid)?;
        for ignore in &self.ignore {
            for p in &ignore.paths {
                if !p.starts_with('/') {
                    return Err(Error::Invalid(format!(
                        "ignore.paths: {p:?} is not a JSON pointer (it must start with '/')"
                    )));
                }
            }
        }
        if self.audit.path.is_some() && self.audit.url.is_some() {
            return Err(Error::Invalid(
                "audit: set either path (SQLite) or url (PostgreSQL), not both".into(),
            ));
        }
        if self.scan.interval.is_some_and(|i| i.is_zero()) {
            return Err(Error::Invalid(
                "scan.interval must be more than zero (leave it out for no periodic scan)".into(),
            ));
        }
        Ok(())
    }
}

/// Durations as Kubernetes writes them (`30s`, `5m`, `1h30m`, `30d`).
pub mod duration {
    use super::*;

    pub fn parse(text: &str) -> Result<Duration, String> {
        humantime::parse_duration(text.trim()).map_err(|e| format!("bad duration {text:?}: {e}"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text).map_err(serde::de::Error::custom)
    }

    pub fn serialize<S: serde::Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*value).to_string())
    }

    /// An optional duration (`scan.interval`): absent or `null` is `None`.
    pub mod optional {
        use super::*;

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
            match Option::<String>::deserialize(d)? {
                Some(text) => parse(&text).map(Some).map_err(serde::de::Error::custom),
                None => Ok(None),
            }
        }

        pub fn serialize<S: serde::Serializer>(
            value: &Option<Duration>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match value {
                Some(v) => super::serialize(v, s),
                None => s.serialize_none(),
            }
        }
    }
}
