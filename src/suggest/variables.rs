//! Values that come from a Flux `postBuild` variable (`${VAR}` in the rendered text, replaced
//! by kustomize-controller after the build). The variable is named with where it is defined;
//! it is changed there when it is a literal `substitute` entry that only this value uses.

use super::context::Ctx;
use super::want::FieldChange;
use crate::manifest::ObjectKey;

/// Why a value from a Flux variable is not changed in Git here; each names the variable and
/// where it is defined, so the person can change it there.
#[derive(Debug, thiserror::Error)]
pub enum Unsettable {
    #[error("{path} is {text:?} in the build's output: text and Flux variables together; change it where it is written ({origin})")]
    Mixed {
        path: String,
        text: String,
        origin: String,
    },
    #[error("{path} comes from ${{{name}}}, but no Flux Kustomization builds {build}")]
    NoFlux {
        path: String,
        name: String,
        build: String,
    },
    #[error("{path} comes from the Flux variable ${{{name}}}, set in postBuild.substitute of {defined}; {uses} values of this build use it, so changing it there would change them all")]
    Shared {
        path: String,
        name: String,
        defined: String,
        uses: usize,
    },
    #[error("{path} comes from the Flux variable ${{{name}}}, set by {set_by} that postBuild.substituteFrom of {defined} reads; change it there if every value using it should change")]
    FromObject {
        path: String,
        name: String,
        /// The object and where it is declared: `ConfigMap apps/vars (apps/vars.yaml:1)`.
        set_by: String,
        defined: String,
    },
    #[error("{path} comes from the Flux variable ${{{name}}}, which postBuild.substituteFrom of {defined} sets from a ConfigMap or Secret Git does not hold")]
    FromMissing {
        path: String,
        name: String,
        defined: String,
    },
    #[error("{path} comes from the Flux variable ${{{name}}}, which nothing in Git sets (its default applies); set it in postBuild.substitute of {defined}")]
    Unset {
        path: String,
        name: String,
        defined: String,
    },
}

/// The variable's name when `text` is exactly one `${NAME}` expression (with or without a
/// default: `${NAME:=3}`, `${NAME:-x}`, `${NAME=y}`, `${NAME-z}`).
pub fn whole_variable(text: &str) -> Option<&str> {
    let body = text.strip_prefix("${")?.strip_suffix('}')?;
    let end = body
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(body.len());
    let (name, rest) = body.split_at(end);
    let operator = ["", ":=", ":-", "=", "-"]
        .iter()
        .any(|op| rest.starts_with(op) && (!op.is_empty() || rest.is_empty()));
    (!name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && !rest.contains('}')
        && operator)
        .then_some(name)
}

/// The variable to set for a value written as `text` (with `${…}`), or why it cannot be.
pub fn candidate(ctx: &Ctx, text: &str, change: &FieldChange) -> Result<String, Unsettable> {
    let path = change.display();
    let Some(name) = whole_variable(text) else {
        return Err(Unsettable::Mixed {
            path,
            text: text.to_string(),
            origin: ctx.origin.describe(),
        });
    };
    let Some(k) = &ctx.flux else {
        return Err(Unsettable::NoFlux {
            path,
            name: name.to_string(),
            build: ctx.label(),
        });
    };
    let defined = format!(
        "Flux Kustomization {}/{} ({}:{})",
        k.namespace, k.name, k.file, k.line
    );
    if k.substitute.contains_key(name) {
        let uses = ctx.output.text.matches(&format!("${{{name}")).count();
        if uses <= 1
            && change
                .value
                .as_ref()
                .is_some_and(|v| !v.is_object() && !v.is_array() && !v.is_null())
        {
            return Ok(name.to_string());
        }
        return Err(Unsettable::Shared {
            path,
            name: name.to_string(),
            defined,
            uses,
        });
    }
    // Flux reads `substituteFrom` first; `substitute` overrides it.
    for from in &k.substitute_from {
        let group = "";
        let key = ObjectKey::new(group, &from.kind, &k.namespace, &from.name);
        let Some(object) = ctx.snapshot.get(&key) else {
            continue;
        };
        let holds = object
            .value
            .tree()
            .get("data")
            .and_then(|d| d.get(name))
            .is_some()
            || object
                .value
                .tree()
                .get("stringData")
                .and_then(|d| d.get(name))
                .is_some();
        if holds {
            return Err(Unsettable::FromObject {
                path,
                name: name.to_string(),
                set_by: format!(
                    "{} {}/{} ({}:{})",
                    from.kind, k.namespace, from.name, object.file, object.line
                ),
                defined,
            });
        }
    }
    if !k.substitute_from.is_empty() {
        return Err(Unsettable::FromMissing {
            path,
            name: name.to_string(),
            defined,
        });
    }
    Err(Unsettable::Unset {
        path,
        name: name.to_string(),
        defined,
    })
}

/// The text a `substitute` entry needs for the value to render as `value`.
pub fn text_of(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_variables_only() {
        assert_eq!(whole_variable("${REPLICAS}"), Some("REPLICAS"));
        assert_eq!(whole_variable("${R:=3}"), Some("R"));
        assert_eq!(whole_variable("${R-x}"), Some("R"));
        assert_eq!(whole_variable("a-${R}"), None);
        assert_eq!(whole_variable("${R}${S}"), None);
        assert_eq!(whole_variable("${1R}"), None);
        assert_eq!(whole_variable("${R?}"), None);
    }
}
