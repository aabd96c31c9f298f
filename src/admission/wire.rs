//! AdmissionReview on the wire, `admission.k8s.io/v1` and `v1beta1`. Objects stay raw JSON until
//! the decision needs them, so a bypassed user or an undeclared object costs no full parse.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::encoded::{Member, Node, Tree};
use crate::policy::UserInfo;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("body is not JSON: {0}")]
    Json(#[source] serde_json::Error),
    #[error("apiVersion {0:?} is not admission.k8s.io/v1 or admission.k8s.io/v1beta1")]
    ApiVersion(String),
    #[error("kind {0:?} is not AdmissionReview")]
    Kind(String),
    #[error("the review has no request")]
    NoRequest,
    #[error("request.uid is missing or empty")]
    NoUid,
    #[error("request.object is missing or null on {operation}")]
    MissingObject { operation: String },
    #[error("request.{field} is not valid: {source}")]
    Object {
        field: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewVersion {
    V1,
    V1beta1,
}

impl ReviewVersion {
    pub fn api_version(self) -> &'static str {
        match self {
            ReviewVersion::V1 => "admission.k8s.io/v1",
            ReviewVersion::V1beta1 => "admission.k8s.io/v1beta1",
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct GroupVersionKind {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub kind: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct GroupVersionResource {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub resource: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    #[serde(default)]
    pub uid: String,
    #[serde(default)]
    pub kind: GroupVersionKind,
    #[serde(default)]
    pub resource: GroupVersionResource,
    #[serde(default)]
    pub sub_resource: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub operation: String,
    #[serde(default)]
    pub user_info: UserInfo,
    #[serde(default)]
    pub object: Option<Box<RawValue>>,
    #[serde(default)]
    pub old_object: Option<Box<RawValue>>,
    #[serde(default)]
    pub dry_run: Option<bool>,
}

/// Just the identity part of an object's metadata.
#[derive(Debug, Deserialize)]
struct Meta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default, rename = "generateName")]
    generate_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReviewIn {
    #[serde(default)]
    api_version: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    request: Option<Request>,
}

/// A decoded review: its version (the answer must use it) and the request.
#[derive(Debug)]
pub struct Review {
    pub version: ReviewVersion,
    pub request: Request,
}

impl Review {
    pub fn parse(body: &[u8]) -> Result<Review, Error> {
        let review: ReviewIn = serde_json::from_slice(body).map_err(Error::Json)?;
        let version = match review.api_version.as_deref() {
            Some("admission.k8s.io/v1") => ReviewVersion::V1,
            Some("admission.k8s.io/v1beta1") => ReviewVersion::V1beta1,
            other => return Err(Error::ApiVersion(other.unwrap_or_default().to_string())),
        };
        match review.kind.as_deref() {
            Some("AdmissionReview") => {}
            other => return Err(Error::Kind(other.unwrap_or_default().to_string())),
        }
        let request = review.request.ok_or(Error::NoRequest)?;
        if request.uid.is_empty() {
            return Err(Error::NoUid);
        }
        Ok(Review { version, request })
    }
}

impl Request {
    pub fn is_dry_run(&self) -> bool {
        self.dry_run.unwrap_or(false)
    }

    pub fn sub_resource(&self) -> &str {
        self.sub_resource.as_deref().unwrap_or("")
    }

    /// The new object, parsed; `None` when absent or null.
    pub fn object(&self) -> Result<Option<Value>, Error> {
        parse_raw(self.object.as_deref(), "object")
    }

    /// The new object cut to what a comparison with `declared` can read, encoded for it: the
    /// top-level fields Git declares, and `metadata` without `managedFields`. `status` and
    /// `managedFields`, often half of a stored object, are skipped undecoded; no `Value` is built.
    pub fn object_for(&self, declared: Node<'_>) -> Result<Option<Tree>, Error> {
        project(self.object.as_deref(), "object", declared)
    }

    /// The stored object cut the same way as [`Request::object_for`].
    pub fn old_object_for(&self, declared: Node<'_>) -> Result<Option<Tree>, Error> {
        project(self.old_object.as_deref(), "oldObject", declared)
    }

    /// The stored object (UPDATE, DELETE), parsed; `None` when absent or null.
    pub fn old_object(&self) -> Result<Option<Value>, Error> {
        parse_raw(self.old_object.as_deref(), "oldObject")
    }

    /// `metadata.name` of the object without parsing the rest (CREATE with no request.name).
    pub fn object_name(&self) -> Option<String> {
        self.object_meta()?.name.filter(|n| !n.is_empty())
    }

    /// `metadata.namespace` of the object without parsing the rest.
    pub fn object_namespace(&self) -> Option<String> {
        self.object_meta()?.namespace.filter(|n| !n.is_empty())
    }

    /// `metadata.generateName` of the new object (a CREATE that asked for a generated name).
    pub fn object_generate_name(&self) -> Option<String> {
        #[derive(Deserialize)]
        struct Obj {
            #[serde(default)]
            metadata: Option<Meta>,
        }
        let raw = self.object.as_deref()?;
        serde_json::from_str::<Obj>(raw.get())
            .ok()?
            .metadata?
            .generate_name
            .filter(|n| !n.is_empty())
    }

    fn object_meta(&self) -> Option<Meta> {
        #[derive(Deserialize)]
        struct Obj {
            #[serde(default)]
            metadata: Option<Meta>,
        }
        let raw = self.object.as_deref().or(self.old_object.as_deref())?;
        serde_json::from_str::<Obj>(raw.get()).ok()?.metadata
    }
}

fn project(
    raw: Option<&RawValue>,
    field: &'static str,
    declared: Node<'_>,
) -> Result<Option<Tree>, Error> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    if raw.get().trim() == "null" {
        return Ok(None);
    }
    Tree::from_json_object(raw.get(), |key| match key {
        "metadata" => Member::KeepExcept(&["managedFields"]),
        // Git's `stringData` is compared with the request's `data`, where the apiserver folds it.
        "data" if declared.get("stringData").is_some() => Member::Keep,
        _ if declared.get(key).is_some() => Member::Keep,
        _ => Member::Skip,
    })
    .map(Some)
    .map_err(|source| Error::Object { field, source })
}

fn parse_raw(raw: Option<&RawValue>, field: &'static str) -> Result<Option<Value>, Error> {
    match raw {
        None => Ok(None),
        Some(raw) => {
            let value: Value = serde_json::from_str(raw.get())
                .map_err(|source| Error::Object { field, source })?;
            Ok((!value.is_null()).then_some(value))
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Status {
    pub code: u16,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `response` of an AdmissionReview.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    pub uid: String,
    pub allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub audit_annotations: BTreeMap<String, String>,
    /// Base64 of a JSONPatch (the API says base64; kube-core's type would emit a number array).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch_type: Option<String>,
}

impl Response {
    pub fn allow(uid: &str) -> Response {
        Response {
            uid: uid.to_string(),
            allowed: true,
            ..Response::default()
        }
    }
}

/// The whole answer, in the request's review version.
pub fn review_json(version: ReviewVersion, response: &Response) -> Value {
    serde_json::json!({
        "apiVersion": version.api_version(),
        "kind": "AdmissionReview",
        "response": response,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_what_is_not_a_review() {
        assert!(matches!(Review::parse(b""), Err(Error::Json(_))));
        assert!(matches!(Review::parse(b"{}"), Err(Error::ApiVersion(_))));
        assert!(matches!(
            Review::parse(br#"{"apiVersion":"admission.k8s.io/v1","kind":"Pod"}"#),
            Err(Error::Kind(_))
        ));
        assert!(matches!(
            Review::parse(br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#),
            Err(Error::NoRequest)
        ));
        assert!(matches!(
            Review::parse(br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"operation":"CREATE"}}"#),
            Err(Error::NoUid)
        ));
        let deep = format!(
            r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{{"uid":"u","object":{}1{}}}}}"#,
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        // Skipped raw, the nesting costs nothing; parsing the object is refused at depth 128.
        let parsed = Review::parse(deep.as_bytes()).expect("envelope parses");
        assert!(matches!(parsed.request.object(), Err(Error::Object { .. })));
    }

    #[test]
    fn projection_keeps_what_git_declares() {
        let r = Review::parse(
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"UPDATE",
            "object":{"metadata":{"name":"x","managedFields":[{"manager":"m"}],"labels":{"a":"b"}},"spec":{"r":1},"status":{"s":2},"data":{"k":"v"}}}}"#,
        )
        .expect("parses");
        let declared =
            Tree::from_value(&serde_json::json!({"metadata": {"name": "x"}, "spec": {"r": 1}}));
        let projected = r
            .request
            .object_for(declared.root())
            .expect("valid")
            .expect("present");
        assert_eq!(
            projected.root().to_value(),
            serde_json::json!({"metadata": {"name": "x", "labels": {"a": "b"}}, "spec": {"r": 1}})
        );
        let bad = Review::parse(
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","object":[1]}}"#,
        )
        .expect("envelope parses");
        assert!(bad.request.object_for(declared.root()).is_err());
    }

    #[test]
    fn lazy_objects() {
        let r = Review::parse(
            br#"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"u","operation":"DELETE","object":null,"oldObject":{"metadata":{"name":"x"}}}}"#,
        )
        .expect("parses");
        assert_eq!(r.version, ReviewVersion::V1beta1);
        assert_eq!(r.request.object().ok().flatten(), None);
        assert!(r.request.old_object().ok().flatten().is_some());
    }
}
