//! Runs the configured kustomize command (`kubectl kustomize DIR`, `kustomize build DIR`) on an
//! export, bounded in time and output: a build that hangs or floods must not hold the sync
//! thread or its memory. The command runs in its own process group so that everything it starts
//! is killed with it.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::Limits;

/// Stderr kept for the error message; kustomize's own messages are a few lines.
const MAX_STDERR: usize = 16 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the kustomize command is empty")]
    NoCommand,
    #[error("the render worker stopped without a result")]
    Lost,
    #[error("cannot start {command:?}: {source}")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{command:?} did not finish within {timeout:?} and was killed{}", stderr_suffix(.stderr))]
    Timeout {
        command: String,
        timeout: Duration,
        stderr: String,
    },
    #[error("{command:?} wrote more than {limit} bytes of output and was killed")]
    TooLarge { command: String, limit: usize },
    #[error("{command:?} failed ({status}){}", stderr_suffix(.stderr))]
    Failed {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("reading the output of {command:?}: {source}")]
    Io {
        command: String,
        #[source]
        source: std::io::Error,
    },
}

fn stderr_suffix(stderr: &str) -> String {
    let trimmed = stderr.trim();
    if trimmed.is_empty() {
        String::new()
    } else {
        format!(": {trimmed}")
    }
}

enum Stdout {
    Done(Vec<u8>),
    TooLarge,
    Failed(std::io::Error),
}

/// Runs `command… dir` in `workdir` and returns its stdout.
pub fn run(
    command: &[String],
    workdir: &Path,
    dir: &str,
    limits: &Limits,
) -> Result<Vec<u8>, Error> {
    let (program, args) = command.split_first().ok_or(Error::NoCommand)?;
    let shown = format!("{} {dir}", command.join(" "));
    let mut child = Command::new(program)
        .args(args)
        .arg(dir)
        .current_dir(workdir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|source| Error::Spawn {
            command: shown.clone(),
            source,
        })?;
    let mut guard = GroupGuard {
        pid: child.id(),
        armed: true,
    };
    let (tx, rx) = mpsc::channel();
    if let Some(mut out) = child.stdout.take() {
        let limit = limits.max_output;
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let result = match (&mut out).take(limit as u64 + 1).read_to_end(&mut buf) {
                Ok(_) if buf.len() > limit => Stdout::TooLarge,
                Ok(_) => Stdout::Done(buf),
                Err(e) => Stdout::Failed(e),
            };
            let _ = tx.send(result);
        });
    }
    let stderr = child.stderr.take().map(|mut err| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = (&mut err).take(MAX_STDERR as u64).read_to_end(&mut buf);
            // Drain the rest so the command never blocks on a full stderr pipe.
            let _ = std::io::copy(&mut err, &mut std::io::sink());
            String::from_utf8_lossy(&buf).into_owned()
        })
    });
    let deadline = Instant::now() + limits.timeout;
    let stdout = match rx.recv_timeout(limits.timeout) {
        Ok(out) => out,
        Err(_) => {
            guard.kill();
            let _ = child.wait();
            return Err(Error::Timeout {
                command: shown,
                timeout: limits.timeout,
                stderr: clean(&join_stderr(stderr), workdir),
            });
        }
    };
    let output = match stdout {
        Stdout::Done(bytes) => bytes,
        Stdout::TooLarge => {
            guard.kill();
            let _ = child.wait();
            return Err(Error::TooLarge {
                command: shown,
                limit: limits.max_output,
            });
        }
        Stdout::Failed(source) => {
            guard.kill();
            let _ = child.wait();
            return Err(Error::Io {
                command: shown,
                source,
            });
        }
    };
    // Stdout closed; from here the child is reaped, after which its group id may be reused.
    guard.armed = false;
    let status = match wait_until(&mut child, deadline) {
        Some(status) => status,
        None => {
            guard.kill();
            let _ = child.wait();
            return Err(Error::Timeout {
                command: shown,
                timeout: limits.timeout,
                stderr: clean(&join_stderr(stderr), workdir),
            });
        }
    };
    let stderr = clean(&join_stderr(stderr), workdir);
    if !status.success() {
        return Err(Error::Failed {
            command: shown,
            status: status.to_string(),
            stderr,
        });
    }
    // A successful build may still warn (deprecated fields): operators should see it once.
    if !stderr.trim().is_empty() {
        tracing::warn!(command = %shown, "kustomize: {}", stderr.trim());
    }
    Ok(output)
}

/// Most kustomize runs at once; each is a process of its own.
const MAX_PARALLEL: usize = 4;

/// Runs every job (command, export root, directory), a few at a time; results in the jobs'
/// order.
pub fn run_all(
    jobs: &[(Vec<String>, &Path, String)],
    limits: &Limits,
) -> Vec<Result<Vec<u8>, Error>> {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, MAX_PARALLEL)
        .min(jobs.len());
    if workers <= 1 {
        return jobs
            .iter()
            .map(|(command, root, dir)| run(command, root, dir, limits))
            .collect();
    }
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let tx = tx.clone();
            let next = &next;
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((command, root, dir)) = jobs.get(i) else {
                    break;
                };
                let _ = tx.send((i, run(command, root, dir, limits)));
            });
        }
    });
    drop(tx);
    let mut out: Vec<Option<Result<Vec<u8>, Error>>> = (0..jobs.len()).map(|_| None).collect();
    for (i, result) in rx {
        out[i] = Some(result);
    }
    out.into_iter()
        .map(|r| r.unwrap_or(Err(Error::Lost)))
        .collect()
}

/// Waits for the exit after stdout closed, up to the deadline.
fn wait_until(child: &mut Child, deadline: Instant) -> Option<std::process::ExitStatus> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            _ => return None,
        }
    }
}

/// kustomize's message as a person needs it, and stable from one run to the next (it is
/// compared to say when a build's error changes): the temporary export's path and kubectl's
/// log prefix (`E1206 18:10:30.730773   19002 run.go:72] `) taken out.
fn clean(stderr: &str, workdir: &Path) -> String {
    let export = format!("{}/", workdir.display());
    stderr
        .lines()
        .map(|line| {
            let line = line.replace(&export, "");
            match klog_prefix(&line) {
                Some(rest) => rest.to_string(),
                None => line,
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The text after a klog header (`Lmmdd hh:mm:ss.uuuuuu pid file:line] `), if the line has one.
fn klog_prefix(line: &str) -> Option<&str> {
    let mut chars = line.chars();
    let level = chars.next()?;
    if !matches!(level, 'I' | 'W' | 'E' | 'F')
        || !line[1..].starts_with(|c: char| c.is_ascii_digit())
    {
        return None;
    }
    let (head, rest) = line.split_once("] ")?;
    let well_formed = head.len() < 64 && head.contains(':') && head.split_whitespace().count() >= 3;
    well_formed.then_some(rest)
}

fn join_stderr(handle: Option<std::thread::JoinHandle<String>>) -> String {
    handle.and_then(|h| h.join().ok()).unwrap_or_default()
}

/// Kills the command's whole process group (it runs as its own group leader), also on early
/// return, so no grandchild outlives a cut-off build.
struct GroupGuard {
    pid: u32,
    /// Off once the child may be reaped: a reaped leader's group id can be reused.
    armed: bool,
}

impl GroupGuard {
    fn kill(&self) {
        // `kill -KILL -- -PGID` signals the group without unsafe code or a new dependency.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.pid)])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if self.armed {
            self.kill();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_lose_the_export_path_and_the_log_prefix() {
        let stderr = "E1206 18:10:30.730773   19002 run.go:72] \"command failed\" err=\"lstat /tmp/driftgate-render-x/overlays/b/missing.yaml: no such file\"\nError: plain line";
        assert_eq!(
            clean(stderr, Path::new("/tmp/driftgate-render-x")),
            "\"command failed\" err=\"lstat overlays/b/missing.yaml: no such file\"\nError: plain line"
        );
    }
}
