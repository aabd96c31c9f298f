//! How a fetch reaches its remote, per scheme, with the source's timeout, trust and key.
//!
//! gix leaves gaps that would let one bad remote hold a sync thread or weaken trust:
//! - `git://`: gix connects with a fixed 5 s timeout and then reads with none, so a server that
//!   accepts and never answers blocks forever. Here the TCP stream is opened by hand, with read
//!   and write timeouts, and handed to gix's daemon protocol as a custom transport.
//! - `http(s)://`: gix's reqwest backend ignores `http.lowSpeedTime`, `http.sslCAInfo` and
//!   `gitoxide.http.connectTimeout`; reqwest's own default is a 30 s timeout per request and per
//!   body read. The client is configured through the backend's `configure_client` hook instead:
//!   the source's timeout, and its `caFile` added to the trusted roots.
//! - `ssh://`: the system `ssh` (`core.sshCommand`) with the source's key, its known hosts
//!   checked strictly, no prompt, and timeouts derived from the source's.

use std::io::Read;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use gix::protocol::transport::client::blocking_io::{http, Transport};
use gix::protocol::transport::client::git;
use gix::protocol::transport::client::git::blocking_io::Connection as Daemon;

use crate::config::Source;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("caFile {path}: cannot read it")]
    CaRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("caFile {path}: not a PEM bundle")]
    CaPem {
        path: PathBuf,
        #[source]
        source: reqwest::Error,
    },
    #[error("caFile {path}: no PEM certificate in it")]
    CaEmpty { path: PathBuf },
    #[error("cannot connect to {address}")]
    Connect {
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}")]
    Gix {
        what: &'static str,
        #[source]
        source: gix::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A fetch connection, whatever the scheme.
pub type Connection<'a, 'repo> =
    gix::remote::Connection<'a, 'static, 'repo, Box<dyn Transport + Send>>;

/// Connects `remote` (the source's URL) for fetching, with the source's timeout and trust.
pub fn connect<'a, 'repo>(
    remote: &'a gix::Remote<'repo>,
    source: &Source,
) -> Result<Connection<'a, 'repo>> {
    let gix_err = |what: &'static str| move |source: gix::Error| Error::Gix { what, source };
    let (url, version) = remote
        .sanitized_url_and_version(gix::remote::Direction::Fetch)
        .map_err(gix_err("invalid remote"))?;
    match url.scheme {
        gix::url::Scheme::Git => {
            let transport = daemon(&url, version, source.timeout)?;
            Ok(remote
                .to_connection_with_transport(Box::new(transport) as Box<dyn Transport + Send>))
        }
        gix::url::Scheme::Http | gix::url::Scheme::Https => {
            let options = http_options(remote.repo(), &url, source)?;
            Ok(remote
                .connect(gix::remote::Direction::Fetch)
                .map_err(gix_err("connection failed"))?
                .with_transport_options(options))
        }
        _ => remote
            .connect(gix::remote::Direction::Fetch)
            .map_err(gix_err("connection failed")),
    }
}

/// A `git daemon` connection whose every read and write gives up after `timeout`.
fn daemon(
    url: &gix::Url,
    version: gix::protocol::transport::Protocol,
    timeout: Duration,
) -> Result<Daemon<Timed, TcpStream>> {
    let host = url.host().unwrap_or_default();
    let port = url.port.unwrap_or(9418);
    let address = format!("{host}:{port}");
    let connect_err = |source: std::io::Error| Error::Connect {
        address: address.clone(),
        source,
    };
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address resolved");
    let mut stream = None;
    for addr in (host, port).to_socket_addrs().map_err(connect_err)? {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = timed_out(e, timeout),
        }
    }
    let stream = stream.ok_or(last).map_err(connect_err)?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(connect_err)?;
    let write = stream.try_clone().map_err(connect_err)?;
    Ok(Daemon::new(
        Timed { stream, timeout },
        write,
        version,
        url.path.clone(),
        Some((host.to_string(), url.port)),
        git::ConnectMode::Daemon,
        false,
    ))
}

/// The read side of a daemon connection: a socket timeout becomes an error that says so
/// (the OS reports it as "Resource temporarily unavailable").
struct Timed {
    stream: TcpStream,
    timeout: Duration,
}

impl Read for Timed {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.stream
            .read(buf)
            .map_err(|e| timed_out(e, self.timeout))
    }
}

fn timed_out(e: std::io::Error, timeout: Duration) -> std::io::Error {
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!(
                "timed out: the remote sent nothing for {} (the source's timeout)",
                humantime::format_duration(timeout)
            ),
        ),
        _ => e,
    }
}

/// gix's HTTP options for `url` with a reqwest client hook: the source's timeout for connecting
/// and for each wait on the server, and the `caFile` roots. The CA file is read here, once
/// per fetch, so a bad file fails the attempt with its own message (and a rotated one is used).
fn http_options(
    repo: &gix::Repository,
    url: &gix::Url,
    source: &Source,
) -> Result<Box<dyn std::any::Any>> {
    let url = url.to_bstring();
    let mut options = repo
        .transport_options(url.as_slice(), None)
        .map_err(|source| Error::Gix {
            what: "HTTP configuration",
            source,
        })?
        .and_then(|o| o.downcast::<http::Options>().ok())
        .map_or_else(http::Options::default, |o| *o);
    let roots = match &source.ca_file {
        Some(path) => ca_roots(path)?,
        None => Vec::new(),
    };
    let timeout = source.timeout;
    // reqwest's `blocking` API is enabled by gix's reqwest transport, the client it configures.
    let backend = http::reqwest::Options {
        configure_client: Some(Box::new(
            move |builder: reqwest::blocking::ClientBuilder| {
                Ok(builder
                    .connect_timeout(timeout)
                    .timeout(timeout)
                    .tls_certs_merge(roots.clone()))
            },
        )),
        configure_request: None,
    };
    options.backend = Some(std::sync::Arc::new(std::sync::Mutex::new(backend)));
    Ok(Box::new(options))
}

fn ca_roots(path: &Path) -> Result<Vec<reqwest::Certificate>> {
    let path_buf = || path.to_path_buf();
    let pem = std::fs::read(path).map_err(|source| Error::CaRead {
        path: path_buf(),
        source,
    })?;
    let roots = reqwest::Certificate::from_pem_bundle(&pem).map_err(|source| Error::CaPem {
        path: path_buf(),
        source,
    })?;
    if roots.is_empty() {
        return Err(Error::CaEmpty { path: path_buf() });
    }
    Ok(roots)
}

/// The `core.sshCommand` for a source (always set: the timeout is per source), run through a
/// shell by gix, so paths are quoted. `BatchMode` means no prompt ever (a passphrase, an
/// unknown host): such a fetch fails. ssh's messages go to `stderr` when given.
pub fn ssh_command(source: &Source, stderr: Option<&Path>) -> String {
    let seconds = source.timeout.as_secs().max(1);
    // A dead connection is noticed after about `timeout`: probes every quarter of it.
    let alive = (seconds / 4).max(1);
    let mut command = format!(
        "ssh -o BatchMode=yes -o ConnectTimeout={seconds} -o ServerAliveInterval={alive} \
         -o ServerAliveCountMax=4"
    );
    if let Some(key) = &source.ssh_key_file {
        command.push_str(" -o IdentitiesOnly=yes -i ");
        command.push_str(&shell_quote(&key.display().to_string()));
    }
    if let Some(known) = &source.known_hosts_file {
        command.push_str(" -o StrictHostKeyChecking=yes -o GlobalKnownHostsFile=/dev/null");
        command.push_str(" -o UserKnownHostsFile=");
        command.push_str(&shell_quote(&known.display().to_string()));
    }
    if let Some(path) = stderr {
        command.push_str(r#" "$@" 2>"#);
        command.push_str(&shell_quote(&path.display().to_string()));
    }
    command
}

/// A file for ssh's messages during one fetch. gix would copy the ones it does not recognise
/// to the process's stderr, unattributed, and report the failure as an early end of input;
/// kept here, the last of them go into the fetch's error instead. Deleted when dropped.
#[derive(Debug)]
pub struct SshLog(tempfile::NamedTempFile);

impl SshLog {
    /// A log for `ssh://` (and `user@host:path`) sources; `None` for the other schemes.
    pub fn for_source(source: &Source) -> std::io::Result<Option<SshLog>> {
        let is_ssh = gix::url::parse(source.url.as_str())
            .is_ok_and(|url| url.scheme == gix::url::Scheme::Ssh);
        if !is_ssh {
            return Ok(None);
        }
        tempfile::Builder::new()
            .prefix("driftgate-ssh-")
            .tempfile()
            .map(|file| Some(SshLog(file)))
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }

    /// ssh's last two lines (the conclusion, after any warning banner), with a hint when the
    /// key was refused.
    pub fn summary(&self) -> Option<String> {
        let text = std::fs::read(self.path()).ok()?;
        let text = String::from_utf8_lossy(&text[text.len().saturating_sub(4096)..]);
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('@'))
            .collect();
        let last: Vec<String> = lines[lines.len().saturating_sub(2)..]
            .iter()
            .map(|l| l.chars().take(300).collect())
            .collect();
        if last.is_empty() {
            return None;
        }
        let mut said = last.join(" ");
        if said.contains("Permission denied") {
            said.push_str(
                " (the server refused the key: check sshKeyFile, and that its public key is \
                 authorized for the user in the URL)",
            );
        }
        Some(said)
    }
}

/// `'text'` for a POSIX shell (a `'` inside is closed, escaped and reopened).
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(extra: &str) -> Source {
        crate::config::Config::from_yaml(
            &format!("sources: [{{name: s, url: \"ssh://git@h/r.git\"{extra}}}]"),
            "test",
        )
        .expect("config")
        .sources
        .remove(0)
    }

    #[test]
    fn ssh_command_checks_hosts_strictly_and_quotes_paths() {
        let plain = ssh_command(&source(""), None);
        assert!(plain.contains("BatchMode=yes"), "{plain}");
        assert!(plain.contains("ConnectTimeout=60"), "{plain}");
        assert!(!plain.contains("StrictHostKeyChecking"), "{plain}");
        let s = source(", sshKeyFile: \"/keys/it's\", knownHostsFile: /keys/known, timeout: 8s");
        let command = ssh_command(&s, Some(Path::new("/tmp/log")));
        assert!(command.contains(r"-i '/keys/it'\''s'"), "{command}");
        assert!(
            command.contains("StrictHostKeyChecking=yes")
                && command.contains("UserKnownHostsFile='/keys/known'"),
            "{command}"
        );
        assert!(
            command.contains("ConnectTimeout=8") && command.contains("ServerAliveInterval=2"),
            "{command}"
        );
        assert!(!command.contains("StrictHostKeyChecking=no"), "{command}");
        assert!(command.ends_with(r#" "$@" 2>'/tmp/log'"#), "{command}");
    }

    #[test]
    fn ssh_failures_are_summed_up_from_its_last_lines() {
        let log = SshLog::for_source(&source("")).expect("file").expect("ssh");
        assert!(log.summary().is_none());
        std::fs::write(
            log.path(),
            "@@@@@@@\n@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @\n@@@@@@@\n\
             Offending ED25519 key in /k:1\n\
             Host key for [h]:22 has changed and you have requested strict checking.\n\
             Host key verification failed.\n",
        )
        .expect("write");
        assert_eq!(
            log.summary().as_deref(),
            Some(
                "Host key for [h]:22 has changed and you have requested strict checking. \
                 Host key verification failed."
            )
        );
        std::fs::write(log.path(), "git@h: Permission denied (publickey).\n").expect("write");
        assert!(log
            .summary()
            .is_some_and(|s| s.contains("check sshKeyFile")));
        let https = crate::config::Config::from_yaml("sources: [{name: s, url: https://h/r}]", "t")
            .expect("config")
            .sources
            .remove(0);
        assert!(SshLog::for_source(&https).expect("ok").is_none());
    }

    #[test]
    fn a_ca_file_without_certificates_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate\n").expect("write");
        let error = ca_roots(&path).expect_err("no roots").to_string();
        assert!(
            error.contains("caFile") && error.contains("ca.pem"),
            "{error}"
        );
        assert!(ca_roots(&dir.path().join("missing.pem")).is_err());
    }
}
