//! The HTML report: one self-contained page (inline CSS and SVG, no scripts, no fonts to
//! fetch) that reads in a browser and prints cleanly: blocked edits over time, top users, top
//! objects, and every record with its diff.

use std::fmt::Write as _;

use k8s_openapi::jiff::{civil::Date, ToSpan};

use super::record::Record;
use super::report::{Count, DayCount, Report};

/// Days drawn at most; a longer range shows its last days.
const MAX_DAYS: usize = 92;
/// Rows in the top-users and top-objects tables.
const TOP: usize = 10;

pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The report pages' shared look (the drift report uses it too).
pub const STYLE: &str = r#"
:root { --fg:#1d2330; --muted:#5b6474; --line:#d9dde5; --bg:#f6f7f9; --red:#c62828; --amber:#d68a00; --blue:#2f5fb3; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--fg); margin: 0; background: #fff; }
header { padding: 20px 28px 12px; border-bottom: 1px solid var(--line); background: var(--bg); }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 24px 0 8px; }
main { padding: 0 28px 28px; }
.muted { color: var(--muted); }
.cards { display: flex; gap: 12px; flex-wrap: wrap; margin-top: 12px; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 8px 14px; background: #fff; min-width: 120px; }
.card b { display: block; font-size: 22px; }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: 24px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-size: 12px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.bar { display: inline-block; height: 8px; background: var(--blue); border-radius: 2px; vertical-align: middle; margin-right: 6px; }
.bar.blocked { background: var(--red); }
.pill { display: inline-block; white-space: nowrap; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; color: #fff; background: var(--muted); }
.pill.denied { background: var(--red); } .pill.warned, .pill.annotated { background: var(--amber); } .pill.break-glass { background: #6a1b9a; }
code, .diff { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
.diff div { white-space: pre-wrap; overflow-wrap: anywhere; }
td.diff { min-width: 16em; }
.diff .git { color: #1b5e20; } .diff .req { color: var(--red); }
svg text { font: 11px system-ui, sans-serif; fill: var(--muted); }
.legend span { display: inline-block; width: 10px; height: 10px; margin: 0 4px 0 12px; vertical-align: middle; }
@page { margin: 12mm; }
@media print {
  header { background: none; padding: 0 0 8px; }
  main { padding: 0; }
  th, td { padding: 3px 4px; }
  body { font-size: 11px; }
  .grid { grid-template-columns: 1fr 1fr; }
  tr, .card, svg { break-inside: avoid; page-break-inside: avoid; }
  thead { display: table-header-group; }
  .pill { color: #000; border: 1px solid #000; background: none !important; }
  a { color: inherit; text-decoration: none; }
}
"#;

/// Every day from the first to the last with a record, zeros filled in.
fn days(by_day: &[DayCount]) -> Vec<DayCount> {
    let (Some(first), Some(last)) = (by_day.first(), by_day.last()) else {
        return Vec::new();
    };
    let (Ok(first_date), Ok(last_date)) = (first.day.parse::<Date>(), last.day.parse::<Date>())
    else {
        return by_day.to_vec();
    };
    let mut out = Vec::new();
    let mut day = first_date;
    let mut known = by_day.iter().peekable();
    while day <= last_date {
        let text = day.to_string();
        match known.peek() {
            Some(d) if d.day == text => {
                out.push((*d).clone());
                known.next();
            }
            _ => out.push(DayCount {
                day: text,
                total: 0,
                blocked: 0,
            }),
        }
        match day.checked_add(1.day()) {
            Ok(next) => day = next,
            Err(_) => break,
        }
    }
    let skip = out.len().saturating_sub(MAX_DAYS);
    out.split_off(skip)
}

/// Stacked bars per day: blocked (red) under the other recorded edits (amber).
fn chart(by_day: &[DayCount]) -> String {
    let days = days(by_day);
    if days.is_empty() {
        return "<p class=\"muted\">No records in this range.</p>".into();
    }
    let (w, h, left, bottom, top) = (960.0_f64, 220.0_f64, 40.0, 28.0, 10.0);
    // Whole-number gridlines: four steps of a round size.
    let highest = days.iter().map(|d| d.total).max().unwrap_or(1).max(1);
    let step = highest.div_ceil(4);
    let max = (step * 4) as f64;
    let plot_h = h - bottom - top;
    let slot = (w - left - 10.0) / days.len() as f64;
    let bar_w = (slot * 0.7).max(1.0);
    let mut svg = format!(
        "<svg role=\"img\" aria-label=\"Blocked edits per day\" viewBox=\"0 0 {w} {h}\" width=\"100%\" preserveAspectRatio=\"xMinYMin meet\" xmlns=\"http://www.w3.org/2000/svg\">"
    );
    for i in 0..=4_u64 {
        let v = step * i;
        let y = top + plot_h - plot_h * i as f64 / 4.0;
        let _ = write!(
            svg,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#e3e6ec\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            w - 10.0,
            left - 6.0,
            y + 4.0,
            v
        );
    }
    let label_every = (days.len() / 8).max(1);
    for (i, d) in days.iter().enumerate() {
        let x = left + slot * i as f64 + (slot - bar_w) / 2.0;
        let blocked_h = plot_h * d.blocked as f64 / max;
        let other_h = plot_h * (d.total - d.blocked) as f64 / max;
        let base = top + plot_h;
        let _ = write!(
            svg,
            "<g><title>{}: {} blocked, {} recorded</title><rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{bar_w:.1}\" height=\"{blocked_h:.1}\" fill=\"#c62828\"/><rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{bar_w:.1}\" height=\"{other_h:.1}\" fill=\"#f0b429\"/></g>",
            escape(&d.day),
            d.blocked,
            d.total,
            base - blocked_h,
            base - blocked_h - other_h,
        );
        if i % label_every == 0 || i + 1 == days.len() {
            let _ = write!(
                svg,
                "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                x + bar_w / 2.0,
                h - 8.0,
                escape(d.day.get(5..).unwrap_or(&d.day))
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

fn top_table(title: &str, counts: &[Count]) -> String {
    let max = counts.iter().map(|c| c.total).max().unwrap_or(1).max(1) as f64;
    let mut out = format!(
        "<section><h2>{}</h2><table><thead><tr><th>{}</th><th>Blocked</th><th>Recorded</th></tr></thead><tbody>",
        escape(title),
        escape(title.trim_start_matches("Top "))
    );
    for c in counts.iter().take(TOP) {
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"n\"><span class=\"bar blocked\" style=\"width:{:.0}px\"></span>{}</td><td class=\"n\"><span class=\"bar\" style=\"width:{:.0}px\"></span>{}</td></tr>",
            escape(&c.key),
            60.0 * c.blocked as f64 / max,
            c.blocked,
            60.0 * c.total as f64 / max,
            c.total
        );
    }
    if counts.is_empty() {
        out.push_str("<tr><td colspan=\"3\" class=\"muted\">none</td></tr>");
    }
    out.push_str("</tbody></table></section>");
    out
}

fn value(v: &Option<String>) -> String {
    v.as_deref().map(escape).unwrap_or_else(|| "—".into())
}

pub fn render(report: &Report) -> String {
    render_with(report, "")
}

/// The page with `extra` HTML (another part's section) at the end of its content.
pub fn render_with(report: &Report, extra: &str) -> String {
    let t = &report.totals;
    let mut html = String::with_capacity(4096 + report.records.len() * 600);
    let _ = write!(
        html,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>driftgate audit report</title><style>{STYLE}</style></head><body>"
    );
    let when = |t: &k8s_openapi::jiff::Timestamp| t.strftime("%Y-%m-%d %H:%M UTC").to_string();
    let range = match (
        report.filter.since.as_ref().map(when),
        report.filter.until.as_ref().map(when),
    ) {
        (Some(s), Some(u)) => format!("from {s} until {u}"),
        (Some(s), None) => format!("since {s}"),
        (None, Some(u)) => format!("until {u}"),
        (None, None) => "all records".to_string(),
    };
    let mut scope = range;
    if let Some(u) = &report.filter.user {
        scope.push_str(&format!(", user {u}"));
    }
    if let Some(n) = &report.filter.namespace {
        scope.push_str(&format!(", namespace {n}"));
    }
    let _ = write!(
        html,
        "<header><h1>driftgate audit report</h1><div class=\"muted\">{} · generated {}</div><div class=\"cards\"><div class=\"card\"><b>{}</b>recorded edits</div><div class=\"card\"><b style=\"color:var(--red)\">{}</b>blocked</div><div class=\"card\"><b>{}</b>users</div><div class=\"card\"><b>{}</b>objects</div></div>{}</header><main>",
        escape(&scope),
        report.generated.strftime("%Y-%m-%d %H:%M:%S UTC"),
        t.records,
        t.blocked,
        t.by_user.len(),
        t.by_object.len(),
        if report.truncated {
            "<p class=\"muted\">The record limit was reached: older records are not included.</p>"
        } else {
            ""
        }
    );
    let _ = write!(
        html,
        "<section><h2>Blocked edits per day</h2><div class=\"legend muted\"><span style=\"background:#c62828\"></span>blocked<span style=\"background:#f0b429\"></span>warned, annotated or break-glass</div>{}</section>",
        chart(&t.by_day)
    );
    let _ = write!(
        html,
        "<div class=\"grid\">{}{}</div>",
        top_table("Top users", &t.by_user),
        top_table("Top objects", &t.by_object)
    );
    html.push_str("<section><h2>Records</h2><table><thead><tr><th>Time (UTC)</th><th>Decision</th><th>User</th><th>Object</th><th>Diff (Git → requested)</th><th>Revision</th></tr></thead><tbody>");
    for r in &report.records {
        let mut diff = String::new();
        for v in &r.violations {
            let path = if v.path.is_empty() {
                "(whole object)"
            } else {
                v.path.as_str()
            };
            let _ = write!(
                diff,
                "<div><b>{}</b>: <span class=\"git\">{}</span> → <span class=\"req\">{}</span>{}</div>",
                escape(path),
                value(&v.git),
                value(&v.requested),
                match &v.old {
                    Some(old) if Some(old) != v.git.as_ref() => {
                        format!(" <span class=\"muted\">(was {})</span>", escape(old))
                    }
                    _ => String::new(),
                }
            );
        }
        if r.omitted > 0 {
            let _ = write!(diff, "<div class=\"muted\">…and {} more</div>", r.omitted);
        }
        if let Some(reason) = &r.break_glass {
            let _ = write!(diff, "<div>break-glass: {}</div>", escape(reason));
        }
        if let (Some(id), true) = (r.id, r.is_blocked()) {
            // Made on demand from the Git cache when followed, never with the report.
            let _ = write!(
                diff,
                "<div><a href=\"/report/suggest?id={id}\">the Git change that allows it</a></div>"
            );
        }
        let declared = if r.file.is_empty() {
            String::new()
        } else {
            format!(
                "<br><span class=\"muted\">{}: {}</span>",
                escape(&r.source),
                escape(&r.file)
            )
        };
        let _ = write!(
            html,
            "<tr><td class=\"n\">{}</td><td><span class=\"pill {}\">{}</span><br><span class=\"muted\">{} · {}</span></td><td>{}</td><td>{}{}</td><td class=\"diff\">{}</td><td><code>{}</code><br><span class=\"muted\">{}</span></td></tr>",
            r.time.strftime("%Y-%m-%d %H:%M:%S"),
            escape(&r.decision),
            escape(&r.decision),
            escape(&r.operation.to_lowercase()),
            escape(&r.mode),
            escape(&r.user),
            escape(&r.object()),
            declared,
            diff,
            escape(&r.revision),
            escape(&r.replica),
        );
    }
    if report.records.is_empty() {
        html.push_str("<tr><td colspan=\"6\" class=\"muted\">No records match.</td></tr>");
    }
    html.push_str("</tbody></table></section>");
    html.push_str(extra);
    html.push_str("</main></body></html>\n");
    html
}

/// The page for one blocked edit's suggested Git change: the diff as a block to copy (or to
/// save and `git apply`), or why there is none.
pub fn suggestion(
    record: &Record,
    outcome: Result<Option<&str>, &(dyn std::error::Error + 'static)>,
) -> String {
    let body = match outcome {
        Ok(Some(diff)) => format!(
            "<p>Apply it in a checkout of the repository with <code>git apply</code>, or make it with <code>driftgate suggest --id {}</code>.</p><pre class=\"patch\">{}</pre>",
            escape(&record.uid),
            escape(diff)
        ),
        Ok(None) => "<p>Nothing to change: Git already declares what was asked.</p>".to_string(),
        Err(e) => format!(
            "<p>No change can be suggested:</p><pre>{}</pre>",
            escape(&crate::text::chain(e).to_string())
        ),
    };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>driftgate: the Git change for {object}</title><style>{STYLE}\npre.patch {{ background: var(--bg); border: 1px solid var(--line); padding: 12px; overflow-x: auto; user-select: all; }}</style></head><body><header><h1>The Git change for {object}</h1><p class=\"muted\">{decision} for {user} at {time} UTC, against {revision}</p></header><main>{body}<p><a href=\"/report\">back to the report</a></p></main></body></html>",
        object = escape(&record.object()),
        decision = escape(&record.decision),
        user = escape(&record.user),
        time = record.time.strftime("%Y-%m-%d %H:%M:%S"),
        revision = escape(&record.revision),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::report::tests::record;
    use crate::audit::store::Filter;
    use k8s_openapi::jiff::Timestamp;

    #[test]
    fn page_is_self_contained_and_escaped() {
        let day = 1_764_144_000;
        let mut evil = record("<script>x</script>", "shop", "web", "denied", day);
        evil.violations[0].requested = Some("\"<b>\"".into());
        let records = vec![
            evil,
            record("bob", "shop", "api", "warned", day - 3 * 86_400),
        ];
        let report =
            super::super::report::Report::build(records, &Filter::default(), Timestamp::UNIX_EPOCH);
        let html = render(&report);
        assert!(!html.contains("<script"), "user text is escaped");
        assert!(html.contains("&lt;script&gt;x&lt;/script&gt;"));
        assert!(!html.contains("src=\"http") && !html.contains("href=\"http"));
        assert!(html.contains("<svg") && html.contains("@media print"));
        // Four days drawn (two with records, two empty between them), one title each.
        assert_eq!(html.matches("<title>20").count(), 4, "{html}");
        assert!(html.contains("apps/Deployment shop/api"));
    }
}
