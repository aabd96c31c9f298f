//! `driftgate suggest`: the Git change that makes a blocked edit legitimate. driftgate knows
//! the declaring file, the revision and the exact paths a request changes, so instead of
//! "change it in Git" it can hand the person the change itself: a unified diff that
//! `git apply` accepts, a checkout it is applied to, or a commit on a new branch.
//!
//! What the change covers is exactly what the decision calls a difference ([`want`]): the
//! declared paths where the request (or the object) differs from Git. Fields Git does not
//! declare (an injected sidecar, defaults) are never written; an atomic value is written whole;
//! a `scale` sets the parent's `spec.replicas`; a denied DELETE removes the object's document; a
//! denied CREATE of an object Git does not declare adds it beside its namespace's objects.
//!
//! - [`want`]: what is asked, from a review, an object or an audit record.
//! - [`repo`]: the source's files at the snapshot's revision, and the files a suggestion changes.
//! - [`plain`]: objects in plain manifest files, edited in place ([`crate::yamledit`]).
//! - [`create`]: new objects as new files (and `resources:` entries).
//! - [`rendered`]: objects kustomize renders, edited where each value comes from: [`build`]
//!   renders a build on demand (with origin annotations, or with the change laid over),
//!   [`builds`] finds the other builds a file belongs to, [`context`] and [`provenance`] what
//!   is known of the object, [`actions`] where each value can change, [`patch`] the overlay's
//!   patches, [`variables`] Flux `postBuild` variables, [`verify`] renders a plan before it
//!   is taken.
//! - [`diff`]: the unified diff; [`apply`]: `--write` and `--commit`.
//! - [`live`]: the state a serving driftgate holds, read again for the admin port's
//!   suggested changes ([`for_record`]).

pub mod actions;
pub mod apply;
pub mod build;
pub mod builds;
pub mod context;
pub mod create;
pub mod diff;
pub mod live;
pub mod patch;
pub mod plain;
pub mod provenance;
pub mod rendered;
pub mod repo;
pub mod variables;
pub mod verify;
pub mod want;

use crate::config::Config;
use crate::manifest::{ObjectKey, Origin};
use crate::snapshot::Snapshot;
use crate::sync::Builds;

use repo::{Checkout, FileChange, Files};
pub use want::{Declined, FieldChange, Target, Want};

/// Why no change was made. `Declined` carries the reasons a person reads (what was tried and
/// why it would not do); the rest keep their causes.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no source named {0:?} in the config")]
    NoSource(String),
    #[error("source {0}: not loaded yet")]
    NotRead(String),
    #[error("Git is not loaded yet")]
    NotLoaded,
    #[error("source {source_name}: revision {commit} is not a commit id")]
    Revision {
        source_name: String,
        commit: String,
        #[source]
        source: gix::Error,
    },
    #[error("source {source_name}")]
    Git {
        source_name: String,
        #[source]
        source: crate::git::Error,
    },
    #[error("source {source_name}")]
    Cache {
        source_name: String,
        #[source]
        source: Box<crate::sync::remote::Error>,
    },
    /// Reading the sources again (the command's load, the admin port's revisions).
    #[error(transparent)]
    Load(#[from] Box<crate::sync::Error>),
    #[error("{path}: not UTF-8 text")]
    NotText { path: String },
    #[error(transparent)]
    Input(#[from] Declined),
    #[error("cannot suggest a change:\n  {}", .0.join("\n  "))]
    Declined(Vec<String>),
    /// A changed path that does not fit Git's value (a list where Git has a scalar).
    #[error("cannot suggest a change:\n  {0}")]
    Path(#[from] crate::yamledit::value::PathError),
    #[error("{key} is not declared in {file} at this revision")]
    NotFound { key: String, file: String },
    #[error("{file}: {source}")]
    Edit {
        file: String,
        #[source]
        source: crate::yamledit::Error,
    },
    /// A build rendered again (to learn where values come from, or to check a plan).
    #[error("{build}")]
    Render {
        build: String,
        #[source]
        source: Box<build::Error>,
    },
    /// A plan that does not render as asked.
    #[error(transparent)]
    Mismatch(#[from] verify::Mismatch),
    #[error(transparent)]
    Apply(#[from] apply::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The change for one target: changed files on top of the source at the snapshot's revision.
#[derive(Debug, Clone)]
pub struct Suggestion {
    pub target: Target,
    pub source: String,
    /// The commit the change applies to (full hex id).
    pub commit: String,
    pub revision: String,
    pub files: Vec<FileChange>,
    /// Other objects whose declaration the change also touches, and how (a Flux variable's
    /// definition); every other object is declared as before.
    pub also: Vec<(ObjectKey, String)>,
    /// What the person should know about the change (printed beside the diff).
    pub notes: Vec<String>,
}

impl Suggestion {
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The unified diff.
    pub fn diff(&self) -> String {
        diff::unified(&self.files)
    }

    /// A commit message naming the object, the fields and the person who asked.
    pub fn message(&self) -> String {
        let object = self.target.key.to_string();
        let (subject, body) = match &self.target.want {
            Want::Fields(changes) => {
                let fields: Vec<String> = changes.iter().map(FieldChange::display).collect();
                let subject = match fields.as_slice() {
                    [one] => format!("{object}: declare {one} as the cluster has it"),
                    _ => format!(
                        "{object}: declare {} fields as the cluster has them",
                        fields.len()
                    ),
                };
                (subject, format!("Fields: {}", fields.join(", ")))
            }
            Want::Delete => (
                format!("{object}: remove it from Git"),
                "The object is deleted.".to_string(),
            ),
            Want::Create(_) => (
                format!("{object}: add it to Git"),
                "The object is added as created.".to_string(),
            ),
        };
        let asked = if self.target.user.is_empty() {
            "Made with driftgate suggest".to_string()
        } else {
            format!("Requested by {} (blocked by driftgate)", self.target.user)
        };
        format!("{subject}\n\n{body}\n{asked} against {}.\n", self.revision)
    }
}

/// Works out the change for `target` on the source that declares it (or, for a new object,
/// the source that declares its namespace's objects).
pub fn suggest(
    config: &Config,
    snapshot: &Snapshot,
    builds: &Builds,
    target: &Target,
) -> Result<Suggestion> {
    let (source, home) = match (&target.want, snapshot.get(&target.key)) {
        (_, Some(declared)) => (declared.source.to_string(), None),
        (Want::Create(_), None) => {
            let (source, dirs) = create::homes(snapshot, &target.key).ok_or_else(|| {
                Declined::UnmanagedNamespace {
                    key: target.key.to_string(),
                    namespace: target.key.namespace.clone(),
                }
            })?;
            (source, Some(dirs))
        }
        (_, None) => {
            return Err(Error::Declined(vec![format!(
                "{}: Git does not declare it at {}",
                target.key,
                snapshot.revision_label()
            )]))
        }
    };
    let checkout = Checkout::open(config, snapshot, &source)?;
    let builds_of = builds.get(&source).map(Vec::as_slice).unwrap_or_default();
    let mut files = Files::new(&checkout);
    match (&target.want, snapshot.get(&target.key), home) {
        (Want::Create(object), _, Some(dirs)) => {
            let dir = create::private_home(&checkout, &dirs, &target.key)?;
            create::apply(&mut files, &checkout, &dir, &target.key, object)?;
        }
        (want, Some(declared), _) => match &declared.origin {
            Origin::File => {
                let scope = plain::Scope {
                    catalog: &snapshot.catalog,
                    default_namespace: &checkout.source.default_namespace,
                };
                plain::apply(&mut files, &declared.file, &target.key, want, scope)?;
            }
            Origin::Built(_) => {
                rendered::apply(snapshot, &checkout, builds_of, &mut files, declared, want)?;
            }
        },
        _ => {
            return Err(Error::Declined(vec![format!(
                "{}: nothing to base a change on",
                target.key
            )]))
        }
    }
    let revision = snapshot
        .revisions
        .iter()
        .find(|r| r.source == source)
        .map(|r| r.label())
        .unwrap_or_default();
    Ok(Suggestion {
        target: target.clone(),
        source,
        commit: checkout.commit.to_string(),
        revision,
        files: files.changes()?,
        also: files.also.clone(),
        notes: notes(&checkout, snapshot, target),
    })
}

/// Consequences a diff does not show.
fn notes(checkout: &Checkout, snapshot: &Snapshot, target: &Target) -> Vec<String> {
    let key = &target.key;
    let repo = match &checkout.source.discover {
        Some(crate::config::Discover::Flux { namespace, name }) => Some((namespace, name)),
        _ => None,
    };
    let value = snapshot.get(key).and_then(|d| d.value.parse().ok());
    let text = |p: &str| {
        value
            .as_ref()
            .and_then(|v| v.pointer(p))
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
    };
    // A Flux Kustomization that builds from the repository this source follows.
    let followed = key.group == "kustomize.toolkit.fluxcd.io"
        && key.kind == "Kustomization"
        && repo.is_some_and(|(ns, name)| {
            text("/spec/sourceRef/kind").unwrap_or("GitRepository".into()) == "GitRepository"
                && text("/spec/sourceRef/name").as_ref() == Some(name)
                && text("/spec/sourceRef/namespace").unwrap_or(key.namespace.clone()) == *ns
        });
    let changes_spec = matches!(target.want, Want::Delete)
        || matches!(&target.want, Want::Fields(c) if c.iter().any(|c| {
            matches!(c.path.first(), Some(crate::yamledit::Step::Key(k)) if k == "spec")
        }));
    if followed && changes_spec {
        vec![format!(
            "{key} is a Flux Kustomization this source follows (discover: flux): changing it changes which objects Git declares for the cluster"
        )]
    } else {
        Vec::new()
    }
}

/// The change a recorded blocked edit asks for, as a diff against the revisions `live`
/// holds (`None`: nothing to change); the admin port runs this on a blocking thread.
pub fn for_record(
    config: &Config,
    live: &Snapshot,
    record: &crate::audit::Record,
) -> Result<Option<String>> {
    let Some(target) = want::from_record(record)? else {
        return Ok(None);
    };
    let (snapshot, builds) = live::load(config, live)?;
    let suggestion = suggest(config, &snapshot, &builds, &target)?;
    Ok((!suggestion.is_empty()).then(|| suggestion.diff()))
}
