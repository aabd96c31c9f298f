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
    /// The bytes last seen, installed or rejected, so each change is judged (and logged) once.
    seen: Seen,
}

#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Files(Vec<u8>, Vec<u8>),
    Unreadable(String),
}

impl Reloader {
    /// Loads the pair once; at startup an unusable pair is an error, not a fallback.
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<Reloader> {
        let (cert, key) = read_both(cert_path, key_path)?;
        let pair = load_pair(&cert, &key, cert_path, key_path)?;
        Ok(Reloader {
            resolver: Arc::new(CertResolver::new(pair)),
            cert_path: cert_path.to_path_buf(),
            key_path: key_path.to_path_buf(),
            seen: Seen::Files(cert, key),
        })
    }

    pub fn resolver(&self) -> Arc<CertResolver> {
        self.resolver.clone()
    }

    /// Reads the files and installs them when they changed and form a valid pair. Small local
    /// files (a mounted Secret), so the read is done in place.
    pub fn poll(&mut self) -> Poll {
        let (seen, result) = match read_both(&self.cert_path, &self.key_path) {
            Ok((cert, key)) => {
                let result = match Seen::Files(cert.clone(), key.clone()) == self.seen {
                    true => None,
                    false => Some(load_pair(&cert, &key, &self.cert_path, &self.key_path)),
                };
                (Seen::Files(cert, key), result)
            }
            Err(e) => {
                let seen = Seen::Unreadable(e.to_string());
                let result = (seen != self.seen).then_some(Err(e));
                (seen, result)
            }
        };
        self.seen = seen;
        match result {
            None => Poll::Unchanged,
            Some(Ok(pair)) => {
                self.resolver.set(pair);
                Poll::Reloaded
            }
            Some(Err(e)) => Poll::Rejected(e),
        }
    }
}

fn read_both(cert_path: &Path, key_path: &Path) -> Result<(Vec<u8>, Vec<u8>)> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })
    };
    Ok((read(cert_path)?, read(key_path)?))
}
