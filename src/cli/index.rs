//! `driftgate index`: what the sources declare, as a summary or as JSON.

use std::process::ExitCode;
use std::time::Instant;

use serde_json::json;

use super::{fail_error, IndexArgs, EXIT_BAD_INPUT};
use crate::findings::Note;
use crate::manifest::Origin;
use crate::snapshot::Snapshot;
use crate::sync;

/// What the sources decided, and the kinds whose plural resource is a guess.
fn notes(snapshot: &Snapshot) -> Vec<Note> {
    let mut notes = snapshot.findings.notes.clone();
    let guesses = crate::kinds::guessed(
        &snapshot.catalog,
        snapshot
            .objects()
            .map(|o| (o.key.group.as_str(), o.key.kind.as_str(), &*o.file, o.line)),
    );
    for guess in guesses {
        let source = snapshot
            .objects()
            .find(|o| o.key.kind == guess.kind && o.key.group == guess.group)
            .map(|o| o.source.to_string())
            .unwrap_or_default();
        notes.push(Note {
            source,
            message: guess.message(),
            file: guess.file,
            line: guess.line,
        });
    }
    notes
}

pub fn run(args: IndexArgs) -> ExitCode {
    let config = match args.source.load() {
        Ok(c) => c,
        Err(e) => return fail_error(EXIT_BAD_INPUT, &e),
    };
    let started = Instant::now();
    let snapshot = match sync::load_once(&config) {
        Ok(s) => s,
        Err(e) => return fail_error(EXIT_BAD_INPUT, &e),
    };
    let elapsed = started.elapsed();
    if args.json {
        let mut objects: Vec<_> = snapshot.objects().collect();
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        let objects: Vec<_> = objects
            .iter()
            .map(|o| {
                json!({
                    "group": o.key.group,
                    "version": o.version(),
                    "kind": o.key.kind,
                    "namespace": o.key.namespace,
                    "name": o.key.name,
                    "source": &*o.source,
                    "file": &*o.file,
                })
            })
            .collect();
        let errors: Vec<_> = snapshot
            .errors
            .iter()
            .map(|e| json!({"file": e.file, "line": e.line, "message": e.message, "source": e.source}))
            .collect();
        let notes: Vec<_> = notes(&snapshot)
            .iter()
            .map(|n| json!({"file": n.file, "line": n.line, "message": n.message, "source": n.source}))
            .collect();
        let out_of_scope: Vec<_> = snapshot
            .findings
            .out_of_scope
            .iter()
            .map(|o| json!({"file": o.file, "line": o.line, "what": o.what, "why": o.why, "source": o.source}))
            .collect();
        let doc = json!({
            "revision": snapshot.revision_label(),
            "revisions": snapshot.revisions,
            "objects": objects,
            "errors": errors,
            "notes": notes,
            "outOfScope": out_of_scope,
            "builds": snapshot.findings.builds,
            "failedBuilds": snapshot.findings.failed_builds,
            "untracked": untracked(&snapshot),
        });
        println!("{doc}");
        return ExitCode::SUCCESS;
    }
    println!("revision: {}", snapshot.revision_label());
    println!(
        "objects:  {} from {} files ({} documents skipped, {} files with errors)",
        snapshot.len(),
        snapshot.files_read,
        snapshot.skipped_documents,
        snapshot.errors.len()
    );
    if snapshot.findings.builds > 0 {
        println!(
            "builds:   {} ({} failed, keeping their last good objects or none)",
            snapshot.findings.builds,
            snapshot.findings.failed_builds.len()
        );
    }
    for (kind, count) in snapshot.counts_by_kind() {
        println!("  {count:>6}  {kind}");
    }
    let untracked = snapshot.untracked().count();
    if untracked > 0 {
        println!("untracked: {untracked} declared with generateName (matched by it on CREATE)");
    }
    let mut by_dir = std::collections::BTreeMap::<String, usize>::new();
    for o in snapshot.objects() {
        let dir = match &o.origin {
            Origin::Built(built) => format!("{} ({})", built.dir, built.by),
            Origin::File => o
                .file
                .rsplit_once('/')
                .map(|(d, _)| d)
                .unwrap_or(".")
                .to_string(),
        };
        *by_dir.entry(format!("{}: {dir}", o.source)).or_insert(0) += 1;
    }
    println!("per directory:");
    for (dir, count) in by_dir {
        println!("  {count:>6}  {dir}");
    }
    if !snapshot.errors.is_empty() {
        println!("errors:");
        for e in &snapshot.errors {
            println!("  {}:{}: {}", e.file, e.line, e.message);
        }
    }
    let notes = notes(&snapshot);
    if !notes.is_empty() {
        println!("notes:");
        for n in &notes {
            println!("  {}:{}: {}", n.file, n.line, n.message);
        }
    }
    if !snapshot.findings.out_of_scope.is_empty() {
        println!("out of scope (not declared):");
        for o in &snapshot.findings.out_of_scope {
            println!("  {}:{}: {}: {}", o.file, o.line, o.what, o.why);
        }
    }
    println!("took:     {:.1} ms", elapsed.as_secs_f64() * 1000.0);
    ExitCode::SUCCESS
}

/// Objects Git declares with `generateName` and no name: not keyed by name, so listed apart.
fn untracked(snapshot: &crate::snapshot::Snapshot) -> Vec<serde_json::Value> {
    let mut objects: Vec<_> = snapshot.untracked().collect();
    objects.sort_by(|a, b| (&a.key, &a.file).cmp(&(&b.key, &b.file)));
    objects
        .iter()
        .map(|o| {
            json!({
                "group": o.key.group,
                "kind": o.key.kind,
                "namespace": o.key.namespace,
                "generateName": o.value.generate_name().unwrap_or_default(),
                "file": &*o.file,
            })
        })
        .collect()
}
