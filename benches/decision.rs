//! The decision alone: `admission::validate(body, &Snapshot, &Policy)` on a ~10 KB UPDATE of a
//! declared Deployment (four containers, object and oldObject) against snapshots of 1,000, 10,000
//! and 100,000 declared objects. Target: ≤ 50 µs median for the in-sync UPDATE.
//!
//! Reference points in the same run:
//! - `parse/value`: parsing the whole body into a `serde_json::Value`, what a webhook that
//!   decodes eagerly pays before deciding anything;
//! - `bypassed` and `undeclared`: requests that must not pay for parsing both objects (the wire
//!   types keep objects as `RawValue` until the decision needs them). They should cost a small
//!   fraction of `parse/value`.
//!
//! Where an in-sync UPDATE's time goes (perf, after issue 7's rework): about a third decoding
//! the envelope (serde_json stepping over both objects' text), a third encoding the fields Git
//! declares from the request's object into the `encoded` form, a third the walk. Git's
//! declaration is read in place and no `serde_json::Value` is built for an in-sync request.
//!
//! Run: `cargo bench --bench decision` (all), `cargo bench --bench decision -- 100000` (one size).
//! Quick smoke run: `cargo bench --bench decision -- --quick --warm-up-time 1 --measurement-time 1`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use driftgate::admission;
use driftgate::config::Config;
use driftgate::policy::Policy;
use driftgate::snapshot::Snapshot;

#[allow(dead_code)]
#[path = "../bench/workload.rs"]
mod workload;

use workload::Change;

const SIZES: [usize; 3] = [1_000, 10_000, 100_000];

/// A snapshot of the first `n` generated objects (see `bench/workload.rs`).
fn snapshot(n: usize) -> Snapshot {
    workload::snapshot(n, "bench")
}

fn bench(c: &mut Criterion) {
    let policy = Policy::from_config(&Config::default());
    // A Deployment in the middle of the generated set; any declared index would do.
    let target = workload::deployment_index(7, 1_000);
    let in_sync = workload::update_review(target, "uid-1", "alice", Change::Annotation);
    let drift = workload::update_review(target, "uid-2", "alice", Change::Image);
    let bypassed = workload::update_review(
        target,
        "uid-3",
        "system:kube-controller-manager",
        Change::Image,
    );
    // Index 1,000,001 is never declared (sizes stop at 100,000), but is a Deployment index.
    let undeclared = workload::update_review(1_000_002, "uid-4", "alice", Change::Image);
    eprintln!(
        "body sizes: in-sync {} B, drift {} B, bypassed {} B, undeclared {} B",
        in_sync.len(),
        drift.len(),
        bypassed.len(),
        undeclared.len()
    );

    let mut parse = c.benchmark_group("parse");
    parse.throughput(Throughput::Bytes(in_sync.len() as u64));
    parse.bench_function("value", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(&in_sync)))
    });
    parse.bench_function("envelope", |b| {
        b.iter(|| admission::Review::parse(black_box(&in_sync)))
    });
    parse.finish();

    for n in SIZES {
        let snap = snapshot(n);
        // Sanity: the benchmark measures what it says, or it stops here.
        let (_, d) = admission::validate(&in_sync, &snap, &policy).expect("in-sync decides");
        assert_eq!(d.verdict, admission::Verdict::Allowed, "{:?}", d.reason);
        assert_eq!(d.reason, admission::Reason::InSync);
        let (_, d) = admission::validate(&drift, &snap, &policy).expect("drift decides");
        assert_eq!(d.verdict, admission::Verdict::Denied);
        let (_, d) = admission::validate(&bypassed, &snap, &policy).expect("bypass decides");
        assert_eq!(d.reason, admission::Reason::Bypassed);
        let (_, d) = admission::validate(&undeclared, &snap, &policy).expect("undeclared");
        assert_eq!(d.reason, admission::Reason::NotDeclared);

        let mut group = c.benchmark_group("validate");
        group.throughput(Throughput::Bytes(in_sync.len() as u64));
        for (label, body) in [
            ("update-in-sync", &in_sync),
            ("update-drift", &drift),
            ("bypassed", &bypassed),
            ("undeclared", &undeclared),
        ] {
            group.bench_with_input(BenchmarkId::new(label, n), body, |b, body| {
                b.iter(|| admission::validate(black_box(body), &snap, &policy))
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
