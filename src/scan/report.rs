//! What a scan found, in the shape `driftgate scan --format json` prints and `/api/drift`
//! serves, with the counts and the plain-text table built from it.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

/// Exit code of `scan` when any object is drifted, missing, or (asked for) unmanaged.
pub const EXIT_DRIFT: u8 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    InSync,
    Drifted,
    Missing,
    Unmanaged,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::InSync => "in-sync",
            State::Drifted => "drifted",
            State::Missing => "missing",
            State::Unmanaged => "unmanaged",
        }
    }
}

/// One declared field whose live value differs from Git's.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PathDiff {
    /// `spec.template.spec.containers[name=web].image`.
    pub path: String,
    pub git: Value,
    /// `null` when the live object lacks the field.
    pub live: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObjectReport {
    /// `""` for the core group.
    pub group: String,
    pub version: String,
    pub kind: String,
    /// `""` for a cluster-scoped object.
    pub namespace: String,
    pub name: String,
    /// The source and file that declare it; empty for an unmanaged object.
    pub source: String,
    pub file: String,
    pub state: State,
    pub paths: Vec<PathDiff>,
    /// The live object's uid (PolicyReport results point at it); absent when missing.
    #[serde(skip)]
    pub uid: Option<String>,
}

impl ObjectReport {
    /// `apps/Deployment shop/web`, as the audit report names objects.
    pub fn describe(&self) -> String {
        let kind = if self.group.is_empty() {
            self.kind.clone()
        } else {
            format!("{}/{}", self.group, self.kind)
        };
        if self.namespace.is_empty() {
            format!("{kind} {}", self.name)
        } else {
            format!("{kind} {}/{}", self.namespace, self.name)
        }
    }

    /// `apps/v1`, `v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

/// A list that could not be read (forbidden, or failing): its objects are neither in sync nor
/// missing, and the scan says so instead of guessing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListError {
    pub group: String,
    pub version: String,
    pub kind: String,
    /// `""` for a cluster-wide or cluster-scoped list.
    pub namespace: String,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub in_sync: usize,
    pub drifted: usize,
    pub missing: usize,
    pub unmanaged: usize,
    /// Declared objects under `mode: off`, not compared.
    pub skipped: usize,
}

impl Counts {
    pub fn diverged(&self) -> usize {
        self.drifted + self.missing + self.unmanaged
    }
}

/// The whole scan, objects sorted by key (group, kind, namespace, name).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    pub revision: String,
    pub objects: Vec<ObjectReport>,
    pub errors: Vec<ListError>,
    #[serde(skip)]
    pub skipped: usize,
    /// Notes for the person running it (a declared kind the dump holds none of).
    #[serde(skip)]
    pub notes: Vec<String>,
}

impl Report {
    pub fn counts(&self) -> Counts {
        let mut c = Counts {
            skipped: self.skipped,
            ..Counts::default()
        };
        for o in &self.objects {
            match o.state {
                State::InSync => c.in_sync += 1,
                State::Drifted => c.drifted += 1,
                State::Missing => c.missing += 1,
                State::Unmanaged => c.unmanaged += 1,
            }
        }
        c
    }

    /// 4 when anything diverges (drift is what was asked about, and it is real even when
    /// some list failed), 1 when a list failed and nothing diverged (in sync is not known),
    /// 0 in sync.
    pub fn exit_code(&self) -> u8 {
        if self.counts().diverged() > 0 {
            EXIT_DRIFT
        } else if !self.errors.is_empty() {
            1
        } else {
            0
        }
    }

    /// Objects not in sync, per namespace and kind (`apps/Deployment`): what the HTML page
    /// and the `driftgate_drifted_objects` gauge show.
    pub fn diverged_by_namespace_kind(&self) -> BTreeMap<(String, String), usize> {
        let mut out = BTreeMap::new();
        for o in self.objects.iter().filter(|o| o.state != State::InSync) {
            let kind = if o.group.is_empty() {
                o.kind.clone()
            } else {
                format!("{}/{}", o.group, o.kind)
            };
            *out.entry((o.namespace.clone(), kind)).or_insert(0) += 1;
        }
        out
    }

    /// The plain-text summary: counts, then every object that is not in sync with its paths.
    pub fn table(&self) -> String {
        let c = self.counts();
        let mut out = String::new();
        let _ = writeln!(out, "revision: {}", self.revision);
        let _ = writeln!(
            out,
            "objects:  {} in sync, {} drifted, {} missing, {} unmanaged{}",
            c.in_sync,
            c.drifted,
            c.missing,
            c.unmanaged,
            if c.skipped > 0 {
                format!(" ({} skipped: mode off)", c.skipped)
            } else {
                String::new()
            }
        );
        for o in self.objects.iter().filter(|o| o.state != State::InSync) {
            let from = if o.file.is_empty() {
                String::new()
            } else {
                format!("  ({}: {})", o.source, o.file)
            };
            let _ = writeln!(
                out,
                "{:<10} {}{from}",
                o.state.as_str().to_uppercase(),
                o.describe()
            );
            for p in &o.paths {
                let _ = writeln!(
                    out,
                    "           {}: Git {}, live {}",
                    p.path,
                    short(&p.git),
                    p.live.as_ref().map_or_else(|| "(absent)".into(), short)
                );
            }
        }
        for e in &self.errors {
            let what = if e.group.is_empty() {
                e.kind.clone()
            } else {
                format!("{}/{}", e.group, e.kind)
            };
            let scope = if e.namespace.is_empty() {
                String::new()
            } else {
                format!(" in {}", e.namespace)
            };
            let _ = writeln!(out, "NOT READ   {what}{scope}: {}", e.message);
        }
        for n in &self.notes {
            let _ = writeln!(out, "note: {n}");
        }
        out
    }
}

/// A value on one line, long ones cut: a table row stays readable in a terminal.
pub fn short(value: &Value) -> String {
    const MAX: usize = 120;
    let text = value.to_string();
    if text.chars().count() <= MAX {
        return text;
    }
    let cut: String = text.chars().take(MAX).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(state: State, paths: Vec<PathDiff>) -> ObjectReport {
        ObjectReport {
            group: "apps".into(),
            version: "v1".into(),
            kind: "Deployment".into(),
            namespace: "shop".into(),
            name: "web".into(),
            source: "fleet".into(),
            file: "apps/web.yaml".into(),
            state,
            paths,
            uid: None,
        }
    }

    #[test]
    fn json_shape_and_exit_codes() {
        let drifted = object(
            State::Drifted,
            vec![PathDiff {
                path: "spec.replicas".into(),
                git: json!(3),
                live: Some(json!(5)),
            }],
        );
        let mut report = Report {
            revision: "main@sha1:0123456789ab".into(),
            objects: vec![object(State::InSync, vec![]), drifted],
            ..Report::default()
        };
        let doc = serde_json::to_value(&report).expect("json");
        assert_eq!(doc["objects"][1]["state"], "drifted");
        assert_eq!(doc["objects"][0]["state"], "in-sync");
        assert_eq!(
            doc["objects"][1]["paths"][0],
            json!({"path": "spec.replicas", "git": 3, "live": 5})
        );
        assert!(doc["objects"][0].get("uid").is_none());
        assert_eq!(report.exit_code(), EXIT_DRIFT);
        assert!(report.table().contains("spec.replicas: Git 3, live 5"));
        report.objects.truncate(1);
        assert_eq!(report.exit_code(), 0);
        report.errors.push(ListError {
            group: String::new(),
            version: "v1".into(),
            kind: "Secret".into(),
            namespace: "shop".into(),
            message: "forbidden".into(),
        });
        assert_eq!(report.exit_code(), 1);
        assert!(report
            .table()
            .contains("NOT READ   Secret in shop: forbidden"));
    }
}
