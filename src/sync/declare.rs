//! The declare stage of a sync: a commit read by [`crate::git`] becomes a source's declared state.
//! This is the one place that decides how a source is read:
//! - render or plain: a source that renders (`render: auto|kustomize`, `discover`) is planned by
//!   [`crate::render`]; the files its plan leaves plain are parsed here, then its builds run.
//!   Any other source parses its manifests.
//! - whole or delta: when the parse cache holds exactly the state the live snapshot was built
//!   from (a plain source), a new commit is read as the diff of the two trees, so a one-file
//!   commit costs the same at any repository size.
//!
//! [`plain`] is the parse cache; [`scope`] which entries a source reads.

pub mod plain;
pub mod scope;

use gix::ObjectId;

use super::Error;
use crate::config::{Render, Source};
use crate::git::{self, TreeEntry};
use crate::manifest::parse;
use crate::render::{self, Renderer};
use crate::snapshot::{SourceDelta, SourceRevision, SourceState};

use plain::FileChange;
use scope::Classified;

type Result<T, E = Error> = std::result::Result<T, E>;

/// A source's declare-stage memory between syncs.
#[derive(Debug, Default)]
pub struct Declarer {
    /// Parsed plain files, and the basis a tree diff applies to.
    files: plain::Files,
    /// Rendered builds by their inputs, the limits a render runs under, each build's last good.
    pub renderer: Renderer,
}

impl Declarer {
    /// Blobs parsed by the last read (cache misses).
    pub fn last_parsed(&self) -> usize {
        self.files.last_parsed
    }

    /// Forgets the basis: the snapshot no longer matches it (a merge failed, an attempt stopped
    /// part-way), so the next revision is read whole.
    pub fn forget_basis(&mut self) {
        self.files.forget_basis();
    }
}

/// A commit's declared state: whole, or as what changed since the declarer's basis.
#[derive(Debug)]
pub enum Declared {
    Whole(SourceState),
    Delta(SourceDelta),
}

/// Whether a source is read through `render`, or every file is plain YAML.
fn renders(source: &Source) -> bool {
    source.render != Render::Plain || source.discover.is_some()
}

fn git_error(source: &Source) -> impl Fn(git::Error) -> Error + '_ {
    |error| Error::Git {
        source_name: source.name.clone(),
        source: error,
    }
}

/// The source at its ref, labelled as people know the ref (`HEAD` as its branch): one-shot reads.
pub fn at_ref(
    repo: &gix::Repository,
    source: &Source,
    declarer: &mut Declarer,
) -> Result<SourceState> {
    let commit = git::resolve(repo, &source.git_ref).map_err(git_error(source))?;
    let revision = SourceRevision {
        source: source.name.clone(),
        git_ref: git::display_ref(repo, &source.git_ref),
        commit: commit.id.to_string(),
    };
    whole(repo, source, &commit, revision, declarer)
}

/// A commit's state as a delta when the declarer holds a basis and only plain files changed;
/// else read whole.
pub fn next(
    repo: &gix::Repository,
    source: &Source,
    commit: &gix::Commit<'_>,
    revision: SourceRevision,
    declarer: &mut Declarer,
) -> Result<Declared> {
    if let Some(old) = declarer.files.basis_tree() {
        let git = git_error(source);
        let new = git::tree_id(commit).map_err(&git)?;
        if let Some(changes) = plain_changes(repo, source, old, new).map_err(&git)? {
            let read = |id| git::read_blob(repo, id);
            let update = declarer
                .files
                .update(source, revision.clone(), new, &changes, &read);
            if let Some(delta) = update {
                return Ok(Declared::Delta(delta));
            }
        }
    }
    whole(repo, source, commit, revision, declarer).map(Declared::Whole)
}

/// A commit's declared state, every file of its tree considered.
pub fn whole(
    repo: &gix::Repository,
    source: &Source,
    commit: &gix::Commit<'_>,
    revision: SourceRevision,
    declarer: &mut Declarer,
) -> Result<SourceState> {
    let git = git_error(source);
    let read = |id| git::read_blob(repo, id);
    let tree = git::tree_id(commit).map_err(&git)?;
    let entries = git::entries(commit).map_err(&git)?;
    if !renders(source) {
        if let Some(path) = scope::missing(&entries, source) {
            return Err(Error::MissingPath {
                source_name: source.name.clone(),
                path,
                commit: commit.id.to_string(),
            });
        }
        let (files, errors) = scope::files(entries, source);
        let state = declarer
            .files
            .declare(source, revision, &files, errors, &read);
        declarer.files.keep_basis(tree, &state);
        return Ok(state);
    }
    let (entries, refused) = scope::refuse_unsafe(entries, source);
    let mut state = match render::plan(source, &entries, &read)? {
        render::Plan::Files(plan) => {
            let links = plan.refused_links(source);
            let plain = declarer
                .files
                .declare(source, revision, plan.plain_files(), links, &read);
            plan.build(source, plain, &mut declarer.renderer, &read)
        }
        render::Plan::Discover(plan) => {
            let resolve = |name: &str| git::commit_of(repo, name);
            plan.build(source, revision, &mut declarer.renderer, &read, &resolve)?
        }
    };
    state.errors.extend(refused);
    if plain_basis(source, &entries) {
        declarer.files.keep_basis(tree, &state);
    }
    Ok(state)
}

/// Whether a state read whole through `render` can be the basis of a later diff: `render: auto`
/// qualifies while the tree holds no kustomization (every file was read plain).
fn plain_basis(source: &Source, entries: &[TreeEntry]) -> bool {
    source.discover.is_none()
        && source.render == Render::Auto
        && !entries
            .iter()
            .any(|e| parse::is_kustomization_file(&e.path))
}

/// The diff between two trees as a plain source sees it, or `None` when it must be read whole:
/// a kustomization appeared, changed or went (under `render: auto` it decides what is plain),
/// or a configured path is gone (the whole read reports it).
fn plain_changes(
    repo: &gix::Repository,
    source: &Source,
    old: ObjectId,
    new: ObjectId,
) -> git::Result<Option<Vec<FileChange>>> {
    let changes = git::diff::changes(repo, old, new)?;
    let prefixes = scope::prefixes(source);
    let renders = renders(source);
    let mut out = Vec::with_capacity(changes.len());
    let mut deleted = false;
    for change in changes {
        if renders && parse::is_kustomization_file(&change.path) {
            return Ok(None);
        }
        if !scope::in_scope(&change.path, &prefixes) {
            continue;
        }
        deleted |= change.after.is_none();
        let side = |side: Option<git::diff::Side>| {
            side.map_or(Classified::Ignored, |s| {
                scope::classify(&change.path, s.kind, s.id, source)
            })
        };
        out.push(FileChange {
            before: side(change.before),
            after: side(change.after),
            path: change.path,
        });
    }
    if deleted {
        for prefix in &prefixes {
            if !git::has_path(repo, new, prefix)? {
                return Ok(None);
            }
        }
    }
    Ok(Some(out))
}
