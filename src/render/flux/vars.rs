//! A Flux Kustomization's variables, as kustomize-controller loads them: each
//! `postBuild.substituteFrom` ConfigMap or Secret (in the Kustomization's namespace; a later one
//! overrides an earlier one), then `postBuild.substitute` over them, newlines removed. The
//! ConfigMaps and Secrets are the ones Git declares; one that is not declared fails the build
//! unless it is `optional`. A Secret Git holds SOPS-encrypted gives variables whose values are
//! unknown. Strict substitution is on when the repository runs kustomize-controller with
//! `--feature-gates=StrictPostBuildSubstitutions=true`.

use std::collections::HashMap;

use base64::Engine;
use serde_json::Value;

use crate::manifest::parse::RawObject;
use crate::render::envsubst::{Value as Var, Vars};

use super::object::FluxKustomization;

/// The ConfigMaps and Secrets declared so far, by (kind, namespace, name).
#[derive(Debug, Default)]
pub struct Lookup {
    objects: HashMap<(String, String, String), RawObject>,
}

impl Lookup {
    pub fn new<'a>(
        objects: impl IntoIterator<Item = &'a RawObject>,
        default_namespace: &str,
    ) -> Lookup {
        let mut lookup = Lookup::default();
        for o in objects {
            if o.api_version != "v1" || !(o.kind == "ConfigMap" || o.kind == "Secret") {
                continue;
            }
            let ns = o
                .value
                .namespace()
                .or(o.origin.default_namespace())
                .unwrap_or(default_namespace);
            lookup.objects.insert(
                (o.kind.clone(), ns.to_string(), o.value.name().to_string()),
                o.clone(),
            );
        }
        lookup
    }
}

/// A `substituteFrom` object that Git does not declare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

/// A Kustomization's variables, and the Secrets whose values are encrypted in Git.
#[derive(Debug, Clone, Default)]
pub struct Resolved {
    pub vars: Vars,
    pub encrypted: Vec<String>,
}

pub fn resolve(k: &FluxKustomization, lookup: &Lookup, strict: bool) -> Result<Resolved, Missing> {
    let mut resolved = Resolved::default();
    resolved.vars.strict = strict;
    for reference in &k.substitute_from {
        let id = (
            reference.kind.clone(),
            k.namespace.clone(),
            reference.name.clone(),
        );
        let Some(object) = lookup.objects.get(&id) else {
            if reference.optional {
                continue;
            }
            return Err(Missing {
                kind: reference.kind.clone(),
                namespace: k.namespace.clone(),
                name: reference.name.clone(),
            });
        };
        let Ok(value) = object.value.parse() else {
            continue;
        };
        let mut encrypted = false;
        let fields: &[&str] = if reference.kind == "Secret" {
            &["data", "stringData"]
        } else {
            &["data"]
        };
        for field in fields {
            let Some(map) = value.get(*field).and_then(Value::as_object) else {
                continue;
            };
            for (key, v) in map {
                let text = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let var = if text.starts_with("ENC[") {
                    encrypted = true;
                    Var::Unknown
                } else if *field == "data" && reference.kind == "Secret" {
                    match base64::engine::general_purpose::STANDARD.decode(text.trim()) {
                        Ok(bytes) => Var::Known(String::from_utf8_lossy(&bytes).replace('\n', "")),
                        Err(_) => Var::Unknown,
                    }
                } else {
                    Var::Known(text.replace('\n', ""))
                };
                resolved.vars.values.insert(key.clone(), var);
            }
        }
        if encrypted {
            resolved
                .encrypted
                .push(format!("Secret {}/{}", k.namespace, reference.name));
        }
    }
    for (key, value) in &k.substitute {
        resolved
            .vars
            .values
            .insert(key.clone(), Var::Known(value.clone()));
    }
    Ok(resolved)
}

/// Whether Git runs kustomize-controller with strict substitution: the flag on its
/// Deployment, in a `FluxInstance`'s patches, or in the values of a HelmRelease installing Flux.
pub fn strict_mode<'a>(objects: impl IntoIterator<Item = &'a RawObject>) -> bool {
    objects.into_iter().any(|o| {
        let relevant = (o.kind == "Deployment" && o.value.name() == "kustomize-controller")
            || (o.kind == "FluxInstance" && o.api_version.starts_with("fluxcd.controlplane.io/"))
            || (o.kind == "HelmRelease" && o.api_version.starts_with("helm.toolkit.fluxcd.io/"));
        relevant
            && o.value
                .parse()
                .is_ok_and(|v| v.to_string().contains("StrictPostBuildSubstitutions=true"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::parse::parse_file;
    use crate::render::flux::object::read_kustomization;

    fn objects(text: &str) -> Vec<RawObject> {
        parse_file("s", "f.yaml", text.as_bytes())
            .expect("parses")
            .objects
    }

    #[test]
    fn variables_from_git_in_order_with_secrets_decoded_or_unknown() {
        let declared = objects(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: flux-system}\ndata: {A: one, B: \"two\\nlines\"}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: plain, namespace: flux-system}\ndata: {A: dGhyZWU=}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: sealed, namespace: flux-system}\nstringData: {S: 'ENC[AES256_GCM,data:x,type:str]'}\nsops: {version: 3}\n",
        );
        let k = objects(
            "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: k, namespace: flux-system}\nspec:\n  postBuild:\n    substitute: {C: inline}\n    substituteFrom:\n    - {kind: ConfigMap, name: settings}\n    - {kind: Secret, name: plain}\n    - {kind: Secret, name: sealed}\n    - {kind: ConfigMap, name: absent, optional: true}\n",
        );
        let k = read_kustomization(&k[0], "default").expect("a Kustomization");
        let lookup = Lookup::new(&declared, "default");
        let resolved = resolve(&k, &lookup, false).expect("all found");
        let get = |name: &str| resolved.vars.values.get(name).cloned();
        assert_eq!(
            get("A"),
            Some(Var::Known("three".into())),
            "a later source wins"
        );
        assert_eq!(
            get("B"),
            Some(Var::Known("twolines".into())),
            "newlines removed"
        );
        assert_eq!(get("C"), Some(Var::Known("inline".into())));
        assert_eq!(get("S"), Some(Var::Unknown));
        assert_eq!(resolved.encrypted, ["Secret flux-system/sealed"]);
        let mut required = k.clone();
        required.substitute_from[3].optional = false;
        let missing = resolve(&required, &lookup, false).expect_err("absent");
        assert_eq!(missing.name, "absent");
    }

    #[test]
    fn strictness_is_read_from_the_controller_git_installs() {
        let plain = objects("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: kustomize-controller}\nspec: {}\n");
        assert!(!strict_mode(&plain));
        let flagged = objects("apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: flux-instance}\nspec:\n  values:\n    instance:\n      kustomize:\n        patches:\n        - patch: '--feature-gates=StrictPostBuildSubstitutions=true'\n");
        assert!(strict_mode(&flagged));
        let elsewhere = objects("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\ndata: {x: StrictPostBuildSubstitutions=true}\n");
        assert!(!strict_mode(&elsewhere));
    }
}
