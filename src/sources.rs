//! Loading the declared state of every configured source into one snapshot, once (the
//! `check`, `index` and `webhook-config` commands). Remote sources go through the same bare
//! cache as `serve`, so a second run only fetches what changed.

use std::collections::HashMap;

use crate::config::Config;
use crate::git;
use crate::render::build::Build;
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
    load_with_builds(config).map(|(snapshot, _)| snapshot)
}

/// Each source's builds, by source name.
pub type Builds = HashMap<String, Vec<Build>>;

/// [`load_once`], keeping what each source rendered and how (`suggest` renders a build again).
pub fn load_with_builds(config: &Config) -> Result<(Snapshot, Builds), Error> {
    // One thread with the YAML parser's stack for the whole load, not one per file.
    crate::manifest::yaml::on_parser_stack(|| {
        let mut states: Vec<SourceState> = Vec::with_capacity(config.sources.len());
        let mut builds = Builds::new();
        for source in &config.sources {
            let mut sync = SourceSync::new(source.clone(), &config.cache_dir, None);
            states.push(sync.read_current().map_err(|e| Error::Sync(Box::new(e)))?);
            builds.insert(source.name.clone(), sync.builds().to_vec());
        }
        Ok((Snapshot::build(states)?, builds))
    })
    .map_err(Error::Thread)?
}
