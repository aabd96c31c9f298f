//! `driftgate index`: what the sources declare, as a summary or as JSON.

use std::process::ExitCode;
use std::time::Instant;

use serde_json::json;

use super::{fail, IndexArgs, EXIT_BAD_INPUT};
use crate::manifest::Origin;
use crate::sources;

pub fn run(args: IndexArgs) -> ExitCode {
    let config = match args.source.load() {
        Ok(c) => c,
        Err(e) => return fail(EXIT_BAD_INPUT, e),
    };
    let started = Instant::now();
    let snapshot = match sources::load_once(&config) {
        Ok(s) => s,
        Err(e) => return fail(EXIT_BAD_INPUT, e),
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
        let doc = json!({
            "revision": snapshot.revision_label(),
            "revisions": snapshot.revisions,
            "objects": objects,
            "errors": errors,
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
            Origin::Kustomize { dir } => format!("{dir} (kustomize)"),
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
