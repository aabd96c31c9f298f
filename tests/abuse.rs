//! Bad input and abuse: nothing panics, every answer is bounded in time and memory, and the
//! server keeps serving afterwards.
//!
//! - [`body`]: hostile AdmissionReview bodies through the decision (`admission::validate`).
//! - [`git`]: hostile manifests, alone (`parse_file`) and in a real repository (`sync::declare::at_ref`).
//! - [`fuzz`]: proptest-generated reviews and JSON pairs (bounded case counts, seconds).
//! - [`conn`]: the TLS server itself: bodies over the wire, slow clients, idle connections, TLS
//!   garbage and plain HTTP on the TLS port.
//! - [`flood`]: 10,000 idle connections against the connection bound: the oldest close, a
//!   request in flight survives, memory stays flat.

#[allow(dead_code)]
#[path = "../bench/workload.rs"]
mod workload;

mod common;

#[path = "abuse/body.rs"]
mod body;
#[path = "abuse/conn.rs"]
mod conn;
#[path = "abuse/flood.rs"]
mod flood;
#[path = "abuse/fuzz.rs"]
mod fuzz;
#[path = "abuse/git.rs"]
mod git;

use driftgate::config::Config;
use driftgate::policy::Policy;
use driftgate::snapshot::Snapshot;

/// A snapshot of the first `n` generated objects (see `bench/workload.rs`).
pub fn snapshot(n: usize) -> Snapshot {
    workload::snapshot(n, "abuse")
}

pub fn policy() -> Policy {
    Policy::from_config(&Config::default())
}

/// Peak resident memory of this test process (VmHWM), in bytes; `None` off Linux.
pub fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
