//! The declared state at the revisions a serving driftgate holds, read again from the
//! repositories and caches it already has (never fetched), with each source's builds: what
//! the admin port's suggested changes are computed from, on demand, off the request path.

use super::repo::{commit_id, git_error, open_repo};
use super::Error;
use crate::config::Config;
use crate::git;
use crate::snapshot::{Snapshot, SourceState};
use crate::sync::declare::{self, Declarer};
use crate::sync::Builds;

/// Every source read at the commit `live` holds for it.
pub fn load(config: &Config, live: &Snapshot) -> Result<(Snapshot, Builds), Error> {
    let sync = |e: crate::sync::Error| Error::Load(Box::new(e));
    crate::manifest::yaml::on_parser_stack(|| {
        let mut states: Vec<SourceState> = Vec::with_capacity(config.sources.len());
        let mut builds = Builds::new();
        for source in &config.sources {
            let revision = live
                .revisions
                .iter()
                .find(|r| r.source == source.name)
                .ok_or_else(|| Error::NotRead(source.name.clone()))?;
            let (repo, _) = open_repo(config, source)?;
            let id = commit_id(source, &revision.commit)?;
            let commit = git::find_commit(&repo, id).map_err(git_error(source))?;
            let mut declarer = Declarer::default();
            let state = declare::whole(&repo, source, &commit, revision.clone(), &mut declarer)
                .map_err(sync)?;
            states.push(state);
            builds.insert(
                source.name.clone(),
                declarer.renderer.memory.builds().to_vec(),
            );
        }
        let snapshot = Snapshot::build(states).map_err(|e| sync(crate::sync::Error::Merge(e)))?;
        Ok((snapshot, builds))
    })
    .map_err(|e| sync(crate::sync::Error::Thread(e)))?
}
