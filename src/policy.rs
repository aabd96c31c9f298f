//! Who is checked and how: bypass identities (with presets), the mode per object, ignore paths,
//! and break-glass. Built once from the config; read-only on the request path.

use std::collections::HashSet;

use serde_json::Value;

use crate::config::{Config, DryRun, Match, Mode, Preset, Unmanaged};
use crate::drift::Pattern;
use crate::manifest::ObjectKey;

/// The identity of the caller as the apiserver authenticated it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct UserInfo {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub groups: Vec<String>,
}

/// Users and groups of each preset. `argocd-server` is deliberately absent: it carries the
/// edits people make in the Argo CD UI.
pub fn preset_identities(preset: Preset) -> (&'static [&'static str], &'static [&'static str]) {
    match preset {
        Preset::Flux => (
            &[
                "system:serviceaccount:flux-system:kustomize-controller",
                "system:serviceaccount:flux-system:helm-controller",
            ],
            &[],
        ),
        Preset::Argocd => (
            &["system:serviceaccount:argocd:argocd-application-controller"],
            &[],
        ),
        Preset::Kubernetes => (
            &["system:kube-controller-manager", "system:kube-scheduler"],
            &["system:serviceaccounts:kube-system"],
        ),
    }
}

#[derive(Debug, Clone, Default)]
struct Matcher {
    namespaces: Vec<String>,
    kinds: Vec<String>,
    groups: Vec<String>,
    names: Vec<String>,
}

fn name_matches(patterns: &[String], value: &str) -> bool {
    patterns.is_empty()
        || patterns.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => value.starts_with(prefix),
            None => p == value,
        })
}

impl Matcher {
    fn from(m: &Match) -> Matcher {
        Matcher {
            namespaces: m.namespaces.clone(),
            kinds: m.kinds.clone(),
            groups: m
                .groups
                .iter()
                .map(|g| {
                    if g == "core" {
                        String::new()
                    } else {
                        g.clone()
                    }
                })
                .collect(),
            names: m.names.clone(),
        }
    }

    fn matches(&self, key: &ObjectKey) -> bool {
        name_matches(&self.namespaces, &key.namespace)
            && (self.kinds.is_empty()
                || self
                    .kinds
                    .iter()
                    .any(|k| k == &key.kind || *k == key.group_kind()))
            && (self.groups.is_empty() || self.groups.contains(&key.group))
            && name_matches(&self.names, &key.name)
    }
}

#[derive(Debug, Clone, Default)]
pub struct Policy {
    users: HashSet<String>,
    user_prefixes: Vec<String>,
    groups: HashSet<String>,
    pub mode: Mode,
    pub unmanaged: Unmanaged,
    pub dry_run: DryRun,
    overrides: Vec<(Matcher, Mode)>,
    ignores: Vec<(Matcher, Vec<Pattern>)>,
    break_glass_groups: HashSet<String>,
    pub break_glass_annotation: String,
    pub compare_secret_data: bool,
}

impl Policy {
    pub fn from_config(config: &Config) -> Policy {
        let mut policy = Policy {
            mode: config.mode,
            unmanaged: config.unmanaged,
            dry_run: config.dry_run,
            break_glass_annotation: config.break_glass.annotation.clone(),
            break_glass_groups: config.break_glass.groups.iter().cloned().collect(),
            compare_secret_data: config.compare_secret_data,
            ..Policy::default()
        };
        let mut add_user = |u: &str| match u.strip_suffix('*') {
            Some(prefix) => policy.user_prefixes.push(prefix.to_string()),
            None => {
                policy.users.insert(u.to_string());
            }
        };
        for u in &config.bypass.users {
            add_user(u);
        }
        let mut presets = config.presets.clone();
        presets.dedup();
        for preset in &presets {
            let (users, _) = preset_identities(*preset);
            for u in users {
                add_user(u);
            }
        }
        for preset in &presets {
            let (_, groups) = preset_identities(*preset);
            policy.groups.extend(groups.iter().map(|g| g.to_string()));
        }
        policy.groups.extend(config.bypass.groups.iter().cloned());
        policy.overrides = config
            .overrides
            .iter()
            .map(|o| (Matcher::from(&o.matches), o.mode))
            .collect();
        policy.ignores = config
            .ignore
            .iter()
            .map(|i| {
                (
                    Matcher::from(&i.matches),
                    i.paths.iter().map(|p| Pattern::parse(p)).collect(),
                )
            })
            .collect();
        policy
    }

    /// The GitOps controller (or another trusted identity) passes unchecked. `extra` are the
    /// identities the snapshot adds (service accounts Flux Kustomizations act as).
    pub fn is_bypassed(&self, user: &UserInfo, extra: &[String]) -> bool {
        let name = user.username.as_str();
        self.users.contains(name)
            || self
                .user_prefixes
                .iter()
                .any(|p| name.starts_with(p.as_str()))
            || user.groups.iter().any(|g| self.groups.contains(g))
            || extra.iter().any(|u| u == name)
    }

    /// The first override that matches wins; otherwise the global mode.
    pub fn mode_for(&self, key: &ObjectKey) -> Mode {
        self.overrides
            .iter()
            .find(|(m, _)| m.matches(key))
            .map(|(_, mode)| *mode)
            .unwrap_or(self.mode)
    }

    /// Every ignore entry that matches contributes its paths.
    pub fn ignores_for(&self, key: &ObjectKey) -> Vec<&Pattern> {
        self.ignores
            .iter()
            .filter(|(m, _)| m.matches(key))
            .flat_map(|(_, p)| p.iter())
            .collect()
    }

    /// The break-glass reason, when a member of a break-glass group set the annotation.
    pub fn break_glass(&self, user: &UserInfo, object: Option<&Value>) -> Option<String> {
        if !user
            .groups
            .iter()
            .any(|g| self.break_glass_groups.contains(g))
        {
            return None;
        }
        let reason = object?
            .get("metadata")?
            .get("annotations")?
            .get(self.break_glass_annotation.as_str())?
            .as_str()?
            .trim();
        (!reason.is_empty()).then(|| reason.to_string())
    }

    /// Users and groups skipped outright, for the webhook's `matchConditions`.
    pub fn bypass_identities(&self) -> (Vec<String>, Vec<String>, Vec<String>) {
        let mut users: Vec<_> = self.users.iter().cloned().collect();
        let mut groups: Vec<_> = self.groups.iter().cloned().collect();
        let mut prefixes = self.user_prefixes.clone();
        users.sort();
        groups.sort();
        prefixes.sort();
        (users, prefixes, groups)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Bypass, Override};

    fn user(name: &str, groups: &[&str]) -> UserInfo {
        UserInfo {
            username: name.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    #[test]
    fn bypass_presets_and_prefixes() {
        let config = Config {
            presets: vec![Preset::Flux, Preset::Kubernetes],
            bypass: Bypass {
                users: vec!["ci-bot".into(), "system:serviceaccount:tools:*".into()],
                groups: vec!["platform".into()],
            },
            ..Config::default()
        };
        let p = Policy::from_config(&config);
        assert!(p.is_bypassed(
            &user(
                "system:serviceaccount:flux-system:kustomize-controller",
                &[]
            ),
            &[]
        ));
        assert!(!p.is_bypassed(
            &user(
                "system:serviceaccount:argocd:argocd-application-controller",
                &[]
            ),
            &[]
        ));
        assert!(p.is_bypassed(&user("system:kube-controller-manager", &[]), &[]));
        assert!(p.is_bypassed(
            &user(
                "system:serviceaccount:kube-system:namespace-controller",
                &["system:serviceaccounts:kube-system"]
            ),
            &[]
        ));
        assert!(p.is_bypassed(&user("ci-bot", &[]), &[]));
        assert!(!p.is_bypassed(&user("ci-bot2", &[]), &[]));
        assert!(p.is_bypassed(&user("system:serviceaccount:tools:x", &[]), &[]));
        assert!(p.is_bypassed(&user("bob", &["platform"]), &[]));
        assert!(!p.is_bypassed(&user("alice", &["system:authenticated"]), &[]));
        assert!(p.is_bypassed(&user("tenant-sa", &[]), &["tenant-sa".to_string()]));
    }

    #[test]
    fn argocd_server_is_never_bypassed() {
        let p = Policy::from_config(&Config {
            presets: vec![Preset::Argocd],
            ..Config::default()
        });
        assert!(p.is_bypassed(
            &user(
                "system:serviceaccount:argocd:argocd-application-controller",
                &[]
            ),
            &[]
        ));
        assert!(!p.is_bypassed(
            &user("system:serviceaccount:argocd:argocd-server", &[]),
            &[]
        ));
    }

    #[test]
    fn overrides_first_match_wins() {
        let config = Config {
            overrides: vec![
                Override {
                    matches: Match {
                        namespaces: vec!["sandbox".into()],
                        ..Match::default()
                    },
                    mode: Mode::Warn,
                },
                Override {
                    matches: Match {
                        kinds: vec!["ConfigMap".into()],
                        ..Match::default()
                    },
                    mode: Mode::Off,
                },
            ],
            ..Config::default()
        };
        let p = Policy::from_config(&config);
        assert_eq!(
            p.mode_for(&ObjectKey::new("", "ConfigMap", "sandbox", "a")),
            Mode::Warn
        );
        assert_eq!(
            p.mode_for(&ObjectKey::new("", "ConfigMap", "prod", "a")),
            Mode::Off
        );
        assert_eq!(
            p.mode_for(&ObjectKey::new("apps", "Deployment", "prod", "a")),
            Mode::Enforce
        );
    }
}
