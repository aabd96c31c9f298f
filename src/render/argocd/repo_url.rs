//! Is an Application's `repoURL` this source, and is its `targetRevision` the commit read?
//!
//! A repository has many spellings: `https://github.com/org/fleet.git`, `git@github.com:org/fleet`,
//! `ssh://git@github.com/org/fleet/`, `https://GitHub.com/org/fleet`. They are compared after
//! dropping the scheme, user, port, a trailing `/` and `.git`, and lower-casing the host (paths
//! stay case-sensitive: some hosts are). A source names its repository by `url` and `aliases`
//! (the URL Argo CD uses when driftgate reads a mirror or a local clone).

use crate::config::Source;

/// `host/path` (or the path of a local repository), comparable across spellings.
pub fn normalize(url: &str) -> String {
    let url = url.trim();
    let (authority, path) = if let Some((_, rest)) = url.split_once("://") {
        match rest.split_once('/') {
            Some((authority, path)) => (authority, path),
            None => (rest, ""),
        }
    } else if let Some((authority, path)) = scp_like(url) {
        (authority, path)
    } else {
        ("", url)
    };
    let host = authority.rsplit('@').next().unwrap_or(authority);
    let host = host.split(':').next().unwrap_or(host).to_ascii_lowercase();
    let path = path.trim_end_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path).trim_matches('/');
    if host.is_empty() {
        format!("/{path}")
    } else {
        format!("{host}/{path}")
    }
}

/// `git@host:path` (scp syntax): the part before the first `:` holds no `/`.
fn scp_like(url: &str) -> Option<(&str, &str)> {
    let (authority, path) = url.split_once(':')?;
    (!authority.is_empty() && !authority.contains('/') && authority.contains('@'))
        .then_some((authority, path))
}

/// Whether `url` names the source's repository (its `url` or one of its `aliases`).
pub fn is_source(source: &Source, url: &str) -> bool {
    let wanted = normalize(url);
    std::iter::once(&source.url)
        .chain(&source.aliases)
        .any(|u| normalize(u) == wanted)
}

/// Whether a `targetRevision` is the commit the source reads: `HEAD` (or empty) when the
/// source follows HEAD or HEAD is that commit, the ref the source follows, the commit's id, or
/// any name that resolves to that commit in this repository.
pub fn in_scope(
    target: &str,
    source: &Source,
    label_ref: &str,
    commit: &str,
    resolve: &dyn Fn(&str) -> Option<String>,
) -> bool {
    let target = target.trim();
    if target.is_empty() || target == "HEAD" {
        return source.git_ref == "HEAD" || resolve("HEAD").as_deref() == Some(commit);
    }
    if target == source.git_ref || target == label_ref {
        return true;
    }
    if target.len() == 40 && target.chars().all(|c| c.is_ascii_hexdigit()) {
        return target.eq_ignore_ascii_case(commit);
    }
    resolve(target).as_deref() == Some(commit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_repository_compare_equal() {
        let canonical = "github.com/org/fleet";
        for url in [
            "https://github.com/org/fleet.git",
            "https://github.com/org/fleet/",
            "https://GitHub.com/org/fleet",
            "git@github.com:org/fleet.git",
            "ssh://git@github.com:22/org/fleet",
            "https://user@github.com/org/fleet",
        ] {
            assert_eq!(normalize(url), canonical, "{url}");
        }
        assert_ne!(normalize("https://github.com/Org/fleet"), canonical);
        assert_ne!(normalize("https://github.com/org/fleet2"), canonical);
        assert_eq!(normalize("/srv/git/fleet.git"), "/srv/git/fleet");
        assert_eq!(normalize("file:///srv/git/fleet/"), "/srv/git/fleet");
    }

    #[test]
    fn target_revisions_in_scope_resolve_to_the_commit_read() {
        let source: Source = serde_json::from_value(serde_json::json!({
            "name": "s", "url": "/r", "ref": "main"
        }))
        .expect("source");
        let commit = "0123456789abcdef0123456789abcdef01234567";
        let resolve = |name: &str| match name {
            "HEAD" | "v1.2" => Some(commit.to_string()),
            "release" => Some("f".repeat(40)),
            _ => None,
        };
        let scope = |target: &str| in_scope(target, &source, "main", commit, &resolve);
        for target in ["", "HEAD", "main", "v1.2", commit, &commit.to_uppercase()] {
            assert!(scope(target), "{target:?}");
        }
        for target in ["release", "feature", &"f".repeat(40), "1.*"] {
            assert!(!scope(target), "{target:?}");
        }
    }
}
