//! Loading the declared state of every configured source into one snapshot, once (the
//! `check`, `index` and `webhook-config` commands). Remote sources go through the same bare
//! cache as `serve`, so a second run only fetches what changed.

use crate::config::Config;
use crate::git;
use crate::snapshot::{self, Snapshot, SourceState};
use crate::sync::source::SourceSync;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot start the loader thread: {0}")]
    Thread(#[source] std::io::Error),
    #[error(transparent)]
    Git(#[from] git::Error),
    /// Boxed: a fetch error carries URLs and messages, and this error travels by value.
    #[error(transparent)]
    Sync(Box<crate::sync::source::Error>),
    #[error(transparent)]
    Snapshot(#[from] snapshot::Error),
}

/// Reads every source once and merges them. Any source failing fails the whole load: a
/// snapshot missing a source would let its objects through as undeclared.
pub fn load_once(config: &Config) -> Result<Snapshot, Error> {
    // One thread with the YAML parser's stack for the whole load, not one per file.
    crate::manifest::yaml::on_parser_stack(|| {
        let mut states: Vec<SourceState> = Vec::with_capacity(config.sources.len());
        for source in &config.sources {
            let mut sync = SourceSync::new(source.clone(), &config.cache_dir, None);
            states.push(sync.read_current().map_err(|e| Error::Sync(Box::new(e)))?);
        }
        Ok(Snapshot::build(states)?)
    })
    .map_err(Error::Thread)?
}
