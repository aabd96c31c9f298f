//! Who may read the admin port (`server.adminAuth`), end to end: `token` mode on the built
//! binary with the token file rotated under it (`token`), and `kubernetes` mode against a
//! stand-in apiserver over HTTPS with its own CA, in process and in the binary through a
//! kubeconfig (`kubernetes`), with the calls that reach the apiserver counted under load.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::GitRepo;
use driftgate::tls::certs::{self, Authority};
use reqwest::header::HeaderMap;
use reqwest::StatusCode;

#[path = "admin_auth/apiserver.rs"]
mod apiserver;
#[path = "admin_auth/kubernetes.rs"]
mod kubernetes;
#[path = "admin_auth/token.rs"]
mod token;

/// A repository to serve, a serving pair for the webhook port, and a place for files.
struct Setup {
    dir: tempfile::TempDir,
    repo: GitRepo,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().expect("tmp");
        let repo = GitRepo::new();
        repo.write(
            "apps/web.yaml",
            &common::deployment("web", "shop", 2, "nginx:1.27"),
        );
        repo.commit("declare web");
        let ca = Authority::new("webhook CA").expect("ca");
        let pair = ca
            .issue_server(&certs::service_names("driftgate", "driftgate-system"))
            .expect("pair");
        certs::write_file(&dir.path().join("tls.crt"), &pair.cert_pem, 0o644).expect("crt");
        certs::write_file(&dir.path().join("tls.key"), &pair.key_pem, 0o600).expect("key");
        Setup { dir, repo }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A config on ephemeral ports with an (empty) SQLite trail, so `/report` answers 200 once
    /// a request is let through; `server` is appended under `server:`.
    fn config_text(&self, admin_listen: &str, server: &str) -> String {
        format!(
            "sources: [{{name: fleet, url: {:?}}}]\naudit: {{path: {:?}}}\nserver:\n  listen: 127.0.0.1:0\n  adminListen: {admin_listen}\n  certFile: {:?}\n  keyFile: {:?}\n{server}",
            self.repo.path().display().to_string(),
            self.path("audit.db").display().to_string(),
            self.path("tls.crt").display().to_string(),
            self.path("tls.key").display().to_string(),
        )
    }

    /// Creates the (empty) trail before driftgate starts. Its writer creates the SQLite file
    /// and then migrates it; a report read in between finds a file without tables (a 503), and
    /// these tests are about who may read, not about that window.
    async fn create_trail(&self) {
        let target = driftgate::audit::Target::Sqlite(self.path("audit.db"));
        let store = driftgate::audit::Store::open(&target).await.expect("trail");
        store.close().await;
    }

    fn write_config(&self, text: &str) -> PathBuf {
        let path = self.path("driftgate.yaml");
        std::fs::write(&path, text).expect("config");
        path
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(15))
        .build()
        .expect("client")
}

/// `GET url`, with `Authorization: Bearer token` when given.
async fn get(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
) -> (StatusCode, HeaderMap, String) {
    let mut request = client.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("answers");
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.text().await.expect("body"))
}
