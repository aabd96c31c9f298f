//! The rows: for each class of issue 11 and each rule of DESIGN.md "Comparing", the evasion
//! (denied, at its path) beside the legitimate neighbour (allowed).

use serde_json::{json, Value};

use super::live;
use super::{denied, review, run, world, Case, Expect, Gvr, ALLOWED};
use driftgate::admission::{Reason, Verdict};

const DEPLOY: Gvr = ("apps", "v1", "deployments");
const PDB: Gvr = ("policy", "v1", "poddisruptionbudgets");
const NS: Gvr = ("", "v1", "namespaces");
const SA: Gvr = ("", "v1", "serviceaccounts");
const CM: Gvr = ("", "v1", "configmaps");
const NETPOL: Gvr = ("networking.k8s.io", "v1", "networkpolicies");
const ISSUER: Gvr = ("cert-manager.io", "v1", "clusterissuers");
const ROLLOUT: Gvr = ("argoproj.io", "v1alpha1", "rollouts");
const WIDGET: Gvr = ("example.com", "v1", "widgets");
const JOB: Gvr = ("batch", "v1", "jobs");

fn edited(mut v: Value, edit: impl FnOnce(&mut Value)) -> Value {
    edit(&mut v);
    v
}

fn container(v: &mut Value) -> &mut Value {
    &mut v["spec"]["template"]["spec"]["containers"][0]
}

fn remove(v: &mut Value, key: &str) {
    if let Some(map) = v.as_object_mut() {
        map.remove(key);
    }
}

/// A CREATE's object: what the apiserver sends before it stores anything.
fn created(mut v: Value) -> Value {
    remove(&mut v, "status");
    for key in ["uid", "resourceVersion", "generation", "managedFields"] {
        remove(&mut v["metadata"], key);
    }
    v
}

fn update(name: &'static str, gvr: Gvr, kind: &str, new: Value, old: Value, e: Expect) -> Case {
    Case {
        name,
        body: review("UPDATE", gvr, kind, "", &new, &old),
        expect: e,
    }
}

fn create(name: &'static str, gvr: Gvr, kind: &str, new: Value, e: Expect) -> Case {
    Case {
        name,
        body: review("CREATE", gvr, kind, "", &created(new), &Value::Null),
        expect: e,
    }
}

fn annotated(v: Value) -> Value {
    edited(v, |v| {
        v["metadata"]["annotations"]["note"] = json!("edited by hand");
    })
}

#[test]
fn class_1_a_declared_zero_is_a_value() {
    let w = world();
    let web = live::web();
    run(
        &w,
        vec![
            update(
                "pointer false removed (allowPrivilegeEscalation): denied",
                DEPLOY,
                "Deployment",
                edited(web.clone(), |v| {
                    remove(&mut container(v)["securityContext"], "allowPrivilegeEscalation")
                }),
                web.clone(),
                denied(&["spec.template.spec.containers[name=web].securityContext.allowPrivilegeEscalation"]),
            ),
            update(
                "non-pointer false (hostNetwork) absent as the apiserver writes it: allowed",
                DEPLOY,
                "Deployment",
                annotated(web.clone()),
                web.clone(),
                ALLOWED,
            ),
            create(
                "CREATE as the apiserver defaults it (hostNetwork and env value \"\" omitted): allowed",
                DEPLOY,
                "Deployment",
                web.clone(),
                ALLOWED,
            ),
            update(
                "pod automountServiceAccountToken: false removed: denied",
                DEPLOY,
                "Deployment",
                edited(web.clone(), |v| {
                    remove(&mut v["spec"]["template"]["spec"], "automountServiceAccountToken")
                }),
                web.clone(),
                denied(&["spec.template.spec.automountServiceAccountToken"]),
            ),
            update(
                "ServiceAccount automountServiceAccountToken: false removed: denied",
                SA,
                "ServiceAccount",
                edited(live::service_account(), |v| {
                    remove(v, "automountServiceAccountToken")
                }),
                live::service_account(),
                denied(&["automountServiceAccountToken"]),
            ),
            update(
                "PDB maxUnavailable: 0 removed: denied",
                PDB,
                "PodDisruptionBudget",
                edited(live::pdb(), |v| remove(&mut v["spec"], "maxUnavailable")),
                live::pdb(),
                denied(&["spec.maxUnavailable"]),
            ),
            update(
                "PDB maxUnavailable: 0 kept: allowed",
                PDB,
                "PodDisruptionBudget",
                annotated(live::pdb()),
                live::pdb(),
                ALLOWED,
            ),
            update(
                "Namespace label declared \"\" removed: denied",
                NS,
                "Namespace",
                edited(live::namespace(), |v| {
                    remove(&mut v["metadata"]["labels"], "team")
                }),
                live::namespace(),
                denied(&["metadata.labels.team"]),
            ),
            update(
                "Namespace label added by someone else: allowed",
                NS,
                "Namespace",
                edited(live::namespace(), |v| {
                    v["metadata"]["labels"]["istio-injection"] = json!("enabled")
                }),
                live::namespace(),
                ALLOWED,
            ),
            update(
                "ConfigMap key declared \"\" removed: denied",
                CM,
                "ConfigMap",
                edited(live::settings(), |v| remove(&mut v["data"], "feature")),
                live::settings(),
                denied(&["data.feature"]),
            ),
            update(
                "custom resource (CRD in Git) enabled: false removed: denied",
                WIDGET,
                "Widget",
                edited(live::widget(), |v| remove(&mut v["spec"], "enabled")),
                live::widget(),
                denied(&["spec.enabled"]),
            ),
            update(
                "custom resource (no CRD) paused: false removed: denied",
                ROLLOUT,
                "Rollout",
                edited(live::rollout(), |v| remove(&mut v["spec"], "paused")),
                live::rollout(),
                denied(&["spec.paused"]),
            ),
        ],
    );
}

#[test]
fn class_2_a_declared_empty_struct_is_present() {
    let w = world();
    let web = live::web();
    let host_path = |v: &mut Value| {
        v["spec"]["template"]["spec"]["volumes"][0] =
            json!({"name": "tmp", "hostPath": {"path": "/", "type": ""}});
    };
    run(
        &w,
        vec![
            update(
                "emptyDir: {} swapped for hostPath on UPDATE: denied",
                DEPLOY,
                "Deployment",
                edited(web.clone(), host_path),
                web.clone(),
                denied(&["spec.template.spec.volumes[name=tmp].emptyDir"]),
            ),
            create(
                "emptyDir: {} swapped for hostPath on CREATE: denied",
                DEPLOY,
                "Deployment",
                edited(web.clone(), host_path),
                denied(&["spec.template.spec.volumes[name=tmp].emptyDir"]),
            ),
            update(
                "a sidecar and its volume injected: allowed",
                DEPLOY,
                "Deployment",
                edited(web.clone(), |v| {
                    let pod = &mut v["spec"]["template"]["spec"];
                    pod["volumes"]
                        .as_array_mut()
                        .expect("volumes")
                        .push(json!({"name": "istio-envoy", "emptyDir": {"medium": "Memory"}}));
                    pod["containers"]
                        .as_array_mut()
                        .expect("containers")
                        .push(json!({"name": "istio-proxy", "image": "istio/proxyv2:1.24.0",
                            "volumeMounts": [{"name": "istio-envoy", "mountPath": "/etc/istio/proxy"}]}));
                }),
                web.clone(),
                ALLOWED,
            ),
        ],
    );
}

#[test]
fn class_3_atomic_units_are_owned_whole() {
    let w = world();
    let web = live::web();
    run(
        &w,
        vec![
            update(
                "NetworkPolicy peer widened with namespaceSelector: {}: denied",
                NETPOL,
                "NetworkPolicy",
                edited(live::allow_web(), |v| {
                    v["spec"]["ingress"][0]["from"][0]["namespaceSelector"] = json!({})
                }),
                live::allow_web(),
                denied(&["spec.ingress"]),
            ),
            update(
                "default-deny podSelector: {} narrowed to matchLabels: denied",
                NETPOL,
                "NetworkPolicy",
                edited(live::deny_all(), |v| {
                    v["spec"]["podSelector"] = json!({"matchLabels": {"app": "legacy"}})
                }),
                live::deny_all(),
                denied(&["spec.podSelector"]),
            ),
            create(
                "NetworkPolicy with the apiserver's protocol: TCP default on CREATE: allowed",
                NETPOL,
                "NetworkPolicy",
                live::allow_web(),
                ALLOWED,
            ),
            update(
                "NetworkPolicy with its defaults, only a label added: allowed",
                NETPOL,
                "NetworkPolicy",
                edited(live::allow_web(), |v| {
                    v["metadata"]["labels"] = json!({"owner": "net"})
                }),
                live::allow_web(),
                ALLOWED,
            ),
            update(
                "args (a list without a merge key) extended: denied",
                DEPLOY,
                "Deployment",
                edited(web.clone(), |v| {
                    container(v)["args"] = json!(["--listen=:8080", "--debug"])
                }),
                web.clone(),
                denied(&["spec.template.spec.containers[name=web].args"]),
            ),
            update(
                "fieldRef (atomic, defaulted apiVersion) changed inside: denied",
                DEPLOY,
                "Deployment",
                edited(web.clone(), |v| {
                    container(v)["env"][2]["valueFrom"]["fieldRef"]["apiVersion"] = json!("v2")
                }),
                web.clone(),
                denied(&[
                    "spec.template.spec.containers[name=web].env[name=POD].valueFrom.fieldRef",
                ]),
            ),
            update(
                "fieldRef with the apiserver's apiVersion default, untouched: allowed",
                DEPLOY,
                "Deployment",
                annotated(web.clone()),
                web.clone(),
                ALLOWED,
            ),
        ],
    );
}

#[test]
fn class_4_list_maps_by_composite_keys_and_duplicates() {
    let w = world();
    let web = live::web();
    run(
        &w,
        vec![
            update(
                "53/TCP added beside the declared 53/UDP: allowed",
                DEPLOY,
                "Deployment",
                edited(web.clone(), |v| {
                    container(v)["ports"]
                        .as_array_mut()
                        .expect("ports")
                        .push(json!({"containerPort": 53, "protocol": "TCP"}))
                }),
                web.clone(),
                ALLOWED,
            ),
            update(
                "declared 53/UDP turned into 53/TCP: denied",
                DEPLOY,
                "Deployment",
                edited(web.clone(), |v| {
                    container(v)["ports"][0]["protocol"] = json!("TCP")
                }),
                web.clone(),
                denied(&[
                    "spec.template.spec.containers[name=web].ports[containerPort=53,protocol=UDP]",
                ]),
            ),
            update(
                "a second env MODE appended (the last one wins): denied",
                DEPLOY,
                "Deployment",
                edited(web.clone(), |v| {
                    container(v)["env"]
                        .as_array_mut()
                        .expect("env")
                        .push(json!({"name": "MODE", "value": "debug"}))
                }),
                web.clone(),
                denied(&["spec.template.spec.containers[name=web].env[name=MODE].value"]),
            ),
            update(
                "a second env MODE with Git's value: allowed",
                DEPLOY,
                "Deployment",
                edited(web.clone(), |v| {
                    container(v)["env"]
                        .as_array_mut()
                        .expect("env")
                        .push(json!({"name": "MODE", "value": "prod"}))
                }),
                web.clone(),
                ALLOWED,
            ),
            update(
                "custom resource list-map (CRD keys port+protocol): 53/TCP added: allowed",
                WIDGET,
                "Widget",
                edited(live::widget(), |v| {
                    v["spec"]["ports"]
                        .as_array_mut()
                        .expect("ports")
                        .push(json!({"port": 53}))
                }),
                live::widget(),
                ALLOWED,
            ),
            update(
                "custom resource list-map element renamed: denied",
                WIDGET,
                "Widget",
                edited(live::widget(), |v| {
                    v["spec"]["ports"][0]["name"] = json!("other")
                }),
                live::widget(),
                denied(&["spec.ports[port=53,protocol=UDP].name"]),
            ),
        ],
    );
}

#[test]
fn class_5_custom_resources_without_their_crd() {
    let w = world();
    let issuer = live::issuer();
    run(
        &w,
        vec![
            update(
                "cluster-scoped ClusterIssuer (no namespace in the request) edited: denied",
                ISSUER,
                "ClusterIssuer",
                edited(issuer.clone(), |v| {
                    v["spec"]["acme"]["email"] = json!("attacker@example.net")
                }),
                issuer.clone(),
                denied(&["spec.acme.email"]),
            ),
            Case {
                name: "ClusterIssuer deleted: denied",
                body: review("DELETE", ISSUER, "ClusterIssuer", "", &Value::Null, &issuer),
                expect: denied(&[]),
            },
            update(
                "ClusterIssuer annotated: allowed",
                ISSUER,
                "ClusterIssuer",
                annotated(issuer.clone()),
                issuer.clone(),
                ALLOWED,
            ),
            Case {
                name: "kubectl scale of an Argo Rollout (rollouts/scale): denied",
                body: review(
                    "UPDATE",
                    ROLLOUT,
                    "Scale",
                    "scale",
                    &live::scale("canary", 2),
                    &live::scale("canary", 5),
                ),
                expect: denied(&["spec.replicas"]),
            },
            Case {
                name: "kubectl scale of an Argo Rollout to Git's replicas: allowed",
                body: review(
                    "UPDATE",
                    ROLLOUT,
                    "Scale",
                    "scale",
                    &live::scale("canary", 5),
                    &live::scale("canary", 2),
                ),
                expect: ALLOWED,
            },
            Case {
                name: "kubectl scale --replicas=0 of a Deployment (replicas left out): denied",
                body: review(
                    "UPDATE",
                    DEPLOY,
                    "Scale",
                    "scale",
                    &live::scale("web", 0),
                    &live::scale("web", 3),
                ),
                expect: denied(&["spec.replicas"]),
            },
        ],
    );
}

/// `webhook-config` sends `kubectl scale` of custom kinds to driftgate, CRD in Git or not.
#[test]
fn class_5_webhook_config_registers_scale_for_custom_kinds() {
    use driftgate::webhook_config::{Registration, Target};
    let w = world();
    let target = Target::url("https://127.0.0.1:8443").expect("url");
    let reg = Registration::build(&w.snapshot, &w.policy, &target, b"PEM");
    let rules = reg.validating.webhooks.expect("webhooks")[0]
        .rules
        .clone()
        .expect("rules");
    let resources = |group: &str| -> Vec<String> {
        rules
            .iter()
            .filter(|r| r.api_groups.as_deref() == Some(&[group.to_string()][..]))
            .flat_map(|r| r.resources.clone().unwrap_or_default())
            .collect()
    };
    assert_eq!(resources("argoproj.io"), ["rollouts", "rollouts/scale"]);
    assert_eq!(resources("example.com"), ["widgets", "widgets/scale"]);
    assert_eq!(resources("batch"), ["jobs"]);
}

#[test]
fn class_6_terminating_objects_may_lose_finalizers() {
    let w = world();
    let terminating = |v: Value| {
        edited(v, |v| {
            v["metadata"]["deletionTimestamp"] = json!("2026-11-04T08:00:00Z");
            v["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        })
    };
    let without_finalizer = |v: Value| {
        edited(v, |v| {
            remove(&mut v["metadata"], "finalizers");
        })
    };
    run(
        &w,
        vec![
            update(
                "declared finalizer removed from an object being deleted: allowed",
                CM,
                "ConfigMap",
                without_finalizer(terminating(live::settings())),
                terminating(live::settings()),
                ALLOWED,
            ),
            update(
                "declared finalizer removed from a live object: denied",
                CM,
                "ConfigMap",
                without_finalizer(live::settings()),
                live::settings(),
                denied(&["metadata.finalizers"]),
            ),
            update(
                "a finalizer added: allowed",
                CM,
                "ConfigMap",
                edited(live::settings(), |v| {
                    v["metadata"]["finalizers"] =
                        json!(["example.com/protect", "backup.example.com/hold"])
                }),
                live::settings(),
                ALLOWED,
            ),
        ],
    );
}

#[test]
fn class_7_json_manifests_and_generated_names_are_declared() {
    let w = world();
    run(
        &w,
        vec![
            update(
                "object from a .json manifest edited: denied",
                CM,
                "ConfigMap",
                edited(live::from_json(), |v| v["data"]["mode"] = json!("lax")),
                live::from_json(),
                denied(&["data.mode"]),
            ),
            Case {
                name: "CREATE of Git's generateName Job as declared: allowed",
                body: review(
                    "CREATE",
                    JOB,
                    "Job",
                    "",
                    &live::job("migrate-x7k2p", "registry.example.com/migrate:7"),
                    &Value::Null,
                ),
                expect: ALLOWED,
            },
            Case {
                name: "CREATE of Git's generateName Job with another image: denied",
                body: review(
                    "CREATE",
                    JOB,
                    "Job",
                    "",
                    &live::job("migrate-q9w3e", "registry.example.com/migrate:evil"),
                    &Value::Null,
                ),
                expect: denied(&["spec.template.spec.containers[name=migrate].image"]),
            },
        ],
    );
    // Matched, not unmanaged: `unmanaged: deny` does not apply to it.
    let strict = driftgate::policy::Policy::from_config(&driftgate::config::Config {
        unmanaged: driftgate::config::Unmanaged::Deny,
        ..driftgate::config::Config::default()
    });
    let body = review(
        "CREATE",
        JOB,
        "Job",
        "",
        &live::job("migrate-x7k2p", "registry.example.com/migrate:7"),
        &Value::Null,
    );
    let (_, d) = driftgate::admission::validate(&body, &w.snapshot, &strict).expect("well-formed");
    assert_eq!((d.verdict, d.reason), (Verdict::Allowed, Reason::InSync));
}

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
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let index: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
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
