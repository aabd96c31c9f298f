//! `token` mode on the built binary, set by flags over a config file that has none.

use std::ffi::OsStr;
use std::time::Instant;

use super::*;
use common::served::{address, Served};

/// Replaces the file whole, as the kubelet updates a mounted Secret.
fn rotate(path: &std::path::Path, text: &str) {
    let next = path.with_extension("next");
    std::fs::write(&next, text).expect("write");
    std::fs::rename(&next, path).expect("rename");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_mode_401_without_or_with_a_wrong_token_200_with_a_listed_one_and_rotation_without_restart(
) {
    let setup = Setup::new();
    setup.create_trail().await;
    let tokens = setup.path("admin-tokens");
    std::fs::write(
        &tokens,
        "# who may read the report\n\nfirst-token-2f9c1a7e\n  \n# retired: old-token\n",
    )
    .expect("tokens");
    let config =
        setup.write_config(&setup.config_text("127.0.0.1:0", "  syncSecret: push-hook-secret\n"));
    let served = Served::spawn(&[
        OsStr::new("serve"),
        OsStr::new("--config"),
        config.as_os_str(),
        OsStr::new("--admin-auth"),
        OsStr::new("token"),
        OsStr::new("--admin-token-file"),
        tokens.as_os_str(),
        OsStr::new("--admin-protect-metrics"),
        OsStr::new("true"),
    ]);
    let admin = address(&served.log_line("listening"), "admin");
    served.log_line("declared state loaded");
    let client = client();
    let url = |path: &str| format!("http://{admin}{path}");
    const FIRST: &str = "first-token-2f9c1a7e";
    const SECOND: &str = "second-token-8d41b0c3";

    // Probes need nothing.
    for probe in ["/healthz", "/readyz"] {
        let (status, _, body) = get(&client, &url(probe), None).await;
        assert_eq!(status, StatusCode::OK, "{probe}: {body}");
    }

    // No token, a wrong one, a listed one's prefix, a retired one: 401 with a challenge and
    // nothing of the report.
    for path in ["/report", "/api/audit", "/metrics"] {
        for token in [
            None,
            Some("wrong"),
            Some("first-token-2f9c1a7"),
            Some("old-token"),
        ] {
            let (status, headers, body) = get(&client, &url(path), token).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path} {token:?}: {body}");
            let challenge = headers
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            assert!(challenge.starts_with("Bearer"), "{challenge}");
            assert!(
                !body.contains("<html") && !body.contains("records"),
                "{body}"
            );
        }
    }
    let (status, _, body) = get(&client, &url("/report"), Some("two parts")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // The listed token reads the report (HTML and JSON) and the metrics.
    let (status, headers, html) = get(&client, &url("/report"), Some(FIRST)).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(headers["content-type"]
        .to_str()
        .unwrap_or_default()
        .starts_with("text/html"));
    assert_eq!(headers["cache-control"], "no-store");
    assert!(html.contains("<html"), "{html}");
    let (status, _, json) = get(&client, &url("/api/audit?since=1h"), Some(FIRST)).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    let report: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(report["totals"]["records"], 0);

    // /sync keeps its own check: the HMAC, not a bearer token.
    let unsigned = client
        .post(url("/sync"))
        .body("{}")
        .send()
        .await
        .expect("sync");
    assert_eq!(unsigned.status(), StatusCode::UNAUTHORIZED);
    assert!(unsigned
        .text()
        .await
        .expect("body")
        .contains("bad or missing signature"));
    let signed = client
        .post(url("/sync"))
        .header(
            driftgate::sync::hook::SIGNATURE_HEADER,
            driftgate::sync::hook::sign(b"push-hook-secret", b"{}"),
        )
        .body("{}")
        .send()
        .await
        .expect("sync");
    assert_eq!(signed.status(), StatusCode::ACCEPTED);

    // Rotation: the new token works without a restart, the old one stops working.
    rotate(&tokens, &format!("{SECOND}\n"));
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, _, _) = get(&client, &url("/report"), Some(SECOND)).await;
        if status == StatusCode::OK {
            break;
        }
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(
            Instant::now() < deadline,
            "the rotated token file was never read"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, _, _) = get(&client, &url("/report"), Some(FIRST)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the old token is revoked");
    served.log_line("admin tokens reloaded");

    let (status, _, metrics) = get(&client, &url("/metrics"), Some(SECOND)).await;
    assert_eq!(status, StatusCode::OK);
    for expected in [
        r#"driftgate_admin_auth_total{result="unauthenticated"} "#,
        r#"driftgate_admin_auth_total{result="malformed"} 1"#,
        r#"driftgate_admin_auth_token_reloads_total{result="reloaded"} 1"#,
    ] {
        assert!(metrics.contains(expected), "missing {expected}:\n{metrics}");
    }
    let count = |result: &str| -> u64 {
        let prefix = format!("driftgate_admin_auth_total{{result=\"{result}\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    };
    // 3 paths x 4 refused tokens, the rotated-out token, and the polls before the reload.
    assert!(count("unauthenticated") >= 13, "{metrics}");
    // /report, /api/audit, the accepted poll, and this scrape.
    assert!(count("allowed") >= 4, "{metrics}");
}

#[test]
fn bad_admin_auth_settings_exit_2_naming_the_setting() {
    let setup = Setup::new();
    let refused = |config: &str, flags: &[&str], env: &[(&str, &OsStr)], key: &str| {
        let path = setup.write_config(config);
        let mut command = common::driftgate();
        command
            .args(["serve", "--config"])
            .arg(&path)
            .args(flags)
            .envs(env.iter().copied())
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env_remove("KUBERNETES_SERVICE_PORT");
        let output = command.output().expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{key}: {stderr}");
        assert!(stderr.contains(key), "{key}: {stderr}");
    };
    let plain = setup.config_text("127.0.0.1:0", "");
    refused(
        &setup.config_text("127.0.0.1:0", "  adminAuth:\n    mode: sometimes\n"),
        &[],
        &[],
        "server.adminAuth.mode",
    );
    refused(
        &plain,
        &["--admin-auth", "token"],
        &[],
        "server.adminAuth.tokenFile",
    );
    let missing = setup.path("no-such-tokens");
    refused(
        &plain,
        &[
            "--admin-auth",
            "token",
            "--admin-token-file",
            missing.to_str().expect("utf-8"),
        ],
        &[],
        "server.adminAuth.tokenFile",
    );
    // kubernetes mode with no way to reach a cluster: no in-cluster environment, no kubeconfig.
    let home = setup.path("empty-home");
    std::fs::create_dir_all(&home).expect("home");
    let nowhere = setup.path("no-kubeconfig");
    refused(
        &setup.config_text("127.0.0.1:0", "  adminAuth: {mode: kubernetes}\n"),
        &[],
        &[
            ("HOME", home.as_os_str()),
            ("KUBECONFIG", nowhere.as_os_str()),
        ],
        "server.adminAuth.mode: kubernetes needs cluster credentials",
    );
}

#[test]
fn mode_none_on_a_reachable_address_warns_at_startup() {
    let setup = Setup::new();
    let config = setup.write_config(&setup.config_text("0.0.0.0:0", ""));
    let served = Served::serve(&config);
    let warning = served.log_line("server.adminAuth.mode: none");
    assert!(warning.contains("/report"), "{warning}");
    served.log_line("listening");
}
