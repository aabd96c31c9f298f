//! The corpus repositories (real GitOps repositories as git bundles): generated edits of the
//! objects an overlay or a Flux cluster declares go round the loop, and the other cluster of
//! the same repository must read exactly as before.

use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestRunner};

use super::plain::{edit, review_for};
use super::*;

/// A checkout of the corpus bundle `name` at `into/repo`, when the corpus and kubectl are here.
fn clone(name: &str, into: &Path) -> Option<std::path::PathBuf> {
    let bundle = common::corpus_bundle(name)?;
    if !common::kubectl() {
        return None;
    }
    Some(common::clone_bundle(&bundle, into))
}

fn flux_config(repo: &Path, cluster: &str) -> Config {
    let text = format!(
        "sources:\n  - name: fleet\n    url: {:?}\n    paths: [{cluster}]\n    discover: flux\n",
        repo.display().to_string()
    );
    Config::from_yaml(&text, "test config").expect("valid config")
}

static CHANGED: AtomicUsize = AtomicUsize::new(0);
static ALLOWED: AtomicUsize = AtomicUsize::new(0);
static DECLINED: AtomicUsize = AtomicUsize::new(0);

/// Generated edits on the objects `config` declares (CRDs aside), `cases` of them.
fn generated(repo: &Path, config: &Config, watch: &Config, cases: u32, label: &str) {
    let base = common::git(repo, &["rev-parse", "HEAD"]);
    let keys: Vec<ObjectKey> = {
        // Not the Flux Kustomizations the cluster follows: changing one changes which
        // objects Git declares, so "every other object as before" cannot hold (suggest says
        // so in a note).
        let mut k: Vec<ObjectKey> = load(config)
            .objects()
            .filter(|o| o.key.kind != "CustomResourceDefinition")
            .filter(|o| {
                let v = o.value.parse().unwrap_or(Value::Null);
                !(o.key.group == "kustomize.toolkit.fluxcd.io"
                    && v.pointer("/spec/sourceRef/name").and_then(Value::as_str)
                        == Some("flux-system"))
            })
            .map(|o| o.key.clone())
            .collect();
        k.sort();
        k
    };
    let (changed_before, allowed_before) = (
        CHANGED.load(Ordering::Relaxed),
        ALLOWED.load(Ordering::Relaxed),
    );
    let mut runner = TestRunner::new(RunnerConfig {
        cases,
        failure_persistence: None,
        ..RunnerConfig::default()
    });
    let result = runner.run(&(any::<prop::sample::Index>(), edit()), |(which, edit)| {
        try_git(repo, &["reset", "-q", "--hard", &base], None).map_err(TestCaseError::fail)?;
        try_git(repo, &["clean", "-qfd"], None).map_err(TestCaseError::fail)?;
        let key = &keys[which.index(keys.len())];
        let Some(review) = review_for(&edit, key, &load(config)) else {
            return Ok(());
        };
        match round_trip_watching(repo, config, &review, std::slice::from_ref(watch)) {
            Ok(Trip::Changed(_)) => CHANGED.fetch_add(1, Ordering::Relaxed),
            Ok(Trip::AlreadyAllowed) => ALLOWED.fetch_add(1, Ordering::Relaxed),
            // A new object whose namespace lives only in directories another cluster builds
            // too: declined, since adding it there would add it to that cluster as well.
            Err(e) if e.contains("is read by another build too") => {
                DECLINED.fetch_add(1, Ordering::Relaxed)
            }
            // A value a kustomize transformer of the build sets after every patch (the
            // namespace of a ServiceAccount subject, which the NamespaceTransformer writes):
            // no Git change makes the object hold anything else, and suggest says so.
            Err(e) if e.contains("Transformer in ") && e.contains("would render differently") => {
                DECLINED.fetch_add(1, Ordering::Relaxed)
            }
            // A removal kustomize cannot build (an RBAC subject without its name, which the
            // apiserver refuses too, before any webhook): suggest reports kustomize's error.
            Err(e) if e.contains("no 'name' field in node") => {
                DECLINED.fetch_add(1, Ordering::Relaxed)
            }
            Err(e) => return Err(TestCaseError::fail(format!("{label}: {key} {edit:?}: {e}"))),
        };
        Ok(())
    });
    let changed = CHANGED.load(Ordering::Relaxed) - changed_before;
    let allowed = ALLOWED.load(Ordering::Relaxed) - allowed_before;
    let declined = DECLINED.swap(0, Ordering::Relaxed);
    eprintln!("{label}: {changed} edits changed Git and round-tripped (the other cluster unchanged), {allowed} were allowed as they were, {declined} declined (a shared directory, a transformer's value, an unbuildable removal)");
    if let Err(e) = result {
        panic!("{e}");
    }
    assert!(
        changed >= cases as usize / 3,
        "{label}: only {changed} edits made a change"
    );
}

#[test]
fn generated_edits_round_trip_on_an_overlay_of_a_shared_base() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let Some(repo) = clone("flux2-kustomize-helm-example", tmp.path()) else {
        return;
    };
    let production = config(&repo, &["apps/production"], "unmanaged: deny");
    let staging = config(&repo, &["apps/staging"], "");
    generated(
        &repo,
        &production,
        &staging,
        16,
        "flux2-kustomize-helm-example apps/production",
    );
}

#[test]
fn generated_edits_round_trip_on_a_flux_cluster() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let Some(repo) = clone("flux2-multi-tenancy", tmp.path()) else {
        return;
    };
    let production = flux_config(&repo, "clusters/production");
    let staging = flux_config(&repo, "clusters/staging");
    generated(
        &repo,
        &production,
        &staging,
        16,
        "flux2-multi-tenancy clusters/production (discover: flux)",
    );
}

/// A multi-line value ending in a line break, set on an object of a directory both clusters
/// build: the change goes in an inline patch of production's Flux Kustomization, which
/// kustomize trims before reading it, so the value must not be a literal block on the patch's
/// last line (it would come back without its line break and never match).
#[test]
fn a_trailing_line_break_survives_an_inline_flux_patch() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let Some(repo) = clone("flux2-multi-tenancy", tmp.path()) else {
        return;
    };
    let production = flux_config(&repo, "clusters/production");
    let staging = flux_config(&repo, "clusters/staging");
    let snapshot = load(&production);
    let key = ObjectKey::new(
        "source.toolkit.fluxcd.io",
        "OCIRepository",
        "flux-system",
        "kyverno-controller",
    );
    let git = declared(&snapshot, &key);
    let path = [
        driftgate::yamledit::Step::Key("spec".into()),
        driftgate::yamledit::Step::Key("url".into()),
    ];
    for value in ["first\nsecond\n", "first\nsecond", "first\n\n"] {
        let base = common::git(&repo, &["rev-parse", "HEAD"]);
        let old = live(&git);
        let r = review(
            "UPDATE",
            "alice@example.com",
            &edited(&old, &path, Some(json!(value))),
            &old,
        );
        match round_trip_watching(&repo, &production, &r, std::slice::from_ref(&staging)) {
            Ok(Trip::Changed(suggestion)) => {
                let diff = suggestion.diff();
                assert!(
                    diff.contains("clusters/production/"),
                    "{value:?}: not in production's Flux Kustomization:\n{diff}"
                );
            }
            Ok(Trip::AlreadyAllowed) => panic!("{value:?}: Git already had it"),
            Err(e) => panic!("{value:?}: {e}"),
        }
        common::git(&repo, &["reset", "-q", "--hard", &base]);
    }
}
