//! `kubernetes` mode against the stand-in apiserver: in process (the kube client pointed at the
//! fixture through `Options::kube_config`), and in the built binary through a kubeconfig.

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use super::apiserver::{Apiserver, READER, READER_TOKEN, UNBOUND, UNBOUND_TOKEN};
use super::*;
use common::served::{address, Served};
use driftgate::config::Config;
use driftgate::server::auth::kubernetes::ReviewSettings;
use driftgate::server::{AppState, Options, Server};
use driftgate::snapshot::Live;
use driftgate::sync::status::SyncStatus;

const FORGED: &str = "eyJhbGciOiJSUzI1NiJ9.forged.signature";

/// driftgate serving in this process; dropping it stops the server.
struct Running {
    admin: SocketAddr,
    state: AppState,
    task: tokio::task::JoinHandle<driftgate::server::Result<()>>,
}

impl Running {
    async fn start(setup: &Setup, apiserver: &Apiserver, admin_auth: &str) -> Running {
        let text = setup.config_text("127.0.0.1:0", &format!("  adminAuth: {admin_auth}\n"));
        let config = Config::from_yaml(&text, "test").expect("config");
        setup.create_trail().await;
        let live = Arc::new(Live::new());
        live.store(Arc::new(
            driftgate::sync::load_once(&config).expect("loads"),
        ));
        let state = AppState::new(&config, live, Arc::new(SyncStatus::new(["fleet"])));
        let options = Options {
            kube_config: Some(apiserver.kube_config()),
            review: ReviewSettings::default(),
            ..Options::for_config(&config)
        };
        let server = Server::bind(&config, state.clone(), options)
            .await
            .expect("binds");
        let admin = server.admin_addr().expect("admin addr");
        let task = tokio::spawn(server.serve(std::future::pending()));
        Running { admin, state, task }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_401_denied_403_allowed_200_and_only_probes_open() {
    let setup = Setup::new();
    let apiserver = Apiserver::start().await;
    let running = Running::start(
        &setup,
        &apiserver,
        "{mode: kubernetes, protectMetrics: true}",
    )
    .await;
    let client = client();

    // No token: 401 before anything reaches the apiserver.
    for path in ["/report", "/api/audit", "/metrics", "/api/drift", "/nope"] {
        let (status, headers, body) = get(&client, &running.url(path), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}: {body}");
        assert!(headers.contains_key("www-authenticate"));
    }
    for probe in ["/healthz", "/readyz"] {
        let (status, _, body) = get(&client, &running.url(probe), None).await;
        assert_eq!(status, StatusCode::OK, "{probe}: {body}");
    }
    assert_eq!(apiserver.seen(|s| s.calls()), 0);

    // A token the TokenReview rejects: 401, and no SubjectAccessReview.
    let (status, _, body) = get(&client, &running.url("/report"), Some(FORGED)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        !body.contains("go-jose"),
        "the reason stays in the log: {body}"
    );
    apiserver.seen(|s| {
        assert_eq!(s.token_reviews(FORGED), 1);
        assert!(s.access_reviews.is_empty());
    });

    // Authenticated, but RBAC grants nothing: 403 naming the user.
    let (status, _, body) = get(&client, &running.url("/api/audit"), Some(UNBOUND_TOKEN)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body.contains(UNBOUND) && body.contains("/api/audit"),
        "{body}"
    );

    // Bound to driftgate-report-reader: the report, the API, and any /api/* path (a route
    // added later is behind the same check; this one does not exist, hence 404).
    let (status, headers, html) = get(&client, &running.url("/report"), Some(READER_TOKEN)).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("<html"));
    assert_eq!(headers["cache-control"], "no-store");
    let (status, _, json) = get(
        &client,
        &running.url("/api/audit?since=1h"),
        Some(READER_TOKEN),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    let (status, _, _) = get(&client, &running.url("/api/drift"), Some(READER_TOKEN)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The ClusterRole does not cover /metrics: with protectMetrics the reader is refused it.
    let (status, _, body) = get(&client, &running.url("/metrics"), Some(READER_TOKEN)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // What the SubjectAccessReview carried: the TokenReview's user whole, the path, `get`.
    apiserver.seen(|s| {
        let spec = s
            .access_specs
            .iter()
            .find(|spec| {
                spec["user"] == READER && spec["nonResourceAttributes"]["path"] == "/api/audit"
            })
            .expect("a review of /api/audit for the reader");
        assert_eq!(spec["nonResourceAttributes"]["verb"], "get");
        assert!(spec.get("resourceAttributes").is_none());
        assert_eq!(spec["uid"], "0b3f4a0e-6f1e-4d7a-9c55-2f1d0c9e7a11");
        assert_eq!(
            spec["groups"],
            serde_json::json!([
                "system:serviceaccounts",
                "system:serviceaccounts:monitoring",
                "system:authenticated"
            ])
        );
        assert_eq!(
            spec["extra"]["authentication.kubernetes.io/pod-name"],
            serde_json::json!(["grafana-7d9c8b6f5-x2k4p"])
        );
        assert_eq!(s.access_reviews(READER, "/report"), 1);
        assert_eq!(s.access_reviews(READER, "/metrics"), 1);
        assert_eq!(s.access_reviews(UNBOUND, "/api/audit"), 1);
    });

    let metrics = running.state.metrics.encode();
    for expected in [
        r#"driftgate_admin_auth_total{result="unauthenticated"} 6"#,
        r#"driftgate_admin_auth_total{result="forbidden"} 2"#,
        r#"driftgate_admin_auth_total{result="allowed"} 3"#,
        r#"driftgate_admin_auth_reviews_total{review="token_review",result="answered"} 6"#,
        r#"driftgate_admin_auth_reviews_total{review="subject_access_review",result="answered"} 5"#,
    ] {
        assert!(metrics.contains(expected), "missing {expected}:\n{metrics}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apiserver_error_is_a_503_with_the_reason_and_serves_nothing() {
    let setup = Setup::new();
    let apiserver = Apiserver::start().await;
    let running = Running::start(&setup, &apiserver, "{mode: kubernetes}").await;
    let client = client();
    apiserver.fail(true);
    for token in [READER_TOKEN, UNBOUND_TOKEN, FORGED] {
        let (status, _, body) = get(&client, &running.url("/report"), Some(token)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{token}: {body}");
        assert!(
            body.contains("500") && body.contains("etcdserver: request timed out"),
            "the reason: {body}"
        );
        assert!(!body.contains("<html"), "{body}");
    }
    // /metrics is not protected here and the probes never are: they do not depend on it.
    for path in ["/healthz", "/readyz", "/metrics"] {
        let (status, _, _) = get(&client, &running.url(path), None).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    // A failure is not remembered: once the apiserver answers, so does the report.
    apiserver.fail(false);
    let (status, _, html) = get(&client, &running.url("/report"), Some(READER_TOKEN)).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert_eq!(apiserver.seen(|s| s.token_reviews(READER_TOKEN)), 2);
    let metrics = running.state.metrics.encode();
    assert!(
        metrics.contains(r#"driftgate_admin_auth_total{result="unavailable"} 3"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            r#"driftgate_admin_auth_reviews_total{review="token_review",result="failed"} 3"#
        ),
        "{metrics}"
    );
}

/// 200 requests a second for 3 s from a dashboard (two paths), an unbound user and a forged
/// token: the apiserver sees one review pair per allowed token and path, and for refused ones
/// at most one per second (the 1 s refusal cache) plus one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_holds_under_200_requests_a_second() {
    let setup = Setup::new();
    let apiserver = Apiserver::start().await;
    let running = Running::start(&setup, &apiserver, "{mode: kubernetes}").await;
    let client = client();
    let calls: [(&str, &str, StatusCode); 4] = [
        (READER_TOKEN, "/report", StatusCode::OK),
        (READER_TOKEN, "/api/audit", StatusCode::OK),
        (UNBOUND_TOKEN, "/report", StatusCode::FORBIDDEN),
        (FORGED, "/report", StatusCode::UNAUTHORIZED),
    ];
    const RATE: u32 = 200;
    const SECONDS: u32 = 3;
    let mut ticker = tokio::time::interval(Duration::from_secs(1) / RATE);
    let mut requests = tokio::task::JoinSet::new();
    let started = Instant::now();
    for i in 0..(RATE * SECONDS) as usize {
        ticker.tick().await;
        let (token, path, expected) = calls[i % calls.len()];
        let (client, url) = (client.clone(), running.url(path));
        requests.spawn(async move {
            let (status, _, body) = get(&client, &url, Some(token)).await;
            assert_eq!(status, expected, "{token} {url}: {body}");
        });
    }
    while let Some(done) = requests.join_next().await {
        done.expect("request task");
    }
    let elapsed = started.elapsed();
    let sent = (RATE * SECONDS) as f64;
    let windows = elapsed.as_secs() as usize + 2;
    apiserver.seen(|s| {
        eprintln!(
            "cache under load: {sent} requests in {elapsed:.2?} ({:.0}/s); calls reaching the apiserver: {} \
             (TokenReview: reader {}, unbound {}, forged {}; SubjectAccessReview: reader /report {}, reader /api/audit {}, unbound {})",
            sent / elapsed.as_secs_f64(),
            s.calls(),
            s.token_reviews(READER_TOKEN),
            s.token_reviews(UNBOUND_TOKEN),
            s.token_reviews(FORGED),
            s.access_reviews(READER, "/report"),
            s.access_reviews(READER, "/api/audit"),
            s.access_reviews(UNBOUND, "/report"),
        );
        // One per path every 10 s (the run takes 3 s unless the machine is very busy).
        let allowed_windows = elapsed.as_secs() as usize / 10 + 1;
        assert!(s.token_reviews(READER_TOKEN) <= 2 * allowed_windows);
        for path in ["/report", "/api/audit"] {
            let n = s.access_reviews(READER, path);
            assert!((1..=allowed_windows).contains(&n), "{path}: {n}");
        }
        for (what, n) in [
            ("unbound TokenReviews", s.token_reviews(UNBOUND_TOKEN)),
            ("unbound SubjectAccessReviews", s.access_reviews(UNBOUND, "/report")),
            ("forged TokenReviews", s.token_reviews(FORGED)),
        ] {
            assert!((1..=windows).contains(&n), "{what}: {n} in {elapsed:?}");
        }
        assert!(
            s.calls() <= 4 * allowed_windows + 3 * windows,
            "{}",
            s.calls()
        );
    });
    // Every request was answered from the cache, by joining a review in flight, or by one.
    let metrics = running.state.metrics.encode();
    let total: u64 = ["cached", "joined", "reviewed"]
        .iter()
        .filter_map(|source| {
            let prefix = format!("driftgate_admin_auth_lookups_total{{source=\"{source}\"}} ");
            metrics
                .lines()
                .find_map(|l| l.strip_prefix(&prefix)?.trim().parse::<u64>().ok())
        })
        .sum();
    assert_eq!(total, u64::from(RATE * SECONDS), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_finds_the_apiserver_through_kubeconfig() {
    let setup = Setup::new();
    setup.create_trail().await;
    let apiserver = Apiserver::start().await;
    let kubeconfig = setup.path("kubeconfig");
    std::fs::write(
        &kubeconfig,
        apiserver.kubeconfig("driftgate-service-account-token"),
    )
    .expect("kubeconfig");
    let config =
        setup.write_config(&setup.config_text("127.0.0.1:0", "  adminAuth: {mode: kubernetes}\n"));
    let home = setup.path("home");
    std::fs::create_dir_all(&home).expect("home");
    let served = Served::spawn_with_env(
        &[
            OsStr::new("serve"),
            OsStr::new("--config"),
            config.as_os_str(),
        ],
        &[
            ("KUBECONFIG", kubeconfig.as_os_str()),
            ("HOME", home.as_os_str()),
        ],
        &["KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"],
    );
    let admin = address(&served.log_line("listening"), "admin");
    let client = client();
    let url = |path: &str| format!("http://{admin}{path}");
    for (token, expected) in [
        (None, StatusCode::UNAUTHORIZED),
        (Some(FORGED), StatusCode::UNAUTHORIZED),
        (Some(UNBOUND_TOKEN), StatusCode::FORBIDDEN),
        (Some(READER_TOKEN), StatusCode::OK),
    ] {
        let (status, _, body) = get(&client, &url("/report"), token).await;
        assert_eq!(status, expected, "{token:?}: {body}");
    }
    let (status, _, _) = get(&client, &url("/metrics"), None).await;
    assert_eq!(status, StatusCode::OK, "protectMetrics is off by default");
    // driftgate authenticated itself to the apiserver with the kubeconfig's credentials.
    apiserver.seen(|s| {
        assert_eq!(s.calls(), 5);
        assert!(
            s.callers
                .iter()
                .all(|c| c == "Bearer driftgate-service-account-token"),
            "{:?}",
            s.callers
        );
    });
}
