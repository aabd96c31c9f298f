use super::*;

fn id(n: u8) -> ObjectId {
    ObjectId::from_bytes_or_panic(&[n; 20])
}

fn index(entries: &[(&str, EntryKind, u8)]) -> TreeIndex {
    let mut all = vec![TreeEntry {
        path: String::new(),
        id: id(0),
        kind: EntryKind::Tree,
    }];
    all.extend(entries.iter().map(|(p, k, n)| TreeEntry {
        path: p.to_string(),
        id: id(*n),
        kind: *k,
    }));
    TreeIndex::new(&all)
}

#[test]
fn resolve_folds_dots_and_refuses_escapes() {
    assert_eq!(
        resolve("apps/prod", "../base/x").as_deref(),
        Some("apps/base/x")
    );
    assert_eq!(resolve("apps", "./a//b/").as_deref(), Some("apps/a/b"));
    assert_eq!(resolve("", "a").as_deref(), Some("a"));
    assert_eq!(resolve("apps", "../../x"), None);
    assert_eq!(resolve("apps", "/etc/passwd"), None);
    assert!(is_within("apps/base", "apps"));
    assert!(!is_within("apps2/x", "apps"));
    assert!(is_within("x", ""));
}

#[test]
fn auto_plan_renders_overlays_not_bases_and_keeps_loose_files_plain() {
    use EntryKind::{Blob, Tree};
    let idx = index(&[
        ("apps", Tree, 1),
        ("apps/base", Tree, 2),
        ("apps/base/kustomization.yaml", Blob, 10),
        ("apps/base/deploy.yaml", Blob, 11),
        ("apps/prod", Tree, 3),
        ("apps/prod/kustomization.yaml", Blob, 12),
        ("apps/prod/patch.json", Blob, 13),
        ("apps/prod/nested", Tree, 4),
        ("apps/prod/nested/kustomization.yaml", Blob, 14),
        ("common", Tree, 5),
        ("common/cm.yaml", Blob, 15),
        ("loose.yaml", Blob, 16),
        ("apps/link.yaml", EntryKind::Link, 17),
    ]);
    let read = |blob: ObjectId| -> crate::git::Result<Vec<u8>> {
        if blob == id(12) {
            Ok(b"resources: [../base, ../../common/cm.yaml, https://github.com/x/y//z?ref=v1]\npatches: [{path: patch.json}]\n".to_vec())
        } else {
            Ok(b"resources: []\n".to_vec())
        }
    };
    let planned = plan(&idx, &[String::new()], Render::Auto, &read).expect("plans");
    let dirs: Vec<_> = planned.roots.iter().map(|(d, _)| d.as_str()).collect();
    assert_eq!(dirs, ["apps/prod"]);
    let inputs = &planned.roots[0].1;
    let keys: Vec<_> = inputs.entries.keys().map(String::as_str).collect();
    assert_eq!(keys, ["apps/base", "apps/prod", "common/cm.yaml"]);
    assert_eq!(inputs.remote, ["https://github.com/x/y//z?ref=v1"]);
    let plain: Vec<_> = planned.plain.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(plain, ["loose.yaml"]);
    assert_eq!(planned.links, ["apps/link.yaml"]);

    let only_base = plan(&idx, &["apps/base".into()], Render::Auto, &read).expect("plans");
    assert_eq!(only_base.roots.len(), 1);
    assert_eq!(only_base.roots[0].0, "apps/base");
    let both = plan(
        &idx,
        &["apps/prod".into(), "apps/base".into()],
        Render::Auto,
        &read,
    )
    .expect("plans");
    assert_eq!(
        both.covered,
        [("apps/base".to_string(), "apps/prod".to_string())]
    );
    let err = plan(&idx, &["common".into()], Render::Kustomize, &read).expect_err("no file");
    assert_eq!(err, NotAKustomization("common".into()));

    let escaping = |_: ObjectId| -> crate::git::Result<Vec<u8>> {
        Ok(b"resources: [../../../../etc, /abs]\n".to_vec())
    };
    let planned = plan(&idx, &["apps/prod".into()], Render::Auto, &escaping).expect("plans");
    assert_eq!(planned.roots[0].1.outside, ["../../../../etc", "/abs"]);
}
