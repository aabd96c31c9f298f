//! Hostile manifests: each is reported with its file, none exhausts memory, and the rest of the
//! tree (and the last good declaration of a file that breaks) keeps serving.

use std::io::Write as _;
use std::process::{Command, Stdio};

use driftgate::config::Config;
use driftgate::git;
use driftgate::manifest::parse::{parse_file, MAX_FILE_BYTES};
use driftgate::sync::declare::{self, Declarer};

use super::common::GitRepo;

fn alias_bomb() -> String {
    let mut bomb = String::from("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\ndata:\n  a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    let mut prev = 'a';
    for c in 'b'..='p' {
        let refs = vec![format!("*{prev}"); 10].join(", ");
        bomb.push_str(&format!("  {c}: &{c} [{refs}]\n"));
        prev = c;
    }
    bomb
}

fn deep_yaml(depth: usize) -> String {
    let mut text = String::from("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: deep}\ndata:\n");
    for d in 0..depth {
        text.push_str(&" ".repeat(2 * (d + 1)));
        text.push_str("k:\n");
    }
    text.push_str(&" ".repeat(2 * (depth + 1)));
    text.push_str("v\n");
    text
}

/// A valid-looking manifest of at least `bytes` bytes (one huge ConfigMap).
fn huge_manifest(bytes: usize) -> String {
    let mut text = String::with_capacity(bytes + 128);
    text.push_str("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: huge}\ndata:\n");
    let mut i = 0;
    while text.len() < bytes {
        text.push_str(&format!("  key{i}: \"{}\"\n", "x".repeat(100)));
        i += 1;
    }
    text
}

const GOOD: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: good, namespace: apps}\ndata: {a: b}\n";

#[test]
fn each_bad_file_is_an_error_naming_it() {
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("bomb.yaml", alias_bomb().into_bytes(), "alias"),
        ("deep.yaml", deep_yaml(1_000).into_bytes(), "nested deeper"),
        (
            "flow-deep.yaml",
            format!("a: {}1{}", "[".repeat(1000), "]".repeat(1000)).into_bytes(),
            "recursion limit",
        ),
        (
            "binary.yaml",
            vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0],
            "binary",
        ),
        (
            "latin1.yaml",
            b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: caf\xe9}\n".to_vec(),
            "UTF-8",
        ),
        (
            "dup.yaml",
            b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\nmetadata: {name: b}\n".to_vec(),
            "duplicate",
        ),
        (
            "huge.yaml",
            huge_manifest(50 * 1024 * 1024).into_bytes(),
            "limit",
        ),
    ];
    for (file, bytes, needle) in cases {
        let err = parse_file("src", file, &bytes).expect_err(file);
        assert_eq!(err.file, file);
        assert!(err.message.contains(needle), "{file}: {}", err.message);
        assert!(err.to_string().contains(file), "{err}");
    }
    // A manifest just under the limit is still read: the limit is a size, not a guess.
    let big = huge_manifest(MAX_FILE_BYTES - 1024);
    assert!(big.len() < MAX_FILE_BYTES);
    let out = parse_file("src", "big.yaml", big.as_bytes()).expect("under the limit");
    assert_eq!(out.objects.len(), 1);
    assert_mem_bounded();
}

fn assert_mem_bounded() {
    if let Some(peak) = super::peak_rss() {
        // The 50 MB input itself is the largest thing held; a bomb or a deep document that
        // expanded would show up far past this.
        assert!(peak < 1536 * 1024 * 1024, "peak RSS {} MiB", peak >> 20);
    }
}

/// Makes a commit whose root tree holds `..` (a directory) and a normal file, which no
/// checkout would write but a crafted push can contain.
fn commit_with_dotdot(repo: &GitRepo) {
    let hash = |input: &str, args: &[&str]| -> String {
        let mut child = Command::new("git")
            .args(args)
            .current_dir(repo.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("git runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write");
        let out = child.wait_with_output().expect("git finishes");
        assert!(out.status.success(), "git {args:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let evil = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: escaped, namespace: apps}\n";
    let blob = hash(evil, &["hash-object", "-w", "--stdin"]);
    let inner = hash(&format!("100644 blob {blob}\tescape.yaml\n"), &["mktree"]);
    let head_tree = repo.git(&["rev-parse", "HEAD^{tree}"]);
    let listing = repo.git(&["ls-tree", &head_tree]);
    let tree = hash(
        &format!("{listing}\n040000 tree {inner}\t..\n"),
        &["mktree"],
    );
    let commit = repo.git(&["commit-tree", &tree, "-p", "HEAD", "-m", "dotdot"]);
    repo.git(&["update-ref", "refs/heads/main", &commit]);
}

#[test]
fn a_hostile_tree_is_read_with_every_bad_file_reported() {
    let repo = GitRepo::new();
    repo.write("apps/good.yaml", GOOD);
    repo.commit("good");
    let source = Config::from_yaml(
        &format!("sources: [{{name: s, url: {:?}}}]", repo.path().display()),
        "test",
    )
    .expect("config")
    .sources
    .remove(0);
    let opened = git::open(repo.path()).expect("opens");
    let mut declarer = Declarer::default();
    let first = declare::at_ref(&opened, &source, &mut declarer).expect("reads");
    assert_eq!(first.objects.len(), 1);

    // Now the good file breaks, and every kind of bad file arrives beside it.
    repo.write(
        "apps/good.yaml",
        &alias_bomb().replace("name: bomb", "name: good"),
    );
    repo.write("apps/bomb.yaml", &alias_bomb());
    repo.write("apps/deep.yaml", &deep_yaml(1_000));
    repo.write(
        "apps/dup.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: d}\ndata: {k: 1, k: 2}\n",
    );
    repo.write("apps/huge.yaml", &huge_manifest(50 * 1024 * 1024));
    std::fs::write(
        repo.path().join("apps/binary.yaml"),
        [0u8, 159, 146, 150, 0, 1],
    )
    .expect("write");
    std::os::unix::fs::symlink("/etc/passwd", repo.path().join("apps/link.yaml")).expect("symlink");
    std::os::unix::fs::symlink("good.yaml", repo.path().join("apps/relative.yaml"))
        .expect("symlink");
    repo.write(
        "apps/other.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: other, namespace: apps}\n",
    );
    repo.commit("hostile");
    commit_with_dotdot(&repo);

    let opened = git::open(repo.path()).expect("opens");
    let state =
        declare::at_ref(&opened, &source, &mut declarer).expect("a hostile tree still reads");
    for e in &state.errors {
        eprintln!("reported: {e}");
    }
    for o in &state.objects {
        eprintln!("declared: {} from {}", o.value.name(), o.file);
    }
    let mut reported: Vec<&str> = state.errors.iter().map(|e| e.file.as_str()).collect();
    reported.sort();
    for file in [
        "apps/binary.yaml",
        "apps/bomb.yaml",
        "apps/deep.yaml",
        "apps/dup.yaml",
        "apps/good.yaml",
        "apps/huge.yaml",
        "apps/link.yaml",
        "apps/relative.yaml",
    ] {
        assert!(
            reported.contains(&file),
            "{file} not reported: {reported:?}"
        );
    }
    let names: Vec<String> = state
        .objects
        .iter()
        .map(|o| {
            format!(
                "{}{}",
                o.value.name(),
                if o.stale { " (stale)" } else { "" }
            )
        })
        .collect();
    // The broken file keeps its last good object; the healthy new one is read.
    assert!(names.contains(&"good (stale)".to_string()), "{names:?}");
    assert!(names.contains(&"other".to_string()), "{names:?}");
    // `..` is only a name inside a crafted commit (git refuses to check it out): reported, and
    // nothing under it is declared.
    assert!(reported.contains(&"../escape.yaml"), "{reported:?}");
    assert!(!names.iter().any(|n| n.starts_with("escaped")), "{names:?}");
    let snapshot = driftgate::snapshot::Snapshot::build(vec![state]).expect("builds");
    assert!(snapshot.len() >= 2);
    assert_mem_bounded();
}
