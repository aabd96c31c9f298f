//! Classes 5 to 7: custom resources without their CRD (scope, `scale`), terminating objects,
//! objects declared in `.json` files and with `generateName`.

use serde_json::{json, Value};

use super::live;
use super::rows::*;
use super::{denied, review, run, world, Case, ALLOWED};
use driftgate::admission::{Reason, Verdict};

#[test]
fn class_5_custom_resources_without_their_crd() {
    let w = world();
    let issuer = live::issuer();
    run(
        &w,
        vec![
            update(
                "cluster-scoped kind nothing knows, edited (no namespace in the request): denied",
                GADGET,
                "ClusterGadget",
                edited(live::gadget(), |v| v["spec"]["mode"] = json!("lax")),
                live::gadget(),
                denied(&["spec.mode"]),
            ),
            Case {
                name: "cluster-scoped kind nothing knows, deleted: denied",
                body: review(
                    "DELETE",
                    GADGET,
                    "ClusterGadget",
                    "",
                    &Value::Null,
                    &live::gadget(),
                ),
                expect: denied(&[]),
            },
            update(
                "cluster-scoped kind nothing knows, annotated: allowed",
                GADGET,
                "ClusterGadget",
                annotated(live::gadget()),
                live::gadget(),
                ALLOWED,
            ),
            Case {
                name:
                    "kubectl scale of a kind nothing knows (English plural canaries/scale): denied",
                body: review(
                    "UPDATE",
                    CANARY,
                    "Scale",
                    "scale",
                    &live::scale("probe", 4),
                    &live::scale("probe", 2),
                ),
                expect: denied(&["spec.replicas"]),
            },
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

/// `webhook-config` sends `kubectl scale` of custom kinds whose CRD is not in Git to driftgate.
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
    assert_eq!(resources("apps.example.io"), ["canaries", "canaries/scale"]);
    // The Widget CRD is in Git and declares no scale subresource.
    assert_eq!(resources("example.com"), ["widgets"]);
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
