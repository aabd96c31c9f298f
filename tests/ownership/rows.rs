//! What the rows are made of: the resources they are about, and edits of the stored objects.

use serde_json::{json, Value};

use super::{review, Case, Expect, Gvr};

pub const DEPLOY: Gvr = ("apps", "v1", "deployments");
pub const PDB: Gvr = ("policy", "v1", "poddisruptionbudgets");
pub const NS: Gvr = ("", "v1", "namespaces");
pub const SA: Gvr = ("", "v1", "serviceaccounts");
pub const CM: Gvr = ("", "v1", "configmaps");
pub const NETPOL: Gvr = ("networking.k8s.io", "v1", "networkpolicies");
pub const ISSUER: Gvr = ("cert-manager.io", "v1", "clusterissuers");
pub const ROLLOUT: Gvr = ("argoproj.io", "v1alpha1", "rollouts");
pub const WIDGET: Gvr = ("example.com", "v1", "widgets");
pub const JOB: Gvr = ("batch", "v1", "jobs");
pub const GADGET: Gvr = ("cluster.example.io", "v1", "clustergadgets");
pub const CANARY: Gvr = ("apps.example.io", "v1", "canaries");

pub fn edited(mut v: Value, edit: impl FnOnce(&mut Value)) -> Value {
    edit(&mut v);
    v
}

pub fn container(v: &mut Value) -> &mut Value {
    &mut v["spec"]["template"]["spec"]["containers"][0]
}

pub fn remove(v: &mut Value, key: &str) {
    if let Some(map) = v.as_object_mut() {
        map.remove(key);
    }
}

/// A CREATE's object: what the apiserver sends before it stores anything.
pub fn created(mut v: Value) -> Value {
    remove(&mut v, "status");
    for key in ["uid", "resourceVersion", "generation", "managedFields"] {
        remove(&mut v["metadata"], key);
    }
    v
}

pub fn update(name: &'static str, gvr: Gvr, kind: &str, new: Value, old: Value, e: Expect) -> Case {
    Case {
        name,
        body: review("UPDATE", gvr, kind, "", &new, &old),
        expect: e,
    }
}

pub fn create(name: &'static str, gvr: Gvr, kind: &str, new: Value, e: Expect) -> Case {
    Case {
        name,
        body: review("CREATE", gvr, kind, "", &created(new), &Value::Null),
        expect: e,
    }
}

pub fn annotated(v: Value) -> Value {
    edited(v, |v| {
        v["metadata"]["annotations"]["note"] = json!("edited by hand");
    })
}
