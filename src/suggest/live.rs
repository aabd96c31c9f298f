//! The declared state at the revisions a serving driftgate holds, read again from the
//! repositories and caches it already has (never fetched), with each source's builds: what
//! the admin port's suggested changes are computed from, on demand, off the request path.

use gix::ObjectId;

use super::Error;
use crate::config::Config;
use crate::declare::Declarer;
use crate::git;
use crate::snapshot::{Snapshot, SourceState};
use crate::sources::Builds;
use crate::sync::remote::{self, Location};

/// Every source read at the commit `live` holds for it.
pub fn load(config: &Config, live: &Snapshot) -> Result<(Snapshot, Builds), Error> {
    let text = |e: &dyn std::fmt::Display| Error::Source(e.to_string());
    crate::manifest::yaml::on_parser_stack(|| {
        let mut states: Vec<SourceState> = Vec::with_capacity(config.sources.len());
        let mut builds = Builds::new();
        for source in &config.sources {
            let revision = live
                .revisions
                .iter()
                .find(|r| r.source == source.name)
                .ok_or_else(|| Error::Source(format!("source {}: not loaded yet", source.name)))?;
            let repo = match remote::location(source, &config.cache_dir) {
                Location::Local(path) => git::open(source, &path).map_err(|e| text(&e))?,
                Location::Remote { cache, .. } => {
                    remote::open_cache(source, &cache).map_err(|e| text(&e))?
                }
            };
            let id = ObjectId::from_hex(revision.commit.as_bytes()).map_err(|e| text(&e))?;
            let commit = git::find_commit(&repo, source, id).map_err(|e| text(&e))?;
            let mut declarer = Declarer::default();
            let state = git::read_commit(
                &repo,
                source,
                &commit,
                revision.git_ref.clone(),
                &mut declarer,
            )
            .map_err(|e| text(&e))?;
            states.push(state);
            builds.insert(
                source.name.clone(),
                declarer.renderer.memory.builds().to_vec(),
            );
        }
        Snapshot::build(states)
            .map_err(|e| text(&e))
            .map(|snapshot| (snapshot, builds))
    })
    .map_err(|e| Error::Source(format!("cannot start the loader thread: {e}")))?
}
