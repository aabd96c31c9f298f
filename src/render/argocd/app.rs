//! An Argo CD `Application` as declared, read into what the application controller does with
//! it: its sources (`spec.source`, or each of `spec.sources`), the destination namespace that
//! namespaced objects without one get, and how each source is rendered.

use serde_json::Value;

use crate::manifest::parse::RawObject;

/// One `Application`.
#[derive(Debug, Clone)]
pub struct Application {
    pub namespace: String,
    pub name: String,
    pub destination_namespace: Option<String>,
    /// The destination is another cluster than the one Argo CD runs in.
    pub remote: Option<String>,
    pub sources: Vec<AppSource>,
    pub file: String,
    pub line: usize,
}

impl Application {
    /// `Argo CD Application argocd/guestbook`.
    pub fn label(&self) -> String {
        format!("Argo CD Application {}/{}", self.namespace, self.name)
    }
}

/// One source of an Application.
#[derive(Debug, Clone)]
pub struct AppSource {
    pub repo_url: String,
    /// Relative to the repository root; `""` is the root.
    pub path: String,
    pub target_revision: String,
    /// Which tool renders it, as far as the Application says.
    pub kind: Declared,
    /// `spec.source.kustomize`, when set and not empty.
    pub kustomize: Option<Value>,
    /// `spec.source.directory`, when set and not empty.
    pub directory: Option<Value>,
    /// A source that only names values files for another (`ref:` without `path`).
    pub ref_only: bool,
}

/// The source type an Application sets explicitly (Argo CD's `ExplicitType`), or `Detect`
/// (decided by what the directory holds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Declared {
    Helm,
    Kustomize,
    Directory,
    Plugin,
    /// More than one of the above: Argo CD refuses the Application.
    Ambiguous,
    Detect,
}

pub fn is_application(raw: &RawObject) -> bool {
    raw.kind == "Application" && raw.api_version.split('/').next() == Some("argoproj.io")
}

/// A field that is set and not its zero value (Argo CD drops empty `helm: {}` and the like).
fn set<'v>(value: &'v Value, key: &str) -> Option<&'v Value> {
    value.get(key).filter(|v| match v {
        Value::Null => false,
        Value::Object(m) => !m.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::String(s) => !s.is_empty(),
        _ => true,
    })
}

fn read_source(s: &Value) -> AppSource {
    let text = |key: &str| s.get(key).and_then(Value::as_str).unwrap_or("").to_string();
    let explicit: Vec<Declared> = [
        ("helm", Declared::Helm),
        ("kustomize", Declared::Kustomize),
        ("directory", Declared::Directory),
        ("plugin", Declared::Plugin),
    ]
    .into_iter()
    .filter(|(key, _)| set(s, key).is_some())
    .map(|(_, d)| d)
    .collect();
    let kind = if set(s, "chart").is_some() {
        Declared::Helm
    } else {
        match explicit.as_slice() {
            [] => Declared::Detect,
            [one] => one.clone(),
            _ => Declared::Ambiguous,
        }
    };
    AppSource {
        repo_url: text("repoURL"),
        path: text("path"),
        target_revision: text("targetRevision"),
        kind,
        kustomize: set(s, "kustomize").cloned(),
        directory: set(s, "directory").cloned(),
        ref_only: set(s, "ref").is_some() && set(s, "path").is_none(),
    }
}

/// The destination, when it is not the cluster Argo CD runs in (`https://kubernetes.default.svc`,
/// or the cluster named `in-cluster`).
fn remote_destination(v: &Value) -> Option<String> {
    let text = |p: &str| {
        v.pointer(p)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    if let Some(server) = text("/spec/destination/server") {
        let local = server.trim_end_matches('/');
        return (local != "https://kubernetes.default.svc"
            && local != "https://kubernetes.default")
            .then(|| server.to_string());
    }
    text("/spec/destination/name")
        .filter(|name| *name != "in-cluster")
        .map(str::to_string)
}

pub fn is_application_set(raw: &RawObject) -> bool {
    raw.kind == "ApplicationSet" && raw.api_version.split('/').next() == Some("argoproj.io")
}

/// Reads an `Application`; `None` for any other object.
pub fn read(raw: &RawObject, default_namespace: &str) -> Option<Application> {
    if !is_application(raw) {
        return None;
    }
    let v = raw.value.parse().ok()?;
    let namespace = v
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .or(raw.origin.default_namespace())
        .unwrap_or(default_namespace)
        .to_string();
    let mut sources: Vec<AppSource> = v
        .pointer("/spec/sources")
        .and_then(Value::as_array)
        .map(|list| list.iter().map(read_source).collect())
        .unwrap_or_default();
    if sources.is_empty() {
        if let Some(s) = v.pointer("/spec/source") {
            sources.push(read_source(s));
        }
    }
    Some(Application {
        namespace,
        name: v.pointer("/metadata/name")?.as_str()?.to_string(),
        remote: remote_destination(&v),
        destination_namespace: v
            .pointer("/spec/destination/namespace")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        sources,
        file: raw.file.to_string(),
        line: raw.line,
    })
}
