//! Behaviours where the test control plane once differed from a real API server; each test
//! fails on the old behaviour.

mod common;

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Resource;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use serde_json::{Value, json};
use sluice_e2e::Scenario;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn code<T: std::fmt::Debug>(r: Result<T, kube::Error>) -> (u16, String) {
    match r {
        Err(kube::Error::Api(s)) => (s.code, s.message),
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"v": "1"}})).unwrap()
}

async fn promotions(s: &Scenario) -> Api<DynamicObject> {
    s.apply(common::PROMOTION_CRD).unwrap();
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("sluice.dev", "v1alpha1", "Promotion"),
        "promotions",
    );
    Api::namespaced_with(s.client().await.unwrap(), &s.namespace, &ar)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_apply_requires_apiversion_and_kind() {
    let s = Scenario::start().unwrap();
    let api: Api<ConfigMap> = Api::namespaced(s.client().await.unwrap(), &s.namespace);
    let pp = PatchParams::apply("t");
    let (status, message) = code(
        api.patch(
            "x",
            &pp,
            &Patch::Apply(json!({"metadata": {"name": "x"}, "data": {"a": "1"}})),
        )
        .await,
    );
    assert_eq!(status, 400);
    assert!(message.contains("invalid object type"), "{message}");
    let (status, _) = code(
        api.patch(
            "x",
            &pp,
            &Patch::Apply(json!({"apiVersion": "v1", "metadata": {"name": "x"}})),
        )
        .await,
    );
    assert_eq!(status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_apply_keeps_its_own_managed_fields() {
    let s = Scenario::start().unwrap();
    let api = promotions(&s).await;
    let body = |status: Value| json!({"apiVersion": "sluice.dev/v1alpha1", "kind": "Promotion", "metadata": {"name": "p"}, "status": status});
    api.patch("p", &PatchParams::apply("user"), &Patch::Apply(json!({"apiVersion": "sluice.dev/v1alpha1", "kind": "Promotion", "metadata": {"name": "p"}, "spec": {"plan": "a"}})))
        .await
        .unwrap();
    let op = PatchParams::apply("operator");
    let applied = api
        .patch_status("p", &op, &Patch::Apply(body(json!({"phase": "Pending", "gates": [{"name": "approvals", "state": "Pending"}, {"name": "audits", "state": "Passed"}]}))))
        .await
        .unwrap();
    let managers: Vec<(String, String)> = applied
        .metadata
        .managed_fields
        .unwrap()
        .iter()
        .map(|m| {
            (
                m.manager.clone().unwrap(),
                m.subresource.clone().unwrap_or_default(),
            )
        })
        .collect();
    assert!(
        managers.contains(&("operator".into(), "status".into())),
        "{managers:?}"
    );
    assert!(
        managers.contains(&("user".into(), String::new())),
        "{managers:?}"
    );
    // A second status manager changing a field the first owns conflicts.
    let (status, message) = code(
        api.patch_status(
            "p",
            &PatchParams::apply("intruder"),
            &Patch::Apply(body(json!({"phase": "Promoted"}))),
        )
        .await,
    );
    assert_eq!(status, 409);
    assert!(
        message.contains("conflict with \"operator\" with subresource \"status\": .status.phase"),
        "{message}"
    );
    // The owner dropping a gate (a keyed list item) and the phase removes them.
    let after = api
        .patch_status(
            "p",
            &op,
            &Patch::Apply(body(
                json!({"gates": [{"name": "audits", "state": "Passed"}]}),
            )),
        )
        .await
        .unwrap();
    assert_eq!(
        after.data["status"],
        json!({"gates": [{"name": "audits", "state": "Passed"}]})
    );
    assert_eq!(after.data["spec"], json!({"plan": "a"}));
}

/// An applier that changes values and later drops a keyed item: the item goes entirely, and
/// the applier's writes are never also recorded as updates by the same manager (which would
/// keep the changed fields of a dropped item behind).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_appliers_changed_values_stay_its_own() {
    let s = Scenario::start().unwrap();
    let api = promotions(&s).await;
    let body = |status: Value| json!({"apiVersion": "sluice.dev/v1alpha1", "kind": "Promotion", "metadata": {"name": "p"}, "status": status});
    api.patch("p", &PatchParams::apply("user"), &Patch::Apply(json!({"apiVersion": "sluice.dev/v1alpha1", "kind": "Promotion", "metadata": {"name": "p"}, "spec": {"plan": "a"}})))
        .await
        .unwrap();
    let op = PatchParams::apply("operator").force();
    let gates = |message: &str| json!({"gates": [{"name": "approvals", "state": "Pending", "message": message}, {"name": "audits", "state": "Passed"}]});
    api.patch_status("p", &op, &Patch::Apply(body(gates("0 of 2"))))
        .await
        .unwrap();
    let changed = api
        .patch_status("p", &op, &Patch::Apply(body(gates("1 of 2"))))
        .await
        .unwrap();
    let operations: Vec<String> = changed
        .metadata
        .managed_fields
        .unwrap()
        .iter()
        .filter(|m| m.manager.as_deref() == Some("operator"))
        .map(|m| m.operation.clone().unwrap_or_default())
        .collect();
    assert_eq!(operations, ["Apply"]);
    let after = api
        .patch_status(
            "p",
            &op,
            &Patch::Apply(body(
                json!({"gates": [{"name": "audits", "state": "Passed"}]}),
            )),
        )
        .await
        .unwrap();
    assert_eq!(
        after.data["status"],
        json!({"gates": [{"name": "audits", "state": "Passed"}]})
    );
    // A struct it stops applying goes entirely, not as an empty `{}` missing required fields.
    let release = json!({"phase": "Promoted", "release": {"id": "prod-r1", "promotedAt": "2024-01-01T00:00:00Z"}});
    api.patch_status("p", &op, &Patch::Apply(body(release)))
        .await
        .unwrap();
    let after = api
        .patch_status("p", &op, &Patch::Apply(body(json!({"phase": "Pending"}))))
        .await
        .unwrap();
    assert_eq!(after.data["status"], json!({"phase": "Pending"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_fields_stay_when_another_manager_owns_them() {
    let s = Scenario::start().unwrap();
    let api: Api<ConfigMap> = Api::namespaced(s.client().await.unwrap(), &s.namespace);
    let cfg = |data: Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shared"}, "data": data});
    api.patch(
        "shared",
        &PatchParams::apply("first"),
        &Patch::Apply(cfg(json!({"a": "1", "b": "2"}))),
    )
    .await
    .unwrap();
    api.patch(
        "shared",
        &PatchParams::apply("second"),
        &Patch::Apply(cfg(json!({"b": "2"}))),
    )
    .await
    .unwrap();
    // A non-apply update makes its writer an owner too.
    api.patch(
        "shared",
        &PatchParams {
            field_manager: Some("editor".into()),
            ..Default::default()
        },
        &Patch::Merge(json!({"data": {"a": "changed"}})),
    )
    .await
    .unwrap();
    let now = api
        .patch(
            "shared",
            &PatchParams::apply("first"),
            &Patch::Apply(cfg(json!({}))),
        )
        .await
        .unwrap();
    assert_eq!(
        now.data.unwrap(),
        [
            ("a".to_string(), "changed".to_string()),
            ("b".to_string(), "2".to_string())
        ]
        .into()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_from_kube_rs_recorder_show_in_kubectl() {
    let s = Scenario::start().unwrap();
    let client = s.client().await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &s.namespace);
    let obj = api
        .create(&PostParams::default(), &cm("watched"))
        .await
        .unwrap();
    let recorder = Recorder::new(
        client,
        Reporter {
            controller: "sluice-test".into(),
            instance: None,
        },
    );
    let event = Event {
        type_: EventType::Normal,
        reason: "PlanReady".into(),
        note: Some("plan computed".into()),
        action: "Plan".into(),
        secondary: None,
    };
    recorder
        .publish(&event, &obj.object_ref(&()))
        .await
        .unwrap();
    recorder
        .publish(&event, &obj.object_ref(&()))
        .await
        .unwrap();
    let table = s.kubectl_ok(&["get", "events"]).unwrap();
    assert!(
        table.contains("PlanReady")
            && table.contains("configmap/watched")
            && table.contains("plan computed"),
        "{table}"
    );
    let described = s.kubectl_ok(&["describe", "configmap", "watched"]).unwrap();
    assert!(
        described.contains("PlanReady") && described.contains("plan computed"),
        "{described}"
    );
    // One store: the core/v1 view shows the same event, with its series count.
    let count = s
        .kubectl_ok(&[
            "get",
            "events.v1.events.k8s.io",
            "-o",
            "jsonpath={.items[0].series.count} {.items[0].regarding.name}",
        ])
        .unwrap();
    assert_eq!(count, "2 watched");
}

#[test]
fn invalid_label_and_annotation_keys_and_values_are_422() {
    let s = Scenario::start().unwrap();
    for (meta, field) in [
        (
            "labels: {'bad key': x}",
            "metadata.labels: Invalid value: \"bad key\"",
        ),
        (
            "labels: {k: 'not ok!'}",
            "metadata.labels: Invalid value: \"not ok!\": a valid label must be an empty string",
        ),
        (
            "annotations: {'/nope': x}",
            "metadata.annotations: Invalid value: \"/nope\": prefix part must be non-empty",
        ),
    ] {
        let out = s
            .kubectl_stdin(
                &["apply", "-f", "-"],
                Some(&format!(
                    "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: x, {meta}}}\n"
                )),
            )
            .unwrap();
        assert!(
            stderr(&out).contains("is invalid") && stderr(&out).contains(field),
            "{}",
            stderr(&out)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_leaving_a_selector_are_deleted_with_their_previous_state() {
    let s = Scenario::start().unwrap();
    let api: Api<ConfigMap> = Api::namespaced(s.client().await.unwrap(), &s.namespace);
    let mut labelled = cm("sel");
    labelled.metadata.labels = Some([("tier".to_string(), "gold".to_string())].into());
    let created = api.create(&PostParams::default(), &labelled).await.unwrap();
    let rv = created.metadata.resource_version.clone().unwrap();
    let mut events = api
        .watch(&WatchParams::default().labels("tier=gold"), &rv)
        .await
        .unwrap()
        .boxed();
    api.patch(
        "sel",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"tier": "silver"}}, "data": {"v": "2"}})),
    )
    .await
    .unwrap();
    let event = tokio::time::timeout(Duration::from_secs(5), events.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let WatchEvent::Deleted(obj) = event else {
        panic!("expected DELETED, got {event:?}")
    };
    assert_eq!(obj.metadata.labels.unwrap()["tier"], "gold");
    assert_eq!(obj.data.unwrap()["v"], "1");
    assert!(
        obj.metadata
            .resource_version
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > rv.parse::<u64>().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_with_finalizers_bumps_generation() {
    let s = Scenario::start().unwrap();
    let api = promotions(&s).await;
    let p = json!({"apiVersion": "sluice.dev/v1alpha1", "kind": "Promotion", "metadata": {"name": "held", "finalizers": ["sluice.dev/release"]}, "spec": {"plan": "a"}});
    let created = api
        .create(&PostParams::default(), &serde_json::from_value(p).unwrap())
        .await
        .unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    api.delete("held", &DeleteParams::default()).await.unwrap();
    let deleting = api.get("held").await.unwrap();
    assert!(deleting.metadata.deletion_timestamp.is_some());
    assert_eq!(deleting.metadata.generation, Some(2));
}

#[test]
fn job_and_pod_specs_are_immutable() {
    let s = Scenario::start().unwrap();
    s.apply("apiVersion: batch/v1\nkind: Job\nmetadata: {name: fixed}\nspec:\n  suspend: true\n  completions: 1\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{name: main, image: busybox, command: [sh, -c, 'true']}]\n")
        .unwrap();
    let job = s
        .kubectl(&[
            "patch",
            "job",
            "fixed",
            "--type=merge",
            "-p",
            r#"{"spec":{"completions":3}}"#,
        ])
        .unwrap();
    assert!(
        stderr(&job).contains("spec.completions: Invalid value: 3: field is immutable"),
        "{}",
        stderr(&job)
    );
    s.apply("apiVersion: v1\nkind: Pod\nmetadata: {name: fixed}\nspec:\n  restartPolicy: Never\n  containers: [{name: main, image: busybox, command: [sh, -c, 'sleep 30']}]\n")
        .unwrap();
    let pod = s
        .kubectl(&[
            "patch",
            "pod",
            "fixed",
            "--type=merge",
            "-p",
            r#"{"spec":{"restartPolicy":"Always"}}"#,
        ])
        .unwrap();
    assert!(
        stderr(&pod).contains("spec: Forbidden: pod updates may not change fields other than"),
        "{}",
        stderr(&pod)
    );
    // The image may change.
    let image = s
        .kubectl(&[
            "patch",
            "pod",
            "fixed",
            "--type=json",
            "-p",
            r#"[{"op":"replace","path":"/spec/containers/0/image","value":"busybox:1.37"}]"#,
        ])
        .unwrap();
    assert!(image.status.success(), "{}", stderr(&image));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_page_with_limit_and_continue_and_collections_delete() {
    let s = Scenario::start().unwrap();
    let api: Api<ConfigMap> = Api::namespaced(s.client().await.unwrap(), &s.namespace);
    for i in 0..5 {
        let mut c = cm(&format!("page-{i}"));
        c.metadata.labels = Some([("set".to_string(), "paged".to_string())].into());
        api.create(&PostParams::default(), &c).await.unwrap();
    }
    let lp = ListParams::default().labels("set=paged").limit(2);
    let first = api.list(&lp).await.unwrap();
    assert_eq!(first.items.len(), 2);
    let token = first.metadata.continue_.clone().unwrap();
    assert_eq!(first.metadata.remaining_item_count, Some(3));
    // Pages are a snapshot: a later change does not show in the rest of the list.
    api.delete("page-4", &DeleteParams::default())
        .await
        .unwrap();
    let mut names: Vec<String> = first
        .items
        .iter()
        .map(|c| c.metadata.name.clone().unwrap())
        .collect();
    let mut next = token;
    loop {
        let page = api.list(&lp.clone().continue_token(&next)).await.unwrap();
        names.extend(page.items.iter().map(|c| c.metadata.name.clone().unwrap()));
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(c) => next = c,
            None => break,
        }
    }
    assert_eq!(names, ["page-0", "page-1", "page-2", "page-3", "page-4"]);
    // kubectl pages too (it asks for 500 at a time).
    let all = s
        .kubectl_ok(&[
            "get",
            "configmaps",
            "-l",
            "set=paged",
            "--chunk-size=1",
            "-o",
            "name",
        ])
        .unwrap();
    assert_eq!(all.lines().count(), 4, "{all}");
    let deleted = api
        .delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels("set=paged"),
        )
        .await
        .unwrap();
    assert_eq!(deleted.left().map(|l| l.items.len()), Some(4));
    assert!(
        api.list(&ListParams::default().labels("set=paged"))
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[test]
fn imperative_kubectl_create_sends_protobuf_and_works() {
    let s = Scenario::start().unwrap();
    s.kubectl_ok(&[
        "create",
        "configmap",
        "cfg",
        "--from-literal=greeting=hello",
    ])
    .unwrap();
    s.kubectl_ok(&[
        "create",
        "secret",
        "generic",
        "creds",
        "--from-literal=password=s3cret",
    ])
    .unwrap();
    s.kubectl_ok(&["create", "serviceaccount", "robot"])
        .unwrap();
    s.kubectl_ok(&[
        "create",
        "deployment",
        "web",
        "--image=busybox",
        "--",
        "sleep",
        "30",
    ])
    .unwrap();
    s.kubectl_ok(&[
        "create",
        "job",
        "once",
        "--image=busybox",
        "--",
        "sh",
        "-c",
        "echo from-protobuf",
    ])
    .unwrap();
    s.kubectl_ok(&[
        "create",
        "role",
        "reader",
        "--verb=get",
        "--resource=configmaps",
    ])
    .unwrap();
    s.kubectl_ok(&[
        "create",
        "rolebinding",
        "reader",
        "--role=reader",
        "--user=alice",
    ])
    .unwrap();
    let ns = format!("{}-extra", s.namespace);
    s.kubectl_ok(&["create", "namespace", &ns]).unwrap();
    assert_eq!(
        s.kubectl_ok(&["get", "configmap", "cfg", "-o", "jsonpath={.data.greeting}"])
            .unwrap(),
        "hello"
    );
    assert_eq!(
        s.kubectl_ok(&["get", "secret", "creds", "-o", "jsonpath={.data.password}"])
            .unwrap(),
        "czNjcmV0"
    );
    assert_eq!(
        s.kubectl_ok(&[
            "get",
            "rolebinding",
            "reader",
            "-o",
            "jsonpath={.subjects[0].name}/{.roleRef.name}"
        ])
        .unwrap(),
        "alice/reader"
    );
    s.kubectl_ok(&[
        "wait",
        "--for=condition=complete",
        "job/once",
        "--timeout=30s",
    ])
    .unwrap();
    assert_eq!(
        s.kubectl_ok(&["logs", "job/once"]).unwrap().trim(),
        "from-protobuf"
    );
    s.kubectl_ok(&["rollout", "status", "deployment/web", "--timeout=30s"])
        .unwrap();
    s.kubectl_ok(&["delete", "namespace", &ns, "--wait=false"])
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_merges_map_and_set_lists_by_their_schema() {
    let s = Scenario::start().unwrap();
    let api = promotions(&s).await;
    let body = |gates: Value| json!({"apiVersion": "sluice.dev/v1alpha1", "kind": "Promotion", "metadata": {"name": "m"}, "status": {"gates": gates}});
    api.create(&PostParams::default(), &serde_json::from_value(json!({"apiVersion": "sluice.dev/v1alpha1", "kind": "Promotion", "metadata": {"name": "m"}, "spec": {}})).unwrap())
        .await
        .unwrap();
    api.patch_status(
        "m",
        &PatchParams::apply("gates-a"),
        &Patch::Apply(body(json!([{"name": "audits", "state": "Passed"}]))),
    )
    .await
    .unwrap();
    let both = api
        .patch_status(
            "m",
            &PatchParams::apply("gates-b"),
            &Patch::Apply(body(json!([{"name": "approvals", "state": "Pending"}]))),
        )
        .await
        .unwrap();
    // x-kubernetes-list-type: map — each manager's item is kept, keyed by name.
    let names: Vec<&str> = both.data["status"]["gates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["audits", "approvals"]);
}
