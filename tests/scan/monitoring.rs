//! `deploy/monitoring`: the PrometheusRule passes `promtool check rules`, and every rule and
//! dashboard panel names only metrics driftgate's registry really exposes.

use std::collections::BTreeSet;

use super::*;

fn deploy(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(path)
}

/// Every series name the registry exposes: gauges as named, counters with `_total`,
/// histograms with `_bucket`, `_sum` and `_count`. A labelled family shows only once it has a
/// series, so each gets one first.
fn exported() -> BTreeSet<String> {
    use driftgate::metrics::*;
    let m = Metrics::new();
    let request = RequestLabels {
        endpoint: Endpoint::Validate,
        operation: Operation::Create,
        decision: Outcome::Denied,
    };
    m.server.requests.get_or_create(&request).inc();
    m.server
        .request_duration
        .get_or_create(&EndpointLabels {
            endpoint: Endpoint::Validate,
        })
        .observe(0.001);
    m.server
        .connections_evicted
        .get_or_create(&EvictLabels {
            state: EvictedState::Idle,
        })
        .inc();
    m.server
        .cert_reloads
        .get_or_create(&ReloadLabels {
            result: ReloadResult::Reloaded,
        })
        .inc();
    m.snapshot
        .observe(Some(&driftgate::snapshot::Snapshot::default()));
    let source = driftgate::sync::metrics::SourceLabels {
        source: "fleet".into(),
    };
    m.sync
        .revision_info
        .get_or_create(&driftgate::sync::metrics::RevisionLabels {
            source: "fleet".into(),
            revision: "main@sha1:0".into(),
        })
        .set(1);
    m.sync.last_attempt.get_or_create(&source).set(1.0);
    m.sync.last_success.get_or_create(&source).set(1.0);
    m.sync.duration.get_or_create(&source).observe(1.0);
    m.sync.objects.get_or_create(&source).set(1);
    m.sync.consecutive_failures.get_or_create(&source).set(1);
    m.sync
        .syncs
        .get_or_create(&driftgate::sync::metrics::ResultLabels {
            source: "fleet".into(),
            result: "success".into(),
        })
        .inc();
    m.audit
        .dropped
        .get_or_create(&driftgate::audit::metrics::DropLabels {
            reason: driftgate::audit::metrics::DropReason::QueueFull,
        })
        .inc();
    m.audit
        .events
        .get_or_create(&driftgate::audit::metrics::EventLabels {
            result: driftgate::audit::metrics::EventResult::Sent,
        })
        .inc();
    m.scan
        .drifted
        .get_or_create(&driftgate::scan::metrics::DriftLabels {
            namespace: "shop".into(),
            kind: "ConfigMap".into(),
        })
        .set(1);
    m.scan
        .report_writes
        .get_or_create(&driftgate::scan::metrics::WriteLabels { result: "written" })
        .inc();
    let text = m.encode();
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let mut parts = rest.split_whitespace();
        let (Some(name), Some(kind)) = (parts.next(), parts.next()) else {
            continue;
        };
        match kind {
            "counter" => {
                names.insert(format!("{name}_total"));
            }
            "histogram" => {
                for suffix in ["_bucket", "_sum", "_count"] {
                    names.insert(format!("{name}{suffix}"));
                }
            }
            "info" => {
                names.insert(format!("{name}_info"));
            }
            _ => {
                names.insert(name.to_string());
            }
        }
    }
    names
}

/// PromQL words that are not metric names.
const PROMQL: &[&str] = &[
    "sum",
    "max",
    "min",
    "avg",
    "count",
    "rate",
    "irate",
    "increase",
    "histogram_quantile",
    "absent",
    "time",
    "by",
    "without",
    "on",
    "ignoring",
    "unless",
    "and",
    "or",
    "offset",
    "group_left",
    "group_right",
    "bool",
    "delta",
    "deriv",
    "clamp_min",
    "label_replace",
];

/// Series Prometheus itself makes for every target.
const PROMETHEUS_OWN: &[&str] = &["up"];

/// The metric names in a PromQL expression: label matchers, label lists after `by`,
/// `without`, `on`, `ignoring`, strings and durations taken out first.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut clean = String::new();
    let mut chars = expr.chars().peekable();
    let mut depth_brace = 0;
    let mut in_string = false;
    while let Some(c) = chars.next() {
        match c {
            '"' if depth_brace == 0 => in_string = !in_string,
            _ if in_string => {}
            '{' => depth_brace += 1,
            '}' => depth_brace -= 1,
            '[' => {
                for d in chars.by_ref() {
                    if d == ']' {
                        break;
                    }
                }
            }
            _ if depth_brace > 0 => {}
            c => clean.push(c),
        }
    }
    // Label lists after grouping keywords.
    let mut out = String::new();
    let mut rest = clean.as_str();
    while let Some(i) = ["by", "without", "on", "ignoring"]
        .iter()
        .filter_map(|k| {
            let pat = format!("{k} (");
            let tight = format!("{k}(");
            rest.find(&pat)
                .map(|i| (i, pat.len()))
                .into_iter()
                .chain(rest.find(&tight).map(|i| (i, tight.len())))
                .min()
        })
        .min()
        .map(Some)
        .unwrap_or(None)
    {
        let (at, len) = i;
        out.push_str(&rest[..at]);
        let after = &rest[at + len..];
        let close = after.find(')').map_or(after.len(), |c| c + 1);
        rest = &after[close..];
    }
    out.push_str(rest);
    out.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|t| !t.is_empty() && !t.starts_with(|c: char| c.is_ascii_digit()))
        .filter(|t| !PROMQL.contains(t))
        .map(str::to_string)
        .collect()
}

fn check(what: &str, expr: &str, known: &BTreeSet<String>) -> BTreeSet<String> {
    let names = metric_names(expr);
    assert!(!names.is_empty(), "{what}: no metric in {expr}");
    for name in &names {
        assert!(
            known.contains(name) || PROMETHEUS_OWN.contains(&name.as_str()),
            "{what}: {name} is not a metric driftgate exports (expr: {expr})"
        );
    }
    names
}

fn rule_groups() -> Value {
    let text = std::fs::read_to_string(deploy("monitoring/prometheusrule.yaml")).expect("rules");
    let rule: Value = serde_saphyr::from_str(&text).expect("yaml");
    assert_eq!(rule["kind"], "PrometheusRule");
    rule["spec"].clone()
}

#[test]
fn rules_and_panels_name_only_exported_metrics() {
    let known = exported();
    for name in [
        "driftgate_drifted_objects",
        "driftgate_scan_duration_seconds_count",
    ] {
        assert!(known.contains(name), "{name} in {known:?}");
    }
    assert!(metric_names("sum(rate(driftgate_nope_total[5m]))").contains("driftgate_nope_total"));
    let mut used = BTreeSet::new();
    let groups = rule_groups();
    let mut alerts = BTreeSet::new();
    for group in groups["groups"].as_array().expect("groups") {
        for rule in group["rules"].as_array().expect("rules") {
            let name = rule["alert"].as_str().expect("alert").to_string();
            used.extend(check(&name, rule["expr"].as_str().expect("expr"), &known));
            alerts.insert(name);
        }
    }
    for wanted in [
        "DriftgateAbsent",
        "DriftgateNotReady",
        "DriftgateSourceSyncFailing",
        "DriftgateAuditDegraded",
        "DriftgateDriftedObjects",
        "DriftgateDenialsRising",
    ] {
        assert!(alerts.contains(wanted), "{wanted} in {alerts:?}");
    }
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(deploy("monitoring/dashboard.json")).expect("dashboard"),
    )
    .expect("json");
    let mut exprs = 0;
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let title = panel["title"].as_str().unwrap_or("panel");
            used.extend(check(title, target["expr"].as_str().expect("expr"), &known));
            exprs += 1;
        }
    }
    assert!(exprs >= 8);
    for wanted in [
        "driftgate_requests_total",
        "driftgate_request_duration_seconds_bucket",
        "driftgate_source_consecutive_failures",
        "driftgate_drifted_objects",
    ] {
        assert!(used.contains(wanted), "{wanted} is shown or alerted on");
    }
}

#[test]
fn promtool_accepts_the_rules() {
    let Ok(out) = Command::new("promtool").arg("--version").output() else {
        eprintln!("notice: promtool is not installed (Debian package prometheus); skipping");
        return;
    };
    assert!(out.status.success());
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("rules.yaml");
    std::fs::write(&file, serde_json::to_string(&rule_groups()).expect("json")).expect("write");
    let out = Command::new("promtool")
        .args(["check", "rules"])
        .arg(&file)
        .output()
        .expect("promtool runs");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // And it does reject a broken expression, so a pass means something.
    std::fs::write(
        &file,
        r#"{"groups": [{"name": "x", "rules": [{"alert": "X", "expr": "sum(rate(driftgate_requests_total[5m])"}]}]}"#,
    )
    .expect("write");
    let bad = Command::new("promtool")
        .args(["check", "rules"])
        .arg(&file)
        .output()
        .expect("runs");
    assert!(!bad.status.success());
}

/// The scan's RBAC reads the cluster and writes nothing but driftgate's own PolicyReports.
#[test]
fn scan_rbac_is_read_only_but_for_its_reports() {
    if !kubectl() {
        return;
    }
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(deploy("scan"))
        .output()
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs = driftgate::manifest::yaml::parse_documents(&String::from_utf8_lossy(&out.stdout))
        .expect("yaml");
    let role = docs
        .iter()
        .map(|d| &d.value)
        .find(|v| v["kind"] == "ClusterRole")
        .expect("role");
    for rule in role["rules"].as_array().expect("rules") {
        let groups = rule["apiGroups"].as_array().expect("groups");
        for verb in rule["verbs"].as_array().expect("verbs") {
            let verb = verb.as_str().expect("verb");
            // Its own PolicyReports: read, written, and deleted in namespaces Git left.
            let writes_reports = groups.iter().all(|g| g == "wgpolicyk8s.io");
            assert!(
                verb == "list"
                    || (writes_reports && ["get", "create", "patch", "delete"].contains(&verb)),
                "{verb} on {groups:?}"
            );
        }
    }
}
