//! Rendered output by the hash of its inputs: the command, the directory, what the controller
//! changes (Flux and Argo CD settings, resolved variables), the build's identity (its objects say
//! which build they come from) and the tree or blob id of every input. Git ids are content hashes, so an unchanged key means an
//! unchanged build; a change to a shared base changes the key of every overlay that reads it.
//! Entries not used by the last successful sync are dropped, so memory follows the repository.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use super::build::{Build, Rendered};
use super::plan::Inputs;

pub type Key = [u8; 32];

#[derive(Debug, Default)]
pub struct Cache {
    entries: HashMap<Key, (u64, Rendered)>,
    generation: u64,
    /// Builds run (cache misses) since `begin`, for logs, metrics and tests.
    pub renders: usize,
    /// Builds served from the cache since `begin`.
    pub hits: usize,
}

impl Cache {
    /// Starts a sync.
    pub fn begin(&mut self) {
        self.generation += 1;
        self.renders = 0;
        self.hits = 0;
    }

    /// Ends a successful sync: what it did not use is dropped. A failed sync never gets here, so
    /// the entries of the last good revision stay for the next attempt.
    pub fn finish(&mut self) {
        let current = self.generation;
        self.entries
            .retain(|_, (generation, _)| *generation == current);
    }

    pub fn get(&mut self, key: &Key) -> Option<Rendered> {
        let current = self.generation;
        let (generation, rendered) = self.entries.get_mut(key)?;
        *generation = current;
        self.hits += 1;
        Some(rendered.clone())
    }

    pub fn insert(&mut self, key: Key, rendered: Rendered) {
        self.renders += 1;
        self.entries.insert(key, (self.generation, rendered));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The key of one build.
pub fn key(command: &[String], dir: &str, build: &Build, inputs: &Inputs) -> Key {
    let mut hasher = Sha256::new();
    let mut field = |bytes: &[u8]| {
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    };
    for part in command {
        field(part.as_bytes());
    }
    field(b"\0dir");
    field(dir.as_bytes());
    field(&serde_json::to_vec(&build.how).unwrap_or_default());
    let info = &build.info;
    field(build.name.as_bytes());
    field(info.by.as_bytes());
    field(info.dir.as_bytes());
    let (file, line) = info.declared_at.clone().unwrap_or_default();
    field(file.as_bytes());
    field(&line.to_le_bytes());
    field(info.default_namespace.as_deref().unwrap_or("\0").as_bytes());
    for (path, (_, id)) in &inputs.entries {
        field(path.as_bytes());
        field(id.as_bytes());
    }
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::EntryKind;
    use crate::render::build::How;
    use crate::render::flux::BuildOptions;
    use crate::render::kfile;
    use gix::ObjectId;

    #[test]
    fn key_follows_every_input() {
        let mut inputs = Inputs::default();
        inputs.entries.insert(
            "apps/base".into(),
            (EntryKind::Tree, ObjectId::from_bytes_or_panic(&[1; 20])),
        );
        let cmd = vec!["kubectl".to_string(), "kustomize".to_string()];
        let build = Build::kustomize("apps/prod", inputs.clone());
        let base = key(&cmd, "apps/prod", &build, &inputs);
        assert_eq!(base, key(&cmd, "apps/prod", &build, &inputs));
        assert_ne!(base, key(&cmd, "apps/stage", &build, &inputs));
        assert_ne!(
            base,
            key(&["kustomize".into()], "apps/prod", &build, &inputs)
        );
        let mut changed = inputs.clone();
        changed.entries.insert(
            "apps/base".into(),
            (EntryKind::Tree, ObjectId::from_bytes_or_panic(&[2; 20])),
        );
        assert_ne!(base, key(&cmd, "apps/prod", &build, &changed));
        let mut flux = build.clone();
        flux.how = How::Kustomize(Box::new(kfile::Changes {
            flux: Some(BuildOptions {
                target_namespace: Some("x".into()),
                ..BuildOptions::default()
            }),
            argo: None,
        }));
        assert_ne!(base, key(&cmd, "apps/prod", &flux, &inputs));
        let mut renamed = build.clone();
        renamed.name = "Flux Kustomization flux-system/apps".into();
        assert_ne!(base, key(&cmd, "apps/prod", &renamed, &inputs));
    }
}
