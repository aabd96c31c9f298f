//! HTTP remotes: an unreachable server, and smart HTTP through `git http-backend`
//! (clone, incremental fetch, credentials).

use super::*;

#[test]
fn unreachable_https_remote_fails_without_leaking_the_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token = dir.path().join("token");
    std::fs::write(&token, "ghp_supersecret\n").expect("write");
    let port = free_port();
    let cfg = config(
        &format!(
            "{{name: fleet, url: \"https://user:pw-in-url@127.0.0.1:{port}/fleet.git\", ref: main, \
             tokenFile: {}}}",
            token.display()
        ),
        &dir.path().join("cache"),
    );
    let live = Arc::new(Live::new());
    let mut syncer = Syncer::new(&cfg, live.clone());
    assert!(!syncer.sync_once());
    assert!(live.load().is_none(), "nothing to serve yet");
    let trigger = syncer.trigger();
    assert!(!trigger.is_ready());
    let error = last_error(&trigger, "fleet");
    eprintln!("{error}");
    assert!(error.contains(&format!("127.0.0.1:{port}")), "{error}");
    assert!(
        !error.contains("supersecret") && !error.contains("pw-in-url"),
        "{error}"
    );
}

/// Serves `root` over Git's smart HTTP protocol through `git http-backend` (CGI); with `auth`,
/// answers 401 to any request without `Authorization: Basic base64(user:token)`.
struct GitHttp {
    addr: std::net::SocketAddr,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl GitHttp {
    fn start(root: PathBuf, auth: Option<(&str, &str)>) -> GitHttp {
        GitHttp::serve(root, auth, None)
    }

    /// The same behind TLS with `config` (an HTTPS Git host).
    fn start_tls(root: PathBuf, config: Arc<rustls::ServerConfig>) -> GitHttp {
        GitHttp::serve(root, None, Some(config))
    }

    fn serve(
        root: PathBuf,
        auth: Option<(&str, &str)>,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> GitHttp {
        use base64::Engine as _;
        let expected = auth.map(|(user, token)| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{token}"))
            )
        });
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let _ = stream.set_nonblocking(false);
                        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                        match &tls {
                            None => serve_git(stream, &root, expected.as_deref()),
                            Some(config) => {
                                let Ok(server) = rustls::ServerConnection::new(config.clone())
                                else {
                                    continue;
                                };
                                let stream = rustls::StreamOwned::new(server, stream);
                                serve_git(stream, &root, expected.as_deref())
                            }
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        GitHttp {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for GitHttp {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve_git(stream: impl Read + Write, root: &Path, expected_auth: Option<&str>) {
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let mut headers: HashMap<String, String> = HashMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
        }
    }
    let mut body = Vec::new();
    if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.contains("chunked"))
    {
        loop {
            let mut size = String::new();
            if reader.read_line(&mut size).is_err() {
                return;
            }
            let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
                return;
            };
            let mut chunk = vec![0; n + 2];
            if reader.read_exact(&mut chunk).is_err() {
                return;
            }
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(length) = headers.get("content-length").and_then(|l| l.parse().ok()) {
        body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
    }
    let mut stream = reader.into_inner();
    if expected_auth.is_some() && headers.get("authorization").map(String::as_str) != expected_auth
    {
        let _ = write!(
            stream,
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        return;
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut cgi = Command::new("git");
    cgi.arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", &method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("CONTENT_LENGTH", body.len().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (header, var) in [
        ("content-type", "CONTENT_TYPE"),
        ("content-encoding", "HTTP_CONTENT_ENCODING"),
        ("git-protocol", "GIT_PROTOCOL"),
    ] {
        if let Some(value) = headers.get(header) {
            cgi.env(var, value);
        }
    }
    let Ok(mut child) = cgi.spawn() else { return };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(&body);
    }
    let Ok(output) = child.wait_with_output() else {
        return;
    };
    let out = output.stdout;
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| (p, 4))
        .or_else(|| out.windows(2).position(|w| w == b"\n\n").map(|p| (p, 2)));
    let Some((at, sep)) = split else { return };
    let head = String::from_utf8_lossy(&out[..at]).to_string();
    let content = &out[at + sep..];
    let mut status = "200 OK".to_string();
    let mut response = String::new();
    for line in head.lines() {
        match line.split_once(':') {
            Some((name, value)) if name.eq_ignore_ascii_case("status") => {
                status = value.trim().to_string()
            }
            Some((name, value)) => response.push_str(&format!("{name}: {}\r\n", value.trim())),
            None => {}
        }
    }
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\n{response}Content-Length: {}\r\nConnection: close\r\n\r\n",
        content.len()
    );
    let _ = stream.write_all(content);
    let _ = stream.flush();
}

#[test]
fn smart_http_remotes_and_credentials() {
    let repos = Repos::new();
    let first = repos.commit(&[("apps/web.yaml", &deployment(3))], "three");
    let dir = tempfile::tempdir().expect("tempdir");

    // An open server: cloned, then fetched incrementally after a push.
    let open = GitHttp::start(repos.base.clone(), None);
    let url = format!("http://{}/served.git", open.addr);
    let cfg = config(
        &format!("{{name: fleet, url: {url:?}, ref: main}}"),
        &dir.path().join("cache"),
    );
    let live = Arc::new(Live::new());
    let mut syncer = Syncer::new(&cfg, live.clone());
    sync_to(&mut syncer, &live, &first);
    let second = repos.commit(&[("apps/web.yaml", &deployment(4))], "four");
    sync_to(&mut syncer, &live, &second);

    // A server that wants credentials. Without a token the fetch fails (nothing prompts); with
    // one, gix refuses to send it in clear text over http:// (https only), and says so.
    let guarded = GitHttp::start(repos.base.clone(), Some(("git", "t0ken")));
    let url = format!("http://{}/served.git", guarded.addr);
    let token = dir.path().join("token");
    std::fs::write(&token, "t0ken\n").expect("write");
    for (extra, expected) in [
        (String::new(), "tokenFile or tokenEnv"),
        (
            format!(", tokenFile: {:?}", token.display().to_string()),
            "clear text",
        ),
    ] {
        let cfg = config(
            &format!("{{name: fleet, url: {url:?}, ref: main{extra}}}"),
            &dir.path().join("cache-guarded"),
        );
        let mut syncer = Syncer::new(&cfg, Arc::new(Live::new()));
        assert!(!syncer.sync_once());
        let error = last_error(&syncer.trigger(), "fleet");
        eprintln!("{error}");
        assert!(
            error.contains(expected) || error.to_lowercase().contains("auth"),
            "{error}"
        );
        assert!(!error.contains("t0ken"), "{error}");
    }
}

#[test]
fn https_with_a_private_ca_in_ca_file() {
    use driftgate::tls::certs::Authority;
    let repos = Repos::new();
    let first = repos.commit(&[("apps/web.yaml", &deployment(3))], "three");
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = Authority::new("git host CA").expect("ca");
    let pair = ca.issue_server(&["127.0.0.1".to_string()]).expect("cert");
    let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::write(&cert, &pair.cert_pem).expect("write");
    std::fs::write(&key, &pair.key_pem).expect("write");
    let resolver = driftgate::tls::reload::Reloader::load(&cert, &key)
        .expect("pair")
        .resolver();
    let mut config = driftgate::tls::server_config(resolver, None).expect("tls config");
    // The fixture speaks HTTP/1.1 only.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let server = GitHttp::start_tls(repos.base.clone(), Arc::new(config));
    let url = format!("https://{}/served.git", server.addr);
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.cert_pem()).expect("write");

    // Without the CA the certificate is not trusted; with `caFile` it is.
    for (extra, trusted) in [
        (String::new(), false),
        (
            format!(", caFile: {:?}", ca_file.display().to_string()),
            true,
        ),
    ] {
        let cfg = config_for(&url, &extra, &dir.path().join("cache"));
        let live = Arc::new(Live::new());
        let mut syncer = Syncer::new(&cfg, live.clone());
        let ok = syncer.sync_once();
        let detail = syncer.trigger().status().render(SystemTime::now());
        eprintln!("caFile {trusted}: {detail}");
        assert_eq!(ok, trusted, "{detail}");
        if trusted {
            assert!(live
                .load()
                .expect("live")
                .revision_label()
                .contains(short(&first)));
        } else {
            assert!(detail.to_lowercase().contains("certificate"), "{detail}");
        }
    }
}

fn config_for(url: &str, extra: &str, cache: &Path) -> Config {
    config(
        &format!("{{name: fleet, url: {url:?}, ref: main{extra}}}"),
        cache,
    )
}
