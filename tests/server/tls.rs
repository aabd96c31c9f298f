//! Real TLS sockets on 127.0.0.1:0: keep-alive on one connection, h2 by ALPN, stalled clients,
//! rotation under traffic, and client certificates.

use super::*;

/// A server on 127.0.0.1:0; dropping it aborts the server task and with it the listeners.
struct Running {
    tls: SocketAddr,
    state: AppState,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<server::Result<()>>>,
}

impl Running {
    async fn start(config: &Config, options: Options) -> Running {
        let state = state(config, true);
        let server = Server::bind(config, state.clone(), options)
            .await
            .expect("binds");
        let tls = server.tls_addr().expect("tls addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.serve(async {
            let _ = stopped.await;
        }));
        Running {
            tls,
            state,
            stop: Some(stop),
            task: Some(task),
        }
    }

    fn url(&self) -> String {
        format!("https://{NAME}:{}/validate?timeout=10s", self.tls.port())
    }

    async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let result = tokio::time::timeout(Duration::from_secs(10), task).await;
            assert!(matches!(result, Ok(Ok(Ok(())))), "server stops cleanly");
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

pub(super) fn client_builder(pki: &Pki, addr: SocketAddr) -> reqwest::ClientBuilder {
    let ca = std::fs::read(pki.dir.join("ca.crt")).expect("ca");
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&ca).expect("ca pem")])
        .resolve(NAME, addr)
        .no_proxy()
        .timeout(Duration::from_secs(10))
}

async fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_keep_alive_reuses_one_connection_and_h2_works() {
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = make_repo(tmp.path());
    let pki = Pki::new(tmp.path());
    let config = config(&repo, &pki, "");
    let server = Running::start(&config, Options::default()).await;

    // One TLS connection, as the apiserver keeps it: five requests in turn on it.
    let tcp = tokio::net::TcpStream::connect(server.tls)
        .await
        .expect("connect");
    let name = rustls_pki_types::ServerName::try_from(NAME).expect("name");
    let stream = rustls_client(&pki)
        .connect(name, tcp)
        .await
        .expect("handshake");
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("http/1.1");
    let connection = tokio::spawn(connection);
    for i in 0..5 {
        let uid = format!("k{i}");
        sender.ready().await.expect("connection still open");
        let request = Request::post("/validate?timeout=10s")
            .header("host", NAME)
            .header("content-type", "application/json")
            .body(http_body_util::Full::new(Bytes::from(review(
                "admission.k8s.io/v1",
                &uid,
                "1",
            ))))
            .expect("request");
        let response = sender.send_request(request).await.expect("response");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.version(), axum::http::Version::HTTP_11);
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .expect("body")
            .to_bytes();
        assert_review(&body, "admission.k8s.io/v1", &uid);
    }
    assert_eq!(
        server.state.metrics.server.connections.get(),
        1,
        "five requests, one connection"
    );
    drop(sender);
    let _ = connection.await;

    let h2 = client_builder(&pki, server.tls).build().expect("client");
    let response = h2
        .post(server.url())
        .body(review("admission.k8s.io/v1", "h2", "3"))
        .send()
        .await
        .expect("request");
    assert_eq!(
        response.version(),
        reqwest::Version::HTTP_2,
        "ALPN chose h2"
    );
    let answer = assert_review(
        &response.bytes().await.expect("body"),
        "admission.k8s.io/v1",
        "h2",
    );
    assert_eq!(answer["response"]["allowed"], false);
    assert!(server.state.metrics.server.connections.get() >= 2);

    // A client that does not trust the CA is refused.
    let stranger = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(
            Authority::new("other").expect("ca").cert_pem().as_bytes(),
        )
        .expect("pem")])
        .resolve(NAME, server.tls)
        .no_proxy()
        .build()
        .expect("client");
    assert!(stranger.post(server.url()).body("{}").send().await.is_err());
    server.shutdown().await;
}

/// Reads until the peer closes; panics if it stays open past the deadline.
async fn until_closed<S: tokio::io::AsyncRead + Unpin>(stream: &mut S) -> Vec<u8> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the server kept a stalled connection open");
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_clients_are_cut_off() {
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = make_repo(tmp.path());
    let pki = Pki::new(tmp.path());
    let config = config(&repo, &pki, "");
    let limits = server::Limits {
        handshake_timeout: Duration::from_millis(300),
        header_read_timeout: Duration::from_millis(300),
        ..server::Limits::default()
    };
    let options = Options {
        limits,
        ..Options::default()
    };
    let server = Running::start(&config, options).await;

    // TCP connected, no ClientHello.
    let started = Instant::now();
    let mut silent = tokio::net::TcpStream::connect(server.tls)
        .await
        .expect("connect");
    until_closed(&mut silent).await;
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "closed after the handshake timeout, not before"
    );
    let failures = &server.state.metrics.server.handshake_failures;
    wait_for("the handshake timeout counted", || failures.get() == 1).await;

    // Handshake done, request headers never finished.
    let tcp = tokio::net::TcpStream::connect(server.tls)
        .await
        .expect("connect");
    let name = rustls_pki_types::ServerName::try_from(NAME).expect("name");
    let mut stream = rustls_client(&pki)
        .connect(name, tcp)
        .await
        .expect("handshake");
    stream
        .write_all(b"POST /validate HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    stream.flush().await.expect("flush");
    let answer = until_closed(&mut stream).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(!answer.contains("200 OK"), "{answer}");

    // Others are still served.
    let client = client_builder(&pki, server.tls).build().expect("client");
    let response = client
        .post(server.url())
        .body(review("admission.k8s.io/v1", "after", "1"))
        .send()
        .await
        .expect("served");
    assert_eq!(response.status(), 200);
    server.shutdown().await;
}

/// The serial number of a DER certificate (Certificate → tbsCertificate → [0] version → serial).
fn serial(der: &[u8]) -> Vec<u8> {
    fn header(der: &[u8]) -> (u8, usize, usize) {
        let tag = der[0];
        let first = der[1] as usize;
        if first < 0x80 {
            (tag, 2, first)
        } else {
            let n = first & 0x7f;
            let len = der[2..2 + n]
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | *b as usize);
            (tag, 2 + n, len)
        }
    }
    let (_, outer, _) = header(der);
    let tbs = &der[outer..];
    let (_, inner, _) = header(tbs);
    let mut rest = &tbs[inner..];
    let (tag, hl, len) = header(rest);
    if tag == 0xa0 {
        rest = &rest[hl + len..];
    }
    let (tag, hl, len) = header(rest);
    assert_eq!(tag, 0x02, "serial is an INTEGER");
    rest[hl..hl + len].to_vec()
}

fn leaf_der(pem: &str) -> Vec<u8> {
    CertificateDer::from_pem_slice(pem.as_bytes())
        .expect("pem")
        .to_vec()
}

/// The leaf a fresh handshake is served.
async fn served_leaf(pki: &Pki, addr: SocketAddr) -> Vec<u8> {
    let client = client_builder(pki, addr)
        .tls_info(true)
        .build()
        .expect("client");
    let response = client
        .post(format!("https://{NAME}:{}/validate", addr.port()))
        .body(review("admission.k8s.io/v1", "probe", "1"))
        .send()
        .await
        .expect("fresh handshake");
    let info = response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .expect("tls info");
    info.peer_certificate().expect("peer cert").to_vec()
}

/// Lays the pair out as the kubelet mounts a Secret: files are symlinks through `..data`,
/// which is swapped atomically, so both files change at once.
fn mount_secret(dir: &Path, version: &str, cert: &str, key: &str) {
    let data = dir.join(version);
    std::fs::create_dir_all(&data).expect("mkdir");
    std::fs::write(data.join("tls.crt"), cert).expect("crt");
    std::fs::write(data.join("tls.key"), key).expect("key");
    let tmp = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(version, &tmp).expect("symlink");
    std::fs::rename(&tmp, dir.join("..data")).expect("swap");
    for file in ["tls.crt", "tls.key"] {
        let link = dir.join(file);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(format!("..data/{file}"), &link).expect("symlink");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_under_keep_alive_traffic() {
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = make_repo(tmp.path());
    let pki = Pki::new(tmp.path());
    let names = certs::service_names("driftgate", "driftgate-system");
    let mount = tmp.path().join("mount");
    let first = pki.ca.issue_server(&names).expect("pair");
    mount_secret(&mount, "..v1", &first.cert_pem, &first.key_pem);
    let mut config = config(&repo, &pki, "");
    config.server.cert_file = mount.join("tls.crt");
    config.server.key_file = mount.join("tls.key");
    let options = Options {
        cert_poll_interval: Duration::from_millis(50),
        ..Options::default()
    };
    let server = Running::start(&config, options).await;
    assert_eq!(
        served_leaf(&pki, server.tls).await,
        leaf_der(&first.cert_pem)
    );

    // Steady keep-alive traffic for the whole test.
    let done = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let traffic = {
        let client = client_builder(&pki, server.tls)
            .http1_only()
            .build()
            .expect("client");
        let (url, done, ok, failures) = (server.url(), done.clone(), ok.clone(), failures.clone());
        tokio::spawn(async move {
            let mut i = 0;
            while !done.load(Ordering::SeqCst) {
                i += 1;
                let result = client
                    .post(&url)
                    .body(review("admission.k8s.io/v1", &format!("t{i}"), "1"))
                    .send()
                    .await;
                match result {
                    Ok(r) if r.status() == 200 => {
                        ok.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(r) => failures
                        .lock()
                        .expect("lock")
                        .push(format!("status {}", r.status())),
                    Err(e) => failures.lock().expect("lock").push(format!("{e:?}")),
                }
                // Paced so the other tests' compile and run keep their CPU.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    wait_for("traffic", || ok.load(Ordering::SeqCst) >= 3).await;

    // Renewal to a chain: a leaf from an intermediate, the intermediate appended.
    let intermediate = pki
        .ca
        .intermediate("test intermediate")
        .expect("intermediate");
    let second = intermediate.issue_server(&names).expect("pair");
    let chain = format!("{}{}", second.cert_pem, intermediate.cert_pem());
    mount_secret(&mount, "..v2", &chain, &second.key_pem);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let leaf = served_leaf(&pki, server.tls).await;
        if leaf == leaf_der(&second.cert_pem) {
            assert_eq!(serial(&leaf), serial(&leaf_der(&second.cert_pem)));
            assert_ne!(serial(&leaf), serial(&leaf_der(&first.cert_pem)));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate is never served"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rejected = |state: &AppState| {
        state
            .metrics
            .server
            .cert_reloads
            .get_or_create(&driftgate::metrics::ReloadLabels {
                result: driftgate::metrics::ReloadResult::Rejected,
            })
            .get()
    };
    assert_eq!(
        rejected(&server.state),
        0,
        "an atomic swap is never seen half-done"
    );

    // A cert whose key is not the one beside it, then an unreadable key: both refused.
    let third = pki.ca.issue_server(&names).expect("pair");
    mount_secret(&mount, "..v3", &third.cert_pem, &second.key_pem);
    wait_for("mismatch rejected", || rejected(&server.state) == 1).await;
    assert_eq!(
        served_leaf(&pki, server.tls).await,
        leaf_der(&second.cert_pem)
    );
    mount_secret(&mount, "..v4", &third.cert_pem, "not a key");
    wait_for("garbage rejected", || rejected(&server.state) == 2).await;
    assert_eq!(
        served_leaf(&pki, server.tls).await,
        leaf_der(&second.cert_pem)
    );

    let before = ok.load(Ordering::SeqCst);
    wait_for("more traffic", || ok.load(Ordering::SeqCst) > before + 3).await;
    done.store(true, Ordering::SeqCst);
    traffic.await.expect("traffic task");
    let failures = failures.lock().expect("lock").clone();
    assert!(
        failures.is_empty(),
        "failed requests during rotation: {failures:?}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_ca_requires_a_certificate_from_that_ca() {
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = make_repo(tmp.path());
    let pki = Pki::new(tmp.path());
    let clients = Authority::new("apiserver clients").expect("ca");
    let client_ca = tmp.path().join("client-ca.crt");
    std::fs::write(&client_ca, clients.cert_pem()).expect("write");
    let extra = format!("  clientCaFile: {:?}\n", client_ca.display().to_string());
    let config = config(&repo, &pki, &extra);
    let server = Running::start(&config, Options::default()).await;
    let identity = |pair: certs::Pair| {
        reqwest::Identity::from_pem(format!("{}{}", pair.cert_pem, pair.key_pem).as_bytes())
            .expect("identity")
    };
    let send = |client: reqwest::Client| {
        let url = server.url();
        async move {
            client
                .post(url)
                .body(review("admission.k8s.io/v1", "c1", "1"))
                .send()
                .await
        }
    };

    let anonymous = client_builder(&pki, server.tls).build().expect("client");
    assert!(send(anonymous).await.is_err(), "no client certificate");
    let other = Authority::new("someone else")
        .expect("ca")
        .issue_client("kube-apiserver")
        .expect("pair");
    let forged = client_builder(&pki, server.tls)
        .identity(identity(other))
        .build()
        .expect("client");
    assert!(send(forged).await.is_err(), "certificate from another CA");
    let failures = &server.state.metrics.server.handshake_failures;
    wait_for("two refused handshakes", || failures.get() == 2).await;
    assert_eq!(server.state.metrics.server.connections.get(), 0);

    let apiserver = clients.issue_client("kube-apiserver").expect("pair");
    let trusted = client_builder(&pki, server.tls)
        .identity(identity(apiserver))
        .build()
        .expect("client");
    let response = send(trusted).await.expect("served");
    assert_eq!(response.status(), 200);
    assert_review(
        &response.bytes().await.expect("body"),
        "admission.k8s.io/v1",
        "c1",
    );
    server.shutdown().await;
}

/// A client trusting only `ca_pem`; its handshakes show which pair the server hands out.
async fn leaf_trusted_by(ca_pem: &str, addr: SocketAddr) -> Result<Vec<u8>, reqwest::Error> {
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("ca pem")])
        .resolve(NAME, addr)
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .tls_info(true)
        .build()
        .expect("client");
    let response = client
        .post(format!("https://{NAME}:{}/validate", addr.port()))
        .body(review("admission.k8s.io/v1", "probe", "1"))
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    let info = response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .expect("tls info");
    Ok(info.peer_certificate().expect("peer cert").to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_cert_files_keep_the_last_good_pair_until_new_ones_appear() {
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = make_repo(tmp.path());
    let pki = Pki::new(tmp.path());
    let config = config(&repo, &pki, "");
    let options = Options {
        cert_poll_interval: Duration::from_millis(50),
        ..Options::default()
    };
    let server = Running::start(&config, options).await;
    let first = std::fs::read_to_string(pki.cert()).expect("cert");
    let old_ca = pki.ca.cert_pem().to_string();
    let metrics = &server.state.metrics.server;
    let rejected = || {
        metrics
            .cert_reloads
            .get_or_create(&driftgate::metrics::ReloadLabels {
                result: driftgate::metrics::ReloadResult::Rejected,
            })
            .get()
    };
    assert_eq!(
        leaf_trusted_by(&old_ca, server.tls).await.expect("served"),
        leaf_der(&first)
    );
    assert_eq!(metrics.cert_stale.get(), 0);

    // Both files gone (a Secret deleted, a volume unmounted): reported once, flagged stale,
    // and every new handshake still gets the pair loaded before.
    std::fs::remove_file(pki.cert()).expect("rm cert");
    std::fs::remove_file(pki.key()).expect("rm key");
    wait_for("the missing files reported", || {
        rejected() == 1 && metrics.cert_stale.get() == 1
    })
    .await;
    for _ in 0..3 {
        assert_eq!(
            leaf_trusted_by(&old_ca, server.tls)
                .await
                .expect("a fresh handshake with the files gone"),
            leaf_der(&first)
        );
    }
    assert_eq!(rejected(), 1, "the same failure is reported once");

    // A new pair from a new CA (the key first, so no poll sees a new cert beside no key).
    let new_ca = Authority::new("replacement CA").expect("ca");
    let second = new_ca
        .issue_server(&certs::service_names("driftgate", "driftgate-system"))
        .expect("pair");
    certs::write_file(&pki.key(), &second.key_pem, 0o600).expect("key");
    certs::write_file(&pki.cert(), &second.cert_pem, 0o644).expect("cert");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(leaf) = leaf_trusted_by(new_ca.cert_pem(), server.tls).await {
            assert_eq!(leaf, leaf_der(&second.cert_pem));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new pair is never served after the files came back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    wait_for("stale cleared", || metrics.cert_stale.get() == 0).await;
    assert!(
        leaf_trusted_by(&old_ca, server.tls).await.is_err(),
        "the old CA no longer verifies the served pair"
    );
    server.shutdown().await;
}
