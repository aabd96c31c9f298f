//! Everything known about one rendered object before its change is planned: the build that
//! renders it (rendered once with origin annotations), the object before and after Flux's
//! substitution, the resource file and document it comes from, the kustomizations of the
//! build, and the other builds of the repository.

use serde_json::Value;

use super::build::{self, Output};
use super::builds::Others;
use super::plain::{self, Scope};
use super::provenance::{self, Kustomization, Origin};
use super::repo::{Checkout, Files};
use super::Error;
use crate::manifest::parse::RawObject;
use crate::manifest::{DeclaredObject, ObjectKey};
use crate::render::build::Build;
use crate::render::flux::{self, FluxKustomization};
use crate::snapshot::Snapshot;
use crate::yamledit::{value, Editor, Step};

pub struct Ctx<'a> {
    pub snapshot: &'a Snapshot,
    /// Every build the source rendered (a change to the Flux Kustomization of this build may
    /// go through the build that renders it).
    pub builds: &'a [Build],
    pub checkout: &'a Checkout,
    pub key: &'a ObjectKey,
    pub api_version: String,
    pub build: Build,
    pub flux: Option<FluxKustomization>,
    /// The build rendered with origin annotations.
    pub output: Output,
    /// The build rendered as `render` renders it, to compare a change with.
    pub baseline: Output,
    /// The object before and after Flux's substitution, without the origin annotations.
    pub pre: Value,
    pub post: Value,
    pub origin: Origin,
    /// The resource file and its document of the object, when it is a file of this tree.
    pub resource: Option<(String, Value)>,
    /// `metadata.name` in that document (before name prefixes and suffixes).
    pub source_name: Option<String>,
    pub rendered_name: String,
    /// The overlay's own kustomization (none for a directory Flux generates one for).
    pub overlay: Option<Kustomization>,
    /// The kustomizations the build reads, the overlay first.
    pub chain: Vec<Kustomization>,
    pub others: Others,
    /// Transformers kustomize names for the object, for messages.
    pub transformers: Vec<String>,
}

impl<'a> Ctx<'a> {
    pub fn scope(&self) -> Scope<'_> {
        Scope {
            catalog: &self.snapshot.catalog,
            default_namespace: &self.checkout.source.default_namespace,
        }
    }

    /// Renders the object's build (`build`, the one its origin names) with provenance and
    /// gathers what is known about it.
    pub fn new(
        snapshot: &'a Snapshot,
        checkout: &'a Checkout,
        builds: &'a [Build],
        declared: &'a DeclaredObject,
        build: &Build,
    ) -> Result<Ctx<'a>, Error> {
        let key = &declared.key;
        let scope = Scope {
            catalog: &snapshot.catalog,
            default_namespace: &checkout.source.default_namespace,
        };
        let empty = Files::new(checkout);
        let output = build::render(build, checkout, &empty, true)?;
        let at = output
            .objects
            .iter()
            .position(|o| plain::is_object(o, key, scope))
            .ok_or_else(|| {
                Error::Declined(vec![format!(
                    "{key}: rendering {} again does not give it",
                    build.name
                )])
            })?;
        let found = Found {
            build: build.clone(),
            flux: flux_kustomization(snapshot, build, &checkout.source.default_namespace),
        };
        let baseline = build::render(&found.build, checkout, &empty, false)?;
        let annotated = output
            .before_substitution
            .get(at)
            .cloned()
            .unwrap_or(Value::Null);
        let origin = provenance::origin(&annotated, &found.build);
        let transformers = provenance::transformers(&annotated, &found.build);
        let others = Others::find(checkout, &found.build);
        let mut chain = Vec::new();
        let mut dirs = vec![found.build.dir.clone()];
        dirs.extend(
            others
                .chain
                .iter()
                .filter(|d| **d != found.build.dir)
                .cloned(),
        );
        for d in &dirs {
            if let Some(k) = Kustomization::read(&checkout.index, &empty, d)? {
                chain.push(k);
            }
        }
        let overlay = chain.first().filter(|k| k.dir == found.build.dir).cloned();
        let rendered_name = key.name.clone();
        let mut ctx = Ctx {
            snapshot,
            builds,
            checkout,
            key,
            api_version: declared.api_version.clone(),
            pre: build::without_provenance(&annotated),
            post: build::without_provenance(&output.objects[at]),
            build: found.build,
            flux: found.flux,
            output,
            baseline,
            origin,
            resource: None,
            source_name: None,
            rendered_name,
            overlay,
            chain,
            others,
            transformers,
        };
        if let Origin::File(file) = &ctx.origin {
            let text = checkout.read(file)?.unwrap_or_default();
            if let Ok(editor) = Editor::new(&text) {
                if let Some(doc) = ctx
                    .find_document(&editor)
                    .and_then(|i| editor.value(i).cloned())
                {
                    ctx.source_name = doc
                        .pointer("/metadata/name")
                        .and_then(Value::as_str)
                        .map(str::to_string);
                    ctx.resource = Some((file.clone(), doc));
                }
            }
        }
        Ok(ctx)
    }

    /// The build, for messages: `Flux Kustomization flux-system/apps (apps/production)`.
    pub fn label(&self) -> String {
        format!(
            "{} ({})",
            self.build.name,
            crate::render::display_dir(&self.build.dir)
        )
    }

    /// Whether no other build of the repository reads `file`.
    pub fn is_private(&self, file: &str) -> bool {
        self.others.reading(file).is_empty()
    }

    /// The document of a file (a resource or a patch) about this object: of its kind, and
    /// named as it renders or as its source names it; the only one of its kind otherwise.
    pub fn find_document(&self, editor: &Editor) -> Option<usize> {
        let kind =
            |v: &Value| v.get("kind").and_then(Value::as_str) == Some(self.key.kind.as_str());
        let name = |v: &Value| {
            v.pointer("/metadata/name")
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let of_kind: Vec<usize> = (0..editor.len())
            .filter(|&i| editor.value(i).is_some_and(kind))
            .collect();
        let wanted = [Some(self.rendered_name.clone()), self.source_name.clone()];
        of_kind
            .iter()
            .copied()
            .find(|&i| {
                editor
                    .value(i)
                    .and_then(name)
                    .is_some_and(|n| wanted.contains(&Some(n)))
            })
            .or_else(|| {
                let contained: Vec<usize> = of_kind
                    .iter()
                    .copied()
                    .filter(|&i| {
                        editor
                            .value(i)
                            .and_then(name)
                            .is_some_and(|n| self.rendered_name.contains(&n))
                    })
                    .collect();
                (contained.len() == 1).then(|| contained[0])
            })
            .or_else(|| (of_kind.len() == 1).then(|| of_kind[0]))
    }

    /// The last strategic-merge patch file of the build that sets `path` on the object.
    pub fn patch_setting(&self, path: &[Step]) -> Option<String> {
        for k in &self.chain {
            for (_, file, _) in k.patch_files().into_iter().rev() {
                let Ok(Some(text)) = self.checkout.read(&file) else {
                    continue;
                };
                let Ok(editor) = Editor::new(&text) else {
                    continue;
                };
                let sets = self
                    .find_document(&editor)
                    .and_then(|i| editor.value(i))
                    .is_some_and(|doc| value::get(doc, path).is_some());
                if sets {
                    return Some(file);
                }
            }
        }
        None
    }

    /// The overlay's kustomization file, for entries and patches added there.
    pub fn overlay_file(&self) -> Result<String, Error> {
        self.overlay.as_ref().map(|k| k.file.clone()).ok_or_else(|| {
            Error::Declined(vec![format!(
                "{}: {} has no kustomization file (Flux generates one), so nothing can be registered there",
                self.key,
                self.label()
            )])
        })
    }
}

/// A build and the Flux Kustomization behind it, if any.
struct Found {
    build: Build,
    flux: Option<FluxKustomization>,
}

/// The Flux Kustomization a build is named after (`Flux Kustomization NS/NAME`), read from
/// the snapshot.
fn flux_kustomization(
    snapshot: &Snapshot,
    build: &Build,
    default_namespace: &str,
) -> Option<FluxKustomization> {
    let (namespace, name) = build
        .name
        .strip_prefix("Flux Kustomization ")?
        .split_once('/')?;
    let key = ObjectKey::new(
        "kustomize.toolkit.fluxcd.io",
        "Kustomization",
        namespace,
        name,
    );
    let object = snapshot.get(&key)?;
    let raw = RawObject {
        api_version: object.api_version.clone(),
        kind: object.key.kind.clone(),
        value: object.value.clone(),
        file: object.file.clone(),
        line: object.line,
        origin: object.origin.clone(),
        stale: object.stale,
    };
    flux::read_kustomization(&raw, default_namespace)
}
