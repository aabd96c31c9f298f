//! `driftgate suggest`: the Git change for a denied request, an object, or a recorded blocked
//! edit, printed as a unified diff, applied to a checkout, or committed on a new branch.

use std::io::Read as _;
use std::process::ExitCode;

use super::{fail, fail_error, SuggestArgs, EXIT_BAD_INPUT};
use crate::audit::{Store, Target as Trail};
use crate::config::Config;
use crate::snapshot::Snapshot;
use crate::suggest::{self, want, Error, Target};
use crate::sync;

/// Exit code when no change can be written (the reasons are printed).
const EXIT_DECLINED: u8 = 1;

/// What is wrong with the input (exit 2).
#[derive(Debug, thiserror::Error)]
enum InputError {
    #[error("cannot read {0}")]
    Read(String, #[source] std::io::Error),
    #[error("the object is not UTF-8 text")]
    NotText,
    #[error(transparent)]
    Declined(#[from] want::Declined),
    #[error("give --review, --object or --id")]
    NoInput,
    #[error("--id needs the audit trail: give --audit FILE|URL or a config with audit.path or audit.url")]
    NoTrail,
    #[error("cannot start the runtime")]
    Runtime(#[source] std::io::Error),
    #[error(transparent)]
    Trail(#[from] crate::audit::store::Error),
    #[error("{trail}: no record {id}")]
    NoRecord { trail: String, id: String },
}

fn read_input(arg: &str) -> Result<Vec<u8>, InputError> {
    if arg == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .map_err(|e| InputError::Read("stdin".into(), e))?;
        Ok(buf)
    } else {
        std::fs::read(arg).map_err(|e| InputError::Read(arg.to_string(), e))
    }
}

pub fn run(args: SuggestArgs) -> ExitCode {
    let config = match args.source.load() {
        Ok(c) => c,
        Err(e) => return fail_error(EXIT_BAD_INPUT, &e),
    };
    let (snapshot, builds) = match sync::load_with_builds(&config) {
        Ok(loaded) => loaded,
        Err(e) => return fail_error(EXIT_BAD_INPUT, &e),
    };
    let target = match target(&args, &config, &snapshot) {
        Ok(Some(t)) => t,
        Ok(None) => {
            println!(
                "nothing to change: Git already declares this at {}",
                snapshot.revision_label()
            );
            return ExitCode::SUCCESS;
        }
        Err(e) => return fail_error(EXIT_BAD_INPUT, &e),
    };
    let suggestion = match suggest::suggest(&config, &snapshot, &builds, &target) {
        Ok(s) => s,
        Err(e @ (Error::Input(_) | Error::NotFound { .. })) => {
            return fail_error(EXIT_BAD_INPUT, &e)
        }
        Err(e) => return fail_error(EXIT_DECLINED, &e),
    };
    if suggestion.is_empty() {
        println!(
            "nothing to change: Git already declares this at {}",
            suggestion.revision
        );
        return ExitCode::SUCCESS;
    }
    print!("{}", suggestion.diff());
    for (key, what) in &suggestion.also {
        eprintln!("driftgate: the change also sets {what} of {key}");
    }
    for note in &suggestion.notes {
        eprintln!("driftgate: note: {note}");
    }
    if let Some(dir) = &args.write {
        if let Err(e) = suggest::apply::write(&suggestion, dir) {
            return fail_error(EXIT_DECLINED, &e);
        }
        eprintln!("driftgate: applied to {}", dir.display());
    }
    if args.commit {
        let Some(branch) = args.branch.as_deref() else {
            return fail(EXIT_BAD_INPUT, "--commit needs --branch NAME");
        };
        let repo = match &args.clone {
            Some(dir) => dir.clone(),
            None => match config
                .sources
                .iter()
                .find(|s| s.name == suggestion.source)
                .and_then(|s| crate::sync::remote::local_path(&s.url))
            {
                Some(path) => path,
                None => {
                    return fail(
                        EXIT_BAD_INPUT,
                        "--commit needs a local clone: the source is remote, give --clone DIR",
                    )
                }
            },
        };
        match suggest::apply::commit(&suggestion, &repo, branch) {
            Ok(id) => eprintln!(
                "driftgate: committed {} on branch {branch} in {}; push it and open a pull request: git push origin {branch}",
                &id[..id.len().min(12)],
                repo.display()
            ),
            Err(e) => return fail_error(EXIT_DECLINED, &e),
        }
    }
    ExitCode::SUCCESS
}

/// What the input asks Git to declare.
fn target(
    args: &SuggestArgs,
    config: &Config,
    snapshot: &Snapshot,
) -> Result<Option<Target>, InputError> {
    if let Some(review) = &args.review {
        let body = read_input(review)?;
        return Ok(want::from_review(&body, snapshot, config)?);
    }
    if let Some(object) = &args.object {
        let bytes = read_input(object)?;
        let text = String::from_utf8(bytes).map_err(|_| InputError::NotText)?;
        let value = want::parse_object(&text)?;
        return Ok(want::from_object(value, snapshot, config)?);
    }
    if let Some(id) = &args.id {
        return from_audit(args.audit.as_deref(), id, config);
    }
    Err(InputError::NoInput)
}

/// A recorded blocked edit, read from `--audit` (or the config's `audit.path`/`audit.url`).
fn from_audit(
    audit: Option<&str>,
    id: &str,
    config: &Config,
) -> Result<Option<Target>, InputError> {
    let trail = match audit {
        Some(text) => Trail::parse(text),
        None => crate::audit::target(&config.audit).ok_or(InputError::NoTrail)?,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(InputError::Runtime)?;
    let record = runtime.block_on(async {
        let store = Store::open_existing(&trail).await?;
        let record = store.get(id).await;
        store.close().await;
        record
    })?;
    let record = record.ok_or_else(|| InputError::NoRecord {
        trail: trail.redacted(),
        id: id.to_string(),
    })?;
    Ok(want::from_record(&record)?)
}
