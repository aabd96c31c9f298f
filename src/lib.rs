//! # driftgate
//!
//! An admission webhook that denies edits which make the cluster diverge from Git.
//!
//! ## Layout
//!
//! Shared data, imported by the rest and importing none of it above:
//! - [`config`]: the config file, each value parsed into its type, with the defaults an
//!   operator expects. Imports nothing of driftgate.
//! - [`text`]: text for people: values shortened, an error with its causes on one line.
//! - [`encoded`]: JSON values in the compact form every side holds them in.
//! - [`manifest`]: one declared object and its identity; YAML as kustomize reads it; files to
//!   objects.
//! - [`yamledit`]: YAML as written: where each value sits ([`yamledit::tree`], which
//!   [`manifest`] reads for the line of each declared value) and format-preserving edits
//!   (comments, quoting, layout kept) checked with [`manifest::yaml`].
//! - [`kinds`]: the built-in table of resources (scope, plural → kind), the kinds GitOps
//!   repositories commonly carry, extended by CRDs.
//! - [`findings`]: what a load decided besides objects: notes, out-of-scope parts, failed builds.
//! - [`snapshot`]: the immutable declared state at a revision, and the live pointer to it.
//!
//! The Git side, one pipeline run by [`sync`], each stage handing its result to the next:
//! 1. fetch: [`sync::remote`], [`sync::transport`], [`sync::credentials`] (and [`sync::pin`]:
//!    the revision the GitOps controller applied) get the commit into an object database;
//! 2. read: [`git`]: trees, blobs and diffs at that commit with gix (no worktree), nothing else;
//! 3. declare: [`sync::declare`] decides plain or rendered, whole or delta: plain files through
//!    its parse cache, or [`render`] (kustomize overlays, Flux `Kustomization`s, Argo CD
//!    `Application`s, each build standing alone);
//! 4. snapshot: [`sync::merge`] merges the sources' states (or applies the delta) into a
//!    [`snapshot::Snapshot`] and swaps it in atomically; [`sync::engine`] runs the stages on a
//!    thread per source. [`sync::status`] says how each source
//!    did, for `/readyz`; [`sync::once`] runs the same stages once for the commands.
//!
//! The request side, one way, no I/O:
//! - [`server`]: the TLS webhook, the admin port and who may read it, connection limits, shutdown.
//! - [`admission`]: the AdmissionReview wire format, the decision, the answer (and annotate mode).
//! - [`policy`]: bypass identities, modes, ignore paths, break-glass.
//! - [`drift`]: comparing a request object with Git's declaration, as server-side apply owns fields.
//! - [`schema`]: the Kubernetes schema (built-in types, CRDs) the comparison walks beside an object.
//!
//! Beside them:
//! - [`audit`]: the audit trail (records, SQLite/PostgreSQL store, background writer, reports, Events).
//! - [`scan`]: the live state against Git: `driftgate scan`, and periodic scans in `serve`.
//! - [`suggest`]: the Git change that makes a blocked edit legitimate (`driftgate suggest`).
//! - [`webhook_config`]: the Validating/MutatingWebhookConfiguration for what Git declares.
//! - [`metrics`]: the Prometheus registry (`driftgate_…`), extended by each part.
//! - [`tls`]: certificates (`certs`) and the rustls server configuration.
//! - [`app`]: the application assembled once (snapshot pointer, auditor, syncer, scans, server),
//!   run by `serve` and `demo`.
//! - [`cli`]: the `driftgate` commands, `demo` included; `main` only calls it.
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
pub mod suggest;
pub mod sync;
pub mod text;
pub mod tls;
pub mod webhook_config;
pub mod yamledit;
