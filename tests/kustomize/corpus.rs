//! The corpus repositories: renders equal to kubectl kustomize, per-directory counts, history, timings.

use super::*;

#[test]
fn corpus_kustomizations_render_as_kubectl_kustomize_does() {
    if !kubectl() {
        return;
    }
    for name in CORPUS {
        let Some(bundle) = corpus_bundle(name) else {
            return;
        };
        let tmp = tempfile::tempdir().expect("tempdir");
        let checkout = clone_bundle(&bundle, tmp.path());
        let dirs = kustomization_dirs(&checkout);
        assert!(dirs.len() >= 4, "{name}: {dirs:?}");
        let mut declarer = Declarer::default();
        for dir in &dirs {
            let expected = kubectl_kustomize(&checkout.join(dir))
                .unwrap_or_else(|e| panic!("{name}: kubectl kustomize {dir}: {e}"));
            let src = source(&checkout, "main", &[dir], json!({"render": "kustomize"}));
            let state = read(&src, &mut declarer).unwrap_or_else(|e| panic!("{name}: {dir}: {e}"));
            assert!(state.errors.is_empty(), "{name}: {dir}: {:?}", state.errors);
            for o in &state.objects {
                assert_eq!(o.origin.dir(), Some(dir.as_str()));
                // The file that declares it, inside what the build reads.
                assert!(
                    git(&checkout, &["ls-files", &*o.file]).lines().count() == 1,
                    "{name}: {dir}: {} is not a file of the repository",
                    o.file
                );
            }
            assert_eq!(
                keyed(&state.objects),
                keyed(&expected),
                "{name}: {dir} differs from kubectl kustomize"
            );
        }
    }
}

#[test]
fn index_reports_per_directory_counts() {
    if !kubectl() {
        return;
    }
    let Some(bundle) = corpus_bundle(CORPUS[0]) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let checkout = clone_bundle(&bundle, tmp.path());
    let dirs = [
        "apps/production",
        "infrastructure/controllers",
        "infrastructure/configs",
    ];
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_driftgate"));
    cmd.args(["index", "--repo"]).arg(&checkout);
    for d in dirs {
        cmd.args(["--path", d]);
    }
    let out = cmd.output().expect("driftgate runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for d in dirs {
        let count = kubectl_kustomize(&checkout.join(d)).expect("renders").len();
        let line = format!("{count:>6}  repo: {d} (kustomize)");
        assert!(stdout.contains(&line), "missing {line:?} in:\n{stdout}");
    }
}

/// Every first-parent revision of `main`, oldest first: each reads without a crash; an overlay
/// kustomize cannot render at some revision fails alone, named, keeping its last good objects.
#[test]
fn corpus_history_reads_revision_by_revision() {
    if !kubectl() {
        return;
    }
    for name in CORPUS {
        let Some(bundle) = corpus_bundle(name) else {
            return;
        };
        let tmp = tempfile::tempdir().expect("tempdir");
        let checkout = clone_bundle(&bundle, tmp.path());
        let revs = git(
            &checkout,
            &["rev-list", "--first-parent", "--reverse", "main"],
        );
        let mut declarer = Declarer::default();
        let mut flux = Declarer::default();
        let mut live: Option<(String, usize)> = None;
        let (mut good, mut renders, mut flux_read) = (0, 0, 0);
        let mut failures: Vec<String> = Vec::new();
        for rev in revs.lines() {
            let src = source(&checkout, rev, &[], json!({}));
            let state = read(&src, &mut declarer).unwrap_or_else(|e| {
                panic!("{name} {rev}: a whole-tree read fails only on Git: {e}")
            });
            renders += declarer.renderer.cache.renders;
            // Staging and production overlays of one repository may declare the same keys: a
            // build error, reported like any other, never a crash.
            let _ = Snapshot::build(vec![state.clone()]);
            // Read whole, a two-cluster repository's overlays declare the same keys: the later
            // overlay fails as a duplicate, which is the isolation working, not a render failure.
            let rendering: Vec<_> = state
                .findings
                .failed_builds
                .iter()
                .filter(|f| !f.message.contains("is also declared by"))
                .collect();
            if rendering.is_empty() {
                good += 1;
            } else {
                for failed in &state.findings.failed_builds {
                    assert!(
                        failed.build.starts_with("kustomize "),
                        "{name} {rev}: {failed:?}"
                    );
                    assert!(
                        state
                            .errors
                            .iter()
                            .any(|e| e.message.contains(&failed.build)),
                        "{name} {rev}: the failed build is named in errors"
                    );
                }
                let stale = state.objects.iter().filter(|o| o.stale).count();
                failures.push(format!(
                    "{} (kept {stale} stale objects): {}",
                    &rev[..12],
                    rendering[0].message
                ));
            }
            live = Some((rev.to_string(), state.objects.len()));
            let has_cluster = Command::new("git")
                .args(["cat-file", "-e", &format!("{rev}:clusters/production")])
                .current_dir(&checkout)
                .stderr(std::process::Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if has_cluster {
                let src = source(
                    &checkout,
                    rev,
                    &["clusters/production"],
                    json!({"discover": "flux"}),
                );
                if read(&src, &mut flux).is_ok() {
                    flux_read += 1;
                }
            }
        }
        let failed = failures.len();
        eprintln!(
            "{name}: {good} revisions read, {failed} reported, {renders} kustomize runs; \
             discover: flux read {flux_read} revisions"
        );
        for f in failures.iter().take(3) {
            eprintln!("  e.g. {f}");
        }
        let (last, count) = live.expect("some revision reads");
        assert_eq!(
            last,
            revs.lines().last().expect("has revisions"),
            "{name}: the tip reads"
        );
        assert!(count > 0);
        assert!(flux_read > 0, "{name}: discover: flux reads some revision");
        assert!(good > failed, "{name}: {good} good, {failed} failed");
    }
}

/// Render time per corpus repository, cold and cached. Run with
/// `cargo test --test kustomize render_timings -- --ignored --nocapture`.
#[test]
#[ignore]
fn render_timings() {
    if !kubectl() {
        return;
    }
    for name in CORPUS {
        let Some(bundle) = corpus_bundle(name) else {
            return;
        };
        let tmp = tempfile::tempdir().expect("tempdir");
        let checkout = clone_bundle(&bundle, tmp.path());
        for (label, paths, extra) in [
            ("auto, whole tree", vec![], json!({})),
            (
                "discover: flux, clusters/production",
                vec!["clusters/production"],
                json!({"discover": "flux"}),
            ),
        ] {
            let src = source(&checkout, "main", &paths, extra);
            let mut declarer = Declarer::default();
            let started = Instant::now();
            let state = read(&src, &mut declarer).expect("reads");
            let cold = started.elapsed();
            let runs = declarer.renderer.cache.renders;
            let started = Instant::now();
            read(&src, &mut declarer).expect("reads");
            let cached = started.elapsed();
            eprintln!(
                "{name} [{label}]: {} objects, {runs} kustomize runs; cold {:.0} ms, cached {:.1} ms ({} runs)",
                state.objects.len(),
                cold.as_secs_f64() * 1000.0,
                cached.as_secs_f64() * 1000.0,
                declarer.renderer.cache.renders
            );
        }
    }
}
