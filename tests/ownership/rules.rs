//! Classes 8 and 9 (folded scalars, messages), the UPDATE and normalisation rules of
//! DESIGN.md, `driftgate check` on the built binary and `index --json`.

use serde_json::{json, Value};

use super::live;
use super::rows::*;
use super::{denied, review, run, world, Case, Expect, ALLOWED};
use driftgate::admission::Verdict;

#[test]
fn class_8_folded_scalars_read_as_kustomize_renders_them() {
    let w = world();
    run(
        &w,
        vec![
            update(
                "the string kustomize rendered (one line break more than the spec): allowed",
                CM,
                "ConfigMap",
                annotated(live::script()),
                live::script(),
                ALLOWED,
            ),
            update(
                "the spec's reading of the same text: denied",
                CM,
                "ConfigMap",
                edited(live::script(), |v| {
                    v["data"]["run.sh"] = json!("exec server\n  --verbose\n")
                }),
                live::script(),
                denied(&[r#"data["run.sh"]"#]),
            ),
        ],
    );
}

#[test]
fn class_9_messages_name_where_values_differ() {
    let w = world();
    let message = |body: Vec<u8>| -> String {
        let (review, d) = super::decide(&w, &body);
        assert_eq!(d.verdict, Verdict::Denied, "{review}");
        review["response"]["status"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    // A change inside an atomic value that matched Git: the element and field, both values.
    let widened = message(review(
        "UPDATE",
        NETPOL,
        "NetworkPolicy",
        "",
        &edited(live::allow_web(), |v| {
            v["spec"]["ingress"][0]["from"][0]["namespaceSelector"] = json!({})
        }),
        &live::allow_web(),
    ));
    assert!(
        widened.contains("spec.ingress[0].from[0].namespaceSelector from nothing to {}"),
        "{widened}"
    );
    // Two long atomic values that differ late: never two prefixes shortened alike.
    let late = message(review(
        "UPDATE",
        WIDGET,
        "Widget",
        "",
        &edited(live::widget(), |v| {
            let args = v["spec"]["args"].as_array_mut().expect("args");
            if let Some(last) = args.last_mut() {
                *last = json!("--two");
            }
        }),
        &live::widget(),
    ));
    assert!(
        late.contains("spec.args: differs from Git at spec.args[12]: Git has \"--one\", request has \"--two\""),
        "{late}"
    );
    // Composite keys in paths.
    let ports = message(review(
        "UPDATE",
        DEPLOY,
        "Deployment",
        "",
        &edited(live::web(), |v| {
            container(v)["ports"][0]["protocol"] = json!("TCP")
        }),
        &live::web(),
    ));
    assert!(
        ports.contains("ports[containerPort=53,protocol=UDP]: Git has"),
        "{ports}"
    );
    // Items of a `kind: List` keep their own lines.
    let item = |name: &str| {
        let key = driftgate::manifest::ObjectKey::new("", "ConfigMap", "shop", name);
        w.snapshot.get(&key).map(|o| o.line)
    };
    assert_eq!((item("list-a"), item("list-b")), (Some(4), Some(8)));
    let list_b = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "list-b", "namespace": "shop", "resourceVersion": "7"}, "data": {"k": "changed"}});
    let text = message(review(
        "UPDATE",
        CM,
        "ConfigMap",
        "",
        &list_b,
        &edited(list_b.clone(), |v| v["data"]["k"] = json!("b")),
    ));
    assert!(text.contains("apps/list.yaml:8"), "{text}");
}

#[test]
fn design_rules_update_classification_and_normalisation() {
    let w = world();
    let web = live::web();
    let drifted = edited(web.clone(), |v| {
        container(v)["image"] = json!("registry.example.com/web:hotfix")
    });
    run(
        &w,
        vec![
            update(
                "drift already present, left as it is: allowed, warned",
                DEPLOY,
                "Deployment",
                annotated(drifted.clone()),
                drifted.clone(),
                Expect {
                    verdict: Verdict::Allowed,
                    violations: &[],
                    preexisting: &["spec.template.spec.containers[name=web].image"],
                },
            ),
            update(
                "moving back to Git: allowed",
                DEPLOY,
                "Deployment",
                web.clone(),
                drifted.clone(),
                ALLOWED,
            ),
            update(
                "rollout restart (template annotation): allowed",
                DEPLOY,
                "Deployment",
                edited(web.clone(), |v| {
                    v["spec"]["template"]["metadata"]["annotations"] =
                        json!({"kubectl.kubernetes.io/restartedAt": "2026-11-04T08:00:00Z"})
                }),
                web.clone(),
                ALLOWED,
            ),
            update(
                "quantities in another form (0.5 for 500m, bytes for 256Mi): allowed",
                DEPLOY,
                "Deployment",
                edited(web.clone(), |v| {
                    container(v)["resources"]["limits"] =
                        json!({"cpu": "0.5", "memory": "268435456"})
                }),
                web.clone(),
                ALLOWED,
            ),
            update(
                "replicas as a float of the same number: allowed",
                DEPLOY,
                "Deployment",
                edited(web.clone(), |v| v["spec"]["replicas"] = json!(3.0)),
                web.clone(),
                ALLOWED,
            ),
            Case {
                name: "status subresource: allowed",
                body: review(
                    "UPDATE",
                    DEPLOY,
                    "Deployment",
                    "status",
                    &edited(web.clone(), |v| v["spec"]["replicas"] = json!(9)),
                    &web,
                ),
                expect: ALLOWED,
            },
            update(
                "label selector changed: denied",
                DEPLOY,
                "Deployment",
                edited(web.clone(), |v| {
                    v["spec"]["selector"]["matchLabels"]["tier"] = json!("x")
                }),
                web.clone(),
                denied(&["spec.selector"]),
            ),
        ],
    );
}

/// The same rows through `driftgate check` on the built binary: exit code and answer agree.
#[test]
fn check_on_the_binary_decides_the_same() {
    let w = world();
    let web = live::web();
    let no_escalation = review(
        "UPDATE",
        DEPLOY,
        "Deployment",
        "",
        &edited(web.clone(), |v| {
            remove(
                &mut container(v)["securityContext"],
                "allowPrivilegeEscalation",
            )
        }),
        &web,
    );
    let (code, answer) = super::check(&w, &no_escalation);
    assert_eq!(code, 3, "{answer}");
    assert_eq!(answer["response"]["allowed"], false);
    assert!(answer["response"]["status"]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("securityContext.allowPrivilegeEscalation: Git has false, request removes it"));
    let sidecar = review(
        "UPDATE",
        DEPLOY,
        "Deployment",
        "",
        &edited(web.clone(), |v| {
            v["spec"]["template"]["spec"]["containers"]
                .as_array_mut()
                .expect("containers")
                .push(json!({"name": "istio-proxy", "image": "istio/proxyv2:1.24.0"}))
        }),
        &web,
    );
    assert_eq!(super::check(&w, &sidecar).0, 0);
    let issuer = review(
        "DELETE",
        ISSUER,
        "ClusterIssuer",
        "",
        &Value::Null,
        &live::issuer(),
    );
    assert_eq!(super::check(&w, &issuer).0, 3);
}

/// `index --json` lists Git's `generateName` objects under `untracked`, reads `.json`
/// manifests and each item of a `kind: List`.
#[test]
fn index_lists_untracked_json_and_list_items() {
    let w = world();
    let out = super::driftgate()
        .args(["index", "--json", "--repo"])
        .arg(w.repo.path())
        .output()
        .expect("driftgate runs");
    let index = super::common::stdout_json(&out, 0);
    assert_eq!(
        index["untracked"],
        json!([{"group": "batch", "kind": "Job", "namespace": "shop",
            "generateName": "migrate-", "file": "jobs/migrate.yaml"}])
    );
    let files: Vec<(&str, &str)> = index["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .map(|o| {
            (
                o["name"].as_str().unwrap_or_default(),
                o["file"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    for expected in [
        ("from-json", "apps/from-json.json"),
        ("list-a", "apps/list.yaml"),
        ("list-b", "apps/list.yaml"),
    ] {
        assert!(files.contains(&expected), "{expected:?} in {files:?}");
    }
}
