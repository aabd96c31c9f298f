//! `sources[]`: where Git is, which part of it to read, and how (plain files, kustomize, the
//! GitOps objects it declares), with the fetch settings of each.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum Render {
    /// Directories holding a kustomization are rendered, everything else is read as plain YAML.
    #[default]
    Auto,
    Plain,
    Kustomize,
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

#[cfg(test)]
mod tests {
    use super::Discover;
    use crate::config::Config;

    fn config(discover: &str) -> Result<Config, crate::config::Error> {
        Config::from_yaml(
            &format!("sources:\n  - name: s\n    url: /r\n    discover: {discover}\n"),
            "test.yaml",
        )
    }

    fn discover(text: &str) -> Option<Discover> {
        config(text).ok()?.sources.remove(0).discover
    }

    #[test]
    fn discover_names_the_repository() {
        let flux = |ns: &str, name: &str| Discover::Flux {
            namespace: ns.into(),
            name: name.into(),
        };
        assert_eq!(discover("flux"), Some(flux("flux-system", "flux-system")));
        assert_eq!(discover("flux:infra/fleet"), Some(flux("infra", "fleet")));
        assert_eq!(discover("argocd"), Some(Discover::Argocd));
        assert_eq!(discover("flux:nobody"), None);
        let err = config("argo").expect_err("bad discover is a startup error");
        let shown = crate::text::chain(&err).to_string();
        assert!(
            shown.contains("line 4") && shown.contains("discover: \"argo\" is not"),
            "{shown}"
        );
    }
}
