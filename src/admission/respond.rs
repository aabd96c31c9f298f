//! Turns a decision into what the person and the apiserver see: the denial message, warnings,
//! and `auditAnnotations`. Messages stay short enough to read in a terminal.

use std::collections::BTreeMap;

use serde_json::Value;

use super::decide::{Decision, Reason, Verdict, Violation};
use super::wire::{Response, Status};
use crate::text::shorten;

/// Most violations listed in one message; the rest are counted.
const MAX_LISTED: usize = 6;
/// Longest value shown in a message.
const MAX_VALUE: usize = 60;
/// Most warnings in one answer, and the longest one.
const MAX_WARNINGS: usize = 12;
const MAX_WARNING_CHARS: usize = 400;

/// Compact JSON, cut with an ellipsis when long; a cut string keeps its closing quote (and an
/// object or list its closing bracket), so the value still reads as one.
pub fn short_value(value: Option<&Value>) -> String {
    let Some(v) = value else {
        return "nothing".to_string();
    };
    let text = v.to_string();
    let close = match v {
        Value::String(_) => "\"",
        Value::Object(_) => "}",
        Value::Array(_) => "]",
        _ => return shorten(&text, MAX_VALUE),
    };
    if text.chars().count() <= MAX_VALUE {
        return text;
    }
    let cut: String = text.chars().take(MAX_VALUE - 2).collect();
    format!("{cut}…{close}")
}

fn object_label(decision: &Decision) -> String {
    decision
        .key
        .as_ref()
        .map(|k| k.to_string())
        .unwrap_or_else(|| "the object".into())
}

fn verb(operation: &str) -> &'static str {
    match operation {
        "CREATE" => "create",
        "DELETE" => "delete",
        _ => "change",
    }
}

/// Secret values never leave driftgate, not even in a message to their owner.
fn shown(value: Option<&Value>, secret: bool) -> String {
    match value {
        Some(_) if secret => "(secret value)".to_string(),
        other => short_value(other),
    }
}

fn is_secret(decision: &Decision) -> bool {
    decision
        .key
        .as_ref()
        .is_some_and(|k| k.group.is_empty() && k.kind == "Secret")
}

fn violation_line(v: &Violation, secret: bool) -> String {
    let shown_or_nothing = |value: Option<&Value>| match value {
        None => "nothing".to_string(),
        some => shown(some, secret),
    };
    // An atomic value: where it first differs, both values there.
    if let Some(first) = &v.first_difference {
        return if first.changed {
            format!(
                "{}: Git owns this value whole; the request changes {} from {} to {}",
                v.path,
                first.path,
                shown_or_nothing(first.git.as_ref()),
                shown_or_nothing(first.requested.as_ref())
            )
        } else {
            format!(
                "{}: differs from Git at {}: Git has {}, request has {}",
                v.path,
                first.path,
                shown_or_nothing(first.git.as_ref()),
                shown_or_nothing(first.requested.as_ref())
            )
        };
    }
    match &v.requested {
        None => format!(
            "{}: Git has {}, request removes it",
            v.path,
            shown(Some(&v.git), secret)
        ),
        Some(requested) => format!(
            "{}: Git has {}, request has {}",
            v.path,
            shown(Some(&v.git), secret),
            shown(Some(requested), secret)
        ),
    }
}

fn where_declared(decision: &Decision) -> String {
    match &decision.declared {
        Some(d) => format!("declared by {} at {}", d.location(), decision.revision),
        None => format!("Git at {}", decision.revision),
    }
}

/// The last name of a path, as the field is written in its file (`replicas`, `image`).
fn field_name(path: &crate::drift::Path) -> Option<&str> {
    match path.0.last()? {
        crate::drift::path::Segment::Key(k) => Some(k),
        _ => None,
    }
}

/// One short line on where to change it: for a single value of a plain file, the file, its
/// line and both values (`In Git: apps/web.yaml:12 replicas: 3 → 10`, from the lines kept at
/// sync time: Git is not read here); otherwise the file or build to change and the command
/// that writes the change.
fn in_git(decision: &Decision, uid: &str) -> String {
    let command = format!("driftgate suggest --id {uid}");
    let Some(declared) = &decision.declared else {
        return format!("In Git: add it beside its namespace's objects; the change: {command}");
    };
    if let ([v], false, crate::manifest::Origin::File) = (
        decision.violations.as_slice(),
        is_secret(decision),
        &declared.origin,
    ) {
        let scalar = |value: &Value| !value.is_object() && !value.is_array();
        let line = declared.value.line_of(&v.at);
        if let (Some(line), Some(field), Some(requested)) = (line, field_name(&v.at), &v.requested)
        {
            if scalar(&v.git) && scalar(requested) {
                return format!(
                    "In Git: {}:{line} {field}: {} → {}",
                    declared.file,
                    short_value(Some(&v.git)),
                    short_value(Some(requested))
                );
            }
        }
    }
    let place = match &declared.origin {
        crate::manifest::Origin::File => declared.file.to_string(),
        crate::manifest::Origin::Built(built) => format!("{} ({})", built.dir, built.by),
    };
    let verb = if decision.reason == Reason::Delete {
        "remove it from"
    } else {
        "change"
    };
    format!("In Git: {verb} {place}; the change: {command}")
}

/// The full message for a decision with violations; `uid` is the request's (for the command
/// that writes the Git change).
pub fn message(decision: &Decision, user: &str, uid: &str) -> String {
    let object = object_label(decision);
    let user = if user.is_empty() {
        "this request"
    } else {
        user
    };
    match decision.reason {
        Reason::Delete => format!(
            "driftgate: {user} may not delete {object}: it is {}.\nRemove it from Git instead; GitOps will prune it.\n{}",
            where_declared(decision),
            in_git(decision, uid)
        ),
        Reason::Unmanaged => {
            let ns = decision.key.as_ref().map(|k| k.namespace.as_str()).unwrap_or("");
            format!(
                "driftgate: {user} may not create {object}: namespace {ns} is managed by Git ({}) and this object is not declared there.\nAdd it to Git instead.\n{}",
                decision.revision,
                in_git(decision, uid)
            )
        }
        _ => {
            let mut lines = vec![format!(
                "driftgate: {user} may not {} {object}: it is {}.",
                verb(&decision.operation),
                where_declared(decision)
            )];
            for v in decision.violations.iter().take(MAX_LISTED) {
                lines.push(format!("  {}", violation_line(v, is_secret(decision))));
            }
            if decision.violations.len() > MAX_LISTED {
                lines.push(format!(
                    "  …and {} more",
                    decision.violations.len() - MAX_LISTED
                ));
            }
            let file = decision
                .declared
                .as_ref()
                .map(|d| match &d.origin {
                    crate::manifest::Origin::Built(built) => {
                        format!(" ({}, built by {})", d.file, built.by)
                    }
                    crate::manifest::Origin::File => format!(" ({})", d.file),
                })
                .unwrap_or_default();
            lines.push(format!("Change it in Git instead{file}; GitOps will apply it."));
            lines.push(in_git(decision, uid));
            lines.join("\n")
        }
    }
}

/// Warnings for the user: one per line, as kubectl prints them.
pub fn warnings(decision: &Decision, user: &str) -> Vec<String> {
    let mut out = Vec::new();
    let object = object_label(decision);
    if let Some(reason) = &decision.break_glass {
        out.push(format!(
            "driftgate: break-glass by {user} ({}): {object} now differs from Git; this is recorded",
            shorten(reason, 80)
        ));
    } else if decision.verdict == Verdict::Warned {
        let why = if decision.dry_run && decision.mode == crate::config::Mode::Enforce {
            "dry-run: a real request would be denied"
        } else {
            "warn mode: allowed, but it diverges from Git"
        };
        match decision.reason {
            Reason::Delete => out.push(format!(
                "driftgate ({why}): deleting {object}, {}",
                where_declared(decision)
            )),
            Reason::Unmanaged => out.push(format!(
                "driftgate ({why}): {object} is not declared in Git, but its namespace is managed ({})",
                decision.revision
            )),
            _ => out.push(format!("driftgate ({why}): {object} is {}", where_declared(decision))),
        }
    }
    if decision.verdict == Verdict::Warned || decision.break_glass.is_some() {
        for v in decision
            .violations
            .iter()
            .filter(|v| !v.path.is_empty())
            .take(MAX_LISTED)
        {
            out.push(format!(
                "driftgate: {}",
                violation_line(v, is_secret(decision))
            ));
        }
    }
    for v in decision.preexisting.iter().take(MAX_LISTED) {
        out.push(format!(
            "driftgate: {} already differs from Git (Git has {}, cluster has {}); {}",
            v.path,
            shown(Some(&v.git), is_secret(decision)),
            shown(v.requested.as_ref(), is_secret(decision)),
            decision
                .declared
                .as_ref()
                .map(|d| d.location())
                .unwrap_or_default()
        ));
    }
    out.extend(decision.notes.iter().map(|n| format!("driftgate: {n}")));
    // Clients print every warning; keep them a screenful.
    out.truncate(MAX_WARNINGS);
    out.into_iter()
        .map(|w| shorten(&w, MAX_WARNING_CHARS))
        .collect()
}

fn decision_word(decision: &Decision) -> &'static str {
    if decision.break_glass.is_some() {
        "break-glass"
    } else {
        decision.verdict.as_str()
    }
}

/// The validating answer.
pub fn respond(uid: &str, decision: &Decision, user: &str) -> Response {
    let mut response = Response::allow(uid);
    response.warnings = warnings(decision, user);
    if decision.verdict == Verdict::Denied {
        response.allowed = false;
        response.status = Some(Status {
            code: 403,
            message: message(decision, user, uid),
            reason: Some("Forbidden".into()),
        });
    }
    if decision.key.is_some() && decision.reason != Reason::NotDeclared {
        let mut annotations = BTreeMap::new();
        annotations.insert("decision".to_string(), decision_word(decision).to_string());
        if !decision.revision.is_empty() {
            annotations.insert("revision".to_string(), decision.revision.clone());
        }
        let paths: Vec<&str> = decision.violation_paths();
        if !paths.is_empty() {
            annotations.insert("violations".to_string(), shorten(&paths.join(","), 1000));
        }
        response.audit_annotations = annotations;
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shortened_values_keep_their_closing_quote() {
        let long = "x".repeat(100);
        let text = short_value(Some(&json!(long)));
        assert!(text.starts_with("\"xxx") && text.ends_with("…\""), "{text}");
        assert_eq!(text.chars().count(), MAX_VALUE);
        let list = short_value(Some(&json!([long])));
        assert!(list.ends_with("…]"), "{list}");
        assert_eq!(short_value(Some(&json!("short"))), "\"short\"");
        assert_eq!(short_value(None), "nothing");
    }
}
