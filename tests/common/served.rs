//! `driftgate serve` (or any driftgate command) as a process: killed and reaped if the test
//! ends early, its stderr echoed and read line by line, its stdout kept, both pipes drained by
//! threads so the process never blocks on a full pipe.

use std::cell::RefCell;
use std::ffi::OsStr;
use std::net::SocketAddr;
use std::process::{Child, ExitStatus, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

pub struct Served {
    pub child: Child,
    stderr: Receiver<String>,
    /// Lines on stdout (e.g. `audit.stdout` records), in order.
    pub stdout: Receiver<String>,
    /// Lines read past by `log_line`: the sync threads and the listener log concurrently, so
    /// lines may come in either order.
    backlog: RefCell<Vec<String>>,
}

impl Served {
    pub fn spawn<S: AsRef<OsStr>>(args: &[S]) -> Served {
        Served::spawn_command(super::driftgate().args(args))
    }

    /// [`Served::spawn`] with `env` set and `unset` removed from the environment.
    pub fn spawn_with_env<S: AsRef<OsStr>>(
        args: &[S],
        env: &[(&str, &OsStr)],
        unset: &[&str],
    ) -> Served {
        let mut command = super::driftgate();
        command.args(args).envs(env.iter().copied());
        for name in unset {
            command.env_remove(name);
        }
        Served::spawn_command(&mut command)
    }

    /// A prepared command (extra environment, say), run with its pipes drained.
    pub fn spawn_command(command: &mut std::process::Command) -> Served {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("driftgate starts");
        let drain = |pipe: Box<dyn std::io::Read + Send>, echo: bool| {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                use std::io::BufRead as _;
                for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
                    if echo {
                        eprintln!("driftgate: {line}");
                    }
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            rx
        };
        let stderr = drain(Box::new(child.stderr.take().expect("stderr")), true);
        let stdout = drain(Box::new(child.stdout.take().expect("stdout")), false);
        Served {
            child,
            stderr,
            stdout,
            backlog: RefCell::default(),
        }
    }

    /// `driftgate serve --config CONFIG`.
    pub fn serve(config: &std::path::Path) -> Served {
        Served::spawn(&[
            OsStr::new("serve"),
            OsStr::new("--config"),
            config.as_os_str(),
        ])
    }

    /// The next log line containing `needle` (each line is returned once), within 30 s.
    pub fn log_line(&self, needle: &str) -> String {
        let earlier = self
            .backlog
            .borrow()
            .iter()
            .position(|l| l.contains(needle));
        if let Some(index) = earlier {
            return self.backlog.borrow_mut().remove(index);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(line) => self.backlog.borrow_mut().push(line),
                Err(e) => panic!("no log line with {needle:?}: {e}"),
            }
        }
    }

    pub fn sigterm(&self) {
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(killed.success());
    }

    /// Waits for the process to exit, failing the test after `within`.
    pub fn wait(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "driftgate did not exit within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The address logged as `name=ADDR` in a line such as "listening tls=… admin=…".
pub fn address(line: &str, name: &str) -> SocketAddr {
    let start = line.find(&format!("{name}=")).expect("field") + name.len() + 1;
    line[start..]
        .split_whitespace()
        .next()
        .expect("value")
        .trim_matches('"')
        .parse()
        .expect("address")
}

/// The name the webhook's certificate is for, as the apiserver calls it.
pub const SERVICE_NAME: &str = "driftgate.driftgate-system.svc";

/// `driftgate serve` over TLS on 127.0.0.1, as the apiserver reaches it: certificates made by
/// `driftgate certs` in `dir/certs`, a config serving `repo` (`extra`, YAML at the top level,
/// appended), and a client that trusts only that CA and calls it by [`SERVICE_NAME`].
pub struct Webhook {
    pub served: Served,
    pub tls: SocketAddr,
    pub admin: SocketAddr,
    pub certs: std::path::PathBuf,
    pub client: reqwest::Client,
}

impl Webhook {
    pub fn start(dir: &std::path::Path, repo: &std::path::Path, extra: &str) -> Webhook {
        let certs = dir.join("certs");
        let out = super::driftgate()
            .args([
                "certs",
                "--service",
                "driftgate",
                "--namespace",
                "driftgate-system",
                "--out",
            ])
            .arg(&certs)
            .output()
            .expect("certs runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let config = dir.join("driftgate.yaml");
        std::fs::write(
            &config,
            format!(
                "sources: [{{name: fleet, url: {:?}}}]\nserver:\n  listen: 127.0.0.1:0\n  adminListen: 127.0.0.1:0\n  certFile: {:?}\n  keyFile: {:?}\n{extra}",
                repo.display().to_string(),
                certs.join("tls.crt").display().to_string(),
                certs.join("tls.key").display().to_string(),
            ),
        )
        .expect("config");
        let served = Served::serve(&config);
        let listening = served.log_line("listening");
        let (tls, admin) = (address(&listening, "tls"), address(&listening, "admin"));
        served.log_line("declared state loaded");
        let ca = std::fs::read(certs.join("ca.crt")).expect("ca");
        let client = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&ca).expect("ca pem")])
            .resolve(SERVICE_NAME, tls)
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client");
        Webhook {
            served,
            tls,
            admin,
            certs,
            client,
        }
    }

    /// `https://driftgate.driftgate-system.svc:PORT/PATH?timeout=10s`, as the apiserver calls.
    pub fn url(&self, path: &str) -> String {
        format!(
            "https://{SERVICE_NAME}:{}/{path}?timeout=10s",
            self.tls.port()
        )
    }
}
