//! The serving pair, swapped without a restart. cert-manager renews the Secret and the kubelet
//! updates the mounted files; a poll notices, checks the new pair and installs it for the next
//! handshakes. Connections already open keep the pair they were made with.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivateKeyDer;

use super::{parse_certs, provider, Error, Result};

/// Reads a PEM chain (leaf first, then intermediates) and its key, and checks that the key is
/// the leaf's: a mismatched pair would fail every handshake, so it must never be installed.
pub fn load_pair(
    cert_pem: &[u8],
    key_pem: &[u8],
    cert_path: &Path,
    key_path: &Path,
) -> Result<Arc<CertifiedKey>> {
    let chain = parse_certs(cert_pem, cert_path)?;
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|source| match source {
        rustls_pki_types::pem::Error::NoItemsFound => Error::NoKey {
            path: key_path.to_path_buf(),
        },
        source => Error::Pem {
            path: key_path.to_path_buf(),
            source,
        },
    })?;
    let pair_err = |source| Error::Pair {
        cert: cert_path.to_path_buf(),
        key: key_path.to_path_buf(),
        source,
    };
    let certified = CertifiedKey::from_der(chain, key, &provider()).map_err(pair_err)?;
    // `from_der` lets an unknown consistency pass; driftgate wants a positive match.
    certified.keys_match().map_err(pair_err)?;
    Ok(Arc::new(certified))
}

/// Hands every new handshake the current pair.
#[derive(Debug)]
pub struct CertResolver {
    current: ArcSwap<CertifiedKey>,
}

impl CertResolver {
    pub fn new(initial: Arc<CertifiedKey>) -> CertResolver {
        CertResolver {
            current: ArcSwap::new(initial),
        }
    }

    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current.load_full()
    }

    pub fn set(&self, pair: Arc<CertifiedKey>) {
        self.current.store(pair);
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// What one poll of the files found.
#[derive(Debug)]
pub enum Poll {
    Unchanged,
    Reloaded,
    /// The files changed into something unusable; the old pair keeps serving. Reported once:
    /// the same unusable content polls as `Unchanged` afterwards.
    Rejected(Error),
}

/// Watches the cert and key files by content (mtimes are unreliable through the kubelet's
/// symlink swaps) and installs each new valid pair into the resolver.
#[derive(Debug)]
pub struct Reloader {
    resolver: Arc<CertResolver>,
    cert_path: PathBuf,
    key_path: PathBuf,
    /// The bytes of the pair being served.
    installed: Files,
    /// What the last poll saw, served or not, so each change is judged (and logged) once.
    seen: Seen,
}

type Files = (Vec<u8>, Vec<u8>);

#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Files(Files),
    Unreadable(String),
}

impl Reloader {
    /// Loads the pair once; at startup an unusable pair is an error, not a fallback.
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<Reloader> {
        let files = read_both(cert_path, key_path)?;
        let pair = load_pair(&files.0, &files.1, cert_path, key_path)?;
        Ok(Reloader {
            resolver: Arc::new(CertResolver::new(pair)),
            cert_path: cert_path.to_path_buf(),
            key_path: key_path.to_path_buf(),
            seen: Seen::Files(files.clone()),
            installed: files,
        })
    }

    pub fn resolver(&self) -> Arc<CertResolver> {
        self.resolver.clone()
    }

    /// Whether the files on disk, as last polled, are not the pair being served: unreadable
    /// (deleted, say) or rejected. The old pair keeps serving meanwhile; this is the state to
    /// alert on, as it outlives the one log line per change.
    pub fn stale(&self) -> bool {
        !matches!(&self.seen, Seen::Files(files) if *files == self.installed)
    }

    /// Reads the files and installs them when they changed and form a valid pair. Small local
    /// files (a mounted Secret), so the read is done in place.
    pub fn poll(&mut self) -> Poll {
        let (seen, read) = match read_both(&self.cert_path, &self.key_path) {
            Ok(files) => (Seen::Files(files.clone()), Ok(files)),
            Err(e) => (Seen::Unreadable(e.to_string()), Err(e)),
        };
        if seen == self.seen {
            return Poll::Unchanged;
        }
        self.seen = seen;
        let files = match read {
            Ok(files) if files == self.installed => return Poll::Unchanged,
            Ok(files) => files,
            Err(e) => return Poll::Rejected(e),
        };
        match load_pair(&files.0, &files.1, &self.cert_path, &self.key_path) {
            Ok(pair) => {
                self.resolver.set(pair);
                self.installed = files;
                Poll::Reloaded
            }
            Err(e) => Poll::Rejected(e),
        }
    }
}

fn read_both(cert_path: &Path, key_path: &Path) -> Result<Files> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })
    };
    Ok((read(cert_path)?, read(key_path)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::certs::{service_names, Authority};

    fn write(dir: &Path, cert: &str, key: &str) {
        std::fs::write(dir.join("tls.crt"), cert).expect("crt");
        std::fs::write(dir.join("tls.key"), key).expect("key");
    }

    fn served(reloader: &Reloader) -> Vec<u8> {
        reloader.resolver().current().cert[0].to_vec()
    }

    fn der(pem: &str) -> Vec<u8> {
        rustls_pki_types::CertificateDer::from_pem_slice(pem.as_bytes())
            .expect("pem")
            .to_vec()
    }

    #[test]
    fn installs_good_pairs_and_keeps_the_old_one_over_bad_ones() {
        let dir = tempfile::tempdir().expect("tmp");
        let (crt, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
        let ca = Authority::new("ca").expect("ca");
        let names = service_names("s", "n");
        let one = ca.issue_server(&names).expect("pair");
        let two = ca.issue_server(&names).expect("pair");
        write(dir.path(), &one.cert_pem, &one.key_pem);
        let mut reloader = Reloader::load(&crt, &key).expect("loads");
        assert!(matches!(reloader.poll(), Poll::Unchanged));
        assert!(!reloader.stale());

        // Mismatched: reported once, then quiet; the first pair stays.
        write(dir.path(), &two.cert_pem, &one.key_pem);
        assert!(matches!(
            reloader.poll(),
            Poll::Rejected(Error::Pair { .. })
        ));
        assert!(matches!(reloader.poll(), Poll::Unchanged));
        assert_eq!(served(&reloader), der(&one.cert_pem));
        assert!(reloader.stale());

        // Unreadable, then back to the pair already served: nothing to install.
        std::fs::remove_file(&key).expect("rm");
        assert!(matches!(
            reloader.poll(),
            Poll::Rejected(Error::Read { .. })
        ));
        assert!(matches!(reloader.poll(), Poll::Unchanged));
        write(dir.path(), &one.cert_pem, &one.key_pem);
        assert!(matches!(reloader.poll(), Poll::Unchanged));
        assert!(!reloader.stale());

        // A chain (leaf, intermediate) with its key is installed.
        let intermediate = ca.intermediate("i").expect("intermediate");
        let three = intermediate.issue_server(&names).expect("pair");
        let chain = format!("{}{}", three.cert_pem, intermediate.cert_pem());
        write(dir.path(), &chain, &three.key_pem);
        assert!(matches!(reloader.poll(), Poll::Reloaded));
        assert_eq!(served(&reloader), der(&three.cert_pem));
        assert_eq!(reloader.resolver().current().cert.len(), 2);

        write(dir.path(), "garbage", &three.key_pem);
        assert!(matches!(
            reloader.poll(),
            Poll::Rejected(Error::NoCertificate { .. })
        ));
        assert_eq!(served(&reloader), der(&three.cert_pem));
    }

    #[test]
    fn startup_refuses_a_bad_pair() {
        let dir = tempfile::tempdir().expect("tmp");
        let ca = Authority::new("ca").expect("ca");
        let names = service_names("s", "n");
        let one = ca.issue_server(&names).expect("pair");
        let two = ca.issue_server(&names).expect("pair");
        write(dir.path(), &one.cert_pem, &two.key_pem);
        let err = Reloader::load(&dir.path().join("tls.crt"), &dir.path().join("tls.key"))
            .expect_err("mismatch");
        assert!(err.to_string().contains("not a usable pair"), "{err}");
    }
}
