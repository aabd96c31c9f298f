//! `server.adminAuth`: who may read the admin port's report and API. The port also carries the
//! probes and Prometheus, so it cannot simply be firewalled; this says which callers get past
//! `/healthz` and `/readyz` (see `server::auth` for what each mode protects).

use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize};

/// How callers of `/report`, `/api/*` (and `/metrics` with `protectMetrics`) prove who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default, clap::ValueEnum)]
#[serde(rename_all = "camelCase")]
pub enum AdminAuthMode {
    /// Anyone who reaches the port reads everything (warned about unless bound to loopback).
    #[default]
    None,
    /// A bearer token listed in `tokenFile` (outside a cluster).
    Token,
    /// A bearer token the apiserver authenticates (TokenReview) and RBAC allows on the path
    /// (SubjectAccessReview on a non-resource URL), as kube-rbac-proxy does.
    Kubernetes,
}

impl AdminAuthMode {
    const ALL: [AdminAuthMode; 3] = [
        AdminAuthMode::None,
        AdminAuthMode::Token,
        AdminAuthMode::Kubernetes,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AdminAuthMode::None => "none",
            AdminAuthMode::Token => "token",
            AdminAuthMode::Kubernetes => "kubernetes",
        }
    }
}

/// The mode, with an error that names the key: "unknown variant" alone does not say which of
/// the config's several `mode` keys is wrong.
fn mode<'de, D: Deserializer<'de>>(d: D) -> Result<AdminAuthMode, D::Error> {
    let text = String::deserialize(d)?;
    AdminAuthMode::ALL
        .into_iter()
        .find(|m| m.as_str() == text)
        .ok_or_else(|| {
            serde::de::Error::custom(format!(
                "server.adminAuth.mode: {text:?} is not one of none, token, kubernetes"
            ))
        })
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AdminAuth {
    #[serde(default, deserialize_with = "mode")]
    pub mode: AdminAuthMode,
    /// `token` mode: accepted tokens, one a line (`#` comments and blank lines ignored); re-read
    /// when it changes, so a mounted Secret can be rotated without a restart.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Require the same authentication for `/metrics` (Prometheus then needs a token, and in
    /// `kubernetes` mode RBAC `get` on the non-resource URL `/metrics`).
    #[serde(default)]
    pub protect_metrics: bool,
}

impl AdminAuth {
    /// Settings that would be silently ignored, or a mode that cannot work, are errors: an
    /// operator who wrote `tokenFile` expects it to be checked.
    pub fn validate(&self) -> Result<(), super::Error> {
        let invalid = |message: String| Err(super::Error::Invalid(message));
        match (self.mode, &self.token_file) {
            (AdminAuthMode::Token, None) => {
                return invalid("server.adminAuth.tokenFile is required with mode: token".into())
            }
            (AdminAuthMode::Token, Some(_)) => {}
            (mode, Some(_)) => {
                return invalid(format!(
                    "server.adminAuth.tokenFile is only read with mode: token (mode is {})",
                    mode.as_str()
                ))
            }
            (_, None) => {}
        }
        if self.protect_metrics && self.mode == AdminAuthMode::None {
            return invalid(
                "server.adminAuth.protectMetrics needs mode: token or kubernetes (mode is none)"
                    .into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn parse(server: &str) -> Result<Config, crate::config::Error> {
        Config::from_yaml(&format!("server:\n{server}"), "test")
    }

    /// The error of a config that must be refused, as the command line shows it.
    fn refused(server: &str) -> String {
        let error = parse(server).expect_err("refused");
        crate::text::chain(&error).to_string()
    }

    #[test]
    fn modes_and_keys() {
        let config = parse("  adminAuth: {mode: kubernetes, protectMetrics: true}\n").expect("ok");
        let auth = &config.server.admin_auth;
        assert_eq!(auth.mode, super::AdminAuthMode::Kubernetes);
        assert!(auth.protect_metrics);
        let config = parse("  adminAuth: {mode: token, tokenFile: /etc/tokens}\n").expect("ok");
        assert_eq!(
            config.server.admin_auth.token_file.as_deref(),
            Some(std::path::Path::new("/etc/tokens"))
        );
        let config = parse("  adminAuth: {mode: none}\n").expect("ok");
        assert_eq!(config.server.admin_auth.mode, super::AdminAuthMode::None);
        assert_eq!(
            Config::default().server.admin_auth.mode,
            super::AdminAuthMode::None,
            "today's behaviour unless configured"
        );
    }

    #[test]
    fn bad_values_name_the_key_and_line() {
        let err = refused("  listen: 127.0.0.1:0\n  adminAuth:\n    mode: sometimes\n");
        assert!(
            err.contains("line 4") && err.contains("server.adminAuth.mode: \"sometimes\""),
            "{err}"
        );
        let err = refused("  adminAuth:\n    mode: token\n    tokenfile: /x\n");
        assert!(err.contains("line 4") && err.contains("tokenfile"), "{err}");
        let err = refused("  adminAuth: {mode: token}\n");
        assert!(err.contains("server.adminAuth.tokenFile"), "{err}");
        let err = refused("  adminAuth: {mode: kubernetes, tokenFile: /x}\n");
        assert!(err.contains("server.adminAuth.tokenFile"), "{err}");
        let err = refused("  adminAuth: {protectMetrics: true}\n");
        assert!(err.contains("server.adminAuth.protectMetrics"), "{err}");
    }
}
