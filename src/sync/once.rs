//! The pipeline run once: every configured source fetched, read and declared, merged into one
//! snapshot (the `check`, `index`, `scan`, `suggest` and `webhook-config` commands). Remote
//! sources go through the same bare cache as `serve`, so a second run only fetches what changed.

use std::collections::HashMap;

use super::source::SourceSync;
use super::{Error, Result};
use crate::config::Config;
use crate::render::build::Build;
use crate::snapshot::{Snapshot, SourceState};

/// Reads every source once and merges them. Any source failing fails the whole load: a
/// snapshot missing a source would let its objects through as undeclared.
pub fn load_once(config: &Config) -> Result<Snapshot> {
    load_with_builds(config).map(|(snapshot, _)| snapshot)
}

/// Each source's builds, by source name.
pub type Builds = HashMap<String, Vec<Build>>;

/// [`load_once`], keeping what each source rendered and how (`suggest` renders a build again).
pub fn load_with_builds(config: &Config) -> Result<(Snapshot, Builds)> {
    // One thread with the YAML parser's stack for the whole load, not one per file.
    crate::manifest::yaml::on_parser_stack(|| {
        let mut states: Vec<SourceState> = Vec::with_capacity(config.sources.len());
        let mut builds = Builds::new();
        for source in &config.sources {
            let mut sync = SourceSync::new(source.clone(), &config.cache_dir, None);
            states.push(sync.read_current()?);
            builds.insert(source.name.clone(), sync.builds().to_vec());
        }
        Ok((Snapshot::build(states).map_err(Error::Merge)?, builds))
    })
    .map_err(Error::Thread)?
}
