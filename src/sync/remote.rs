//! Getting a source's commit into a local object database: a bare cache per remote source,
//! cloned once and then fetched incrementally (only the one ref needed), or a local repository
//! read in place. gix is blocking: everything here runs on a sync thread, never on a request.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use gix::bstr::ByteSlice;
use sha2::{Digest, Sha256};

use crate::config::Source;

/// What getting a commit into the local object database fails with. The source is named by
/// the sync layer's error that wraps this one.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot prepare cache {path}")]
    CacheDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot prepare cache {path}")]
    CacheRepo {
        path: PathBuf,
        #[source]
        source: gix::Error,
    },
    #[error("fetch of {what} from {url} failed{}", said(ssh.as_deref()))]
    Fetch {
        url: String,
        what: String,
        /// What ssh said (a refused key, an unknown host key): the useful part of an ssh failure.
        ssh: Option<String>,
        #[source]
        source: FetchError,
    },
    #[error("cannot read credentials")]
    Credentials(#[source] super::credentials::Error),
    #[error("cannot configure ssh for the fetch")]
    SshConfig(#[source] gix::Error),
    #[error("{what} not found after fetching from {url}")]
    NotFound { url: String, what: String },
}

/// The step of a fetch that failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("cannot create a file for ssh's messages")]
    SshLog(#[source] std::io::Error),
    #[error(transparent)]
    Transport(#[from] super::transport::Error),
    #[error(transparent)]
    Gix(#[from] gix::Error),
}

fn said(ssh: Option<&str>) -> String {
    ssh.map(|said| format!(" (ssh: {said})"))
        .unwrap_or_default()
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The local ref a fetched branch or tag lands on inside the cache (one source per cache).
const TIP_REF: &str = "refs/driftgate/tip";
/// Where a commit fetched by id is kept, so it stays reachable.
const PINNED_REF: &str = "refs/driftgate/pinned";

/// Where a source's objects are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A repository on this machine, read in place (no clone, no fetch).
    Local(PathBuf),
    /// A remote URL mirrored into a bare cache directory.
    Remote { url: String, cache: PathBuf },
}

/// Local paths and `file://` URLs are read in place: cloning them would only copy what is
/// already on disk (and `file://` fetching makes gix spawn the `git` binary).
pub fn location(source: &Source, cache_dir: &Path) -> Location {
    match local_path(&source.url) {
        Some(path) => Location::Local(path),
        None => Location::Remote {
            url: source.url.clone(),
            cache: cache_dir.join(cache_name(&source.name, &source.url)),
        },
    }
}

/// Where a local source lives on disk: a path, or a `file://` URL.
pub fn local_path(url: &str) -> Option<PathBuf> {
    if let Some(rest) = url.strip_prefix("file://") {
        return Some(PathBuf::from(rest));
    }
    if url.contains("://") || url.starts_with("git@") {
        return None;
    }
    Some(PathBuf::from(url))
}

/// `<name>-<16 hex of sha256(url)>`: stable across restarts, distinct when a source's URL
/// changes, and safe as a directory name whatever the source name holds.
pub fn cache_name(name: &str, url: &str) -> String {
    let safe: String = name
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let safe = safe.trim_start_matches('.');
    let digest = Sha256::digest(url.as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{hex}", if safe.is_empty() { "source" } else { safe })
}

/// A full commit id (40 hex digits) rather than a branch or tag name.
pub fn as_commit_id(spec: &str) -> Option<gix::ObjectId> {
    if spec.len() == 40 && spec.bytes().all(|b| b.is_ascii_hexdigit()) {
        gix::ObjectId::from_hex(spec.as_bytes()).ok()
    } else {
        None
    }
}

/// Opens the bare cache, creating it on first use.
pub fn open_cache(cache: &Path) -> Result<gix::Repository> {
    let dir_err = |source| Error::CacheDir {
        path: cache.to_path_buf(),
        source,
    };
    let repo_err = |source| Error::CacheRepo {
        path: cache.to_path_buf(),
        source,
    };
    if cache.join("HEAD").is_file() {
        return gix::open(cache).map_err(repo_err);
    }
    if let Some(parent) = cache.parent() {
        std::fs::create_dir_all(parent).map_err(dir_err)?;
    }
    // A half-created directory from an interrupted first run is replaced.
    if cache.exists() {
        std::fs::remove_dir_all(cache).map_err(dir_err)?;
    }
    gix::init_bare(cache).map_err(repo_err)
}

/// What the source's ref points to on the remote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tip {
    pub commit: gix::ObjectId,
    /// The branch a symbolic ref (`HEAD`) pointed to, for labels (`main@sha1:…`).
    pub branch: Option<String>,
}

/// Fetches the source's ref into the cache and returns the commit it points to. A branch
/// or tag always asks the remote (it may have moved, or been force-pushed or deleted); a commit
/// id is fetched only when the cache does not hold it yet.
pub fn fetch_ref(repo: &gix::Repository, source: &Source) -> Result<Tip> {
    if let Some(id) = as_commit_id(&source.git_ref) {
        return fetch_commit(repo, source, id).map(|commit| Tip {
            commit,
            branch: None,
        });
    }
    let spec = format!("+{}:{TIP_REF}", source.git_ref);
    let target = fetch(repo, source, &spec, &source.git_ref)?;
    let branch = target.map(|t| t.strip_prefix("refs/heads/").unwrap_or(&t).to_string());
    let not_found = || Error::NotFound {
        url: redact_url(&source.url),
        what: format!("ref {:?}", source.git_ref),
    };
    let mut reference = repo.find_reference(TIP_REF).map_err(|_| not_found())?;
    let commit = reference.peel_to_commit().map_err(|_| not_found())?;
    Ok(Tip {
        commit: commit.id,
        branch,
    })
}

/// Makes sure `id` is in the cache, fetching it by id if needed (servers with protocol v2
/// allow this for reachable commits; a pinned commit is always on the tracked branch).
pub fn fetch_commit(
    repo: &gix::Repository,
    source: &Source,
    id: gix::ObjectId,
) -> Result<gix::ObjectId> {
    if has_commit(repo, id) {
        return Ok(id);
    }
    let spec = format!("+{id}:{PINNED_REF}");
    fetch(repo, source, &spec, &format!("commit {id}"))?;
    if has_commit(repo, id) {
        Ok(id)
    } else {
        Err(Error::NotFound {
            url: redact_url(&source.url),
            what: format!("commit {id}"),
        })
    }
}

/// Whether the object database holds `id` as a commit.
pub fn has_commit(repo: &gix::Repository, id: gix::ObjectId) -> bool {
    repo.find_object(id)
        .ok()
        .is_some_and(|o| o.kind == gix::object::Kind::Commit)
}

/// Fetches `refspec`; returns the target of the matched remote ref when it is symbolic.
fn fetch(
    repo: &gix::Repository,
    source: &Source,
    refspec: &str,
    what: &str,
) -> Result<Option<String>> {
    let url = redact_url(&source.url);
    let fetch_err = |ssh: Option<String>, cause: FetchError| Error::Fetch {
        url: url.clone(),
        what: what.to_string(),
        ssh,
        source: cause,
    };
    let ssh_log = super::transport::SshLog::for_source(source)
        .map_err(|e| fetch_err(None, FetchError::SshLog(e)))?;
    let failed = |e: FetchError| {
        fetch_err(
            ssh_log.as_ref().and_then(super::transport::SshLog::summary),
            e,
        )
    };
    let repo = with_transport_config(repo, source, ssh_log.as_ref())?;
    let token = super::credentials::token(source).map_err(Error::Credentials)?;
    let remote = repo
        .remote_at(source.url.as_str())
        .map_err(|e| failed(e.into()))?
        // Only the one ref: no implicit `refs/tags/*` (tag following would fetch every tag).
        .with_fetch_tags(gix::remote::fetch::Tags::None)
        .with_refspecs(Some(refspec), gix::remote::Direction::Fetch)
        .map_err(|e| failed(e.into()))?;
    let connection = super::transport::connect(&remote, source).map_err(|e| failed(e.into()))?;
    let username = source.username.clone();
    let connection = connection.with_credentials(move |action| {
        super::credentials::answer(action, &username, token.as_ref())
    });
    let interrupt = AtomicBool::new(false);
    let outcome = connection
        .prepare_fetch(gix::progress::Discard, Default::default())
        .map_err(|e| failed(e.into()))?
        .receive(gix::progress::Discard, &interrupt)
        .map_err(|e| failed(e.into()))?;
    Ok(outcome
        .ref_map
        .mappings
        .iter()
        .find_map(|m| m.remote.as_target())
        .map(|t| t.to_str_lossy().into_owned()))
}

/// The URL without a password or token written into it, for errors and logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

/// A repository handle configured for this fetch only (nothing is written to the cache's
/// config): the system `ssh` with the source's key, known hosts and timeout, its messages
/// going to `ssh_log`. Timeouts and trust for the other schemes are set on the transport
/// ([`super::transport`]).
fn with_transport_config(
    repo: &gix::Repository,
    source: &Source,
    ssh_log: Option<&super::transport::SshLog>,
) -> Result<gix::Repository> {
    let mut repo = repo.clone();
    let mut config = repo.config_snapshot_mut();
    let command = super::transport::ssh_command(source, ssh_log.map(|log| log.path()));
    config
        .set_raw_value(gix::config::tree::Core::SSH_COMMAND, command.as_str())
        .map_err(Error::SshConfig)?;
    // Said outright, so gix does not probe an unrecognised command line with `ssh -G`.
    config
        .set_raw_value("ssh.variant", "ssh")
        .map_err(Error::SshConfig)?;
    config.commit().map_err(Error::SshConfig)?;
    Ok(repo)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_names_are_safe_and_follow_the_url() {
        let a = cache_name("fleet", "https://example.com/a.git");
        let b = cache_name("fleet", "https://example.com/b.git");
        assert_ne!(a, b);
        assert!(
            a.starts_with("fleet-") && a.len() == "fleet-".len() + 16,
            "{a}"
        );
        let odd = cache_name("../../etc/x y", "u");
        assert!(!odd.contains('/') && !odd.starts_with('.'), "{odd}");
        assert!(cache_name("", "u").starts_with("source-"));
    }

    #[test]
    fn urls_lose_their_secrets() {
        assert_eq!(
            redact_url("https://user:tok@example.com/a.git"),
            "https://***@example.com/a.git"
        );
        assert_eq!(redact_url("git://h/a@b.git"), "git://h/a@b.git");
        assert_eq!(redact_url("/srv/repo"), "/srv/repo");
    }

    #[test]
    fn commit_ids_are_told_from_names() {
        assert!(as_commit_id("0123456789abcdef0123456789abcdef01234567").is_some());
        assert!(as_commit_id("main").is_none());
        assert!(as_commit_id("0123456789abcdef").is_none());
    }

    #[test]
    fn local_sources_are_read_in_place() {
        let mut source: Source =
            crate::config::Config::from_yaml("sources: [{name: s, url: /srv/repo}]", "test")
                .expect("config")
                .sources
                .remove(0);
        assert_eq!(
            location(&source, Path::new("/cache")),
            Location::Local("/srv/repo".into())
        );
        source.url = "git://example.com/r.git".into();
        match location(&source, Path::new("/cache")) {
            Location::Remote { cache, .. } => assert!(cache.starts_with("/cache")),
            other => panic!("{other:?}"),
        }
    }
}
