//! One audit record: who tried to change what, when, against which revision, and what came of
//! it. Built on the request path from data already in hand (no I/O), so it must stay cheap.

use k8s_openapi::jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::changes::Changes;
use crate::admission::{Decision, Endpoint, RequestInfo, Verdict};
use crate::text::shorten;

/// Longest value kept for Git's, the old and the requested value of a path.
const MAX_VALUE: usize = 200;
/// Longest break-glass reason kept.
const MAX_REASON: usize = 500;
/// Most violations kept per record; the rest are counted in `omitted`.
const MAX_VIOLATIONS: usize = 50;
/// What is stored instead of any value of a Secret.
pub const SECRET: &str = "(secret)";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordViolation {
    /// Readable path; empty for the whole object (a delete, an undeclared create).
    pub path: String,
    /// Compact JSON, shortened; `None` when the side has no value.
    pub git: Option<String>,
    pub old: Option<String>,
    pub requested: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub time: Timestamp,
    pub uid: String,
    pub user: String,
    pub groups: Vec<String>,
    pub operation: String,
    pub subresource: String,
    pub group: String,
    pub version: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// `denied`, `warned`, `break-glass` or `annotated`.
    pub decision: String,
    /// The mode in force for the object (`enforce`, `warn`).
    pub mode: String,
    pub revision: String,
    pub source: String,
    pub file: String,
    pub break_glass: Option<String>,
    /// Which webhook wrote the record.
    pub endpoint: String,
    /// The replica that wrote it (pod name), so a trail shared by several replicas says which.
    pub replica: String,
    pub violations: Vec<RecordViolation>,
    /// Violations beyond those kept.
    #[serde(default)]
    pub omitted: u32,
    /// What the edit asked for, in full (for the Git change that makes it legitimate);
    /// `None` in a record written before the trail kept it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes: Option<Changes>,
    /// The record's number in the trail, once stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
}

fn value_text(value: Option<&Value>, secret: bool) -> Option<String> {
    let value = value.filter(|v| !v.is_null())?;
    Some(if secret {
        SECRET.to_string()
    } else {
        shorten(&value.to_string(), MAX_VALUE)
    })
}

impl Record {
    /// The record for an audited decision, or `None` for one that is not recorded (allowed
    /// without break-glass, or a dry-run).
    pub fn new(
        decision: &Decision,
        info: &RequestInfo,
        endpoint: Endpoint,
        replica: &str,
        time: Timestamp,
    ) -> Option<Record> {
        if !decision.should_audit() {
            return None;
        }
        let key = decision.key.as_ref();
        let group = key.map(|k| k.group.clone()).unwrap_or(info.group.clone());
        let kind = key.map(|k| k.kind.clone()).unwrap_or(info.kind.clone());
        // A Secret's values never reach the trail, whatever the path: Git may hold them
        // encrypted, the cluster in the clear.
        let secret = group.is_empty() && kind == "Secret";
        let violations = decision
            .violations
            .iter()
            .take(MAX_VIOLATIONS)
            .map(|v| RecordViolation {
                path: v.path.clone(),
                git: value_text(Some(&v.git), secret),
                old: value_text(v.old.as_ref(), secret),
                requested: value_text(v.requested.as_ref(), secret),
            })
            .collect();
        let decision_word = if decision.break_glass.is_some() {
            "break-glass"
        } else if endpoint == Endpoint::Mutate && decision.verdict == Verdict::Warned {
            "annotated"
        } else {
            decision.verdict.as_str()
        };
        Some(Record {
            // The trail keeps milliseconds; the record says what will be read back.
            time: Timestamp::from_millisecond(time.as_millisecond()).unwrap_or(time),
            uid: info.uid.clone(),
            user: info.user.username.clone(),
            groups: info.user.groups.clone(),
            operation: info.operation.clone(),
            subresource: info.sub_resource.clone(),
            group,
            version: info.version.clone(),
            kind,
            namespace: key
                .map(|k| k.namespace.clone())
                .unwrap_or(info.namespace.clone()),
            name: key.map(|k| k.name.clone()).unwrap_or(info.name.clone()),
            decision: decision_word.to_string(),
            mode: decision.mode.as_str().to_string(),
            revision: decision.revision.clone(),
            source: decision
                .declared
                .as_ref()
                .map(|d| d.source.to_string())
                .unwrap_or_default(),
            file: decision
                .declared
                .as_ref()
                .map(|d| d.file.to_string())
                .unwrap_or_default(),
            break_glass: decision
                .break_glass
                .as_ref()
                .map(|r| shorten(r, MAX_REASON)),
            endpoint: endpoint.as_str().to_string(),
            replica: replica.to_string(),
            violations,
            omitted: decision.violations.len().saturating_sub(MAX_VIOLATIONS) as u32,
            changes: Some(Changes::of(decision, secret)),
            id: None,
        })
    }

    /// About how many bytes the record holds, for the writer's queue bound.
    pub fn weight(&self) -> usize {
        let violations: usize = self
            .violations
            .iter()
            .map(|v| {
                v.path.len()
                    + [&v.git, &v.old, &v.requested]
                        .iter()
                        .map(|s| s.as_ref().map_or(0, String::len))
                        .sum::<usize>()
            })
            .sum();
        512 + violations + self.changes.as_ref().map_or(0, Changes::weight)
    }

    /// `apps/Deployment shop/web`, the object as people name it.
    pub fn object(&self) -> String {
        let gk = if self.group.is_empty() {
            self.kind.clone()
        } else {
            format!("{}/{}", self.group, self.kind)
        };
        if self.namespace.is_empty() {
            format!("{gk} {}", self.name)
        } else {
            format!("{gk} {}/{}", self.namespace, self.name)
        }
    }

    /// A blocked edit: denied by the validating webhook.
    pub fn is_blocked(&self) -> bool {
        self.decision == "denied"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::{Reason, Violation};
    use crate::config::Mode;
    use crate::manifest::ObjectKey;
    use crate::policy::UserInfo;

    pub(crate) fn decision(kind: &str, verdict: Verdict) -> Decision {
        Decision {
            verdict,
            reason: Reason::Drift,
            operation: "UPDATE".into(),
            key: Some(ObjectKey::new("", kind, "shop", "db")),
            declared: None,
            violations: vec![Violation {
                path: "data.password".into(),
                at: crate::drift::Path::root().key("data").key("password"),
                git: Value::String("c2VjcmV0".into()),
                requested: Some(Value::String("x".repeat(1000))),
                old: None,
                first_difference: None,
            }],
            preexisting: Vec::new(),
            mode: Mode::Enforce,
            dry_run: false,
            break_glass: None,
            notes: Vec::new(),
            revision: "main@sha1:0123456789ab".into(),
        }
    }

    fn info() -> RequestInfo {
        RequestInfo {
            uid: "u1".into(),
            user: UserInfo {
                username: "alice".into(),
                groups: vec!["dev".into()],
            },
            operation: "UPDATE".into(),
            version: "v1".into(),
            kind: "Secret".into(),
            namespace: "shop".into(),
            name: "db".into(),
            ..RequestInfo::default()
        }
    }

    #[test]
    fn secret_values_are_never_stored() {
        let d = decision("Secret", Verdict::Denied);
        let r = Record::new(&d, &info(), Endpoint::Validate, "r1", Timestamp::UNIX_EPOCH)
            .expect("audited");
        assert_eq!(r.violations[0].git.as_deref(), Some(SECRET));
        assert_eq!(r.violations[0].requested.as_deref(), Some(SECRET));
        assert_eq!(r.violations[0].old, None);
        let text = serde_json::to_string(&r).expect("json");
        assert!(!text.contains("c2VjcmV0"), "{text}");
        assert_eq!(r.object(), "Secret shop/db");
    }

    #[test]
    fn values_are_shortened_and_words_follow_the_endpoint() {
        let d = decision("ConfigMap", Verdict::Warned);
        let r = Record::new(&d, &info(), Endpoint::Mutate, "r1", Timestamp::UNIX_EPOCH)
            .expect("audited");
        assert_eq!(r.decision, "annotated");
        assert!(
            r.violations[0]
                .requested
                .as_deref()
                .unwrap_or("")
                .chars()
                .count()
                <= MAX_VALUE
        );
        assert_eq!(r.violations[0].git.as_deref(), Some("\"c2VjcmV0\""));
        let r = Record::new(&d, &info(), Endpoint::Validate, "r1", Timestamp::UNIX_EPOCH)
            .expect("audited");
        assert_eq!(r.decision, "warned");
        let mut bg = d.clone();
        bg.break_glass = Some("INC-1".into());
        let r = Record::new(
            &bg,
            &info(),
            Endpoint::Validate,
            "r1",
            Timestamp::UNIX_EPOCH,
        )
        .expect("audited");
        assert_eq!(r.decision, "break-glass");
        assert_eq!(r.break_glass.as_deref(), Some("INC-1"));
    }

    #[test]
    fn dry_runs_and_allowed_requests_make_no_record() {
        let mut d = decision("ConfigMap", Verdict::Denied);
        d.dry_run = true;
        assert!(Record::new(&d, &info(), Endpoint::Validate, "r", Timestamp::UNIX_EPOCH).is_none());
        let d = decision("ConfigMap", Verdict::Allowed);
        assert!(Record::new(&d, &info(), Endpoint::Validate, "r", Timestamp::UNIX_EPOCH).is_none());
    }
}
