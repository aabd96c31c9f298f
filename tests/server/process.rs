//! The built `driftgate serve` binary: SIGTERM with a request in flight, and bad config.

use super::*;
use common::served::{address, Served};

/// A config for `serve` on ephemeral ports with a 10 s grace; returns its path.
fn serve_config(dir: &Path, repo: &Path, pki: &Pki) -> PathBuf {
    let config_file = dir.join("driftgate.yaml");
    std::fs::write(
        &config_file,
        format!(
            "sources: [{{name: fleet, url: {:?}}}]\nserver:\n  listen: 127.0.0.1:0\n  adminListen: 127.0.0.1:0\n  certFile: {:?}\n  keyFile: {:?}\n  shutdownGrace: 10s\n",
            repo.display().to_string(),
            pki.cert().display().to_string(),
            pki.key().display().to_string()
        ),
    )
    .expect("config");
    config_file
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_request_in_flight_then_exits_0() {
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = make_repo(tmp.path());
    let pki = Pki::new(tmp.path());
    let config_file = serve_config(tmp.path(), &repo, &pki);
    let mut process = Served::spawn(&["serve", "--config", config_file.to_str().expect("utf-8")]);
    let listening = process.log_line("listening");
    let (tls, admin) = (address(&listening, "tls"), address(&listening, "admin"));
    process.log_line("declared state loaded");
    let admin_client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let metrics = |client: reqwest::Client| async move {
        client
            .get(format!("http://{admin}/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    };
    let ready = admin_client
        .get(format!("http://{admin}/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 200);

    // Headers and half the body, then SIGTERM.
    let body = review("admission.k8s.io/v1", "inflight", "4");
    let (head, tail) = body.split_at(body.len() / 2);
    let tcp = tokio::net::TcpStream::connect(tls).await.expect("connect");
    let name = rustls_pki_types::ServerName::try_from(NAME).expect("name");
    let mut stream = rustls_client(&pki)
        .connect(name, tcp)
        .await
        .expect("handshake");
    let headers = format!(
        "POST /validate?timeout=10s HTTP/1.1\r\nHost: {NAME}:443\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(headers.as_bytes()).await.expect("headers");
    stream.write_all(head).await.expect("half the body");
    stream.flush().await.expect("flush");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !metrics(admin_client.clone())
        .await
        .contains("driftgate_connections_open 1")
    {
        assert!(
            Instant::now() < deadline,
            "the connection never shows as open"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let sent = Instant::now();
    process.sigterm();
    process.log_line("shutting down");

    // New connections are refused while the request in flight is still open.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::net::TcpStream::connect(tls).await {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => break,
            _ => {
                assert!(Instant::now() < deadline, "new connections still accepted");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    assert!(
        process.child.try_wait().expect("try_wait").is_none(),
        "exited with a request in flight"
    );

    stream.write_all(tail).await.expect("rest of the body");
    stream.flush().await.expect("flush");
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let json = &answer[answer.find("\r\n\r\n").expect("head ends") + 4..];
    let review = assert_review(json.as_bytes(), "admission.k8s.io/v1", "inflight");
    assert_eq!(review["response"]["allowed"], false);

    let status = process.wait(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "exit code after draining");
    assert!(
        sent.elapsed() < Duration::from_secs(10),
        "within the grace period"
    );
}

#[test]
fn bad_config_exits_2_naming_the_key() {
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = make_repo(tmp.path());
    let repo_url = repo.display().to_string();
    let config_file = tmp.path().join("driftgate.yaml");
    // `serve` with these arguments exits 2, and its error names `key`.
    let refused = |args: &[&str], key: &str| {
        let output = Command::new(env!("CARGO_BIN_EXE_driftgate"))
            .args(args)
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(key), "{stderr}");
    };
    let config_args = ["serve", "--config", config_file.to_str().expect("utf-8")];
    // A misspelt key, and a bound of no connections at all.
    for (server, key) in [
        ("listn: 127.0.0.1:0", "listn"),
        ("maxConnections: 0", "server.maxConnections"),
    ] {
        std::fs::write(
            &config_file,
            format!("sources: [{{name: fleet, url: {repo_url:?}}}]\nserver:\n  {server}\n"),
        )
        .expect("config");
        refused(&config_args, key);
    }

    // A missing serving certificate names its setting.
    refused(
        &[
            "serve",
            "--repo",
            repo.to_str().expect("utf-8"),
            "--cert",
            "/nonexistent/tls.crt",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ],
        "server.certFile",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_drains_every_answer_then_exits_0() {
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = make_repo(tmp.path());
    let pki = Pki::new(tmp.path());
    let config_file = serve_config(tmp.path(), &repo, &pki);
    let mut process = Served::spawn(&["serve", "--config", config_file.to_str().expect("utf-8")]);
    let tls = address(&process.log_line("listening"), "tls");
    process.log_line("declared state loaded");

    // Eight clients, each on its own keep-alive connection, sending reviews back to back.
    let done = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let broken = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut clients = tokio::task::JoinSet::new();
    for worker in 0..8 {
        let client = super::tls::client_builder(&pki, tls)
            .http1_only()
            .build()
            .expect("client");
        let url = format!("https://{NAME}:{}/validate?timeout=10s", tls.port());
        let (done, answered, broken) = (done.clone(), answered.clone(), broken.clone());
        clients.spawn(async move {
            let mut i = 0;
            while !done.load(Ordering::SeqCst) {
                i += 1;
                let uid = format!("w{worker}-{i}");
                match client
                    .post(&url)
                    .body(review("admission.k8s.io/v1", &uid, "4"))
                    .send()
                    .await
                {
                    Ok(response) => {
                        let status = response.status();
                        match response.bytes().await {
                            Ok(body) if status == 200 => {
                                let answer = assert_review(&body, "admission.k8s.io/v1", &uid);
                                assert_eq!(answer["response"]["allowed"], false);
                                answered.fetch_add(1, Ordering::SeqCst);
                            }
                            // A status other than 200, or an answer cut off: not drained.
                            Ok(_) => broken
                                .lock()
                                .expect("lock")
                                .push(format!("{uid}: {status}")),
                            Err(e) => broken
                                .lock()
                                .expect("lock")
                                .push(format!("{uid}: body {e:?}")),
                        }
                    }
                    // Refused or closed before an answer started: the listener is gone or
                    // closed an idle keep-alive connection; clients retry those.
                    Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
                }
            }
        });
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while answered.load(Ordering::SeqCst) < 200 {
        assert!(Instant::now() < deadline, "no steady traffic");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let sent = Instant::now();
    let before = answered.load(Ordering::SeqCst);
    process.sigterm();
    tokio::task::block_in_place(|| {
        process.log_line("shutting down");
        process.log_line("drained");
    });
    let status = tokio::task::block_in_place(|| process.wait(Duration::from_secs(10)));
    assert_eq!(
        status.code(),
        Some(0),
        "exit code after draining under load"
    );
    let took = sent.elapsed();
    done.store(true, Ordering::SeqCst);
    while let Some(joined) = clients.join_next().await {
        joined.expect("client task");
    }
    let broken = broken.lock().expect("lock").clone();
    assert!(broken.is_empty(), "answers cut by the shutdown: {broken:?}");
    let total = answered.load(Ordering::SeqCst);
    eprintln!(
        "SIGTERM after {before} answers under load; {total} answers in all; exited 0 after {took:?}"
    );
    // Eight clients always waiting on the server: some requests were in flight at SIGTERM,
    // and the drain answered them instead of cutting them.
    assert!(total > before, "no request was answered during the drain");
    assert!(
        took < Duration::from_secs(10),
        "drained within the grace: {took:?}"
    );
    assert!(
        tokio::net::TcpStream::connect(tls).await.is_err(),
        "the port still accepts after exit"
    );
}

/// `server.maxConnections` reaches the listener: with a bound of 2, a third connection closes
/// the oldest idle one, and the newest two are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_connections_from_the_config_closes_the_oldest_idle_connection() {
    use tokio::io::AsyncReadExt as _;

    let tmp = tempfile::tempdir().expect("tmp");
    let repo = make_repo(tmp.path());
    let pki = Pki::new(tmp.path());
    let config_file = serve_config(tmp.path(), &repo, &pki);
    let mut text = std::fs::read_to_string(&config_file).expect("config");
    text.push_str("  maxConnections: 2\n");
    std::fs::write(&config_file, text).expect("config");
    let process = Served::spawn(&["serve", "--config", config_file.to_str().expect("utf-8")]);
    let tls = address(&process.log_line("listening"), "tls");
    process.log_line("declared state loaded");

    let connect = || async {
        let tcp = tokio::net::TcpStream::connect(tls).await.expect("connect");
        let name = rustls_pki_types::ServerName::try_from(NAME).expect("name");
        rustls_client(&pki)
            .connect(name, tcp)
            .await
            .expect("handshake")
    };
    let mut oldest = connect().await;
    let mut second = connect().await;
    let mut newest = connect().await;
    // The oldest idle connection is closed to admit the third: it reads end of stream.
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(10), oldest.read(&mut byte))
        .await
        .expect("the oldest connection is closed within 10 s");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    // The other two are still served.
    for stream in [&mut second, &mut newest] {
        let body = review("admission.k8s.io/v1", "bounded", "4");
        let head = format!(
            "POST /validate?timeout=10s HTTP/1.1\r\nHost: {NAME}:443\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.expect("headers");
        stream.write_all(&body).await.expect("body");
        stream.flush().await.expect("flush");
        let mut answer = vec![0u8; 12];
        tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut answer))
            .await
            .expect("answered within 10 s")
            .expect("read");
        assert_eq!(
            &answer,
            b"HTTP/1.1 200",
            "{}",
            String::from_utf8_lossy(&answer)
        );
    }
}
