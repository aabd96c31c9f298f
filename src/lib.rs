//! # driftgate
//!
//! An admission webhook that denies edits which make the cluster diverge from Git.
//!
//! ## Layout
//! - [`config`]: the config file, validated, with the defaults an operator expects.
//! - [`manifest`]: one declared object and its identity; YAML parsing; files to objects.
//! - [`kinds`]: the built-in table of resources (scope, plural → kind), the kinds GitOps
//!   repositories commonly carry, extended by CRDs.
//! - [`findings`]: what a load decided besides objects: notes, out-of-scope parts, failed builds.
//! - [`snapshot`]: the immutable declared state at a revision, and the live pointer to it.
//! - [`git`]: reading a source's tree at a revision with gix (no worktree).
//! - [`tree`]: the entries of a tree as the readers see them (files, directories, links).
//! - [`sync`]: following Git: fetching remotes, polling, `/sync`, pinning, atomic snapshot swaps.
//! - [`render`]: kustomize overlays, Flux `Kustomization`s and Argo CD `Application`s rendered
//!   into declared objects, each build standing alone.
//! - [`schema`]: the Kubernetes schema (built-in types, CRDs) the comparison walks beside an object.
//! - [`drift`]: comparing a request object with Git's declaration, as server-side apply owns fields.
//! - [`policy`]: bypass identities, modes, ignore paths, break-glass.
//! - [`admission`]: the AdmissionReview wire format, the decision, the answer (and annotate mode).
//! - [`audit`]: the audit trail (records, SQLite/PostgreSQL store, background writer, reports, Events).
//! - [`server`]: the TLS webhook, the admin port and who may read it, connection limits, shutdown.
//! - [`metrics`]: the Prometheus registry (`driftgate_…`), extended by each part.
//! - [`status`]: per-source load status, filled by the loader, read by `/readyz`.
//! - [`tls`]: certificates (`certs`) and the rustls server configuration.
//! - [`scan`]: the live state against Git: `driftgate scan`, and periodic scans in `serve`.
//! - [`webhook_config`]: the Validating/MutatingWebhookConfiguration for what Git declares.
//! - [`cli`]: the `driftgate` commands.
#![forbid(unsafe_code)]

pub mod admission;
pub mod app;
pub mod audit;
pub mod cli;
pub mod config;
pub mod drift;
pub mod encoded;
pub mod findings;
pub mod git;
pub mod kinds;
pub mod manifest;
pub mod metrics;
pub mod policy;
pub mod render;
pub mod scan;
pub mod schema;
pub mod server;
pub mod snapshot;
pub mod sync;
pub mod text;
pub mod tls;
pub mod webhook_config;
