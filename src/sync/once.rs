//! The pipeline run once: every configured source fetched, read and declared, merged into one
//! snapshot (the `check`, `index`, `scan` and `webhook-config` commands). Remote sources go
//! through the same bare cache as `serve`, so a second run only fetches what changed.

use super::source::SourceSync;
use super::{Error, Result};
use crate::config::Config;
use crate::snapshot::{Snapshot, SourceState};

/// Reads every source once and merges them. Any source failing fails the whole load: a
/// snapshot missing a source would let its objects through as undeclared.
pub fn load_once(config: &Config) -> Result<Snapshot> {
    // One thread with the YAML parser's stack for the whole load, not one per file.
    crate::manifest::yaml::on_parser_stack(|| {
        let mut states: Vec<SourceState> = Vec::with_capacity(config.sources.len());
        for source in &config.sources {
            let mut sync = SourceSync::new(source.clone(), &config.cache_dir, None);
            states.push(sync.read_current()?);
        }
        Snapshot::build(states).map_err(Error::Merge)
    })
    .map_err(Error::Thread)?
}
