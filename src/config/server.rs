//! `server`: the ports, the serving certificate, the bounds on requests and connections, and
//! what is answered before Git is loaded.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{duration, AdminAuth};

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
