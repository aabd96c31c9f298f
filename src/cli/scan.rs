//! `driftgate scan`: the live state of every declared object against Git, from a dump
//! (`--objects`) or the cluster; exit 0 in sync, 4 drift found, 2 bad input, 1 when a list
//! could not be read and nothing else diverged.

use std::process::ExitCode;

use super::{fail, fail_error, ScanArgs, ScanFormat, EXIT_BAD_INPUT};
use crate::policy::Policy;
use crate::scan::{self, cluster, Report};
use crate::sync;

pub fn run(args: ScanArgs) -> ExitCode {
    let config = match args.source.load() {
        Ok(c) => c,
        Err(e) => return fail_error(EXIT_BAD_INPUT, &e),
    };
    let snapshot = match sync::load_once(&config) {
        Ok(s) => s,
        Err(e) => return fail_error(EXIT_BAD_INPUT, &e),
    };
    for err in &snapshot.errors {
        tracing::warn!(file = %err.file, line = err.line, "skipped: {}", err.message);
    }
    let policy = Policy::from_config(&config);
    let report = match &args.objects {
        Some(path) => scan::scan_dump(&snapshot, &policy, args.unmanaged, path),
        None => from_cluster(&snapshot, &policy, args.unmanaged),
    };
    let report = match report {
        Ok(r) => r,
        Err(e) => return fail_error(EXIT_BAD_INPUT, &e),
    };
    for note in &report.notes {
        tracing::warn!("{note}");
    }
    match args.format {
        ScanFormat::Table => print!("{}", report.table()),
        ScanFormat::Json => match serde_json::to_string(&report) {
            Ok(doc) => println!("{doc}"),
            Err(e) => return fail(1, format!("cannot write the report: {e}")),
        },
        ScanFormat::Html => print!("{}", scan::html::render(&report)),
    }
    ExitCode::from(report.exit_code())
}

fn from_cluster(
    snapshot: &crate::snapshot::Snapshot,
    policy: &Policy,
    unmanaged: bool,
) -> Result<Report, scan::Error> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(cluster::Error::Runtime)?;
    let report = runtime.block_on(async {
        let client = cluster::client(None).await?;
        cluster::scan(&client, snapshot, policy, unmanaged).await
    })?;
    Ok(report)
}
