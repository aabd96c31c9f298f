//! Recorded kube-apiserver answers served over HTTPS on 127.0.0.1 (a CA made for the test, the
//! client verifying it through a kubeconfig): LIST pages with `continue` tokens, `403` and
//! `410 Gone` Status bodies as the apiserver writes them, and PolicyReports stored on
//! server-side apply and read back. Every request is recorded.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

/// One request as the fixture saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: HashMap<String, String>,
    pub content_type: String,
    pub body: String,
}

#[derive(Default)]
struct State {
    /// "METHOD path continue-token" → answers, in order; the last one repeats.
    scripted: HashMap<String, VecDeque<(u16, Value)>>,
    seen: Vec<Seen>,
    in_flight: usize,
    max_in_flight: usize,
    /// Server-side applied objects by URL path (collection + name).
    stored: HashMap<String, Value>,
}

pub struct ApiServer {
    pub addr: SocketAddr,
    pub ca_pem: String,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Holds the kubeconfig and the serving pair.
    pub dir: tempfile::TempDir,
}

impl ApiServer {
    pub fn start() -> ApiServer {
        let dir = tempfile::tempdir().expect("tmp");
        let ca = driftgate::tls::certs::Authority::new("fixture apiserver CA").expect("ca");
        let pair = ca
            .issue_server(&["127.0.0.1".to_string()])
            .expect("serving pair");
        std::fs::write(dir.path().join("tls.crt"), &pair.cert_pem).expect("write");
        std::fs::write(dir.path().join("tls.key"), &pair.key_pem).expect("write");
        let reloader = driftgate::tls::Reloader::load(
            &dir.path().join("tls.crt"),
            &dir.path().join("tls.key"),
        )
        .expect("pair loads");
        let config = rustls::ServerConfig::builder_with_provider(driftgate::tls::provider())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_cert_resolver(reloader.resolver());
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let state: Arc<Mutex<State>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (st, flag) = (state.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (st, config) = (st.clone(), config.clone());
                        std::thread::spawn(move || serve(stream, config, &st));
                    }
                    // Nothing to accept: check the stop flag again shortly.
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        ApiServer {
            addr,
            ca_pem: ca.cert_pem().to_string(),
            state,
            stop,
            thread: Some(thread),
            dir,
        }
    }

    /// Answers for `GET path` (with `continue` = `token`, `""` for the first page), in order.
    pub fn script(&self, path: &str, token: &str, answers: Vec<(u16, Value)>) {
        self.state
            .lock()
            .expect("lock")
            .scripted
            .insert(format!("GET {path} {token}"), answers.into());
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().expect("lock").seen.clone()
    }

    pub fn max_in_flight(&self) -> usize {
        self.state.lock().expect("lock").max_in_flight
    }

    /// An object stored at `path` before driftgate starts (a report from an earlier run).
    pub fn store(&self, path: &str, object: Value) {
        self.state
            .lock()
            .expect("lock")
            .stored
            .insert(path.to_string(), object);
    }

    pub fn stored(&self) -> HashMap<String, Value> {
        self.state.lock().expect("lock").stored.clone()
    }

    /// A kubeconfig that trusts the fixture's CA only.
    pub fn kubeconfig(&self) -> PathBuf {
        use base64::Engine as _;
        let path = self.dir.path().join("kubeconfig");
        let ca = base64::engine::general_purpose::STANDARD.encode(&self.ca_pem);
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fixture\n  cluster:\n    server: https://{}\n    certificate-authority-data: {ca}\ncontexts:\n- name: fixture\n  context:\n    cluster: fixture\n    user: scanner\ncurrent-context: fixture\nusers:\n- name: scanner\n  user:\n    token: fixture-token\n",
            self.addr
        );
        std::fs::write(&path, text).expect("write kubeconfig");
        path
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A `Status` body as the apiserver writes one.
pub fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code})
}

/// One LIST page as the apiserver prints it: items without `apiVersion`/`kind`.
pub fn page(list_kind: &str, api_version: &str, items: Vec<Value>, next: Option<&str>) -> Value {
    let mut metadata = json!({"resourceVersion": "81234"});
    if let Some(next) = next {
        metadata["continue"] = json!(next);
        metadata["remainingItemCount"] = json!(1);
    }
    json!({"kind": list_kind, "apiVersion": api_version, "metadata": metadata, "items": items})
}

fn serve(stream: TcpStream, config: Arc<rustls::ServerConfig>, state: &Mutex<State>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(conn) = rustls::ServerConnection::new(config) else {
        return;
    };
    let tls = rustls::StreamOwned::new(conn, stream);
    let mut reader = BufReader::new(tls);
    // Keep-alive: one request after another until the client closes.
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let target = parts.next().unwrap_or("").to_string();
        let (mut length, mut content_type) = (0usize, String::new());
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
                break;
            }
            let lower = header.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
            if let Some(v) = lower.strip_prefix("content-type:") {
                content_type = v.trim().to_string();
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let (path, query) = split(&target);
        let seen = Seen {
            method: method.clone(),
            path: path.clone(),
            query,
            content_type,
            body: String::from_utf8_lossy(&body).into_owned(),
        };
        let (code, answer, is_list) = {
            let mut s = state.lock().expect("lock");
            s.in_flight += 1;
            s.max_in_flight = s.max_in_flight.max(s.in_flight);
            let answer = answer(&mut s, &seen);
            s.seen.push(seen);
            answer
        };
        if is_list {
            // An apiserver takes a moment per page; lists overlap as they would for real.
            std::thread::sleep(Duration::from_millis(30));
        }
        let text = answer.to_string();
        let reason = match code {
            200 => "OK",
            403 => "Forbidden",
            404 => "Not Found",
            410 => "Gone",
            _ => "Error",
        };
        let stream = reader.get_mut();
        let written = write!(
            stream,
            "HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{text}",
            text.len()
        )
        .and_then(|()| stream.flush());
        state.lock().expect("lock").in_flight -= 1;
        if written.is_err() {
            return;
        }
    }
}

fn split(target: &str) -> (String, HashMap<String, String>) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let query = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect();
    (path.to_string(), query)
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The answer to one request: scripted LIST pages, stored PolicyReports (applied, listed,
/// deleted), else 404.
fn answer(s: &mut State, seen: &Seen) -> (u16, Value, bool) {
    if seen.method == "PATCH" {
        let Ok(object) = serde_json::from_str::<Value>(&seen.body) else {
            return (400, status(400, "BadRequest", "body is not JSON"), false);
        };
        s.stored.insert(seen.path.clone(), object.clone());
        return (200, object, false);
    }
    if seen.method == "DELETE" {
        return match s.stored.remove(&seen.path) {
            Some(_) => (200, status(200, "Success", "deleted"), false),
            None => (404, status(404, "NotFound", "not found"), false),
        };
    }
    // driftgate's PolicyReports in every namespace (what `prune` lists by its label).
    if seen.method == "GET" && seen.path == "/apis/wgpolicyk8s.io/v1alpha2/policyreports" {
        let items: Vec<Value> = s
            .stored
            .iter()
            .filter(|(path, _)| path.contains("/policyreports/"))
            .map(|(_, object)| object.clone())
            .collect();
        return (
            200,
            page("PolicyReportList", "wgpolicyk8s.io/v1alpha2", items, None),
            false,
        );
    }
    let token = seen.query.get("continue").cloned().unwrap_or_default();
    let key = format!("{} {} {token}", seen.method, seen.path);
    if let Some(answers) = s.scripted.get_mut(&key) {
        let (code, body) = if answers.len() > 1 {
            answers.pop_front().unwrap_or_else(|| (500, json!({})))
        } else {
            answers.front().cloned().unwrap_or_else(|| (500, json!({})))
        };
        return (code, body, true);
    }
    if let Some(object) = s.stored.get(&seen.path) {
        return (200, object.clone(), false);
    }
    let message = format!(
        "the server could not find the requested resource ({})",
        seen.path
    );
    (404, status(404, "NotFound", &message), false)
}

/// A driftgate command reaching this fixture through `kubeconfig`, never a real cluster.
pub fn command(kubeconfig: &Path) -> std::process::Command {
    let mut cmd = super::driftgate();
    cmd.env("KUBECONFIG", kubeconfig)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBERNETES_SERVICE_PORT");
    cmd
}
