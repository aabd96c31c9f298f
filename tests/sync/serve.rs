//! The built binary: `driftgate serve` following a git daemon, synced by a signed push webhook.

use super::*;
use common::served::Served;

/// One plain HTTP/1.1 request to the admin port: (status code, body).
fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("write");
    stream.write_all(body).expect("write body");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    let code = answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

#[test]
fn serve_follows_a_signed_push_webhook() {
    use driftgate::tls::certs::{self, Authority};

    let repos = Repos::new();
    let first = repos.commit(&[("apps/web.yaml", &deployment(3))], "three");
    let port = free_port();
    let _daemon = Daemon::start(&repos.base, port);
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = Authority::new("test CA").expect("ca");
    let pair = ca
        .issue_server(&certs::service_names("driftgate", "driftgate-system"))
        .expect("pair");
    let (cert, key) = (tmp.path().join("tls.crt"), tmp.path().join("tls.key"));
    certs::write_file(&cert, &pair.cert_pem, 0o644).expect("crt");
    certs::write_file(&key, &pair.key_pem, 0o600).expect("key");
    let config_file = tmp.path().join("driftgate.yaml");
    std::fs::write(
        &config_file,
        format!(
            "sources: [{{name: fleet, url: \"git://127.0.0.1:{port}/served.git\", ref: main, interval: 1h}}]\n\
             cacheDir: {:?}\nserver:\n  listen: 127.0.0.1:0\n  adminListen: 127.0.0.1:0\n  certFile: {:?}\n  \
             keyFile: {:?}\n  syncSecret: hunter2\n",
            tmp.path().join("cache").display().to_string(),
            cert.display().to_string(),
            key.display().to_string()
        ),
    )
    .expect("config");
    let serve = Served::serve(&config_file);
    let listening = serve.log_line("listening");
    let admin = listening
        .split("admin=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("admin address")
        .to_string();
    // The sync threads and the listener start together: poll readiness, not the log order.
    wait_for("/readyz 200", Duration::from_secs(30), || {
        http(&admin, "GET", "/readyz", &[], b"").0 == 200
    });
    let (_, body) = http(&admin, "GET", "/readyz", &[], b"");
    assert!(body.contains(short(&first)), "{body}");

    // The interval is an hour: only the webhook can bring the push in.
    let second = repos.commit(&[("apps/web.yaml", &deployment(5))], "five");
    let payload = br#"{"ref":"refs/heads/main","after":"x"}"#;
    let (code, _) = http(&admin, "POST", "/sync", &[], payload);
    assert_eq!(code, 401, "unsigned");
    let forged = vec![(hook::SIGNATURE_HEADER, hook::sign(b"guess", payload))];
    assert_eq!(http(&admin, "POST", "/sync", &forged, payload).0, 401);
    let signed = vec![(hook::SIGNATURE_HEADER, hook::sign(b"hunter2", payload))];
    assert_eq!(http(&admin, "POST", "/sync", &signed, payload).0, 202);
    wait_for(
        "the new revision in /readyz",
        Duration::from_secs(15),
        || {
            http(&admin, "GET", "/readyz", &[], b"")
                .1
                .contains(short(&second))
        },
    );
    let (_, metrics) = http(&admin, "GET", "/metrics", &[], b"");
    assert!(
        metrics.contains(&format!(
            r#"driftgate_source_revision_info{{source="fleet",revision="main@sha1:{}"}} 1"#,
            short(&second)
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"driftgate_source_consecutive_failures{source="fleet"} 0"#),
        "{metrics}"
    );
}
