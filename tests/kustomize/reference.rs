//! A reference build of a Flux Kustomization, made the way kustomize-controller makes it but with
//! none of driftgate's code on the way: the commit exported with `git archive`, the
//! kustomization generated or extended by hand (components appended, `namespace`,
//! `namePrefix`), the real `kubectl kustomize`, then each document's variables substituted by
//! `bash` (whose `${A:-${B}}` and `${A:=x}` are what Flux's envsubst does for these fixtures),
//! objects labelled `kustomize.toolkit.fluxcd.io/substitute: disabled` left alone, and
//! `commonMetadata` labels set.

use std::collections::BTreeMap;
use std::io::Write;

use super::*;

/// What a test knows a Flux Kustomization asks for, written out by hand.
#[derive(Debug, Clone, Default)]
pub struct Expect {
    pub path: &'static str,
    pub target_namespace: Option<&'static str>,
    pub name_prefix: Option<&'static str>,
    pub components: Vec<&'static str>,
    /// The variables after the parent's substitution: substituteFrom values, then substitute.
    pub vars: Vec<(&'static str, &'static str)>,
    pub labels: Vec<(&'static str, &'static str)>,
}

/// The commit's tree in a fresh directory.
pub fn export(repo: &Path, rev: &str) -> tempfile::TempDir {
    let out = tempfile::tempdir().expect("tempdir");
    let archive = Command::new("git")
        .args(["archive", "--format=tar", rev])
        .current_dir(repo)
        .output()
        .expect("git archive");
    assert!(archive.status.success());
    let mut tar = Command::new("tar")
        .args(["-x", "-C"])
        .arg(out.path())
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("tar");
    tar.stdin
        .take()
        .expect("stdin")
        .write_all(&archive.stdout)
        .expect("tar input");
    assert!(tar.wait().expect("tar").success());
    out
}

/// The objects kustomize-controller applies for one Kustomization, as JSON values.
pub fn flux_build(tree: &Path, expect: &Expect) -> Vec<Value> {
    let dir = tree.join(expect.path);
    let kfile = dir.join("kustomization.yaml");
    let mut text = match std::fs::read_to_string(&kfile) {
        Ok(text) => text,
        Err(_) => generate(&dir),
    };
    text.push('\n');
    if !expect.components.is_empty() {
        text.push_str("components:\n");
        for c in &expect.components {
            text.push_str(&format!("- {c}\n"));
        }
    }
    if let Some(ns) = expect.target_namespace {
        text.push_str(&format!("namespace: {ns}\n"));
    }
    if let Some(prefix) = expect.name_prefix {
        text.push_str(&format!("namePrefix: {prefix}\n"));
    }
    std::fs::write(&kfile, text).expect("kustomization written");
    let out = Command::new("kubectl")
        .args(["kustomize", "--load-restrictor", "LoadRestrictionsNone"])
        .arg(&dir)
        .output()
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "{}: {}",
        expect.path,
        String::from_utf8_lossy(&out.stderr)
    );
    let output = String::from_utf8(out.stdout).expect("utf-8");
    let mut objects = Vec::new();
    for doc in output.split("\n---\n").filter(|d| !d.trim().is_empty()) {
        let value = yaml_value(doc);
        let disabled = ["labels", "annotations"].iter().any(|field| {
            value["metadata"][field]["kustomize.toolkit.fluxcd.io/substitute"] == "disabled"
        });
        let mut value = if disabled || expect.vars.is_empty() {
            value
        } else {
            yaml_value(&bash_substitute(doc, &expect.vars))
        };
        for (k, v) in &expect.labels {
            value["metadata"]["labels"][*k] = json!(v);
        }
        objects.push(value);
    }
    objects
}

/// kustomize-controller's generated kustomization: the YAML files beneath, a sub-directory with
/// a kustomization listed as one.
fn generate(dir: &Path) -> String {
    let mut resources = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&d)
            .expect("dir")
            .map(|e| e.expect("entry").path())
            .collect();
        entries.sort();
        for p in entries {
            let rel = p.strip_prefix(dir).expect("beneath").display().to_string();
            if p.is_dir() {
                if p.join("kustomization.yaml").exists() {
                    resources.push(rel);
                } else {
                    stack.push(p);
                }
            } else if rel.ends_with(".yaml") || rel.ends_with(".yml") {
                resources.push(rel);
            }
        }
    }
    let mut text = String::from("resources:\n");
    for r in resources {
        text.push_str(&format!("- {r}\n"));
    }
    text
}

fn yaml_value(doc: &str) -> Value {
    driftgate::manifest::yaml::parse_documents(doc)
        .expect("kustomize output parses")
        .into_iter()
        .next()
        .expect("one document")
        .value
}

/// `doc` with its `${...}` expanded by bash, `$${` kept as a literal `${`.
fn bash_substitute(doc: &str, vars: &[(&str, &str)]) -> String {
    const ESCAPED: &str = "@@DRIFTGATE_ESCAPED@@";
    let guarded = doc.replace("$${", ESCAPED);
    assert!(
        !guarded.contains('`') && !guarded.contains('\\'),
        "the fixture keeps bash's other expansions out"
    );
    let script = format!("cat <<__END__\n{guarded}\n__END__\n");
    let env: BTreeMap<&str, &str> = vars.iter().copied().collect();
    let out = Command::new("bash")
        .args(["--noprofile", "--norc", "-c", &script])
        .env_clear()
        .envs(env)
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .replace(ESCAPED, "${")
}

/// (apiVersion, kind, namespace, name) → object, for comparing two declarations whole.
pub fn by_key(
    values: impl IntoIterator<Item = Value>,
) -> BTreeMap<(String, String, String, String), Value> {
    values
        .into_iter()
        .map(|v| {
            let s = |p: &str| {
                v.pointer(p)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            (
                (
                    s("/apiVersion"),
                    s("/kind"),
                    s("/metadata/namespace"),
                    s("/metadata/name"),
                ),
                v.clone(),
            )
        })
        .collect()
}

/// Asserts two declarations are equal object for object; the message lists what differs.
pub fn assert_same(declared: Vec<Value>, reference: Vec<Value>, what: &str) {
    let (declared, reference) = (by_key(declared), by_key(reference));
    let mut differences = Vec::new();
    for (key, value) in &reference {
        match declared.get(key) {
            None => differences.push(format!("missing {key:?}")),
            Some(v) if v != value => differences.push(format!(
                "different {key:?}:\n  declared  {v}\n  reference {value}"
            )),
            Some(_) => {}
        }
    }
    for key in declared.keys().filter(|k| !reference.contains_key(*k)) {
        differences.push(format!("extra {key:?}"));
    }
    assert!(
        differences.is_empty(),
        "{what}: the declared state differs from the reference build:\n{}",
        differences.join("\n")
    );
}
