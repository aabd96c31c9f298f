//! Live objects from the cluster: one paginated LIST per declared kind and namespace (pages of
//! [`PAGE`], `continue` tokens, at most [`IN_FLIGHT`] lists at once), never one GET per object.
//! A list that is forbidden or fails is reported for its kind and namespace and the scan goes
//! on; a `410 Gone` for an expired `continue` token starts that list again from its first page.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use futures_util::stream::{self, StreamExt as _};
use kube::core::params::ListParams;

use super::compare::{Found, Scanner, Tally};
use super::dump::read_page;
use super::failure::{ApiFailure, Unlisted};
use super::live::ItemDefaults;
use super::report::{ListError, Report};
use crate::manifest::ObjectKey;
use crate::policy::Policy;
use crate::snapshot::Snapshot;

/// Objects per LIST page (what kubectl asks for).
pub const PAGE: u32 = 500;
/// Lists read at once: enough to hide round trips, few enough not to load the apiserver.
pub const IN_FLIGHT: usize = 4;
/// Times one list starts again after `410 Gone` before it is reported as failed.
const RESTARTS: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no cluster credentials (in-cluster service account or kubeconfig)")]
    Credentials(#[source] kube::config::InferConfigError),
    #[error("no cluster credentials (in-cluster service account or kubeconfig)")]
    Client(#[source] kube::Error),
    #[error("cannot start the scan's runtime")]
    Runtime(#[source] std::io::Error),
}

/// A client from the given configuration, or inferred as kubectl does: the in-cluster service
/// account, else the kubeconfig (`KUBECONFIG`, `~/.kube/config`).
pub async fn client(config: Option<kube::Config>) -> Result<kube::Client, Error> {
    let config = match config {
        Some(c) => c,
        None => kube::Config::infer().await.map_err(Error::Credentials)?,
    };
    kube::Client::try_from(config).map_err(Error::Client)
}

/// One LIST: a kind at a version, in one namespace or (cluster-scoped) cluster-wide.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ListTarget {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    /// `""` for a cluster-scoped kind.
    pub namespace: String,
}

impl ListTarget {
    pub fn url_path(&self) -> String {
        let base = if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        };
        if self.namespace.is_empty() {
            format!("{base}/{}", self.plural)
        } else {
            format!("{base}/namespaces/{}/{}", self.namespace, self.plural)
        }
    }

    fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    fn error(&self, why: Unlisted) -> ListError {
        ListError {
            group: self.group.clone(),
            version: self.version.clone(),
            kind: self.kind.clone(),
            namespace: self.namespace.clone(),
            message: crate::text::chain(&why).to_string(),
        }
    }
}

/// A kind's plural and scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub plural: String,
    pub namespaced: bool,
}

/// (group, version, kind) → its plural and scope, or why it is not known.
pub type Resolved = HashMap<(String, String, String), Result<Scope, Unlisted>>;

/// The lists a scan reads: one per (group, version, kind, namespace) Git declares, and with
/// `unmanaged`, every declared namespaced kind in every managed namespace. A kind whose
/// plural is unknown gives an error instead of a list.
pub fn plan(scanner: &Scanner, resolved: &Resolved) -> (Vec<ListTarget>, Vec<ListError>) {
    let mut targets = BTreeSet::new();
    let mut errors = BTreeMap::new();
    // (group, kind) → version → objects declared at it: unmanaged lists use the commonest.
    let mut versions: BTreeMap<(String, String), BTreeMap<String, usize>> = BTreeMap::new();
    let mut namespaces = BTreeSet::new();
    for o in scanner.in_scope() {
        let k = &o.key;
        let version = o.version().to_string();
        *versions
            .entry((k.group.clone(), k.kind.clone()))
            .or_default()
            .entry(version.clone())
            .or_insert(0) += 1;
        namespaces.extend(managed_namespaces(k));
        let gvk = (k.group.clone(), version.clone(), k.kind.clone());
        match resolved.get(&gvk) {
            Some(Ok(scope)) => {
                targets.insert(ListTarget {
                    group: k.group.clone(),
                    version,
                    kind: k.kind.clone(),
                    plural: scope.plural.clone(),
                    namespace: if scope.namespaced {
                        k.namespace.clone()
                    } else {
                        String::new()
                    },
                });
            }
            Some(Err(why)) => {
                errors
                    .entry(gvk)
                    .or_insert_with(|| crate::text::chain(why).to_string());
            }
            None => {
                errors
                    .entry(gvk)
                    .or_insert_with(|| Unlisted::Unknown.to_string());
            }
        }
    }
    if scanner.wants_unmanaged() {
        let listed: HashSet<(String, String, String)> = targets
            .iter()
            .map(|t| (t.group.clone(), t.kind.clone(), t.namespace.clone()))
            .collect();
        for ((group, kind), by_version) in &versions {
            let Some((version, _)) = by_version.iter().max_by_key(|(_, n)| **n) else {
                continue;
            };
            let gvk = (group.clone(), version.clone(), kind.clone());
            let Some(Ok(scope)) = resolved.get(&gvk) else {
                continue;
            };
            if !scope.namespaced {
                continue;
            }
            for ns in &namespaces {
                if !listed.contains(&(group.clone(), kind.clone(), ns.clone())) {
                    targets.insert(ListTarget {
                        group: group.clone(),
                        version: version.clone(),
                        kind: kind.clone(),
                        plural: scope.plural.clone(),
                        namespace: ns.clone(),
                    });
                }
            }
        }
    }
    let errors = errors
        .into_iter()
        .map(|((group, version, kind), message)| ListError {
            group,
            version,
            kind,
            namespace: String::new(),
            message,
        })
        .collect();
    (targets.into_iter().collect(), errors)
}

/// The namespaces a declared object makes managed.
fn managed_namespaces(key: &ObjectKey) -> impl Iterator<Item = String> + '_ {
    let own = (!key.namespace.is_empty()).then(|| key.namespace.clone());
    let declared = (key.group.is_empty() && key.kind == "Namespace").then(|| key.name.clone());
    own.into_iter().chain(declared)
}

/// Plural and scope of every declared (group, version, kind): from the built-in table and the
/// CRDs Git declares, else from the cluster's discovery (one request per group-version).
pub async fn resolve(client: &kube::Client, scanner: &Scanner<'_>) -> Resolved {
    let catalog = &scanner.snapshot().catalog;
    let mut resolved = Resolved::new();
    let mut unknown: BTreeMap<String, Vec<(String, String, String)>> = BTreeMap::new();
    for o in scanner.in_scope() {
        let gvk = (
            o.key.group.clone(),
            o.version().to_string(),
            o.key.kind.clone(),
        );
        if resolved.contains_key(&gvk) {
            continue;
        }
        match catalog.by_kind(&o.key.group, &o.key.kind) {
            Some(r) => {
                resolved.insert(
                    gvk,
                    Ok(Scope {
                        plural: r.plural.clone(),
                        namespaced: r.namespaced,
                    }),
                );
            }
            None => {
                let entry = unknown.entry(o.api_version.clone()).or_default();
                if !entry.contains(&gvk) {
                    entry.push(gvk);
                }
            }
        }
    }
    for (api_version, kinds) in unknown {
        let found = if api_version.contains('/') {
            client.list_api_group_resources(&api_version).await
        } else {
            client.list_core_api_resources(&api_version).await
        };
        let found = found.map_err(|e| std::sync::Arc::new(ApiFailure::from(e)));
        for gvk in kinds {
            let scope = match &found {
                Ok(list) => list
                    .resources
                    .iter()
                    .find(|r| r.kind == gvk.2 && !r.name.contains('/'))
                    .map(|r| Scope {
                        plural: r.name.clone(),
                        namespaced: r.namespaced,
                    })
                    .ok_or_else(|| Unlisted::NotServed {
                        kind: gvk.2.clone(),
                        api_version: api_version.clone(),
                    }),
                Err(failure) => Err(Unlisted::Discovery {
                    api_version: api_version.clone(),
                    source: failure.clone(),
                }),
            };
            resolved.insert(gvk, scope);
        }
    }
    resolved
}

/// What one list found: the objects to report and the kinds it read any object of.
struct Listed {
    found: Vec<Found>,
    errors: Vec<ListError>,
    kinds: HashSet<(String, String)>,
}

/// Every page of one list. A `410 Gone` (the `continue` token expired) drops what the list
/// read so far and starts it again, so its objects come from one consistent listing.
async fn list_all(
    client: &kube::Client,
    scanner: &Scanner<'_>,
    target: &ListTarget,
) -> Result<Listed, ListError> {
    let api_version = target.api_version();
    let defaults = ItemDefaults {
        api_version: Some(&api_version),
        kind: Some(&target.kind),
    };
    let mut restarts = 0;
    'list: loop {
        let mut listed = Listed {
            found: Vec::new(),
            errors: Vec::new(),
            kinds: HashSet::new(),
        };
        let mut next: Option<String> = None;
        loop {
            let params = ListParams {
                limit: Some(PAGE),
                continue_token: next.clone(),
                ..ListParams::default()
            };
            let request = kube::core::Request::new(target.url_path())
                .list(&params)
                .map_err(|e| target.error(ApiFailure::Request(e).into()))?;
            let text = match client.request_text(request).await {
                Ok(text) => text,
                Err(kube::Error::Api(status)) if status.code == 410 && restarts < RESTARTS => {
                    restarts += 1;
                    tracing::info!(list = %target.url_path(), restarts, "continue token expired (410 Gone): listing again from the start");
                    continue 'list;
                }
                Err(e) => return Err(target.error(ApiFailure::from(e).into())),
            };
            let mut tally = Tally::default();
            next = read_page(&text, defaults, &mut |item| match item {
                Ok(object) => super::observe(scanner, &mut tally, &object),
                Err(why) => tracing::warn!(list = %target.url_path(), "skipped an item: {}", crate::text::chain(&why)),
            })
            .map_err(|e| target.error(Unlisted::NotAList(e)))?;
            let (found, errors, kinds) = tally.into_parts();
            listed.found.extend(found);
            listed.errors.extend(errors);
            listed.kinds.extend(kinds);
            if next.is_none() {
                return Ok(listed);
            }
        }
    }
}

/// Scans the cluster: resolves the declared kinds, reads every planned list (at most
/// [`IN_FLIGHT`] at once), and reports. Objects of a list that failed are left out (the error
/// says why), never reported missing.
pub async fn scan(
    client: &kube::Client,
    snapshot: &Snapshot,
    policy: &Policy,
    unmanaged: bool,
) -> Result<Report, Error> {
    let scanner = Scanner::new(snapshot, policy, unmanaged);
    let resolved = resolve(client, &scanner).await;
    let (targets, mut errors) = plan(&scanner, &resolved);
    let mut unread: HashSet<(String, String, String)> = errors
        .iter()
        .map(|e| (e.group.clone(), e.kind.clone(), String::from("*")))
        .collect();
    let mut tally = Tally::default();
    let scanner = &scanner;
    let mut lists = stream::iter(targets.iter())
        .map(|target| async move { (target, list_all(client, scanner, target).await) })
        .buffer_unordered(IN_FLIGHT);
    while let Some((target, result)) = lists.next().await {
        match result {
            Ok(listed) => {
                for found in listed.found {
                    tally.add(found);
                }
                for e in listed.errors {
                    tally.error(e);
                }
                for (group, kind) in listed.kinds {
                    tally.saw_kind(&group, &kind);
                }
            }
            Err(e) => {
                tracing::warn!(list = %target.url_path(), "not read: {}", e.message);
                unread.insert((
                    target.group.clone(),
                    target.kind.clone(),
                    target.namespace.clone(),
                ));
                errors.push(e);
            }
        }
    }
    drop(lists);
    for e in errors {
        tally.error(e);
    }
    Ok(tally.finish(scanner, |key| {
        let gk = |ns: &str| (key.group.clone(), key.kind.clone(), ns.to_string());
        unread.contains(&gk("*")) || unread.contains(&gk(&key.namespace))
    }))
}
