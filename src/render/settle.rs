//! From each build's result to the source's state, one build at a time: a build that fails
//! keeps its last good objects (marked stale) while every other build advances, and a build
//! that never rendered declares nothing. A key that two builds declare differently fails the
//! newer of them (the one whose declaration of it is new or changed; when both or neither are,
//! as on a first load, the one whose name sorts later), which then keeps its own last good
//! objects, and both are named; declared identically, it is declared once. What a build
//! declares now becomes its last good render.

use std::collections::{HashMap, HashSet};

use crate::config::Source;
use crate::findings::{FailedBuild, OutOfScope};
use crate::kinds::Catalog;
use crate::manifest::parse::{FileError, RawObject};
use crate::manifest::{split_api_version, ObjectKey};
use crate::snapshot::{self, SourceState};

use super::build::{Build, BuildError, Rendered};

/// A build and how it went at this revision.
#[derive(Debug)]
pub struct Outcome {
    pub build: Build,
    pub result: Result<Rendered, BuildError>,
}

/// Each build's last good render, by build name, between syncs.
#[derive(Debug, Default)]
pub struct Memory {
    last_good: HashMap<String, Rendered>,
    /// The builds of the last read, as they were rendered (`suggest` renders one again to
    /// learn where a value comes from and to check a change).
    builds: Vec<Build>,
}

impl Memory {
    pub fn last_good(&self, build: &str) -> Option<&Rendered> {
        self.last_good.get(build)
    }

    /// The builds of the last read.
    pub fn builds(&self) -> &[Build] {
        &self.builds
    }

    /// Builds remembered (for tests and logs).
    pub fn len(&self) -> usize {
        self.last_good.len()
    }

    pub fn is_empty(&self) -> bool {
        self.last_good.is_empty()
    }
}

/// The objects an outcome declares while the source is being read: its render, or its last
/// good one marked stale.
pub fn current(outcome: &Outcome, memory: &Memory) -> Vec<RawObject> {
    match &outcome.result {
        Ok(rendered) => rendered.objects.to_vec(),
        Err(e) if e.out_of_scope() => Vec::new(),
        Err(_) => stale(memory, &outcome.build.name),
    }
}

fn stale(memory: &Memory, build: &str) -> Vec<RawObject> {
    memory
        .last_good(build)
        .map(|r| {
            r.objects
                .iter()
                .cloned()
                .map(|mut o| {
                    o.stale = true;
                    o
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The built-in kinds and the CRDs among `objects`: the scope of each object's key.
pub fn catalog<'a>(objects: impl IntoIterator<Item = &'a RawObject>) -> Catalog {
    let mut catalog = Catalog::built_in();
    for raw in objects {
        if raw.kind == "CustomResourceDefinition"
            && raw.api_version.starts_with("apiextensions.k8s.io/")
        {
            if let Ok(crd) = raw.value.parse() {
                catalog.add_crd(&crd);
            }
        }
    }
    catalog
}

/// The key an object will have in the snapshot.
pub fn key(catalog: &Catalog, default_namespace: &str, raw: &RawObject) -> ObjectKey {
    let (group, _) = split_api_version(&raw.api_version);
    let namespace = snapshot::namespace_of(catalog, default_namespace, raw);
    ObjectKey::new(group, &raw.kind, namespace, raw.value.name())
}

/// An object two builds declare identically is declared once, by the first (plain files, then
/// builds by name), with a note: GitOps controllers apply both without conflict (a Namespace
/// several apps include), and there is one truth to compare with.
fn identical_once(
    source: &Source,
    outcomes: &[Outcome],
    objects: &mut [Vec<RawObject>],
    order: &[usize],
    state: &mut SourceState,
    key: &dyn Fn(&RawObject) -> ObjectKey,
) {
    let mut first: HashMap<ObjectKey, (String, crate::manifest::Declared)> = state
        .objects
        .iter()
        .map(|o| (key(o), ("plain file".to_string(), o.value.clone())))
        .collect();
    for &i in order {
        let name = &outcomes[i].build.name;
        let mut notes = Vec::new();
        objects[i].retain(|o| {
            // A `generateName` object has no key to share: each is its own.
            if o.value.name().is_empty() {
                return true;
            }
            let k = key(o);
            match first.get(&k) {
                Some((by, value)) if *value == o.value => {
                    if by != name {
                        notes.push(format!(
                            "{k} is declared identically by {by} and {name}: once, by {by}"
                        ));
                    }
                    by == name
                }
                Some(_) => true,
                None => {
                    first.insert(k, (name.clone(), o.value.clone()));
                    true
                }
            }
        });
        let (file, line) = outcomes[i].build.location();
        state
            .findings
            .notes
            .extend(notes.into_iter().map(|message| crate::findings::Note {
                source: source.name.clone(),
                file: file.clone(),
                line,
                message,
            }));
    }
}

/// Adds the outcomes to `state` (which may already hold plain files' objects: those are not a
/// build and win any conflict with one) and updates `memory`.
pub fn settle(
    source: &Source,
    outcomes: Vec<Outcome>,
    memory: &mut Memory,
    state: &mut SourceState,
) {
    let mut objects: Vec<Vec<RawObject>> = outcomes.iter().map(|o| current(o, memory)).collect();
    let catalog = catalog(state.objects.iter().chain(objects.iter().flatten()));
    let key = |raw: &RawObject| key(&catalog, &source.default_namespace, raw);
    // The builds that lose a key to another; their own errors stay in `outcomes`.
    let mut duplicates: Vec<Option<BuildError>> = outcomes.iter().map(|_| None).collect();
    let mut order: Vec<usize> = (0..outcomes.len()).collect();
    order.sort_by(|a, b| outcomes[*a].build.name.cmp(&outcomes[*b].build.name));
    let plain: HashSet<ObjectKey> = state.objects.iter().map(key).collect();
    identical_once(source, &outcomes, &mut objects, &order, state, &key);
    loop {
        let mut owner: HashMap<ObjectKey, usize> = HashMap::new();
        let mut conflict = None;
        'builds: for &i in &order {
            for raw in objects[i].iter().filter(|o| !o.value.name().is_empty()) {
                let k = key(raw);
                if plain.contains(&k) {
                    conflict = Some((None, i, k));
                    break 'builds;
                }
                match owner.get(&k) {
                    Some(&j) if j != i => {
                        conflict = Some((Some(j), i, k));
                        break 'builds;
                    }
                    Some(_) => {}
                    None => {
                        owner.insert(k, i);
                    }
                }
            }
        }
        let Some((first, second, k)) = conflict else {
            break;
        };
        let (loser, winner) = match first {
            None => (second, "plain file".to_string()),
            Some(first) => {
                // The older declaration is the one the build made before, unchanged; the
                // newer is new or changed. When that does not tell, the later name is newer.
                let unchanged = |i: usize| {
                    let now = objects[i].iter().find(|o| key(o) == k).map(|o| &o.value);
                    memory.last_good(&outcomes[i].build.name).is_some_and(|r| {
                        r.objects
                            .iter()
                            .any(|o| key(o) == k && Some(&o.value) == now)
                    })
                };
                if unchanged(second) && !unchanged(first) {
                    (first, outcomes[second].build.name.clone())
                } else {
                    (second, outcomes[first].build.name.clone())
                }
            }
        };
        let fresh = duplicates[loser].is_none() && outcomes[loser].result.is_ok();
        if fresh {
            duplicates[loser] = Some(BuildError::Duplicate {
                key: k.to_string(),
                other: winner,
            });
            objects[loser] = stale(memory, &outcomes[loser].build.name);
        }
        // Already failed: its kept objects give way where they collide.
        objects[loser].retain(|o| key(o) != k);
    }
    state.findings.builds += outcomes.len();
    memory.builds = outcomes.iter().map(|o| o.build.clone()).collect();
    let names: HashSet<&str> = outcomes.iter().map(|o| o.build.name.as_str()).collect();
    memory
        .last_good
        .retain(|name, _| names.contains(name.as_str()));
    for ((outcome, objects), duplicate) in outcomes.into_iter().zip(objects).zip(duplicates) {
        let Outcome { build, result } = outcome;
        state.files_read += 1;
        let error = match (result, duplicate) {
            (Ok(rendered), None) => {
                state.skipped_documents += rendered.skipped_documents;
                memory.last_good.insert(build.name.clone(), rendered);
                None
            }
            (_, Some(duplicate)) => Some(duplicate),
            (Err(e), None) if e.out_of_scope() => {
                let (file, line) = build.location();
                state.findings.out_of_scope.push(OutOfScope {
                    source: source.name.clone(),
                    file,
                    line,
                    what: build.name.clone(),
                    why: crate::text::chain(&e).to_string(),
                });
                memory.last_good.remove(&build.name);
                None
            }
            (Err(e), None) => Some(e),
        };
        if let Some(error) = error {
            let (file, line) = build.location();
            // What fails a build is shown as it is (`index`, `/readyz`): its text is made here.
            let shown = crate::text::chain(&error).to_string();
            let message = format!("{}: {shown}", build.name);
            state.errors.push(FileError {
                source: source.name.clone(),
                file: file.clone(),
                line,
                message: message.clone(),
            });
            state.findings.failed_builds.push(FailedBuild {
                source: source.name.clone(),
                build: build.name.clone(),
                file,
                line,
                message: shown,
                stale_objects: objects.len(),
            });
        }
        state.objects.extend(objects);
    }
}
