//! Loading the declared state of every configured source into one snapshot.

use crate::config::Config;
use crate::git;
use crate::snapshot::{self, Snapshot, SourceState};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Git(#[from] git::Error),
    #[error(transparent)]
    Snapshot(#[from] snapshot::Error),
}

/// Reads every source once and merges them. Any source failing fails the whole load: a
/// snapshot missing a source would let its objects through as undeclared.
pub fn load_once(config: &Config) -> Result<Snapshot, Error> {
    let mut states: Vec<SourceState> = Vec::with_capacity(config.sources.len());
    for source in &config.sources {
        states.push(git::read_local(source)?);
    }
    Ok(Snapshot::build(states)?)
}
