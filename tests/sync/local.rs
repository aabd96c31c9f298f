//! Local repositories: the signed `/sync` route, incremental re-indexing, duplicate keys, and
//! snapshot swaps under concurrent requests.

use super::*;

#[test]
fn sync_endpoint_checks_the_github_signature() {
    use tower::ServiceExt;

    let repos = Repos::new();
    let first = repos.commit(&[("apps/web.yaml", &deployment(3))], "one");
    let cache = tempfile::tempdir().expect("tempdir");
    // A long interval: only "sync now" can make the second commit appear in time.
    let cfg = config(
        &format!(
            "{{name: local, url: {:?}, ref: main, interval: 1h}}",
            repos.work.display().to_string()
        ),
        cache.path(),
    );
    let live = Arc::new(Live::new());
    let handle = Syncer::new(&cfg, live.clone())
        .start()
        .expect("threads start");
    let trigger = handle.trigger();
    wait_for("first snapshot", Duration::from_secs(20), || {
        trigger.is_ready()
    });
    assert!(live
        .load()
        .expect("live")
        .revision_label()
        .contains(short(&first)));
    let second = repos.commit(&[("apps/web.yaml", &deployment(4))], "two");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let router = hook::router(trigger.clone(), Some("hunter2"));
    let payload = br#"{"ref":"refs/heads/main"}"#.to_vec();
    let send = |signature: Option<String>| {
        let mut request = axum::http::Request::post("/sync");
        if let Some(signature) = signature {
            request = request.header(hook::SIGNATURE_HEADER, signature);
        }
        let request = request
            .body(axum::body::Body::from(payload.clone()))
            .expect("request");
        runtime
            .block_on(router.clone().oneshot(request))
            .expect("response")
            .status()
    };
    assert_eq!(send(None), 401);
    assert_eq!(send(Some(hook::sign(b"wrong", &payload))), 401);
    assert!(!live
        .load()
        .expect("live")
        .revision_label()
        .contains(short(&second)));
    assert_eq!(send(Some(hook::sign(b"hunter2", &payload))), 202);
    wait_for("the signed sync", Duration::from_secs(10), || {
        live.load()
            .is_some_and(|s| s.revision_label().contains(short(&second)))
    });
    handle.shutdown();
}

#[test]
fn one_changed_file_reparses_one_blob_and_duplicates_keep_the_last_good_snapshot() {
    let repos = Repos::new();
    let cm = |name: &str, value: &str| {
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: shop}}\ndata: {{k: {value:?}}}\n")
    };
    repos.commit(
        &[
            ("a.yaml", &cm("a", "1")),
            ("b.yaml", &cm("b", "1")),
            ("c.yaml", &cm("c", "1")),
        ],
        "three files",
    );
    let cache = tempfile::tempdir().expect("tempdir");
    let cfg = config(
        &format!(
            "{{name: local, url: {:?}, ref: main}}",
            repos.work.display().to_string()
        ),
        cache.path(),
    );
    let live = Arc::new(Live::new());
    let mut syncer = Syncer::new(&cfg, live.clone());
    let trigger = syncer.trigger();
    assert!(syncer.sync_once());
    assert_eq!(syncer.last_parsed(), vec![3]);

    let second = repos.commit(&[("b.yaml", &cm("b", "2"))], "change b");
    assert!(syncer.sync_once());
    assert_eq!(
        syncer.last_parsed(),
        vec![1],
        "only the changed blob is parsed"
    );
    let snapshot = live.load().expect("live");
    assert!(snapshot.revision_label().contains(short(&second)));
    assert_eq!(snapshot.len(), 3);

    // A second file declaring `a` again: the sync fails naming both files; the old snapshot stays.
    repos.commit(&[("dup.yaml", &cm("a", "9"))], "duplicate a");
    assert!(!syncer.sync_once());
    let status = trigger.status().get("local").expect("status");
    let error = status.last_error.expect("error");
    assert!(
        error.contains("declared twice") && error.contains("a.yaml") && error.contains("dup.yaml"),
        "{error}"
    );
    assert!(
        Arc::ptr_eq(&snapshot, &live.load().expect("live")),
        "snapshot not replaced"
    );
    assert_eq!(status.commit.as_deref(), Some(second.as_str()));

    // Fixed in Git: the sync recovers.
    git(&repos.work, &["rm", "-q", "dup.yaml"]);
    git(&repos.work, &["commit", "-q", "-m", "drop duplicate"]);
    let fixed = git(&repos.work, &["rev-parse", "HEAD"]);
    assert!(syncer.sync_once());
    assert!(live
        .load()
        .expect("live")
        .revision_label()
        .contains(short(&fixed)));
    assert!(trigger
        .status()
        .get("local")
        .expect("status")
        .last_error
        .is_none());
}

#[test]
fn every_answer_names_one_revision_consistent_with_its_decision() {
    let repos = Repos::new();
    let denied_at = repos.commit(&[("apps/web.yaml", &deployment(3))], "three");
    let allowed_at = repos.commit(&[("apps/web.yaml", &deployment(5))], "five");
    let cache = tempfile::tempdir().expect("tempdir");
    let snapshot_at = |commit: &str| {
        let cfg = config(
            &format!(
                "{{name: fleet, url: {:?}, ref: {commit}}}",
                repos.work.display().to_string()
            ),
            cache.path(),
        );
        let live = Arc::new(Live::new());
        assert!(Syncer::new(&cfg, live.clone()).sync_once());
        live.load().expect("snapshot")
    };
    let denying = snapshot_at(&denied_at);
    let allowing = snapshot_at(&allowed_at);
    let cfg = Config::default();
    let policy = Arc::new(Policy::from_config(&cfg));
    let live = Arc::new(Live::new());
    live.store(denying.clone());
    let body = Arc::new(review_body());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));

    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (live, policy, body, stop) =
                (live.clone(), policy.clone(), body.clone(), stop.clone());
            let (deny_rev, allow_rev) = (
                short(&denied_at).to_string(),
                short(&allowed_at).to_string(),
            );
            std::thread::spawn(move || {
                let mut seen = HashMap::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let (verdict, revision) = ask(&live, &policy, &body).expect("snapshot");
                    let expected = if revision.contains(&deny_rev) {
                        Verdict::Denied
                    } else {
                        assert!(revision.contains(&allow_rev), "unknown revision {revision}");
                        Verdict::Allowed
                    };
                    assert_eq!(verdict, expected, "answer mixes revisions: {revision}");
                    *seen.entry(revision).or_insert(0u64) += 1;
                }
                seen
            })
        })
        .collect();
    for i in 0..2_000 {
        live.store(if i % 2 == 0 {
            allowing.clone()
        } else {
            denying.clone()
        });
        std::thread::yield_now();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut total: HashMap<String, u64> = HashMap::new();
    for reader in readers {
        for (revision, n) in reader.join().expect("reader") {
            *total.entry(revision).or_default() += n;
        }
    }
    assert!(total.values().sum::<u64>() > 0, "{total:?}");
}

#[test]
fn sources_merge_into_one_snapshot_and_a_cross_source_duplicate_keeps_the_last_good() {
    let cm = |name: &str| {
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: shop}}\ndata: {{k: v}}\n")
    };
    let (a, b) = (Repos::new(), Repos::new());
    let a1 = a.commit(&[("a.yaml", &cm("from-a"))], "a");
    let b1 = b.commit(&[("b.yaml", &cm("from-b"))], "b");
    let cache = tempfile::tempdir().expect("tempdir");
    let text = format!(
        "sources:\n- {{name: a, url: {:?}, ref: main}}\n- {{name: b, url: {:?}, ref: main}}\n- {{name: c, url: /nonexistent/repo}}\ncacheDir: {}\n",
        a.work.display().to_string(),
        b.work.display().to_string(),
        cache.path().display()
    );
    // Not ready while one source has never loaded: a snapshot without it would let its
    // objects through as undeclared.
    let live = Arc::new(Live::new());
    let mut syncer = Syncer::new(
        &Config::from_yaml(&text, "test").expect("config"),
        live.clone(),
    );
    assert!(!syncer.sync_once());
    assert!(live.load().is_none());
    assert!(!syncer.trigger().is_ready());

    let text = text.replace("- {name: c, url: /nonexistent/repo}\n", "");
    let live = Arc::new(Live::new());
    let mut syncer = Syncer::new(
        &Config::from_yaml(&text, "test").expect("config"),
        live.clone(),
    );
    let trigger = syncer.trigger();
    assert!(syncer.sync_once());
    let snapshot = live.load().expect("live");
    assert_eq!(snapshot.len(), 2);
    assert_eq!(
        snapshot.revision_label(),
        format!("a=main@sha1:{},b=main@sha1:{}", short(&a1), short(&b1))
    );

    // b declares a's object too: b's sync fails naming both files; a keeps syncing.
    b.commit(&[("stolen.yaml", &cm("from-a"))], "declare a's object");
    assert!(!syncer.sync_once());
    let error = last_error(&trigger, "b");
    assert!(
        error.contains("a.yaml") && error.contains("stolen.yaml"),
        "{error}"
    );
    assert!(Arc::ptr_eq(&snapshot, &live.load().expect("live")));
    let a2 = a.commit(&[("a2.yaml", &cm("more-from-a"))], "more");
    syncer.sync_once();
    let merged = live.load().expect("live");
    assert_eq!(
        merged.len(),
        3,
        "a's new commit merges with b's last good state"
    );
    assert!(
        merged.revision_label().contains(short(&a2))
            && merged.revision_label().contains(short(&b1))
    );
    assert!(trigger
        .status()
        .get("a")
        .is_some_and(|s| s.last_error.is_none()));
}

use driftgate::sync::source::ReadKind;

/// Everything a snapshot says, in a comparable order.
fn describe(snapshot: &driftgate::snapshot::Snapshot) -> Vec<String> {
    let mut lines: Vec<String> = snapshot
        .objects()
        .map(|o| {
            format!(
                "object {} = {} @ {} stale={}",
                o.key,
                o.value.parse().expect("declaration parses"),
                o.location(),
                o.stale
            )
        })
        .collect();
    lines.extend(snapshot.errors.iter().map(|e| format!("error {e}")));
    lines.sort();
    lines.push(format!(
        "files {} skipped {} revision {}",
        snapshot.files_read,
        snapshot.skipped_documents,
        snapshot.revision_label()
    ));
    for namespace in ["shop", "team", "extra", "moved", "default"] {
        lines.push(format!(
            "namespace {namespace} managed={}",
            snapshot.is_managed_namespace(namespace)
        ));
    }
    lines
}

/// A sync that applies each new revision as a delta to the live snapshot must serve exactly
/// what a whole read of that revision gives, through edits, additions, deletions, a file that
/// breaks and is fixed, renames, a file replaced by a directory, refused symlinks, a CRD (read
/// whole) and kustomization files, under `render: plain` and `render: auto`.
#[test]
fn delta_reads_serve_exactly_what_whole_reads_serve() {
    let cm = |name: &str, namespace: &str, value: &str| {
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: {namespace}}}\ndata: {{k: {value:?}}}\n")
    };
    let service = "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec: {ports: [{port: 80}]}\n";
    let crd = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\n\
               spec:\n  group: example.com\n  scope: Cluster\n  names: {plural: widgets, kind: Widget}\n";
    let widget = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: shop}\nspec: {size: 1}\n";
    let broken = "apiVersion: v1\nkind: Service\nmetadata: {name: web\n";
    type Step<'a> = (&'a str, Vec<(&'a str, Option<String>)>, bool);
    // (what, files to write (None = delete), may run under render: auto)
    let steps: Vec<Step> = vec![
        (
            "edit a, add c in a new namespace",
            vec![
                ("a.yaml", Some(cm("a", "shop", "2"))),
                ("c.yaml", Some(cm("c", "extra", "1"))),
            ],
            true,
        ),
        (
            "break dir/b.yaml",
            vec![(
                "dir/b.yaml",
                Some(format!("{}---\n{broken}", deployment(2))),
            )],
            true,
        ),
        (
            "edit the broken file, still broken",
            vec![("dir/b.yaml", Some(broken.to_string()))],
            true,
        ),
        (
            "fix it with new content; drop the Namespace",
            vec![
                (
                    "dir/b.yaml",
                    Some(format!("{}---\n{service}", deployment(4))),
                ),
                ("ns.yaml", None),
            ],
            true,
        ),
        (
            "rename a, delete dir/, add a symlink",
            vec![
                ("a.yaml", None),
                ("moved/a.yaml", Some(cm("a", "moved", "2"))),
                ("dir/b.yaml", None),
                ("dir/notes.txt", None),
            ],
            true,
        ),
        (
            "a file becomes a directory",
            vec![
                ("c.yaml", None),
                ("c.yaml/inner.yaml", Some(cm("c", "extra", "3"))),
            ],
            true,
        ),
        (
            "a CRD scopes a custom resource",
            vec![
                ("crds/widget.yaml", Some(crd.to_string())),
                ("widget.yaml", Some(widget.to_string())),
            ],
            true,
        ),
        (
            "edit the custom resource",
            vec![("widget.yaml", Some(widget.replace("size: 1", "size: 2")))],
            true,
        ),
        (
            "a kustomization file and a non-object document",
            vec![
                (
                    "kustomization.yaml",
                    Some("resources: [a.yaml]\n".to_string()),
                ),
                (
                    "multi.yaml",
                    Some(format!("{}---\njust: data\n", cm("m", "shop", "1"))),
                ),
            ],
            false,
        ),
        (
            "edit beside the kustomization file",
            vec![("multi.yaml", Some(cm("m", "shop", "2")))],
            false,
        ),
        (
            "the same key declared twice",
            vec![("dup.yaml", Some(cm("m", "shop", "9")))],
            false,
        ),
        ("the duplicate removed", vec![("dup.yaml", None)], false),
    ];
    for render in ["plain", "auto"] {
        let repo = common_repo();
        let write = |files: &[(&str, Option<String>)]| {
            for (path, text) in files {
                let full = repo.path().join(path);
                match text {
                    Some(text) => {
                        if let Some(parent) = full.parent() {
                            std::fs::create_dir_all(parent).expect("mkdir");
                        }
                        std::fs::write(&full, text).expect("write");
                    }
                    None if full.is_dir() => std::fs::remove_dir_all(&full).expect("rm -r"),
                    None => std::fs::remove_file(&full).expect("rm"),
                }
            }
            git(repo.path(), &["add", "-A"]);
            git(repo.path(), &["commit", "-q", "-m", "step"]);
        };
        write(&[
            ("a.yaml", Some(cm("a", "shop", "1"))),
            (
                "dir/b.yaml",
                Some(format!("{}---\n{service}", deployment(3))),
            ),
            ("dir/notes.txt", Some("not a manifest".into())),
            (
                "ns.yaml",
                Some("apiVersion: v1\nkind: Namespace\nmetadata: {name: team}\n".into()),
            ),
        ]);
        std::os::unix::fs::symlink("a.yaml", repo.path().join("link.yaml")).expect("symlink");
        git(repo.path(), &["add", "-A"]);
        git(repo.path(), &["commit", "-q", "-m", "symlink"]);
        let cache = tempfile::tempdir().expect("tempdir");
        let cfg = config(
            &format!(
                "{{name: local, url: {:?}, ref: main, render: {render}}}",
                repo.path().display().to_string()
            ),
            cache.path(),
        );
        let live = Arc::new(Live::new());
        let mut syncer = Syncer::new(&cfg, live.clone());
        assert!(syncer.sync_once(), "{render}: first sync");
        // The same history read whole at every revision (it remembers last good objects too).
        let whole_live = Arc::new(Live::new());
        let mut whole = Syncer::with_parts(
            &cfg,
            whole_live.clone(),
            Parts {
                whole_reads: true,
                ..Parts::default()
            },
        );
        assert!(whole.sync_once(), "{render}: first whole sync");
        let mut after_failure = false;
        for (what, files, auto_too) in &steps {
            if render == "auto" && !auto_too {
                continue;
            }
            let before = live.load().expect("live");
            write(files);
            let whole_ok = whole.sync_once();
            assert_eq!(
                syncer.sync_once(),
                whole_ok,
                "{render}: {what}: same outcome"
            );
            let served = live.load().expect("live");
            if !whole_ok {
                assert!(
                    Arc::ptr_eq(&before, &served),
                    "{render}: {what}: last good kept"
                );
                after_failure = true;
                continue;
            }
            assert_eq!(
                describe(&served),
                describe(&whole_live.load().expect("whole")),
                "{render}: {what}"
            );
            // Only a CRD (it scopes other objects) or a revision after one that was not served
            // needs a whole read; kustomization files are skipped under `render: plain`.
            let whole_expected = what.contains("CRD") || after_failure;
            after_failure = false;
            let read = syncer.last_reads()[0];
            assert_eq!(
                read,
                Some(if whole_expected {
                    ReadKind::Whole
                } else {
                    ReadKind::Delta
                }),
                "{render}: {what}"
            );
            let parsed = syncer.last_parsed()[0];
            let written = files.iter().filter(|(_, text)| text.is_some()).count();
            assert!(
                parsed <= written,
                "{render}: {what}: parsed {parsed} of {written} written"
            );
        }
    }
}

/// A repository made with the git CLI, with a first empty commit.
fn common_repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    git(dir.path(), &["init", "-q"]);
    dir
}
