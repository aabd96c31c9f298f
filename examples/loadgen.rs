//! Load generator for driftgate and the floor, and the helpers `bench/run.sh` uses.
//!
//! ```text
//! loadgen run --url https://127.0.0.1:8443/validate --ca certs/ca.crt \
//!     [--server-name driftgate.driftgate-system.svc] [--connections 16] [--duration 10s] \
//!     [--warmup 2s] [--rate 1000] [--workload generated|corpus|mixed] [--objects 100000] \
//!     [--corpus ../shared/corpus/admission-reviews] [--drift-percent 0] [--label NAME]
//! loadgen gen-repo --objects N          # a `git fast-import` stream on stdout
//! loadgen gen-live --objects N          # those objects as `kubectl get -A -o json` prints them
//! loadgen report results.jsonl          # medians across rounds, driftgate's ratio to each floor
//! ```
//!
//! `run` speaks HTTP/1.1 keep-alive over TLS (tokio-rustls + hyper), as the apiserver does, on
//! `--connections` connections. Without `--rate` it is closed-loop (each connection sends its
//! next request as soon as the answer is in: saturation throughput). With `--rate R` it is
//! open-loop: request j of connection k is due at `start + (k + j·N)/R`, and its latency is
//! measured from when it was due, so a stalled server is charged for the queue it builds
//! (no coordinated omission). It prints one JSON line: throughput, p50/p99/p99.9/max in µs,
//! errors (transport failures) and non-200 answers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use axum::body::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

// `snapshot` is for the in-process users of the workload.
#[allow(dead_code)]
#[path = "../bench/workload.rs"]
mod workload;

fn main() -> anyhow::Result<()> {
    let mut argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.is_empty() {
        bail!("usage: loadgen run|gen-repo|gen-live|report ... (see the file's header)");
    }
    let command = argv.remove(0);
    let opts = Opts::parse(&argv)?;
    match command.as_str() {
        "run" => run(opts),
        "gen-repo" => gen_repo(opts.usize("objects", 1000)?),
        "gen-live" => gen_live(opts.usize("objects", 1000)?),
        "report" => report(&opts.positional),
        other => bail!("unknown command {other:?}"),
    }
}

/// `--key value` pairs and positional arguments; flags without a value are not used.
struct Opts {
    named: BTreeMap<String, String>,
    positional: Vec<String>,
}

impl Opts {
    fn parse(argv: &[String]) -> anyhow::Result<Opts> {
        let mut named = BTreeMap::new();
        let mut positional = Vec::new();
        let mut it = argv.iter();
        while let Some(arg) = it.next() {
            match arg.strip_prefix("--") {
                Some(key) => {
                    let value = it
                        .next()
                        .with_context(|| format!("--{key} needs a value"))?;
                    named.insert(key.to_string(), value.clone());
                }
                None => positional.push(arg.clone()),
            }
        }
        Ok(Opts { named, positional })
    }

    fn str(&self, key: &str, default: &str) -> String {
        self.named
            .get(key)
            .cloned()
            .unwrap_or_else(|| default.to_string())
    }

    fn usize(&self, key: &str, default: usize) -> anyhow::Result<usize> {
        match self.named.get(key) {
            Some(v) => v.parse().with_context(|| format!("--{key} {v}")),
            None => Ok(default),
        }
    }

    fn duration(&self, key: &str, default: &str) -> anyhow::Result<Duration> {
        let text = self.str(key, default);
        humantime::parse_duration(&text).with_context(|| format!("--{key} {text}"))
    }
}

// ---------------------------------------------------------------------------------------------
// run

struct Target {
    host: String,
    port: u16,
    path: String,
    server_name: rustls::pki_types::ServerName<'static>,
    connector: TlsConnector,
}

fn target(opts: &Opts) -> anyhow::Result<Target> {
    let url = opts.str("url", "https://127.0.0.1:8443/validate");
    let rest = url
        .strip_prefix("https://")
        .context("--url must be https://HOST:PORT/PATH")?;
    let (authority, path) = match rest.split_once('/') {
        Some((a, p)) => (a, format!("/{p}")),
        None => (rest, "/validate".to_string()),
    };
    let (host, port) = authority
        .rsplit_once(':')
        .context("--url needs an explicit port")?;
    let ca = PathBuf::from(opts.str("ca", "certs/ca.crt"));
    let pem = std::fs::read(&ca).with_context(|| ca.display().to_string())?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(cert?)?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    // The apiserver pins HTTP/1.1.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let name = opts.str("server-name", "driftgate.driftgate-system.svc");
    Ok(Target {
        host: host.to_string(),
        port: port.parse()?,
        path,
        server_name: rustls::pki_types::ServerName::try_from(name)?,
        connector: TlsConnector::from(Arc::new(config)),
    })
}

/// Review bodies to cycle through, and the uid of each (checked in the answer, sampled).
fn bodies(opts: &Opts) -> anyhow::Result<Vec<Bytes>> {
    let workload = opts.str("workload", "generated");
    let objects = opts.usize("objects", 1000)?;
    let drift_percent = opts.usize("drift-percent", 0)?;
    let mut out = Vec::new();
    if workload == "generated" || workload == "mixed" {
        for k in 0..256 {
            let i = workload::deployment_index(k * 7919, objects);
            let change = if k * 100 / 256 < drift_percent {
                workload::Change::Image
            } else {
                workload::Change::Annotation
            };
            out.push(Bytes::from(workload::update_review(
                i,
                &format!("gen-{k}"),
                "alice",
                change,
            )));
        }
    }
    if workload == "corpus" || workload == "mixed" {
        let dir = PathBuf::from(opts.str("corpus", "../shared/corpus/admission-reviews"));
        let mut files = Vec::new();
        collect_json(&dir, &mut files)?;
        files.sort();
        for file in files {
            let text = std::fs::read(&file)?;
            let Ok(mut value) = serde_json::from_slice::<Value>(&text) else {
                continue;
            };
            // Bare AdmissionRequests are wrapped in a v1 review, as the corpus README says.
            if value.get("request").is_none() && value.get("uid").is_some() {
                value = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": value});
            }
            out.push(Bytes::from(serde_json::to_vec(&value)?));
        }
    }
    if out.is_empty() {
        bail!("no review bodies for --workload {workload}");
    }
    Ok(out)
}

fn collect_json(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| dir.display().to_string())? {
        let path = entry?.path();
        if path.is_dir() {
            collect_json(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
    Ok(())
}

async fn connect(
    target: &Target,
) -> anyhow::Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>> {
    let tcp = TcpStream::connect((target.host.as_str(), target.port)).await?;
    tcp.set_nodelay(true)?;
    let tls = target
        .connector
        .connect(target.server_name.clone(), tcp)
        .await?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
    tokio::spawn(async move {
        // The connection ends when the sender is dropped or the server closes it.
        let _ = conn.await;
    });
    Ok(sender)
}

async fn one(
    sender: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    target: &Target,
    body: Bytes,
) -> anyhow::Result<u16> {
    sender.ready().await?;
    let request = hyper::Request::post(format!("{}?timeout=10s", target.path))
        .header("host", target.server_name.to_str().as_ref())
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .body(Full::new(body))?;
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    // Read the whole answer: the latency includes it, as the apiserver's does.
    response.into_body().collect().await?;
    Ok(status)
}

/// When and how fast every connection sends.
#[derive(Debug, Clone, Copy)]
struct Plan {
    connections: usize,
    /// Requests per second in all (open loop); `None`: closed loop.
    rate: Option<f64>,
    start: Instant,
    /// End of the warm-up: earlier requests are sent but not counted.
    measure_from: Instant,
    end: Instant,
}

/// Connection `k`'s loop; reconnects after a transport error (counted).
async fn worker(k: usize, plan: Plan, target: Arc<Target>, bodies: Arc<Vec<Bytes>>) -> Tally {
    let Plan {
        connections,
        rate,
        start,
        measure_from,
        end,
    } = plan;
    let mut tally = Tally::default();
    let mut sender = None;
    let mut j = 0usize;
    loop {
        let due = match rate {
            Some(r) => start + Duration::from_secs_f64((k + j * connections) as f64 / r),
            None => Instant::now(),
        };
        if due >= end {
            break;
        }
        if rate.is_some() {
            tokio::time::sleep_until(due.into()).await;
        }
        let body = bodies[(k + j * connections) % bodies.len()].clone();
        j += 1;
        if sender.is_none() {
            match connect(&target).await {
                Ok(s) => sender = Some(s),
                Err(_) => {
                    tally.errors += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            }
        }
        let Some(s) = sender.as_mut() else { continue };
        let result = one(s, &target, body).await;
        let measured = due >= measure_from;
        match result {
            Ok(status) => {
                if measured {
                    let micros = due.elapsed().as_micros().min(u32::MAX as u128) as u32;
                    tally.latencies.push(micros);
                    if status != 200 {
                        tally.non_200 += 1;
                    }
                }
            }
            Err(_) => {
                if measured {
                    tally.errors += 1;
                }
                sender = None;
            }
        }
    }
    tally
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn run(opts: Opts) -> anyhow::Result<()> {
    let target = Arc::new(target(&opts)?);
    let bodies = Arc::new(bodies(&opts)?);
    let connections = opts.usize("connections", 16)?.max(1);
    let duration = opts.duration("duration", "10s")?;
    let warmup = opts.duration("warmup", "2s")?;
    let rate = match opts.named.get("rate") {
        Some(r) => Some(r.parse::<f64>().context("--rate")?),
        None => None,
    };
    let label = opts.str("label", "run");
    let threads = opts.usize("threads", 2)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()?;
    let tally = runtime.block_on(async {
        let start = Instant::now();
        let plan = Plan {
            connections,
            rate,
            start,
            measure_from: start + warmup,
            end: start + warmup + duration,
        };
        let mut tasks = tokio::task::JoinSet::new();
        for k in 0..connections {
            tasks.spawn(worker(k, plan, target.clone(), bodies.clone()));
        }
        let mut all = Tally::default();
        while let Some(joined) = tasks.join_next().await {
            if let Ok(t) = joined {
                all.latencies.extend(t.latencies);
                all.errors += t.errors;
                all.non_200 += t.non_200;
            }
        }
        all
    });
    let mut latencies = tally.latencies;
    latencies.sort_unstable();
    let requests = latencies.len();
    let mean_body = bodies.iter().map(Bytes::len).sum::<usize>() / bodies.len();
    let line = json!({
        "label": label,
        "mode": if rate.is_some() { "rate" } else { "closed" },
        "connections": connections,
        "rate": rate,
        "workload": opts.str("workload", "generated"),
        "objects": opts.usize("objects", 1000)?,
        "mean_body_bytes": mean_body,
        "duration_s": duration.as_secs_f64(),
        "requests": requests,
        "throughput": requests as f64 / duration.as_secs_f64(),
        "p50_us": percentile(&latencies, 50.0),
        "p99_us": percentile(&latencies, 99.0),
        "p999_us": percentile(&latencies, 99.9),
        "max_us": latencies.last().copied().unwrap_or(0),
        "errors": tally.errors,
        "non_200": tally.non_200,
    });
    println!("{line}");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// gen-repo

/// A `git fast-import` stream of one commit on `refs/heads/main` declaring objects `0..n`, one
/// file each (`team-X/app-i.yaml`): 100,000 objects import in seconds.
/// The cluster that applied `gen-repo`'s objects, as one `List` (a dump for `driftgate scan
/// --objects`): Deployments as the apiserver stores them, the rest with the metadata it adds.
fn gen_live(n: usize) -> anyhow::Result<()> {
    use std::io::Write as _;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    out.write_all(b"{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[")?;
    for i in 0..n {
        let object = if i % 3 == 0 {
            workload::live_deployment(i, 1)
        } else {
            let mut v = workload::declared(i);
            v["metadata"]["uid"] = json!(format!("00000000-0000-4000-8000-{i:012}"));
            v["metadata"]["resourceVersion"] = json!("1001");
            v["metadata"]["creationTimestamp"] = json!("2026-11-01T10:00:00Z");
            v
        };
        if i > 0 {
            out.write_all(b",")?;
        }
        serde_json::to_writer(&mut out, &object)?;
    }
    out.write_all(b"]}\n")?;
    Ok(())
}

fn gen_repo(n: usize) -> anyhow::Result<()> {
    use std::io::Write as _;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for i in 0..n {
        let text = workload::declared_yaml(i);
        write!(
            out,
            "blob\nmark :{}\ndata {}\n{}\n",
            i + 1,
            text.len(),
            text
        )?;
    }
    let message = format!("{n} generated objects\n");
    write!(
        out,
        "commit refs/heads/main\nmark :{}\ncommitter bench <bench@example.com> 1764000000 +0000\ndata {}\n{}",
        n + 1,
        message.len(),
        message
    )?;
    for i in 0..n {
        writeln!(
            out,
            "M 100644 :{} {}/{}.yaml",
            i + 1,
            workload::namespace(i),
            workload::name(i)
        )?;
    }
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// report

fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let mid = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    }
}

/// Groups result lines by (scenario, server), where `label` is `SERVER/SCENARIO/ROUND`, and
/// prints per scenario the median across rounds of each server and the driftgate/floor ratio
/// of those medians, plus the median of the per-round ratios (robust to drifting machines);
/// one table per floor in the results (`floor`, `transport`).
type Table = BTreeMap<String, BTreeMap<String, BTreeMap<String, Value>>>;

fn report(files: &[String]) -> anyhow::Result<()> {
    let mut lines = Vec::new();
    for file in files {
        for line in std::fs::read_to_string(file)?.lines() {
            if let Ok(v) = serde_json::from_str::<Value>(line) {
                lines.push(v);
            }
        }
    }
    // scenario -> server -> round -> result
    let mut table: Table = BTreeMap::new();
    for v in lines {
        let label = v["label"].as_str().unwrap_or_default().to_string();
        let mut parts = label.splitn(3, '/');
        let (Some(server), Some(scenario), Some(round)) =
            (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        table
            .entry(scenario.to_string())
            .or_default()
            .entry(server.to_string())
            .or_default()
            .insert(round.to_string(), v);
    }
    // Against the floor that parses the review, and against the transport floor that only
    // finds the uid: the second ratio is what the decision itself costs.
    for (floor_name, title) in [
        ("floor", "driftgate / floor (parses the review)"),
        (
            "transport",
            "driftgate / transport floor (TLS, HTTP, the body; no parse)",
        ),
    ] {
        if table
            .values()
            .any(|servers| servers.contains_key(floor_name))
        {
            println!("\n### {title}\n");
            ratio_table(&table, floor_name);
        }
    }
    Ok(())
}

/// driftgate against the floor named `floor_name`, scenario by scenario.
fn ratio_table(table: &Table, floor_name: &str) {
    let metrics = ["throughput", "p50_us", "p99_us", "p999_us"];
    println!("| scenario | metric | {floor_name} (median) | driftgate (median) | driftgate/{floor_name} | per-round ratios (median) | rounds | errors+non-200 (dg) |");
    println!("|---|---|---|---|---|---|---|---|");
    for (scenario, servers) in table {
        let (Some(floor), Some(dg)) = (servers.get(floor_name), servers.get("driftgate")) else {
            continue;
        };
        let bad: u64 = dg
            .values()
            .map(|v| v["errors"].as_u64().unwrap_or(0) + v["non_200"].as_u64().unwrap_or(0))
            .sum();
        for metric in metrics {
            let f = median(floor.values().filter_map(|v| v[metric].as_f64()).collect());
            let d = median(dg.values().filter_map(|v| v[metric].as_f64()).collect());
            let per_round = median(
                dg.iter()
                    .filter_map(|(round, v)| {
                        let fv = floor.get(round)?[metric].as_f64()?;
                        Some(v[metric].as_f64()? / fv)
                    })
                    .collect(),
            );
            println!(
                "| {scenario} | {metric} | {f:.0} | {d:.0} | {:.3} | {per_round:.3} | {} | {bad} |",
                d / f,
                dg.len().min(floor.len())
            );
        }
    }
}

#[derive(Default)]
struct Tally {
    /// Latencies in microseconds, measured only after the warm-up.
    latencies: Vec<u32>,
    errors: u64,
    non_200: u64,
}
