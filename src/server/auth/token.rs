//! `token` mode: bearer tokens listed in `server.adminAuth.tokenFile`.
//!
//! Only SHA-256 digests of the tokens are kept. A presented token is hashed, and its digest is
//! compared with every listed digest in constant time (`subtle`), with no early exit at the first
//! differing byte nor at the first match: how long a check takes says nothing about how close a
//! guess was, nor which line matched. Hashing first makes every comparison the same length,
//! whatever length the caller sent.
//!
//! The file is polled in the background and a changed one replaces the set whole, so a mounted
//! Secret can be rotated without a restart; requests only load the current set (no I/O).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

use super::metrics::{AdminAuthMetrics, TokenReload, TokenReloadLabels};
use super::Error;

type TokenDigest = [u8; 32];

/// A token file that cannot be used as it is.
#[derive(Debug, thiserror::Error)]
pub enum BadTokens {
    #[error("not UTF-8 text")]
    NotText,
    #[error("line {line}: a token cannot contain whitespace")]
    Whitespace { line: usize },
}

/// The accepted tokens, as digests.
#[derive(Debug, Default)]
pub struct TokenSet {
    digests: Vec<TokenDigest>,
}

impl TokenSet {
    /// One token a line; surrounding whitespace, blank lines and `#` comments are ignored. A line
    /// with whitespace inside can never be sent as a bearer token: it is an error, not skipped,
    /// so a pasted `name token` pair does not silently lock its owner out.
    pub fn parse(text: &str) -> Result<TokenSet, BadTokens> {
        let mut digests = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let token = line.trim();
            if token.is_empty() || token.starts_with('#') {
                continue;
            }
            if token.chars().any(char::is_whitespace) {
                return Err(BadTokens::Whitespace { line: index + 1 });
            }
            digests.push(digest(token.as_bytes()));
        }
        Ok(TokenSet { digests })
    }

    pub fn len(&self) -> usize {
        self.digests.len()
    }

    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// Whether `presented` is one of the tokens, in time that depends only on how many tokens
    /// there are.
    pub fn contains(&self, presented: &[u8]) -> bool {
        self.contains_with(presented, |listed, presented| listed.ct_eq(presented))
    }

    /// [`TokenSet::contains`] with the digest comparison passed in, so a test can watch it.
    fn contains_with(
        &self,
        presented: &[u8],
        mut equal: impl FnMut(&TokenDigest, &TokenDigest) -> Choice,
    ) -> bool {
        let presented = digest(presented);
        let found = self.digests.iter().fold(Choice::from(0), |found, listed| {
            found | equal(listed, &presented)
        });
        found.into()
    }
}

fn digest(bytes: &[u8]) -> TokenDigest {
    Sha256::digest(bytes).into()
}

/// The token file and the set read from it last.
#[derive(Debug)]
pub struct TokenFile {
    path: PathBuf,
    current: ArcSwap<TokenSet>,
    /// Digest of the file's bytes when loaded: a change after that is what the watch looks for.
    loaded: TokenDigest,
}

impl TokenFile {
    /// Reads the file once; at startup an unreadable file, a bad line or no token at all is an
    /// error, since the admin port would otherwise start locked or open by mistake.
    pub fn load(path: &Path) -> Result<TokenFile, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::TokenFile {
            path: path.to_path_buf(),
            source,
        })?;
        let set = TokenSet::parse(&text).map_err(|source| Error::TokenLine {
            path: path.to_path_buf(),
            source,
        })?;
        if set.is_empty() {
            return Err(Error::NoTokens {
                path: path.to_path_buf(),
            });
        }
        Ok(TokenFile {
            path: path.to_path_buf(),
            current: ArcSwap::from_pointee(set),
            loaded: digest(text.as_bytes()),
        })
    }

    pub fn accepts(&self, presented: &[u8]) -> bool {
        self.current.load().contains(presented)
    }

    /// Re-reads the file every `interval` and installs a changed set. An unreadable file or a
    /// bad line keeps the previous set (a half-written Secret must not lock everyone out); a file
    /// emptied of tokens is taken at its word and accepts nobody.
    pub async fn watch(self: Arc<Self>, interval: Duration, metrics: AdminAuthMetrics) {
        let mut seen = self.loaded;
        let mut failing = false;
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let read = tokio::fs::read(&self.path).await;
            let bytes = match read {
                Ok(bytes) => bytes,
                Err(e) => {
                    if !failing {
                        tracing::error!(path = %self.path.display(), "server.adminAuth.tokenFile cannot be read, the tokens read before stay: {e}");
                        self.reloaded(&metrics, TokenReload::Rejected);
                    }
                    failing = true;
                    continue;
                }
            };
            let now = digest(&bytes);
            if seen == now {
                failing = false;
                continue;
            }
            seen = now;
            let parsed = String::from_utf8(bytes)
                .map_err(|_| BadTokens::NotText)
                .and_then(|text| TokenSet::parse(&text));
            match parsed {
                Ok(set) => {
                    failing = false;
                    if set.is_empty() {
                        tracing::warn!(path = %self.path.display(), "server.adminAuth.tokenFile lists no token: every protected admin request is refused");
                    } else {
                        tracing::info!(path = %self.path.display(), tokens = set.len(), "admin tokens reloaded");
                    }
                    self.current.store(Arc::new(set));
                    self.reloaded(&metrics, TokenReload::Reloaded);
                }
                Err(bad) => {
                    failing = true;
                    tracing::error!(path = %self.path.display(), "server.adminAuth.tokenFile not reloaded, the tokens read before stay: {bad}");
                    self.reloaded(&metrics, TokenReload::Rejected);
                }
            }
        }
    }

    fn reloaded(&self, metrics: &AdminAuthMetrics, result: TokenReload) {
        metrics
            .token_reloads
            .get_or_create(&TokenReloadLabels { result })
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_comments_and_blanks() {
        let set =
            TokenSet::parse("# readers\n\n  alpha-123  \nbeta-456\n\t\n# gamma\n").expect("parses");
        assert_eq!(set.len(), 2);
        assert!(set.contains(b"alpha-123"));
        assert!(set.contains(b"beta-456"));
        assert!(!set.contains(b"gamma"));
        assert!(!set.contains(b"# gamma"));
        assert!(!set.contains(b"alpha-12"), "a prefix is not the token");
        assert!(!set.contains(b"alpha-1234"), "nor is a longer one");
        assert!(!set.contains(b""));
        let err = TokenSet::parse("ok\nname token\n").expect_err("whitespace");
        assert!(err.to_string().contains("line 2"), "{err}");
        assert!(TokenSet::parse("# none\n").expect("parses").is_empty());
    }

    /// Constant time by construction: every listed digest is compared on every check, whether
    /// the first, the last or no line matches, and every comparison is of two 32-byte digests
    /// whatever the presented token's length. (The byte comparison itself is `subtle`'s, which
    /// has no early exit.)
    #[test]
    fn every_digest_is_compared_at_equal_length() {
        let set = TokenSet::parse("first\nsecond\nthird\nfourth\n").expect("parses");
        for presented in [
            &b"first"[..],
            b"fourth",
            b"nope",
            b"",
            &[b'x'; 4096][..],
            b"firsu",
        ] {
            let mut compared = Vec::new();
            let found = set.contains_with(presented, |listed, digest| {
                compared.push((listed.len(), digest.len()));
                listed.ct_eq(digest)
            });
            assert_eq!(found, set.contains(presented));
            assert_eq!(compared, vec![(32, 32); 4], "{presented:?}");
        }
        // A digest that differs only in its last byte is refused like one that differs in its
        // first: the comparison looks at all of them.
        let listed = digest(b"first");
        let mut last = listed;
        last[31] ^= 1;
        let mut first = listed;
        first[0] ^= 1;
        assert!(!bool::from(listed.ct_eq(&last)));
        assert!(!bool::from(listed.ct_eq(&first)));
        assert!(bool::from(listed.ct_eq(&digest(b"first"))));
    }

    #[tokio::test]
    async fn a_rewritten_file_replaces_the_set() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("tokens");
        std::fs::write(&path, "old-token\n").expect("write");
        let file = Arc::new(TokenFile::load(&path).expect("loads"));
        let metrics = AdminAuthMetrics::default();
        let watcher = tokio::spawn(
            file.clone()
                .watch(Duration::from_millis(10), metrics.clone()),
        );
        assert!(file.accepts(b"old-token"));
        std::fs::write(&path, "new-token\n").expect("rewrite");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !file.accepts(b"new-token") {
            assert!(std::time::Instant::now() < deadline, "never reloaded");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(!file.accepts(b"old-token"), "the old token is revoked");
        // A bad line keeps what was there.
        std::fs::write(&path, "two words\n").expect("rewrite");
        let rejected = TokenReloadLabels {
            result: TokenReload::Rejected,
        };
        while metrics.token_reloads.get_or_create(&rejected).get() == 0 {
            assert!(std::time::Instant::now() < deadline, "never rejected");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(file.accepts(b"new-token"));
        watcher.abort();
    }

    #[test]
    fn startup_refuses_a_missing_or_empty_file() {
        let dir = tempfile::tempdir().expect("tmp");
        let missing = TokenFile::load(&dir.path().join("absent")).unwrap_err();
        assert!(matches!(missing, Error::TokenFile { .. }), "{missing}");
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "# nobody yet\n").expect("write");
        assert!(matches!(
            TokenFile::load(&empty).unwrap_err(),
            Error::NoTokens { .. }
        ));
    }
}
