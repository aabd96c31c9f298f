//! Flux `ExternalArtifact`s that an `ArtifactGenerator` declared in the repository assembles from
//! this repository (`copy: [{from: "@alias/dir/**", to: "@artifact/dest/"}]`).
//!
//! Rather than assembling the artifact, a Kustomization's path in it is mapped back to the tree
//! directory it was copied from and built there. That is exact when every input of the build sits
//! at the same relative place in the artifact as in the tree, which `verify` checks; when it does
//! not, the build is refused rather than rendered differently from what Flux applies.

use serde_json::Value;

use crate::manifest::parse::RawObject;

use super::plan::{self, Inputs};

/// The copy rules of one artifact that take directories from this repository.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArtifactMap {
    /// (tree directory, artifact directory) per rule; `""` is the root of either.
    pub rules: Vec<(String, String)>,
}

impl ArtifactMap {
    /// The tree directory an artifact path was copied from (the most specific destination wins).
    pub fn to_tree(&self, artifact_path: &str) -> Option<String> {
        self.rules
            .iter()
            .filter(|(_, dst)| plan::is_within(artifact_path, dst))
            .max_by_key(|(_, dst)| dst.len())
            .map(|(src, dst)| plan::join(src, strip(artifact_path, dst)))
    }

    /// Where a tree path lands in the artifact (the most specific source wins).
    pub fn to_artifact(&self, tree_path: &str) -> Option<String> {
        self.rules
            .iter()
            .filter(|(src, _)| plan::is_within(tree_path, src))
            .max_by_key(|(src, _)| src.len())
            .map(|(src, dst)| plan::join(dst, strip(tree_path, src)))
    }

    /// Building `dir` of the tree reads the same files, at the same relative places, as building
    /// `artifact_path` of the artifact.
    pub fn verify(&self, artifact_path: &str, dir: &str, inputs: &Inputs) -> Result<(), Moved> {
        for path in inputs.entries.keys() {
            let Some(in_artifact) = self.to_artifact(path) else {
                return Err(Moved::NotCopied { path: path.clone() });
            };
            if relative(dir, path) != relative(artifact_path, &in_artifact) {
                return Err(Moved::Elsewhere {
                    path: path.clone(),
                    in_artifact,
                });
            }
        }
        Ok(())
    }
}

/// Why a build of the tree would not read what the same build of the artifact reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Moved {
    #[error("the build reads {path}, which the artifact does not contain")]
    NotCopied { path: String },
    #[error(
        "the build reads {path}, which the artifact holds at {in_artifact}: another relative place"
    )]
    Elsewhere { path: String, in_artifact: String },
}

/// `path` without the `dir/` prefix (`path` is within `dir`).
fn strip<'a>(path: &'a str, dir: &str) -> &'a str {
    path[dir.len()..].trim_start_matches('/')
}

/// The relative path from directory `from` to `to` (`../base`).
fn relative(from: &str, to: &str) -> String {
    let from: Vec<&str> = from.split('/').filter(|s| !s.is_empty()).collect();
    let to: Vec<&str> = to.split('/').filter(|s| !s.is_empty()).collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<&str> = vec![".."; from.len() - common];
    parts.extend(&to[common..]);
    parts.join("/")
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

/// The copy rules from this repository of the artifact `namespace/name`, from the
/// ArtifactGenerators among `objects`; `this` tells whether a GitRepository is this repository.
pub fn find(
    objects: &[RawObject],
    namespace: &str,
    name: &str,
    this: &dyn Fn(&str, &str) -> bool,
) -> Option<ArtifactMap> {
    let mut map = ArtifactMap::default();
    for raw in objects {
        if raw.kind != "ArtifactGenerator"
            || raw.api_version.split('/').next() != Some("source.extensions.fluxcd.io")
        {
            continue;
        }
        let Ok(v) = raw.value.parse() else {
            continue;
        };
        let v = &v;
        let ns = str_at(v, "/metadata/namespace").unwrap_or(namespace);
        if ns != namespace {
            continue;
        }
        let aliases: Vec<&str> = v
            .pointer("/spec/sources")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|s| {
                str_at(s, "/kind") == Some("GitRepository")
                    && this(
                        str_at(s, "/namespace").unwrap_or(ns),
                        str_at(s, "/name").unwrap_or(""),
                    )
            })
            .filter_map(|s| str_at(s, "/alias"))
            .collect();
        let artifacts = v.pointer("/spec/artifacts").and_then(Value::as_array);
        for artifact in artifacts.into_iter().flatten() {
            if str_at(artifact, "/name") != Some(name) {
                continue;
            }
            let copies = artifact.pointer("/copy").and_then(Value::as_array);
            for copy in copies.into_iter().flatten() {
                let (Some(from), Some(to)) = (str_at(copy, "/from"), str_at(copy, "/to")) else {
                    continue;
                };
                let src = aliases.iter().find_map(|a| {
                    let rest = from.strip_prefix(&format!("@{a}/"))?;
                    let dir = rest.strip_suffix("/**").or(rest.strip_suffix("**"))?;
                    // Only whole directories map back; a glob picking files does not.
                    (!dir.contains(['*', '?', '['])).then(|| dir.trim_end_matches('/').to_string())
                });
                let dst = to.strip_prefix("@artifact").map(|d| d.trim_matches('/'));
                if let (Some(src), Some(dst)) = (src, dst) {
                    map.rules.push((src, dst.to_string()));
                }
            }
        }
    }
    (!map.rules.is_empty()).then_some(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::EntryKind;
    use gix::ObjectId;

    fn inputs(paths: &[&str]) -> Inputs {
        let mut inputs = Inputs::default();
        for p in paths {
            inputs.entries.insert(
                p.to_string(),
                (EntryKind::Tree, ObjectId::from_bytes_or_panic(&[1; 20])),
            );
        }
        inputs
    }

    #[test]
    fn layout_kept_maps_back_and_layout_changed_is_refused() {
        // flux2-kustomize-helm-example's `apps` artifact.
        let apps = ArtifactMap {
            rules: vec![
                ("apps/base".into(), "base".into()),
                ("apps/production".into(), "production".into()),
            ],
        };
        assert_eq!(
            apps.to_tree("production").as_deref(),
            Some("apps/production")
        );
        let reads = inputs(&["apps/production", "apps/base/podinfo"]);
        assert_eq!(apps.verify("production", "apps/production", &reads), Ok(()));

        let moved = ArtifactMap {
            rules: vec![
                ("apps/base".into(), "base".into()),
                ("apps/production".into(), "deep/production".into()),
            ],
        };
        let err = moved
            .verify("deep/production", "apps/production", &reads)
            .expect_err("../base is elsewhere in the artifact");
        assert!(err.to_string().contains("another relative place"), "{err}");
        let missing = inputs(&["apps/production", "shared/x"]);
        let err = apps
            .verify("production", "apps/production", &missing)
            .expect_err("not copied");
        assert!(err.to_string().contains("does not contain"), "{err}");

        // `infrastructure/**` copied to the artifact's root.
        let infra = ArtifactMap {
            rules: vec![("infrastructure".into(), String::new())],
        };
        assert_eq!(
            infra.to_tree("controllers").as_deref(),
            Some("infrastructure/controllers")
        );
        assert_eq!(relative("a/b", "a/c/d"), "../c/d");
        assert_eq!(relative("", "x"), "x");
    }
}
