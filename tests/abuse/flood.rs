//! 10,000 idle connections against the connection bound. Each new connection closes the
//! oldest idle one, so the port never fills up: open connections stay at the bound, the oldest
//! read EOF, an older request in flight is left to finish, a fresh review is answered at once
//! and the process's memory stays flat.

use std::time::{Duration, Instant};

use driftgate::metrics::{EvictLabels, EvictedState};
use driftgate::server::Limits;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use super::conn::{closed_within, start_with, TestServer, DEADLINE, SERVER_NAME};
use super::workload::{self, Change};

const BOUND: usize = 256;
const FLOOD: usize = 10_000;
/// Handshaked TLS connections that never send a request, opened before the flood.
const IDLE_TLS: usize = 32;
/// File descriptors kept free for the rest of this test binary, which runs in parallel.
const SPARE_FDS: u64 = 2_048;

/// The soft and hard `RLIMIT_NOFILE` of this process, from `/proc/self/limits`.
fn nofile() -> Option<(u64, u64)> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let mut numbers = line.split_whitespace().filter_map(|w| {
        w.parse::<u64>()
            .ok()
            .or((w == "unlimited").then_some(u64::MAX))
    });
    Some((numbers.next()?, numbers.next()?))
}

/// How many flood connections this process can hold: the soft limit is raised to the hard one
/// first (with `prlimit`, as the crate forbids `unsafe`), and the flood is scaled down with a
/// notice if even that is too low.
fn flood_size() -> usize {
    let Some((soft, hard)) = nofile() else {
        eprintln!("notice: no /proc/self/limits; flooding with {FLOOD} connections blindly");
        return FLOOD;
    };
    let wanted = (FLOOD + BOUND + IDLE_TLS) as u64 + SPARE_FDS;
    if soft < wanted && hard > soft {
        let raised = std::process::Command::new("prlimit")
            .arg(format!("--pid={}", std::process::id()))
            .arg(format!("--nofile={hard}:{hard}"))
            .status()
            .is_ok_and(|s| s.success());
        if !raised {
            eprintln!("notice: could not raise RLIMIT_NOFILE to {hard} with prlimit");
        }
    }
    let soft = nofile().map_or(soft, |(soft, _)| soft);
    let budget = soft.saturating_sub((BOUND + IDLE_TLS) as u64 + SPARE_FDS);
    if budget < FLOOD as u64 {
        eprintln!(
            "notice: RLIMIT_NOFILE is {soft} (hard {hard}); flooding with {budget} connections instead of {FLOOD}"
        );
    }
    usize::try_from(budget.min(FLOOD as u64)).unwrap_or(FLOOD)
}

/// Resident memory of this process (VmRSS), in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS");
    line.split_whitespace()
        .nth(1)
        .and_then(|kb| kb.parse().ok())
        .expect("VmRSS in kB")
}

fn evicted(server: &TestServer, state: EvictedState) -> u64 {
    server
        .state
        .metrics
        .server
        .connections_evicted
        .get_or_create(&EvictLabels { state })
        .get()
}

async fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `true` if nothing (no data, no EOF) arrives within a moment: the server holds it open.
async fn still_open(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 16];
    tokio::time::timeout(Duration::from_millis(2), stream.read(&mut buf))
        .await
        .is_err()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_idle_connections_close_the_oldest_and_memory_stays_flat() {
    let flood = flood_size();
    // Timeouts far beyond the test, so only the bound closes connections here.
    let long = Duration::from_secs(120);
    let limits = Limits {
        handshake_timeout: long,
        header_read_timeout: long,
        max_connections: BOUND,
        grace: Duration::from_secs(1),
    };
    let server = start_with(limits, long).await;
    server.assert_serving().await;

    // The oldest connection has a request in flight: headers, then the body once the handler
    // asks for it (100-continue), which proves the request has reached the service.
    let body = workload::update_review(0, "in-flight", "alice", Change::Annotation);
    let mut busy = server.tls().await;
    let head = format!(
        "POST /validate HTTP/1.1\r\nhost: {SERVER_NAME}\r\ncontent-type: application/json\r\nexpect: 100-continue\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    busy.write_all(head.as_bytes()).await.expect("head");
    busy.flush().await.expect("flush");
    let mut buf = [0u8; 256];
    let n = tokio::time::timeout(DEADLINE, busy.read(&mut buf))
        .await
        .expect("100 Continue in time")
        .expect("read");
    assert!(buf[..n].starts_with(b"HTTP/1.1 100"), "{:?}", &buf[..n]);

    // Then idle TLS connections, handshaked, never a request...
    let mut idle_tls = Vec::new();
    for _ in 0..IDLE_TLS {
        idle_tls.push(server.tls().await);
    }
    let before = rss_kib();
    // ...then the flood: TCP connections that never send a byte, one after another so the
    // server accepts them in this order.
    let started = Instant::now();
    let mut raw = Vec::with_capacity(flood);
    for i in 0..flood {
        let stream = tokio::time::timeout(DEADLINE, TcpStream::connect(server.addr))
            .await
            .expect("connected in time (the port never stops accepting)")
            .expect("connects");
        raw.push(stream);
        if i % 500 == 0 {
            assert!(server.open_connections() <= BOUND as i64);
        }
    }
    let connected = started.elapsed();
    wait_until("the port to settle at the bound", || {
        server.open_connections() == BOUND as i64
            && evicted(&server, EvictedState::Idle) >= (IDLE_TLS + flood + 1 - BOUND) as u64
    })
    .await;
    let after = rss_kib();
    eprintln!(
        "{flood} idle connections opened in {connected:?}; VmRSS {before} KiB before, {after} KiB after ({:+} KiB); {} open on the server, {} closed to make room",
        after as i64 - before as i64,
        server.open_connections(),
        evicted(&server, EvictedState::Idle),
    );

    // The oldest idle ones were closed; the request in flight, older still, was not.
    for tls in &mut idle_tls {
        assert!(
            closed_within(tls, DEADLINE).await,
            "an old idle TLS connection stayed open"
        );
    }
    let survivors = BOUND - 1;
    let (old, new) = raw.split_at_mut(flood - survivors);
    for stream in old.iter_mut() {
        assert!(
            closed_within(stream, DEADLINE).await,
            "an old idle connection stayed open"
        );
    }
    for stream in new.iter_mut() {
        assert!(
            still_open(stream).await,
            "one of the newest connections was closed"
        );
    }
    assert_eq!(evicted(&server, EvictedState::InRequest), 0);

    // A fresh review over TLS is answered at once, closing the oldest survivor for its slot.
    let fresh = Instant::now();
    server.assert_serving().await;
    let answered = fresh.elapsed();
    eprintln!("a fresh review was answered in {answered:?} with the port at its bound");
    assert!(answered < Duration::from_secs(5), "{answered:?}");
    assert!(closed_within(&mut new[0], DEADLINE).await);

    // The request in flight finishes with its answer.
    busy.write_all(&body).await.expect("body");
    busy.flush().await.expect("flush");
    let mut answer = Vec::new();
    while !answer.windows(9).any(|w| w == b"in-flight") {
        let n = tokio::time::timeout(DEADLINE, busy.read(&mut buf))
            .await
            .expect("answered in time")
            .expect("read");
        assert!(
            n > 0,
            "closed before answering: {:?}",
            String::from_utf8_lossy(&answer)
        );
        answer.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");

    // The server held at most the bound: memory does not grow with the flood. The client side
    // of 10,000 sockets lives in this process too, so allow it a few KiB each.
    let growth = after.saturating_sub(before);
    assert!(
        growth < 64 * 1024,
        "VmRSS grew by {growth} KiB over {flood} connections"
    );
}
