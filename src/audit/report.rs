//! The report: records matching a filter, with totals by user, namespace, object and day.
//! The same code serves `driftgate report` and the admin port's `/report` and `/api/audit`.

use std::collections::BTreeMap;
use std::str::FromStr;

use k8s_openapi::jiff::{civil::Date, tz::TimeZone, SignedDuration, Timestamp};
use serde::Serialize;

use super::record::Record;
use super::store::{Filter, DEFAULT_LIMIT};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{field}: {text:?} is neither a duration (24h, 7d) nor a time (2026-11-26, RFC 3339)")]
    Time { field: &'static str, text: String },
    #[error("format {0:?} is not one of table, json, csv, html")]
    Format(String),
    #[error("limit {0:?} is not a positive number")]
    Limit(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Csv,
    Html,
}

impl FromStr for Format {
    type Err = Error;
    fn from_str(s: &str) -> Result<Format, Error> {
        match s {
            "table" => Ok(Format::Table),
            "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            "html" => Ok(Format::Html),
            other => Err(Error::Format(other.to_string())),
        }
    }
}

/// A point in time as people give it: `24h` (ago), `2026-11-26` (midnight UTC) or RFC 3339.
pub fn parse_time(field: &'static str, text: &str, now: Timestamp) -> Result<Timestamp, Error> {
    let bad = || Error::Time {
        field,
        text: text.to_string(),
    };
    let text = text.trim();
    if let Ok(t) = Timestamp::from_str(text) {
        return Ok(t);
    }
    if let Ok(date) = Date::from_str(text) {
        return date
            .to_zoned(TimeZone::UTC)
            .map(|z| z.timestamp())
            .map_err(|_| bad());
    }
    let ago = crate::config::duration::parse(text).map_err(|_| bad())?;
    let ago = SignedDuration::try_from(ago).map_err(|_| bad())?;
    Ok(now.checked_sub(ago).unwrap_or(Timestamp::MIN))
}

fn nonempty(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// The filter from the flags or query parameters of a report.
pub fn filter(
    since: Option<&str>,
    until: Option<&str>,
    user: Option<&str>,
    namespace: Option<&str>,
    limit: Option<&str>,
    now: Timestamp,
) -> Result<Filter, Error> {
    Ok(Filter {
        since: nonempty(since)
            .map(|s| parse_time("since", s, now))
            .transpose()?,
        until: nonempty(until)
            .map(|s| parse_time("until", s, now))
            .transpose()?,
        user: nonempty(user).map(str::to_string),
        namespace: nonempty(namespace).map(str::to_string),
        limit: nonempty(limit)
            .map(|s| {
                s.parse::<u32>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| Error::Limit(s.to_string()))
            })
            .transpose()?,
    })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Count {
    pub key: String,
    pub total: u64,
    /// Denied edits among them.
    pub blocked: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayCount {
    /// `2026-11-26` (UTC).
    pub day: String,
    pub total: u64,
    pub blocked: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    pub records: u64,
    pub blocked: u64,
    pub by_decision: Vec<Count>,
    pub by_user: Vec<Count>,
    pub by_namespace: Vec<Count>,
    pub by_object: Vec<Count>,
    /// Oldest day first.
    pub by_day: Vec<DayCount>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FilterEcho {
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    pub user: Option<String>,
    pub namespace: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub generated: Timestamp,
    pub filter: FilterEcho,
    /// True when the limit cut the records (totals cover only those read).
    pub truncated: bool,
    pub totals: Totals,
    /// Newest first.
    pub records: Vec<Record>,
}

pub fn day_of(t: Timestamp) -> String {
    t.to_zoned(TimeZone::UTC).date().to_string()
}

fn counts(map: BTreeMap<String, (u64, u64)>) -> Vec<Count> {
    let mut out: Vec<Count> = map
        .into_iter()
        .map(|(key, (total, blocked))| Count {
            key,
            total,
            blocked,
        })
        .collect();
    out.sort_by(|a, b| b.total.cmp(&a.total).then_with(|| a.key.cmp(&b.key)));
    out
}

impl Report {
    pub fn build(records: Vec<Record>, filter: &Filter, now: Timestamp) -> Report {
        let limit = filter.limit.unwrap_or(DEFAULT_LIMIT) as usize;
        let mut by_decision = BTreeMap::new();
        let mut by_user = BTreeMap::new();
        let mut by_namespace = BTreeMap::new();
        let mut by_object = BTreeMap::new();
        let mut by_day: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        let mut blocked_total = 0;
        for r in &records {
            let blocked = u64::from(r.is_blocked());
            blocked_total += blocked;
            let ns = if r.namespace.is_empty() {
                "(cluster)".to_string()
            } else {
                r.namespace.clone()
            };
            for (map, key) in [
                (&mut by_decision, r.decision.clone()),
                (&mut by_user, r.user.clone()),
                (&mut by_namespace, ns),
                (&mut by_object, r.object()),
                (&mut by_day, day_of(r.time)),
            ] {
                let entry = map.entry(key).or_insert((0, 0));
                entry.0 += 1;
                entry.1 += blocked;
            }
        }
        Report {
            generated: now,
            filter: FilterEcho {
                since: filter.since,
                until: filter.until,
                user: filter.user.clone(),
                namespace: filter.namespace.clone(),
            },
            truncated: records.len() >= limit,
            totals: Totals {
                records: records.len() as u64,
                blocked: blocked_total,
                by_decision: counts(by_decision),
                by_user: counts(by_user),
                by_namespace: counts(by_namespace),
                by_object: counts(by_object),
                by_day: by_day
                    .into_iter()
                    .map(|(day, (total, blocked))| DayCount {
                        day,
                        total,
                        blocked,
                    })
                    .collect(),
            },
            records,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// One row per record, RFC 4180 quoting.
    pub fn to_csv(&self) -> String {
        let mut out = String::from(
            "time,uid,user,groups,operation,subresource,group,version,kind,namespace,name,decision,mode,revision,source,file,breakGlass,endpoint,replica,paths,violations\n",
        );
        for r in &self.records {
            let paths: Vec<&str> = r.violations.iter().map(|v| v.path.as_str()).collect();
            let violations = serde_json::to_string(&r.violations).unwrap_or_default();
            let fields = [
                r.time.to_string(),
                r.uid.clone(),
                r.user.clone(),
                r.groups.join(";"),
                r.operation.clone(),
                r.subresource.clone(),
                r.group.clone(),
                r.version.clone(),
                r.kind.clone(),
                r.namespace.clone(),
                r.name.clone(),
                r.decision.clone(),
                r.mode.clone(),
                r.revision.clone(),
                r.source.clone(),
                r.file.clone(),
                r.break_glass.clone().unwrap_or_default(),
                r.endpoint.clone(),
                r.replica.clone(),
                paths.join(";"),
                violations,
            ];
            let row: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
            out.push_str(&row.join(","));
            out.push('\n');
        }
        out
    }

    /// A terminal table: records, then totals.
    pub fn to_table(&self) -> String {
        let mut rows = vec![[
            "TIME (UTC)".to_string(),
            "DECISION".to_string(),
            "USER".to_string(),
            "OP".to_string(),
            "OBJECT".to_string(),
            "PATHS".to_string(),
        ]];
        for r in &self.records {
            let paths: Vec<&str> = r
                .violations
                .iter()
                .map(|v| {
                    if v.path.is_empty() {
                        "(object)"
                    } else {
                        v.path.as_str()
                    }
                })
                .collect();
            rows.push([
                r.time.strftime("%Y-%m-%d %H:%M:%S").to_string(),
                r.decision.clone(),
                r.user.clone(),
                r.operation.clone(),
                r.object(),
                crate::text::shorten(&paths.join(","), 60),
            ]);
        }
        let mut widths = [0usize; 6];
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in &rows {
            let cells: Vec<String> = row
                .iter()
                .zip(widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            out.push_str(cells.join("  ").trim_end());
            out.push('\n');
        }
        let t = &self.totals;
        out.push_str(&format!(
            "\n{} records, {} blocked{}\n",
            t.records,
            t.blocked,
            if self.truncated {
                " (limit reached: older records not read)"
            } else {
                ""
            }
        ));
        for (title, list) in [
            ("by user", &t.by_user),
            ("by namespace", &t.by_namespace),
            ("by object", &t.by_object),
        ] {
            let items: Vec<String> = list
                .iter()
                .take(10)
                .map(|c| format!("{} {} ({} blocked)", c.key, c.total, c.blocked))
                .collect();
            out.push_str(&format!("{title}: {}\n", items.join(", ")));
        }
        let days: Vec<String> = t
            .by_day
            .iter()
            .map(|d| format!("{} {} ({} blocked)", d.day, d.total, d.blocked))
            .collect();
        out.push_str(&format!("by day: {}\n", days.join(", ")));
        out
    }
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::audit::record::RecordViolation;

    pub(crate) fn record(user: &str, ns: &str, name: &str, decision: &str, secs: i64) -> Record {
        Record {
            time: Timestamp::from_second(secs).expect("time"),
            uid: format!("uid-{user}-{secs}"),
            user: user.into(),
            groups: vec!["system:authenticated".into()],
            operation: "UPDATE".into(),
            subresource: String::new(),
            group: "apps".into(),
            version: "v1".into(),
            kind: "Deployment".into(),
            namespace: ns.into(),
            name: name.into(),
            decision: decision.into(),
            mode: "enforce".into(),
            revision: "main@sha1:0123456789ab".into(),
            source: "fleet".into(),
            file: "apps/web.yaml".into(),
            break_glass: None,
            endpoint: "validate".into(),
            replica: "r1".into(),
            violations: vec![RecordViolation {
                path: "spec.replicas".into(),
                git: Some("3".into()),
                old: Some("3".into()),
                requested: Some("5".into()),
            }],
            omitted: 0,
            changes: None,
            id: None,
        }
    }

    #[test]
    fn times_parse_as_durations_dates_and_rfc3339() {
        let now = Timestamp::from_second(1_764_144_000).expect("t"); // 2025-11-26T08:00:00Z
        assert_eq!(
            parse_time("since", "24h", now).expect("24h"),
            Timestamp::from_second(1_764_144_000 - 86_400).expect("t")
        );
        assert_eq!(
            parse_time("since", "2025-11-26", now)
                .expect("date")
                .to_string(),
            "2025-11-26T00:00:00Z"
        );
        assert_eq!(
            parse_time("until", "2025-11-26T08:00:00Z", now).expect("rfc"),
            now
        );
        assert!(parse_time("since", "yesterday-ish", now).is_err());
        assert!(filter(None, None, None, None, Some("0"), now).is_err());
    }

    #[test]
    fn totals_by_user_namespace_object_and_day() {
        let day = 1_764_144_000;
        let records = vec![
            record("alice", "shop", "web", "denied", day + 60),
            record("alice", "shop", "web", "warned", day + 30),
            record("bob", "", "viewer", "denied", day - 86_400),
        ];
        let report = Report::build(records, &Filter::default(), Timestamp::UNIX_EPOCH);
        let t = &report.totals;
        assert_eq!((t.records, t.blocked), (3, 2));
        assert_eq!(t.by_user[0].key, "alice");
        assert_eq!((t.by_user[0].total, t.by_user[0].blocked), (2, 1));
        assert!(t.by_namespace.iter().any(|c| c.key == "(cluster)"));
        assert_eq!(t.by_object[0].key, "apps/Deployment shop/web");
        assert_eq!(t.by_day.len(), 2);
        assert_eq!(t.by_day[0].day, "2025-11-25");
        assert_eq!((t.by_day[1].total, t.by_day[1].blocked), (2, 1));
        let csv = report.to_csv();
        assert_eq!(csv.lines().count(), 4);
        assert!(
            csv.contains("\"[{\"\"path\"\":\"\"spec.replicas\"\""),
            "{csv}"
        );
        let table = report.to_table();
        assert!(table.contains("apps/Deployment shop/web"), "{table}");
        assert!(table.contains("3 records, 2 blocked"), "{table}");
    }
}
