//! Classes 1 to 4 of issue 11: presence, empty structs, atomic units, list-map keys; each
//! evasion beside the legitimate neighbour.

use serde_json::{json, Value};

use super::live;
use super::rows::*;
use super::{denied, run, world, ALLOWED};

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
