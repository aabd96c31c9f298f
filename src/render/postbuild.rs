//! Flux's post-build, in kustomize-controller's order: variable substitution on each rendered
//! object's text (`envsubst`, skipped for an object labelled or annotated
//! `kustomize.toolkit.fluxcd.io/substitute: disabled`, and altogether when the Kustomization
//! has no variables), then what the controller changes when it applies: SOPS metadata removed by
//! its decryption, `spec.commonMetadata` labels and annotations set.

use std::borrow::Cow;

use serde_json::Value;

use super::envsubst;
use super::flux::object::BuildOptions;
use crate::manifest::yaml;

const DISABLE_KEY: &str = "kustomize.toolkit.fluxcd.io/substitute";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("postBuild substitution in {object}: {source}")]
    Substitute {
        object: String,
        #[source]
        source: envsubst::Error,
    },
    #[error(
        "postBuild: var name {0:?} is invalid, must match '^[_[:alpha:]][_[:alpha:][:digit:]]*$'"
    )]
    VarName(String),
}

/// kustomize writes documents separated by `---` lines.
pub(crate) fn split_documents(text: &str) -> Vec<&str> {
    let mut docs = Vec::new();
    let mut start = 0;
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        if line.trim_end() == "---" {
            docs.push(&text[start..pos]);
            start = pos + line.len();
        }
        pos += line.len();
    }
    docs.push(&text[start..]);
    docs.into_iter().filter(|d| !d.trim().is_empty()).collect()
}

/// One rendered document with the Kustomization's variables substituted.
pub fn substitute<'a>(doc: &'a str, options: &BuildOptions) -> Result<Cow<'a, str>, Error> {
    // Without variables Flux does not substitute at all, defaults included.
    if options.vars.values.is_empty() || !doc.contains('$') {
        return Ok(Cow::Borrowed(doc));
    }
    let value = yaml::parse_documents(doc)
        .ok()
        .and_then(|d| d.into_iter().next())
        .map(|d| d.value);
    let disabled = |field: &str| {
        value
            .as_ref()
            .and_then(|v| v.get("metadata")?.get(field)?.get(DISABLE_KEY)?.as_str())
            == Some("disabled")
    };
    if disabled("labels") || disabled("annotations") {
        return Ok(Cow::Borrowed(doc));
    }
    if let Some(bad) = options
        .vars
        .values
        .keys()
        .find(|k| !envsubst::valid_name(k))
    {
        return Err(Error::VarName(bad.clone()));
    }
    envsubst::substitute(doc, &options.vars)
        .map(Cow::Owned)
        .map_err(|source| Error::Substitute {
            object: describe(value.as_ref()),
            source,
        })
}

/// `Deployment apps/web`, for messages.
fn describe(value: Option<&Value>) -> String {
    let s = |p: &str| {
        value
            .and_then(|v| v.pointer(p))
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    let ns = s("/metadata/namespace");
    let name = s("/metadata/name");
    if ns.is_empty() {
        format!("{} {name}", s("/kind"))
    } else {
        format!("{} {ns}/{name}", s("/kind"))
    }
}

/// What kustomize-controller changes when it applies an object: SOPS metadata is removed by its
/// decryption (the values it would decrypt are unknown here, so they are not declared, except a
/// Secret's data: never compared by default, and a `substituteFrom` must see its keys), then
/// `spec.commonMetadata` labels and annotations are set, overriding the object's own.
pub fn after(value: &mut Value, options: &BuildOptions) {
    let secret = value.get("kind").and_then(Value::as_str) == Some("Secret");
    if let Some(map) = value.as_object_mut() {
        if map.remove("sops").is_some() {
            for (key, field) in map.iter_mut() {
                if !(secret && (key == "data" || key == "stringData")) {
                    drop_encrypted(field);
                }
            }
        }
    }
    for (field, pairs) in [
        ("labels", &options.common_labels),
        ("annotations", &options.common_annotations),
    ] {
        if pairs.is_empty() {
            continue;
        }
        let Some(metadata) = value.get_mut("metadata").and_then(Value::as_object_mut) else {
            continue;
        };
        let entry = metadata
            .entry(field)
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(map) = entry.as_object_mut() {
            for (k, v) in pairs {
                map.insert(k.clone(), Value::String(v.clone()));
            }
        }
    }
}

/// Removes every SOPS-encrypted value (`ENC[AES256_GCM,…]`) from an object.
fn drop_encrypted(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !is_encrypted(v));
            map.values_mut().for_each(drop_encrypted);
        }
        Value::Array(items) => {
            items.retain(|v| !is_encrypted(v));
            items.iter_mut().for_each(drop_encrypted);
        }
        _ => {}
    }
}

fn is_encrypted(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|s| s.starts_with("ENC[") && s.ends_with(']'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::envsubst::{Value as Var, Vars};
    use serde_json::json;

    fn options(vars: &[(&str, &str)]) -> BuildOptions {
        BuildOptions {
            vars: Vars {
                values: vars
                    .iter()
                    .map(|(k, v)| (k.to_string(), Var::Known(v.to_string())))
                    .collect(),
                strict: false,
            },
            ..BuildOptions::default()
        }
    }

    #[test]
    fn disabled_by_label_or_annotation_and_off_without_variables() {
        let doc = |meta: &str| {
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n{meta}data:\n  r: ${{R:=2}}\n")
        };
        let on = options(&[("X", "1")]);
        assert!(substitute(&doc(""), &on).unwrap().contains("r: 2\n"));
        for marker in ["labels", "annotations"] {
            let disabled = doc(&format!(
                "  {marker}:\n    kustomize.toolkit.fluxcd.io/substitute: disabled\n"
            ));
            assert!(
                substitute(&disabled, &on).unwrap().contains("${R:=2}"),
                "{marker}"
            );
        }
        assert!(substitute(&doc(""), &options(&[]))
            .unwrap()
            .contains("${R:=2}"));
        let err = substitute(
            "kind: ConfigMap\nmetadata: {name: s}\ndata: {x: '${@}'}\n",
            &on,
        )
        .expect_err("bad");
        assert!(err.to_string().contains("ConfigMap s"), "{err}");
        let bad_name = options(&[("a-b", "1")]);
        assert!(matches!(
            substitute(&doc(""), &bad_name),
            Err(Error::VarName(_))
        ));
    }

    #[test]
    fn apply_time_metadata_and_sops() {
        let mut opts = options(&[]);
        opts.common_labels.insert("team".into(), "a".into());
        opts.common_annotations.insert("note".into(), "x".into());
        let mut value = json!({"kind": "ConfigMap", "metadata": {"name": "s", "labels": {"team": "b", "k": "v"}},
            "data": {"token": "ENC[AES256_GCM,data:abc,type:str]", "plain": "p"}, "sops": {"version": "3"}});
        after(&mut value, &opts);
        assert_eq!(
            value,
            json!({"kind": "ConfigMap", "metadata": {"name": "s", "labels": {"team": "a", "k": "v"}, "annotations": {"note": "x"}},
                "data": {"plain": "p"}})
        );
        let mut secret = json!({"kind": "Secret", "metadata": {"name": "s"},
            "stringData": {"token": "ENC[AES256_GCM,data:abc,type:str]"}, "sops": {"version": "3"}});
        after(&mut secret, &options(&[]));
        assert_eq!(
            secret["stringData"]["token"],
            "ENC[AES256_GCM,data:abc,type:str]"
        );
        assert!(secret.get("sops").is_none());
    }
}
