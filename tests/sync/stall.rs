//! A remote that accepts the connection and then says nothing (git://, http://, ssh://): the
//! attempt fails after the source's `timeout` with an error that says so, the failure shows in
//! status and metrics, and the source's thread goes on polling (and stops promptly when asked).

use super::*;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// A TCP listener that accepts and holds every connection without writing a byte.
struct Silent {
    port: u16,
    accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Silent {
    fn start() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, flag) = (accepted.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        held.push(stream);
                        count.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Silent {
            port,
            accepted,
            stop,
            thread: Some(thread),
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[test]
fn a_silent_git_daemon_times_out_and_polling_goes_on() {
    let silent = Silent::start();
    let cache = tempfile::tempdir().expect("tempdir");
    let cfg = config(
        &format!(
            "{{name: fleet, url: \"git://127.0.0.1:{}/x.git\", ref: main, interval: 200ms, \
             timeout: 1s}}",
            silent.port
        ),
        cache.path(),
    );
    let live = Arc::new(Live::new());
    let metrics = Metrics::new();
    let parts = Parts {
        metrics: Some(metrics.sync.clone()),
        ..Parts::default()
    };
    let started = Instant::now();
    let handle = Syncer::with_parts(&cfg, live.clone(), parts)
        .start()
        .expect("threads start");
    let trigger = handle.trigger();
    let failed = |n: u64| {
        trigger
            .status()
            .get("fleet")
            .is_some_and(|s| s.consecutive_failures >= n)
    };
    wait_for("the first attempt to fail", Duration::from_secs(10), || {
        failed(1)
    });
    let took = started.elapsed();
    let error = last_error(&trigger, "fleet");
    eprintln!("after {took:?}: {error}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}"
    );
    assert!(error.contains("timed out"), "{error}");
    assert!(!trigger.is_ready());
    assert!(live.load().is_none());
    let detail = trigger.status().render(SystemTime::now());
    assert!(detail.contains("timed out"), "{detail}");
    let text = metrics.encode();
    assert!(
        text.contains(r#"driftgate_source_syncs_total{source="fleet",result="failure"} 1"#),
        "{text}"
    );

    // The thread is not stuck: it tries again (after its backoff), and "sync now" still wakes it.
    wait_for("a second attempt", Duration::from_secs(10), || failed(2));
    assert!(silent.accepted() >= 2, "{}", silent.accepted());
    let before = silent.accepted();
    trigger.sync_now();
    wait_for(
        "a connection after sync now",
        Duration::from_secs(5),
        || silent.accepted() > before,
    );

    // Shutting down waits at most for the attempt in flight, which ends at its timeout.
    let stopping = Instant::now();
    handle.shutdown();
    assert!(
        stopping.elapsed() < Duration::from_secs(3),
        "{:?}",
        stopping.elapsed()
    );
}

/// One sync of `cfg` against `silent`: it fails; how long it took and its error.
fn fail_against(silent: &Silent, cfg: &Config) -> (Duration, String) {
    let mut syncer = Syncer::new(cfg, Arc::new(Live::new()));
    let started = Instant::now();
    assert!(!syncer.sync_once());
    let took = started.elapsed();
    let error = last_error(&syncer.trigger(), "fleet");
    eprintln!("after {took:?}: {error}");
    assert!(silent.accepted() >= 1, "the remote was reached");
    (took, error)
}

#[test]
fn a_silent_http_server_times_out() {
    let silent = Silent::start();
    let cache = tempfile::tempdir().expect("tempdir");
    let cfg = config(
        &format!(
            "{{name: fleet, url: \"http://127.0.0.1:{}/x.git\", ref: main, timeout: 1s}}",
            silent.port
        ),
        cache.path(),
    );
    let (took, error) = fail_against(&silent, &cfg);
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(error.contains("timed out"), "{error}");
}

#[test]
fn a_silent_ssh_server_times_out() {
    if Command::new("ssh").arg("-V").output().is_err() {
        eprintln!("notice: ssh not installed; skipping the silent ssh:// server test");
        return;
    }
    let silent = Silent::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let known_hosts = dir.path().join("known_hosts");
    std::fs::write(&known_hosts, "").expect("write");
    let cfg = config(
        &format!(
            "{{name: fleet, url: \"ssh://git@127.0.0.1:{}/x.git\", ref: main, timeout: 2s, \
             knownHostsFile: {:?}}}",
            silent.port,
            known_hosts.display().to_string()
        ),
        &dir.path().join("cache"),
    );
    let (took, error) = fail_against(&silent, &cfg);
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert!(error.to_lowercase().contains("timed out"), "{error}");
}
