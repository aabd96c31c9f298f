//! The configuration file (`driftgate.yaml`): plain structs, camelCase keys as in Kubernetes,
//! unknown keys rejected so a typo is a startup error and never a silently ignored setting.
//! Each value is parsed into its type here (durations, modes, `discover`, `audit.from`), so
//! the rest of driftgate reads settings, never strings to check. The bottom layer: it imports
//! nothing of driftgate.
//!
//! Parts: `source` (`sources[]`), `server` (`server`), `admin_auth`
//! (`server.adminAuth`), [`duration`], [`yaml`] (reading the file).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

mod admin_auth;
pub mod duration;
mod server;
mod source;
pub mod yaml;

pub use admin_auth::{AdminAuth, AdminAuthMode};
pub use server::{NotReady, Server};
pub use source::{BadDiscover, Discover, PinKind, Render, RevisionFrom, Source};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read config {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config {path}")]
    Parse {
        path: String,
        #[source]
        source: yaml::Syntax,
    },
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
        let config: Config = yaml::from_str(text).map_err(|source| Error::Parse {
            path: origin.to_string(),
            source,
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
        self.server.admin_auth.validate()?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(text: &str) -> String {
        let error = Config::from_yaml(text, "c.yaml").expect_err("refused");
        crate::text::chain(&error).to_string()
    }

    #[test]
    fn values_parse_into_their_types() {
        let config =
            Config::from_yaml("audit: {from: mutate, retention: 2d}\n", "c.yaml").expect("config");
        assert_eq!(config.audit.from, Endpoint::Mutate);
        assert_eq!(config.audit.retention, Duration::from_secs(2 * 24 * 3600));
        assert_eq!(Config::default().audit.from, Endpoint::Validate);
        let error = shown("sources: []\naudit: {from: both}\n");
        assert!(error.starts_with("config c.yaml: line 2: "), "{error}");
        assert!(error.contains("both"), "{error}");
        let error = shown("audit:\n  retention: soon\n");
        assert!(
            error.contains("line 2") && error.contains("bad duration \"soon\""),
            "{error}"
        );
        let error = shown("modee: warn\n");
        assert!(
            error.contains("line 1") && error.contains("modee"),
            "{error}"
        );
    }
}
