//! What has already drifted: the live state of every declared object against Git.
//!
//! Data flows one way: a source of live objects ([`dump`] files, or the [`cluster`] through
//! paginated LISTs) → [`compare`] (each object matched with Git's declaration and compared as
//! `/validate` compares a CREATE of it) → a [`report::Report`] → a format ([`report`]'s table
//! and JSON, [`html`]) or, in `serve`, [`periodic`] scans that publish it at `/api/drift`
//! ([`http`]), in metrics ([`metrics`]) and as PolicyReports ([`policy_report`]). What could
//! not be read is reported, not fatal ([`failure`]).

pub mod cluster;
pub mod compare;
pub mod dump;
pub mod failure;
pub mod html;
pub mod http;
pub mod live;
pub mod metrics;
pub mod periodic;
pub mod policy_report;
pub mod report;

use std::path::{Path, PathBuf};

pub use compare::{live_diffs, Scanner, Tally};
pub use report::{ObjectReport, Report, State};

use crate::policy::Policy;
use crate::snapshot::Snapshot;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a JSON dump of objects: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}")]
    Yaml {
        path: PathBuf,
        #[source]
        source: crate::manifest::yaml::YamlError,
    },
    #[error("{0}: no .json, .yaml or .yml file to read objects from")]
    NoDump(PathBuf),
    #[error(transparent)]
    Cluster(#[from] cluster::Error),
}

/// Objects queued between the thread reading a dump and the one comparing.
const QUEUE: usize = 1024;

/// Scans the objects in a dump (`--objects FILE|DIR`). The file is read on one thread and
/// compared on this one, so parsing and comparing overlap.
pub fn scan_dump(
    snapshot: &Snapshot,
    policy: &Policy,
    unmanaged: bool,
    path: &Path,
) -> Result<Report, Error> {
    let scanner = Scanner::new(snapshot, policy, unmanaged);
    let mut tally = Tally::default();
    let (tx, rx) = std::sync::mpsc::sync_channel::<live::LiveObject>(QUEUE);
    let stats = std::thread::scope(|scope| {
        let reader = scope.spawn(move || {
            dump::read(path, &mut |object| {
                // The receiver outlives the reader; a send error cannot happen.
                let _ = tx.send(object);
            })
        });
        for object in rx {
            observe(&scanner, &mut tally, &object);
        }
        match reader.join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })?;
    let unseen = tally.unseen_kinds(&scanner);
    let mut report = tally.finish(&scanner, |_| false);
    report.notes.extend(unseen.into_iter().map(|kind| {
        format!("the dump holds no {kind} at all (left out of `kubectl get`?): every declared {kind} is reported missing")
    }));
    report.notes.extend(
        stats
            .skipped
            .into_iter()
            .map(|s| format!("skipped a document that is no object: {s}")),
    );
    Ok(report)
}

/// One live object into the tally.
pub fn observe(scanner: &Scanner, tally: &mut Tally, object: &live::LiveObject) {
    tally.saw_kind(&object.key.group, &object.key.kind);
    match scanner.observe(object) {
        Ok(Some(found)) => tally.add(found),
        Ok(None) => {}
        Err(unreadable) => tally.error(report::ListError {
            group: object.key.group.clone(),
            version: object.version.clone(),
            kind: object.key.kind.clone(),
            namespace: object.key.namespace.clone(),
            message: crate::text::chain(&unreadable).to_string(),
        }),
    }
}
