//! `/validate` and the admin routes through `oneshot`: the corpus, decisions, not-ready
//! answers, 400 and 413 mapping, readiness and metrics.

use super::*;

use futures_util::StreamExt as _;

fn corpus_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read corpus dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            corpus_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

#[tokio::test]
async fn every_corpus_review_gets_a_well_formed_answer() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/admission-reviews");
    if !corpus.join("INDEX.tsv").exists() {
        eprintln!("skipped: {} is absent", corpus.display());
        return;
    }
    let index = std::fs::read_to_string(corpus.join("INDEX.tsv")).expect("index");
    let listed = index
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .count();
    let mut files = Vec::new();
    corpus_files(&corpus, &mut files);
    files.sort();
    assert!(
        files.len() >= listed,
        "{} files, {listed} listed",
        files.len()
    );

    let tmp = tempfile::tempdir().expect("tmp");
    let repo = make_repo(tmp.path());
    let pki = Pki::new(tmp.path());
    let config = config(&repo, &pki, "");
    let ready = server::tls_router(state(&config, true));
    let starting = server::tls_router(state(&config, false));
    for file in &files {
        let raw: Value =
            serde_json::from_slice(&std::fs::read(file).expect("read")).expect("corpus is JSON");
        // A bare AdmissionRequest (its `kind` is the object's GVK, it has no `request`) is
        // wrapped in a v1 review, as the apiserver would send it.
        let bare = raw.get("apiVersion").is_none() && raw.get("request").is_none();
        let body = if bare {
            assert!(
                raw.get("uid").is_some(),
                "{}: neither review nor request",
                file.display()
            );
            json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": raw})
        } else {
            raw
        };
        let version = body["apiVersion"].as_str().expect("apiVersion").to_string();
        let uid = body["request"]["uid"].as_str().expect("uid").to_string();
        let bytes = serde_json::to_vec(&body).expect("json");
        let (status, answer) =
            post(&ready, "/validate?timeout=10s", Body::from(bytes.clone())).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{}: {}",
            file.display(),
            String::from_utf8_lossy(&answer)
        );
        assert_review(&answer, &version, &uid);

        // Before Git is loaded: the same shape, denied with 503, except for the bypassed
        // kube-system controllers (kubernetes preset), which are never held up.
        let user = body["request"]["userInfo"]["username"]
            .as_str()
            .unwrap_or_default();
        let groups = body["request"]["userInfo"]["groups"].to_string();
        let bypassed = user == "system:kube-controller-manager"
            || groups.contains("\"system:serviceaccounts:kube-system\"");
        let (status, answer) = post(&starting, "/validate", Body::from(bytes)).await;
        assert_eq!(status, StatusCode::OK, "{}", file.display());
        let answer = assert_review(&answer, &version, &uid);
        if bypassed {
            assert_eq!(answer["response"]["allowed"], true, "{}", file.display());
        } else {
            assert_eq!(answer["response"]["allowed"], false, "{}", file.display());
            assert_eq!(answer["response"]["status"]["code"], 503);
        }
    }
    eprintln!("{} corpus reviews answered", files.len());
}

#[tokio::test]
async fn decides_on_the_snapshot_and_answers_in_the_request_version() {
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = make_repo(tmp.path());
    let pki = Pki::new(tmp.path());
    let config = config(&repo, &pki, "");
    let router = server::tls_router(state(&config, true));

    let (status, body) = post(
        &router,
        "/validate?timeout=10s",
        Body::from(review("admission.k8s.io/v1beta1", "b1", "5")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let answer = assert_review(&body, "admission.k8s.io/v1beta1", "b1");
    assert_eq!(answer["response"]["allowed"], false);
    assert_eq!(answer["response"]["status"]["code"], 403);
    let message = answer["response"]["status"]["message"]
        .as_str()
        .expect("message");
    assert!(message.contains("data.level"), "{message}");

    let (_, body) = post(
        &router,
        "/validate",
        Body::from(review("admission.k8s.io/v1", "a1", "1")),
    )
    .await;
    let answer = assert_review(&body, "admission.k8s.io/v1", "a1");
    assert_eq!(answer["response"]["allowed"], true);
}

#[tokio::test]
async fn not_ready_answers_per_policy() {
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = make_repo(tmp.path());
    let pki = Pki::new(tmp.path());

    let deny = server::tls_router(state(&config(&repo, &pki, ""), false));
    let (status, body) = post(
        &deny,
        "/validate",
        Body::from(review("admission.k8s.io/v1beta1", "n1", "1")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let answer = assert_review(&body, "admission.k8s.io/v1beta1", "n1");
    assert_eq!(answer["response"]["allowed"], false);
    assert_eq!(answer["response"]["status"]["code"], 503);
    let message = answer["response"]["status"]["message"]
        .as_str()
        .expect("message");
    assert!(message.contains("has not loaded Git yet"), "{message}");

    let allow = server::tls_router(state(&config(&repo, &pki, "  notReady: allow\n"), false));
    let (_, body) = post(
        &allow,
        "/validate",
        Body::from(review("admission.k8s.io/v1", "n2", "9")),
    )
    .await;
    let answer = assert_review(&body, "admission.k8s.io/v1", "n2");
    assert_eq!(answer["response"]["allowed"], true);

    // The kube-system controllers (bypassed) are never held up by a starting replica.
    let controller = String::from_utf8(review("admission.k8s.io/v1", "n3", "9"))
        .expect("utf-8")
        .replace("\"alice\"", "\"system:kube-controller-manager\"");
    let (_, body) = post(&deny, "/validate", Body::from(controller)).await;
    let answer = assert_review(&body, "admission.k8s.io/v1", "n3");
    assert_eq!(answer["response"]["allowed"], true);
}

#[tokio::test]
async fn what_is_not_a_review_is_a_400_with_the_reason() {
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = make_repo(tmp.path());
    let pki = Pki::new(tmp.path());
    let config = config(&repo, &pki, "");
    // Loaded and not loaded: a malformed body is a 400 either way.
    for loaded in [true, false] {
        let router = server::tls_router(state(&config, loaded));
        let cases: [(&str, &str); 6] = [
            ("", "not JSON"),
            ("hello", "not JSON"),
            (r#"{"apiVersion":"v1","kind":"Pod"}"#, "apiVersion"),
            (
                r#"{"apiVersion":"admission.k8s.io/v1","kind":"Pod"}"#,
                "kind",
            ),
            (
                r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#,
                "no request",
            ),
            (
                r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"operation":"CREATE"}}"#,
                "uid",
            ),
        ];
        for (body, reason) in cases {
            let (status, answer) = post(&router, "/validate", Body::from(body)).await;
            let text = String::from_utf8_lossy(&answer);
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body:?}: {text}");
            assert!(text.contains(reason), "{body:?}: {text}");
        }
    }
}

#[tokio::test]
async fn bodies_over_the_limit_are_413_without_being_read() {
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = make_repo(tmp.path());
    let pki = Pki::new(tmp.path());

    // The default accepts 8 MiB: a review with a 7 MiB annotation is decided.
    let router = server::tls_router(state(&config(&repo, &pki, ""), true));
    let mut big: Value =
        serde_json::from_slice(&review("admission.k8s.io/v1", "big", "1")).expect("json");
    big["request"]["object"]["metadata"]["annotations"] = json!({"blob": "x".repeat(7 << 20)});
    let (status, body) = post(
        &router,
        "/validate",
        Body::from(serde_json::to_vec(&big).expect("json")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_review(&body, "admission.k8s.io/v1", "big");

    let limit = 64 * 1024;
    let router = server::tls_router(state(
        &config(&repo, &pki, &format!("  maxBodyBytes: {limit}\n")),
        true,
    ));
    const CHUNK: usize = 16 * 1024;
    const HUNDRED_MB: usize = 100 << 20;
    for declared in [true, false] {
        let pulled = Arc::new(AtomicUsize::new(0));
        let counter = pulled.clone();
        let stream = futures_util::stream::iter(0..HUNDRED_MB / CHUNK).map(move |_| {
            counter.fetch_add(CHUNK, Ordering::SeqCst);
            Ok::<_, std::io::Error>(Bytes::from(vec![b' '; CHUNK]))
        });
        let mut request = Request::post("/validate?timeout=10s");
        if declared {
            request = request.header("content-length", HUNDRED_MB.to_string());
        }
        let response = router
            .clone()
            .oneshot(request.body(Body::from_stream(stream)).expect("request"))
            .await
            .expect("infallible");
        assert_eq!(
            response.status(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "declared={declared}"
        );
        let read = pulled.load(Ordering::SeqCst);
        assert!(
            read <= limit + CHUNK,
            "declared={declared}: read {read} bytes"
        );
        if declared {
            assert_eq!(
                read, 0,
                "a declared length over the limit is refused unread"
            );
        }
    }
}

#[tokio::test]
async fn admin_port_health_readiness_and_metrics() {
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = make_repo(tmp.path());
    let pki = Pki::new(tmp.path());
    let config = config(&repo, &pki, "");
    let state = state(&config, false);
    let admin = server::admin_router(state.clone());
    let tls = server::tls_router(state.clone());

    assert_eq!(get(&admin, "/healthz").await.0, StatusCode::OK);
    let (status, text) = get(&admin, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(text.contains("source fleet: not loaded yet"), "{text}");

    let snapshot = driftgate::sync::load_once(&config).expect("loads");
    let revision = snapshot.revision_label().to_string();
    state.status.succeeded("fleet", &revision);
    state.live.store(Arc::new(snapshot));
    let (status, text) = get(&admin, "/readyz").await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(
        text.contains(&format!("source fleet: {revision}, loaded")),
        "{text}"
    );

    post(
        &tls,
        "/validate",
        Body::from(review("admission.k8s.io/v1", "m1", "7")),
    )
    .await;
    post(&tls, "/validate", Body::from("nope")).await;
    let (status, text) = get(&admin, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    for expected in [
        r#"driftgate_requests_total{endpoint="validate",operation="UPDATE",decision="denied"} 1"#,
        r#"driftgate_requests_total{endpoint="validate",operation="other",decision="invalid"} 1"#,
        r#"driftgate_request_duration_seconds_count{endpoint="validate"} 2"#,
        "driftgate_snapshot_objects 3",
        &format!(r#"driftgate_snapshot_info{{revision="{revision}"}} 1"#),
        "driftgate_snapshot_errors 0",
    ] {
        assert!(text.contains(expected), "missing {expected}:\n{text}");
    }
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        assert!(line.starts_with("driftgate_"), "{line}");
    }
}
