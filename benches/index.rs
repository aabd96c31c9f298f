//! Indexing benchmark (not a timed test): generated repositories of 10,000 and 100,000
//! declared objects (one file each, in directories of 1,000), made with `git fast-import`.
//! Measures the initial index, the re-index after one file changes, a poll that finds nothing
//! new, and the peak memory (VmHWM) of the process.
//!
//! `cargo bench --bench index` runs every size with `render: auto` (the default) and `plain`,
//! each in a fresh process so peak memory is its own; `cargo bench --bench index -- 100000
//! plain` runs one. Targets: 100,000 objects indexed in
//! under 5 s on 2 cores and held in under 500 MB; one changed file re-indexed in under 100 ms.

use std::io::Write;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::Instant;

use driftgate::config::Config;
use driftgate::snapshot::Live;
use driftgate::sync::engine::Parts;
use driftgate::sync::source::ReadKind;
use driftgate::sync::Syncer;

const SIZES: [usize; 2] = [10_000, 100_000];

/// `render: auto` (the default: directories are checked for kustomizations) and `plain`.
const RENDERS: [&str; 2] = ["auto", "plain"];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sizes: Vec<usize> = args
        .iter()
        .filter_map(|a| a.replace('_', "").parse().ok())
        .collect();
    let render = args.iter().find(|a| RENDERS.contains(&a.as_str())).cloned();
    match (sizes.as_slice(), render) {
        ([], _) => {
            // One process per run: VmHWM is a per-process high-water mark.
            let Ok(exe) = std::env::current_exe() else {
                eprintln!("cannot find the benchmark binary");
                return ExitCode::FAILURE;
            };
            for size in SIZES {
                for render in RENDERS {
                    match Command::new(&exe)
                        .arg(size.to_string())
                        .arg(render)
                        .status()
                    {
                        Ok(status) if status.success() => {}
                        other => {
                            eprintln!("size {size} {render}: {other:?}");
                            return ExitCode::FAILURE;
                        }
                    }
                }
            }
            ExitCode::SUCCESS
        }
        (sizes, render) => {
            let render = render.unwrap_or_else(|| "auto".to_string());
            for &size in sizes {
                if let Err(e) = run(size, &render) {
                    eprintln!("size {size}: {e}");
                    return ExitCode::FAILURE;
                }
            }
            ExitCode::SUCCESS
        }
    }
}

fn object(i: usize, replicas: usize) -> String {
    let ns = i / 1000;
    if i.is_multiple_of(2) {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{i}\n  namespace: team-{ns}\n\
             \x20 labels: {{app: app-{i}, tier: web}}\nspec:\n  replicas: {replicas}\n  selector:\n\
             \x20   matchLabels: {{app: app-{i}}}\n  template:\n    metadata:\n      labels: {{app: app-{i}}}\n\
             \x20   spec:\n      containers:\n      - name: web\n        image: registry.example.com/app:{i}\n\
             \x20       ports: [{{containerPort: 8080}}]\n        resources:\n          requests: {{cpu: 100m, memory: 128Mi}}\n\
             \x20       env:\n        - {{name: MODE, value: production}}\n"
        )
    } else {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config-{i}\n  namespace: team-{ns}\n\
             data:\n  settings.yaml: |\n    level: info\n    replicas: {replicas}\n  owner: team-{ns}\n"
        )
    }
}

fn path(i: usize) -> String {
    format!("clusters/prod/team-{}/object-{i}.yaml", i / 1000)
}

/// A bare repository whose `main` holds `size` objects and whose `next` changes one file.
fn generate(dir: &Path, size: usize) -> Result<(), String> {
    git(
        dir,
        &["-c", "init.defaultBranch=main", "init", "-q", "--bare", "."],
    )?;
    let mut child = Command::new("git")
        .args(["fast-import", "--quiet"])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    // Streamed, not buffered, so the generator adds nothing to the peak memory measured.
    let stdin = child.stdin.take().ok_or("no stdin")?;
    let mut stream = std::io::BufWriter::new(stdin);
    for i in 0..size {
        let text = object(i, 2);
        write!(
            stream,
            "blob\nmark :{}\ndata {}\n{text}\n",
            i + 1,
            text.len()
        )
        .map_err(|e| e.to_string())?;
    }
    let first = size + 1;
    write!(
        stream,
        "commit refs/heads/main\nmark :{first}\ncommitter Bench <bench@example.com> 1700000000 +0000\ndata 7\ninitial\n"
    )
    .map_err(|e| e.to_string())?;
    for i in 0..size {
        writeln!(stream, "M 100644 :{} {}", i + 1, path(i)).map_err(|e| e.to_string())?;
    }
    let changed = object(size / 2, 3);
    write!(
        stream,
        "\nblob\nmark :{}\ndata {}\n{changed}\ncommit refs/heads/next\nmark :{}\n\
         committer Bench <bench@example.com> 1700000100 +0000\ndata 11\none change\nfrom :{first}\n\
         M 100644 :{} {}\n\n",
        first + 1,
        changed.len(),
        first + 2,
        first + 1,
        path(size / 2)
    )
    .map_err(|e| e.to_string())?;
    stream.flush().map_err(|e| e.to_string())?;
    drop(stream);
    let status = child.wait().map_err(|e| e.to_string())?;
    status
        .success()
        .then_some(())
        .ok_or("git fast-import failed".to_string())
}

fn peak_rss_mb() -> f64 {
    status_mb("VmHWM:")
}

/// Resident memory now: what the index holds between syncs.
fn rss_mb() -> f64 {
    status_mb("VmRSS:")
}

fn status_mb(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn run(size: usize, render: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let started = Instant::now();
    generate(dir.path(), size)?;
    let generated = started.elapsed();
    let rss_before = peak_rss_mb();

    let config = Config::from_yaml(
        &format!(
            "sources: [{{name: bench, url: {:?}, ref: main, render: {render}}}]",
            dir.path().display().to_string()
        ),
        "bench",
    )
    .map_err(|e| e.to_string())?;
    let live = Arc::new(Live::new());
    let mut syncer = Syncer::new(&config, live.clone());

    let started = Instant::now();
    sync(&mut syncer)?;
    let initial = started.elapsed();
    let objects = live.load().map_or(0, |s| s.len());
    if objects != size {
        return Err(format!("indexed {objects} objects, expected {size}"));
    }

    let started = Instant::now();
    syncer.sync_once();
    let unchanged = started.elapsed();

    let initial_commit = rev_parse(dir.path(), "refs/heads/main")?;
    let next_commit = rev_parse(dir.path(), "refs/heads/next")?;
    let (reindex, read) = flips(dir.path(), &mut syncer, &initial_commit, &next_commit)?;
    let reparsed = syncer.last_parsed();
    let held = rss_mb();
    let peak = peak_rss_mb();
    drop((syncer, live));

    // The baseline in the same run: every revision read whole (tree listing, every file
    // looked up, the snapshot rebuilt), as before deltas.
    set_main(dir.path(), &initial_commit)?;
    let mut whole = Syncer::with_parts(
        &config,
        Arc::new(Live::new()),
        Parts {
            whole_reads: true,
            ..Parts::default()
        },
    );
    sync(&mut whole)?;
    let (whole_reindex, _) = flips(dir.path(), &mut whole, &initial_commit, &next_commit)?;

    println!(
        "objects {size:>7} render {render:<5}: generate {:>7.2?}  initial index {:>7.2?}  unchanged poll {:>7.2?}  \
         one-file re-index {:>7.2?} ({read:?}, parsed {reparsed:?}; read whole: {:>7.2?})  RSS held {:.0} MB, peak {:.0} MB \
         (before indexing {:.0} MB)",
        generated,
        initial,
        unchanged,
        reindex,
        whole_reindex,
        held,
        peak,
        rss_before,
    );
    Ok(())
}

/// One sync that must succeed; its status text otherwise.
fn sync(syncer: &mut Syncer) -> Result<(), String> {
    if syncer.sync_once() {
        return Ok(());
    }
    Err(syncer
        .trigger()
        .status()
        .render(std::time::SystemTime::now()))
}

/// Runs git in `dir`; its standard output, trimmed.
fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| e.to_string())?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .ok_or(format!("git {args:?} failed"))
}

fn rev_parse(dir: &Path, name: &str) -> Result<String, String> {
    git(dir, &["rev-parse", name])
}

fn set_main(dir: &Path, commit: &str) -> Result<(), String> {
    git(dir, &["update-ref", "refs/heads/main", commit]).map(drop)
}

/// Moves `main` between the two commits (one file apart) `FLIPS` times, timing each sync;
/// returns the median and how the syncer read the last one.
fn flips(
    dir: &Path,
    syncer: &mut Syncer,
    initial: &str,
    next: &str,
) -> Result<(std::time::Duration, Option<ReadKind>), String> {
    const FLIPS: usize = 7;
    let mut times = Vec::with_capacity(FLIPS);
    for i in 0..FLIPS {
        set_main(dir, if i % 2 == 0 { next } else { initial })?;
        let started = Instant::now();
        sync(syncer)?;
        times.push(started.elapsed());
    }
    // End on `next`, so the figures after describe the changed revision.
    times.sort();
    Ok((
        times[FLIPS / 2],
        syncer.last_reads().first().copied().flatten(),
    ))
}
