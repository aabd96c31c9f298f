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
