//! What a blocked edit asked for, kept in full in its audit record, so the Git change that
//! makes it legitimate (`driftgate suggest --audit … --id N`, the report's suggested change)
//! can be made later from the record alone: each violating path, structured, with the full
//! requested value. Bounded per record; a Secret's values are never kept. When values are
//! left out the record says so, and no change is ever made from a shortened value.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::admission::Decision;
use crate::drift::path::Segment;

/// Most bytes of requested values kept in one record.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// One step of a path: a key (`"spec"`), a list-map element by its key fields
/// (`{"containerPort": "53", "protocol": "UDP"}`), an element by its place (`0`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Step {
    Key(String),
    Item(BTreeMap<String, String>),
    Index(usize),
}

/// One violating path and what the request had there (`None`: the request removed it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Field {
    pub path: Vec<Step>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Changes {
    /// False when values were left out: a Secret's, or more than [`MAX_VALUE_BYTES`].
    pub complete: bool,
    /// The violating paths; an empty path is the whole object (an unmanaged create).
    pub fields: Vec<Field>,
}

impl Changes {
    /// From a decision's violations; `secret` leaves every value out.
    pub fn of(decision: &Decision, secret: bool) -> Changes {
        let mut fields: Vec<Field> = decision
            .violations
            .iter()
            .filter(|v| !v.at.0.is_empty() || v.requested.is_some())
            .map(|v| Field {
                path: v
                    .at
                    .0
                    .iter()
                    .map(|s| match s {
                        Segment::Key(k) => Step::Key(k.clone()),
                        Segment::Item { keys, index } if keys.is_empty() => Step::Index(*index),
                        Segment::Item { keys, .. } => Step::Item(keys.iter().cloned().collect()),
                        Segment::Index(i) => Step::Index(*i),
                    })
                    .collect(),
                value: v.requested.clone(),
            })
            .collect();
        let bytes: usize = fields
            .iter()
            .filter_map(|f| f.value.as_ref())
            .map(|v| serde_json::to_string(v).map_or(usize::MAX, |s| s.len()))
            .fold(0, usize::saturating_add);
        let complete = !secret && bytes <= MAX_VALUE_BYTES;
        if !complete {
            for f in &mut fields {
                f.value = None;
            }
        }
        Changes { complete, fields }
    }

    /// The bytes this takes in a record, for the writer's queue bound.
    pub fn weight(&self) -> usize {
        serde_json::to_string(self).map_or(0, |s| s.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::{Reason, Verdict, Violation};
    use crate::config::Mode;
    use crate::drift::Path;
    use serde_json::json;

    fn decision(requested: Value) -> Decision {
        Decision {
            verdict: Verdict::Denied,
            reason: Reason::Drift,
            operation: "UPDATE".into(),
            key: None,
            declared: None,
            violations: vec![Violation {
                path: "spec.template.spec.containers[name=web].image".into(),
                first_difference: None,
                at: Path::root()
                    .key("spec")
                    .key("containers")
                    .item("name", "web".into(), 0)
                    .key("image"),
                git: json!("a"),
                requested: Some(requested),
                old: None,
            }],
            preexisting: Vec::new(),
            mode: Mode::Enforce,
            dry_run: false,
            break_glass: None,
            notes: Vec::new(),
            revision: String::new(),
        }
    }

    #[test]
    fn values_are_kept_whole_within_the_bound_and_never_for_secrets() {
        let c = Changes::of(&decision(json!("nginx:1.27")), false);
        assert!(c.complete);
        assert_eq!(c.fields[0].value, Some(json!("nginx:1.27")));
        let text = serde_json::to_string(&c).expect("json");
        assert_eq!(
            text,
            r#"{"complete":true,"fields":[{"path":["spec","containers",{"name":"web"},"image"],"value":"nginx:1.27"}]}"#
        );
        assert_eq!(
            serde_json::from_str::<Changes>(&text).expect("reads back"),
            c
        );
        let big = Changes::of(&decision(json!("x".repeat(MAX_VALUE_BYTES + 1))), false);
        assert!(!big.complete);
        assert_eq!(big.fields[0].value, None);
        let secret = Changes::of(&decision(json!("hunter2")), true);
        assert!(!secret.complete);
        assert!(!serde_json::to_string(&secret)
            .expect("json")
            .contains("hunter2"));
    }
}
