//! The drift report as one self-contained page, in the audit report's style (inline CSS, no
//! scripts, nothing fetched): counts, drift per namespace and kind, and each object that is not
//! in sync with its diff. [`section`] is the same content for the audit page's `/report`.

use std::fmt::Write as _;

use super::report::{ObjectReport, Report, State};
use crate::audit::html::{escape, STYLE};

/// Styles the audit page lacks: the scan's states.
const EXTRA_STYLE: &str = ".pill.drifted, .pill.missing { background: var(--red); } .pill.unmanaged { background: var(--amber); } .adopt { color: var(--muted); font-size: 12px; }";

/// Objects listed with their diff at most; a larger drift shows its first ones and a count.
const MAX_LISTED: usize = 5_000;

/// The command that writes the Git change adopting what the cluster has now: the live object
/// piped to `driftgate suggest --object -`, which writes it where each value comes from (a
/// drifted object), or adds it beside its namespace's objects (an unmanaged one). A missing
/// object has nothing live to adopt; an in-sync one needs nothing. `kind.group` is a name
/// kubectl resolves without the plural.
fn adopt_link(object: &ObjectReport) -> Option<String> {
    if !matches!(object.state, State::Drifted | State::Unmanaged) {
        return None;
    }
    let mut resource = object.kind.to_ascii_lowercase();
    if !object.group.is_empty() {
        resource = format!("{resource}.{}", object.group);
    }
    let namespace = if object.namespace.is_empty() {
        String::new()
    } else {
        format!(" -n {}", object.namespace)
    };
    Some(format!(
        "To adopt it in Git: kubectl get {resource} {}{namespace} -o yaml | driftgate suggest --object - (with this scan's source flags)",
        object.name
    ))
}

/// The whole page (`driftgate scan --format html`).
pub fn render(report: &Report) -> String {
    let mut html = String::with_capacity(8192);
    let _ = write!(
        html,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>driftgate drift report</title><style>{STYLE}{EXTRA_STYLE}</style></head><body>"
    );
    let c = report.counts();
    let _ = write!(
        html,
        "<header><h1>driftgate drift report</h1><div class=\"muted\">Git at <code>{}</code> · generated {}</div>{}</header><main>",
        escape(&report.revision),
        k8s_openapi::jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M:%S UTC"),
        cards(report)
    );
    html.push_str(&body(report));
    if c.skipped > 0 {
        let _ = write!(
            html,
            "<p class=\"muted\">{} declared objects are under <code>mode: off</code> and were not compared.</p>",
            c.skipped
        );
    }
    html.push_str("</main></body></html>\n");
    html
}

/// The drift part of the audit page (`/report`): a heading, the counts, and the same tables.
pub fn section(report: &Report, scanned: &str) -> String {
    let mut html = format!(
        "<style>{EXTRA_STYLE}</style><section id=\"drift\"><h2>Drift from Git (live state)</h2><div class=\"muted\">Git at <code>{}</code> · scanned {}</div>{}",
        escape(&report.revision),
        escape(scanned),
        cards(report)
    );
    html.push_str(&body(report));
    html.push_str("</section>");
    html
}

fn cards(report: &Report) -> String {
    let c = report.counts();
    let declared = c.in_sync + c.drifted + c.missing;
    let mut out = format!(
        "<div class=\"cards\"><div class=\"card\"><b>{declared}</b>declared objects</div><div class=\"card\"><b>{}</b>in sync</div><div class=\"card\"><b style=\"color:var(--red)\">{}</b>drifted</div><div class=\"card\"><b style=\"color:var(--red)\">{}</b>missing</div><div class=\"card\"><b style=\"color:var(--amber)\">{}</b>unmanaged</div>",
        c.in_sync, c.drifted, c.missing, c.unmanaged
    );
    if !report.errors.is_empty() {
        let _ = write!(
            out,
            "<div class=\"card\"><b>{}</b>lists not read</div>",
            report.errors.len()
        );
    }
    out.push_str("</div>");
    out
}

fn body(report: &Report) -> String {
    let mut html = String::new();
    html.push_str(&per_namespace_kind(report));
    html.push_str("<section><h2>Objects not in sync</h2><table><thead><tr><th>State</th><th>Object</th><th>Declared in</th><th>Diff (Git → live)</th></tr></thead><tbody>");
    let diverged: Vec<&ObjectReport> = report
        .objects
        .iter()
        .filter(|o| o.state != State::InSync)
        .collect();
    for o in diverged.iter().take(MAX_LISTED) {
        html.push_str(&row(o));
    }
    if diverged.is_empty() {
        html.push_str("<tr><td colspan=\"4\" class=\"muted\">Every declared object is in sync with Git.</td></tr>");
    }
    if diverged.len() > MAX_LISTED {
        let _ = write!(
            html,
            "<tr><td colspan=\"4\" class=\"muted\">…and {} more (see <code>--format json</code>)</td></tr>",
            diverged.len() - MAX_LISTED
        );
    }
    html.push_str("</tbody></table></section>");
    if !report.errors.is_empty() {
        html.push_str("<section><h2>Lists not read</h2><table><thead><tr><th>Kind</th><th>Namespace</th><th>Why</th></tr></thead><tbody>");
        for e in &report.errors {
            let kind = if e.group.is_empty() {
                e.kind.clone()
            } else {
                format!("{}/{}", e.group, e.kind)
            };
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&kind),
                escape(if e.namespace.is_empty() {
                    "(all)"
                } else {
                    &e.namespace
                }),
                escape(&e.message)
            );
        }
        html.push_str("</tbody></table></section>");
    }
    html
}

fn per_namespace_kind(report: &Report) -> String {
    let groups = report.diverged_by_namespace_kind();
    let max = groups.values().copied().max().unwrap_or(1).max(1) as f64;
    let mut html = String::from("<section><h2>Drift per namespace and kind</h2><table><thead><tr><th>Namespace</th><th>Kind</th><th>Not in sync</th></tr></thead><tbody>");
    for ((namespace, kind), count) in &groups {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td class=\"n\"><span class=\"bar blocked\" style=\"width:{:.0}px\"></span>{count}</td></tr>",
            escape(if namespace.is_empty() {
                "(cluster-scoped)"
            } else {
                namespace
            }),
            escape(kind),
            80.0 * *count as f64 / max
        );
    }
    if groups.is_empty() {
        html.push_str("<tr><td colspan=\"3\" class=\"muted\">none</td></tr>");
    }
    html.push_str("</tbody></table></section>");
    html
}

fn row(o: &ObjectReport) -> String {
    let mut diff = String::new();
    match o.state {
        State::Missing => diff.push_str("<div>not in the cluster</div>"),
        State::Unmanaged => diff.push_str("<div>in a managed namespace, not declared in Git</div>"),
        _ => {}
    }
    for p in &o.paths {
        let _ = write!(
            diff,
            "<div><b>{}</b>: <span class=\"git\">{}</span> → <span class=\"req\">{}</span></div>",
            escape(&p.path),
            escape(&super::report::short(&p.git)),
            p.live.as_ref().map_or_else(
                || "(absent)".to_string(),
                |v| escape(&super::report::short(v))
            )
        );
    }
    if let Some(link) = adopt_link(o) {
        let _ = write!(diff, "<div class=\"adopt\">{}</div>", escape(&link));
    }
    let declared = if o.file.is_empty() {
        "<span class=\"muted\">—</span>".to_string()
    } else {
        format!("{}: {}", escape(&o.source), escape(&o.file))
    };
    format!(
        "<tr><td><span class=\"pill {state}\">{state}</span></td><td>{}</td><td>{declared}</td><td class=\"diff\">{diff}</td></tr>",
        escape(&o.describe()),
        state = o.state.as_str(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::report::PathDiff;
    use serde_json::json;

    #[test]
    fn page_is_self_contained_escaped_and_grouped() {
        let object = |ns: &str, name: &str, state| ObjectReport {
            group: "apps".into(),
            version: "v1".into(),
            kind: "Deployment".into(),
            namespace: ns.into(),
            name: name.into(),
            source: "fleet".into(),
            file: "apps/web.yaml".into(),
            state,
            paths: if state == State::Drifted {
                vec![PathDiff {
                    path: "spec.template.spec.containers[name=web].image".into(),
                    git: json!("nginx:1.25"),
                    live: Some(json!("<script>x</script>")),
                }]
            } else {
                vec![]
            },
            uid: None,
        };
        let report = Report {
            revision: "main@sha1:0123456789ab".into(),
            objects: vec![
                object("shop", "web", State::Drifted),
                object("shop", "api", State::Missing),
                object("shop", "ok", State::InSync),
                object("billing", "x", State::Unmanaged),
            ],
            ..Report::default()
        };
        let html = render(&report);
        assert!(!html.contains("<script"), "live values are escaped");
        assert!(html.contains("&lt;script&gt;"));
        assert!(!html.contains("src=\"http") && !html.contains("href=\"http"));
        assert!(html.contains("apps/Deployment shop/web"));
        assert!(
            !html.contains("shop/ok"),
            "in-sync objects are counted, not listed"
        );
        // shop has two objects not in sync of one kind, billing one.
        assert!(
            html.contains("<td>shop</td><td>apps/Deployment</td>"),
            "{html}"
        );
        assert!(section(&report, "now").contains("id=\"drift\""));
        // Drifted and unmanaged objects say how to adopt them; a missing one has nothing live.
        assert!(html.contains(
            "kubectl get deployment.apps web -n shop -o yaml | driftgate suggest --object -"
        ));
        assert!(html.contains("kubectl get deployment.apps x -n billing -o yaml"));
        assert!(!html.contains("kubectl get deployment.apps api "));
    }
}
