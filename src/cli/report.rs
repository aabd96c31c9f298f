//! `driftgate report`: reads the audit trail (SQLite file or PostgreSQL URL) and prints the
//! records with totals as a table, JSON, CSV or a self-contained HTML page.

use std::process::ExitCode;

use anyhow::Context as _;
use k8s_openapi::jiff::Timestamp;

use super::{fail, fail_error, ReportArgs, EXIT_BAD_INPUT};
use crate::audit::report::{self, Format, Report};
use crate::audit::{html, Store, Target};

pub fn run(args: ReportArgs) -> ExitCode {
    let format: Format = match args.format.parse() {
        Ok(f) => f,
        Err(e) => return fail_error(EXIT_BAD_INPUT, &e),
    };
    let now = Timestamp::now();
    let filter = match report::filter(
        args.since.as_deref(),
        args.until.as_deref(),
        args.user.as_deref(),
        args.namespace.as_deref(),
        None,
        now,
    ) {
        Ok(f) => f,
        Err(e) => return fail_error(EXIT_BAD_INPUT, &e),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail_error(1, &e),
    };
    let target = Target::parse(&args.audit);
    let store = match runtime.block_on(Store::open_existing(&target)) {
        Ok(store) => store,
        Err(e @ crate::audit::store::Error::Missing { .. }) => {
            return fail_error(EXIT_BAD_INPUT, &e)
        }
        Err(e) => return fail_error(1, &e),
    };
    let result: anyhow::Result<Report> = runtime.block_on(async {
        let records = store
            .query(&filter)
            .await
            .with_context(|| format!("reading {}", target.redacted()))?;
        store.close().await;
        Ok(Report::build(records, &filter, now))
    });
    let report = match result {
        Ok(r) => r,
        Err(e) => return fail(1, format!("{e:#}")),
    };
    let text = match format {
        Format::Table => report.to_table(),
        Format::Json => report.to_json() + "\n",
        Format::Csv => report.to_csv(),
        Format::Html => html::render(&report),
    };
    print!("{text}");
    ExitCode::SUCCESS
}
