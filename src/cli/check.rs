//! `driftgate check`: one AdmissionReview, evaluated offline with the same code as `/validate`.

use std::io::Read as _;
use std::process::ExitCode;

use super::{fail, fail_error, CheckArgs, EXIT_BAD_INPUT, EXIT_DENIED};
use crate::admission::{self, Verdict};
use crate::policy::Policy;
use crate::sync;

pub fn run(args: CheckArgs) -> ExitCode {
    let config = match args.source.load() {
        Ok(c) => c,
        Err(e) => return fail_error(EXIT_BAD_INPUT, &e),
    };
    let body = if args.review == "-" {
        let mut buf = Vec::new();
        if let Err(e) = std::io::stdin().read_to_end(&mut buf) {
            return fail(
                EXIT_BAD_INPUT,
                format!("cannot read the review from stdin: {e}"),
            );
        }
        buf
    } else {
        match std::fs::read(&args.review) {
            Ok(b) => b,
            Err(e) => return fail(EXIT_BAD_INPUT, format!("cannot read {}: {e}", args.review)),
        }
    };
    let snapshot = match sync::load_once(&config) {
        Ok(s) => s,
        Err(e) => return fail_error(EXIT_BAD_INPUT, &e),
    };
    for err in &snapshot.errors {
        tracing::warn!(file = %err.file, line = err.line, "skipped: {}", err.message);
    }
    let policy = Policy::from_config(&config);
    match admission::validate(&body, &snapshot, &policy) {
        Ok((review, decision)) => {
            println!("{review}");
            if decision.verdict == Verdict::Denied {
                ExitCode::from(EXIT_DENIED)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => fail(EXIT_BAD_INPUT, format!("not an AdmissionReview: {e}")),
    }
}
