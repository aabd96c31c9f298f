//! The TLS server under abuse, over real sockets on 127.0.0.1: hostile bodies on the wire, a
//! 100 MB body, slow-loris headers and bodies, idle connections, TLS garbage and plain HTTP on
//! the TLS port. After each, a real review is still answered. The connection flood against the
//! bound is in [`super::flood`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use driftgate::config::Config;
use driftgate::server::{AppState, Limits, Options, Server};
use driftgate::snapshot::Live;
use driftgate::sync::status::SyncStatus;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::workload::{self, Change};

pub(super) const SERVER_NAME: &str = "driftgate.driftgate-system.svc";
/// Short server timeouts, so the tests see them fire in about a second.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_millis(800);
const HEADER_TIMEOUT: Duration = Duration::from_millis(800);
const BODY_TIMEOUT: Duration = Duration::from_millis(800);
const MAX_CONNECTIONS: usize = 32;
const MAX_BODY: usize = 1024 * 1024;
/// How long any expected reaction may take on a busy CI machine.
pub(super) const DEADLINE: Duration = Duration::from_secs(10);

/// A server on 127.0.0.1:0 with a 30-object snapshot; shut down (and drained) on drop.
pub(super) struct TestServer {
    pub(super) addr: std::net::SocketAddr,
    pub(super) connector: TlsConnector,
    pub(super) state: AppState,
    stop: Option<oneshot::Sender<()>>,
    _certs: tempfile::TempDir,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            // The server task may already be gone with its runtime; nothing to do then.
            let _ = stop.send(());
        }
    }
}

async fn start() -> TestServer {
    let limits = Limits {
        handshake_timeout: HANDSHAKE_TIMEOUT,
        header_read_timeout: HEADER_TIMEOUT,
        max_connections: MAX_CONNECTIONS,
        grace: Duration::from_secs(1),
    };
    start_with(limits, BODY_TIMEOUT).await
}

/// [`start`] with other limits and body-read timeout.
pub(super) async fn start_with(limits: Limits, body_timeout: Duration) -> TestServer {
    let certs = tempfile::tempdir().expect("tempdir");
    let written =
        driftgate::tls::certs::write(certs.path(), "driftgate", "driftgate-system").expect("certs");
    let mut config = Config::default();
    config.server.listen = "127.0.0.1:0".into();
    config.server.admin_listen = "127.0.0.1:0".into();
    config.server.cert_file = written.cert.clone();
    config.server.key_file = written.key.clone();
    config.server.max_body_bytes = MAX_BODY;
    config.server.shutdown_grace = Duration::from_secs(1);
    let live = Arc::new(Live::new());
    live.store(Arc::new(super::snapshot(30)));
    let status = Arc::new(SyncStatus::new(["abuse".to_string()]));
    let mut state = AppState::new(&config, live, status);
    state.body_read_timeout = body_timeout;
    let options = Options {
        cert_poll_interval: Duration::from_secs(3600),
        limits,
        ..Options::default()
    };
    let server = Server::bind(&config, state.clone(), options)
        .await
        .expect("binds");
    let addr = server.tls_addr().expect("bound");
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(server.serve(async {
        let _ = stopped.await;
    }));

    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(&written.ca).expect("ca");
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(cert.expect("ca pem")).expect("ca cert");
    }
    let mut client = rustls::ClientConfig::builder_with_provider(driftgate::tls::provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.alpn_protocols = vec![b"http/1.1".to_vec()];
    TestServer {
        addr,
        connector: TlsConnector::from(Arc::new(client)),
        state,
        stop: Some(stop),
        _certs: certs,
    }
}

impl TestServer {
    pub(super) async fn tls(&self) -> TlsStream<TcpStream> {
        let tcp = TcpStream::connect(self.addr).await.expect("connects");
        tcp.set_nodelay(true).expect("nodelay");
        let name = rustls::pki_types::ServerName::try_from(SERVER_NAME).expect("name");
        tokio::time::timeout(DEADLINE, self.connector.connect(name, tcp))
            .await
            .expect("handshake in time")
            .expect("handshake")
    }

    /// One request on a fresh connection: status and body.
    async fn post(&self, body: Vec<u8>) -> (u16, Bytes) {
        let io = TokioIo::new(self.tls().await);
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .expect("http handshake");
        tokio::spawn(conn);
        let request = hyper::Request::post("/validate?timeout=10s")
            .header("content-type", "application/json")
            .header("host", SERVER_NAME)
            .body(Full::new(Bytes::from(body)))
            .expect("request");
        let response = tokio::time::timeout(DEADLINE, sender.send_request(request))
            .await
            .expect("answered in time")
            .expect("answered");
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (status, body)
    }

    /// A real review is answered with its uid: the server is still serving.
    pub(super) async fn assert_serving(&self) {
        let body = workload::update_review(0, "still-serving", "alice", Change::Annotation);
        let (status, answer) = self.post(body).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
        let answer: serde_json::Value = serde_json::from_slice(&answer).expect("json answer");
        assert_eq!(answer["response"]["uid"], "still-serving");
        assert_eq!(answer["response"]["allowed"], true);
    }

    pub(super) fn open_connections(&self) -> i64 {
        self.state.metrics.server.connections_open.get()
    }
}

/// Reads until EOF or error; `true` when the peer closed within `within`.
pub(super) async fn closed_within<S: tokio::io::AsyncRead + Unpin>(
    stream: &mut S,
    within: Duration,
) -> bool {
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_bodies_get_400_and_reviews_get_answers() {
    let server = start().await;
    let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    let bad: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("not JSON", b"hello".to_vec()),
        ("invalid UTF-8", b"{\"apiVersion\":\"\xff\"}".to_vec()),
        ("10,000 deep", deep.into_bytes()),
        (
            "wrong kind",
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"Pod","request":{"uid":"u"}}"#.to_vec(),
        ),
        (
            "no uid",
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{}}"#
                .to_vec(),
        ),
    ];
    for (label, body) in bad {
        let (status, answer) = server.post(body).await;
        assert_eq!(status, 400, "{label}: {}", String::from_utf8_lossy(&answer));
    }
    let connect = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"exec","operation":"CONNECT","resource":{"group":"","version":"v1","resource":"pods"},"subResource":"exec","name":"p","namespace":"team-0","userInfo":{"username":"mallory"}}}"#;
    let (status, answer) = server.post(connect.to_vec()).await;
    assert_eq!(status, 200);
    let answer: serde_json::Value = serde_json::from_slice(&answer).expect("json");
    assert_eq!(answer["response"]["uid"], "exec");
    assert_eq!(answer["response"]["allowed"], true);
    server.assert_serving().await;
}

/// Writes a request head and then `total` bytes of body in 64 KiB chunks while reading;
/// returns the status line the server sent and how many body bytes had gone out by then.
async fn stream_large_body(server: &TestServer, head: String, total: usize) -> (String, usize) {
    let stream = server.tls().await;
    let (mut reader, mut writer) = tokio::io::split(stream);
    let sent = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = sent.clone();
    let write = tokio::spawn(async move {
        if writer.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let chunk = vec![b' '; 64 * 1024];
        while counter.load(std::sync::atomic::Ordering::SeqCst) < total {
            if writer.write_all(&chunk).await.is_err() {
                return;
            }
            counter.fetch_add(chunk.len(), std::sync::atomic::Ordering::SeqCst);
        }
    });
    let mut first = Vec::new();
    let mut buf = [0u8; 1024];
    let status_line = loop {
        match tokio::time::timeout(DEADLINE, reader.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => {
                first.extend_from_slice(&buf[..n]);
                if let Some(end) = first.windows(2).position(|w| w == b"\r\n") {
                    break String::from_utf8_lossy(&first[..end]).into_owned();
                }
            }
            _ => break String::new(),
        }
    };
    let at_answer = sent.load(std::sync::atomic::Ordering::SeqCst);
    write.abort();
    (status_line, at_answer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_mb_body_is_refused_with_413_without_reading_it() {
    let server = start().await;
    let total = 100 * 1024 * 1024;
    // Declared length: refused from the headers alone.
    let head = format!(
        "POST /validate HTTP/1.1\r\nhost: {SERVER_NAME}\r\ncontent-type: application/json\r\ncontent-length: {total}\r\n\r\n"
    );
    let (status, sent) = stream_large_body(&server, head, total).await;
    assert!(status.contains(" 413"), "{status:?}");
    assert!(sent < total / 4, "answered after {sent} bytes");
    // Chunked, no length: cut off once past the limit.
    let head = format!(
        "POST /validate HTTP/1.1\r\nhost: {SERVER_NAME}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
    );
    let stream = server.tls().await;
    let (mut reader, mut writer) = tokio::io::split(stream);
    let write = tokio::spawn(async move {
        writer.write_all(head.as_bytes()).await.ok()?;
        let chunk = vec![b' '; 64 * 1024];
        let frame = format!("{:x}\r\n", chunk.len());
        let mut sent = 0usize;
        while sent < total {
            writer.write_all(frame.as_bytes()).await.ok()?;
            writer.write_all(&chunk).await.ok()?;
            writer.write_all(b"\r\n").await.ok()?;
            sent += chunk.len();
        }
        Some(sent)
    });
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(DEADLINE, reader.read(&mut buf))
        .await
        .expect("answered in time")
        .unwrap_or(0);
    let answer = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer:?}");
    write.abort();
    server.assert_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_body_is_not_a_hang() {
    let server = start().await;
    let body = workload::update_review(0, "cut", "alice", Change::Image);
    let mut stream = server.tls().await;
    let head = format!(
        "POST /validate HTTP/1.1\r\nhost: {SERVER_NAME}\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    stream
        .write_all(&body[..body.len() / 2])
        .await
        .expect("half");
    // close_notify and FIN: the body can never complete.
    stream.shutdown().await.expect("shutdown");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(DEADLINE, stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the server kept a dead request open");
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 400"),
        "{text:?}"
    );
    server.assert_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_loris_headers_are_cut_off() {
    let server = start().await;
    let mut stream = server.tls().await;
    let started = Instant::now();
    let head = format!("POST /validate HTTP/1.1\r\nhost: {SERVER_NAME}\r\n");
    stream.write_all(head.as_bytes()).await.expect("start");
    // One header byte every 100 ms: never finishing the head.
    let mut closed = false;
    while started.elapsed() < DEADLINE {
        if stream.write_all(b"x").await.is_err() {
            closed = true;
            break;
        }
        if closed_within(&mut stream, Duration::from_millis(100)).await {
            closed = true;
            break;
        }
    }
    assert!(closed, "still open after {:?}", started.elapsed());
    assert!(
        started.elapsed() < HEADER_TIMEOUT * 4,
        "{:?}",
        started.elapsed()
    );
    server.assert_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_loris_body_is_cut_off() {
    let server = start().await;
    let mut stream = server.tls().await;
    let started = Instant::now();
    let head = format!(
        "POST /validate HTTP/1.1\r\nhost: {SERVER_NAME}\r\ncontent-length: 100000\r\n\r\n{{"
    );
    stream.write_all(head.as_bytes()).await.expect("start");
    let mut closed = false;
    while started.elapsed() < DEADLINE {
        if stream.write_all(b" ").await.is_err() {
            closed = true;
            break;
        }
        if closed_within(&mut stream, Duration::from_millis(100)).await {
            closed = true;
            break;
        }
    }
    assert!(
        closed,
        "a body trickling one byte per 100 ms held the connection {:?}",
        started.elapsed()
    );
    assert!(
        started.elapsed() < BODY_TIMEOUT * 4,
        "{:?}",
        started.elapsed()
    );
    server.assert_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_handshaked_connections_are_closed() {
    let server = start().await;
    // Never a first request: without a deadline before the first request head, such
    // connections would hold their slot (of `maxConnections`) for ever.
    let mut stream = server.tls().await;
    let started = Instant::now();
    assert!(
        closed_within(&mut stream, DEADLINE).await,
        "an idle TLS connection stayed open"
    );
    assert!(
        started.elapsed() < HEADER_TIMEOUT * 4,
        "{:?}",
        started.elapsed()
    );

    // Idle after one request (keep-alive): closed after the header-read timeout as well.
    let io = TokioIo::new(server.tls().await);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .expect("http handshake");
    let conn = tokio::spawn(conn);
    let request = hyper::Request::post("/validate")
        .header("host", SERVER_NAME)
        .body(Full::new(Bytes::from(workload::update_review(
            0,
            "keep-alive",
            "alice",
            Change::Annotation,
        ))))
        .expect("request");
    let response = sender.send_request(request).await.expect("answered");
    assert_eq!(response.status(), 200);
    response.into_body().collect().await.expect("body");
    let started = Instant::now();
    tokio::time::timeout(DEADLINE, conn)
        .await
        .expect("the idle keep-alive connection was closed")
        .expect("connection task")
        // hyper closes it without a TLS close_notify; either ending means it is closed.
        .ok();
    assert!(
        started.elapsed() < HEADER_TIMEOUT * 4,
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_garbage_and_plain_http_are_dropped() {
    let server = start().await;
    let mut garbage = TcpStream::connect(server.addr).await.expect("connects");
    let noise: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    // The server may close before all of it is written; that is the point.
    let _ = garbage.write_all(&noise).await;
    assert!(closed_within(&mut garbage, DEADLINE).await);

    // A TLS record header announcing a huge record, then nothing.
    let mut huge = TcpStream::connect(server.addr).await.expect("connects");
    let _ = huge.write_all(&[0x16, 0x03, 0x01, 0xff, 0xff, 0x01]).await;
    assert!(closed_within(&mut huge, DEADLINE).await);

    let mut plain = TcpStream::connect(server.addr).await.expect("connects");
    let _ = plain
        .write_all(b"POST /validate HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}")
        .await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(DEADLINE, plain.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "plain HTTP connection left open");
    assert!(
        !String::from_utf8_lossy(&answer).contains("200 OK"),
        "plain HTTP was served"
    );
    // The client can see a connection closed before the server's task has counted its
    // failure: poll until all three are counted.
    let counted = Instant::now() + DEADLINE;
    let mut failures = server.state.metrics.server.handshake_failures.get();
    while failures < 3 && Instant::now() < counted {
        tokio::time::sleep(Duration::from_millis(10)).await;
        failures = server.state.metrics.server.handshake_failures.get();
    }
    assert!(failures >= 3, "{failures} handshake failures counted");
    server.assert_serving().await;
}
