//! End-to-end behaviour through kube-rs: typed CRUD, server-side apply, watchers and a
//! Controller, as the operator uses them.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams,
};
use kube::runtime::{Controller, WatchStreamExt, controller::Action, watcher};
use serde_json::json;
use sluice_e2e::Scenario;

fn cm(name: &str, value: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"v": value}})).unwrap()
}

fn code(err: kube::Error) -> u16 {
    match err {
        kube::Error::Api(status) => status.code,
        other => panic!("expected an API error, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crud_conflicts_not_found_and_dry_run() {
    let s = Scenario::start().unwrap();
    let api: Api<ConfigMap> = Api::namespaced(s.client().await.unwrap(), &s.namespace);
    let created = api
        .create(&PostParams::default(), &cm("a", "1"))
        .await
        .unwrap();
    let rv1 = created.metadata.resource_version.clone().unwrap();
    assert!(created.metadata.uid.is_some() && created.metadata.creation_timestamp.is_some());
    assert_eq!(
        code(
            api.create(&PostParams::default(), &cm("a", "1"))
                .await
                .unwrap_err()
        ),
        409
    );

    let mut changed = created.clone();
    changed.data = Some([("v".to_string(), "2".to_string())].into());
    let updated = api
        .replace("a", &PostParams::default(), &changed)
        .await
        .unwrap();
    let rv2 = updated.metadata.resource_version.clone().unwrap();
    assert!(rv2.parse::<u64>().unwrap() > rv1.parse::<u64>().unwrap());
    // Writing with the stale version is an optimistic-concurrency conflict.
    assert_eq!(
        code(
            api.replace("a", &PostParams::default(), &changed)
                .await
                .unwrap_err()
        ),
        409
    );

    // A patch that changes nothing does not bump the version.
    let same = api
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"v": "2"}})),
        )
        .await
        .unwrap();
    assert_eq!(
        same.metadata.resource_version.as_deref(),
        Some(rv2.as_str())
    );

    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    api.create(&dry, &cm("ghost", "x")).await.unwrap();
    assert_eq!(code(api.get("ghost").await.unwrap_err()), 404);
    assert_eq!(
        code(
            api.delete("nope", &DeleteParams::default())
                .await
                .unwrap_err()
        ),
        404
    );
    let invalid: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "Not_Valid"}})).unwrap();
    assert_eq!(
        code(
            api.create(&PostParams::default(), &invalid)
                .await
                .unwrap_err()
        ),
        422
    );

    api.delete("a", &DeleteParams::default()).await.unwrap();
    assert_eq!(code(api.get("a").await.unwrap_err()), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_apply_creates_updates_and_removes_dropped_fields() {
    let s = Scenario::start().unwrap();
    let api: Api<ConfigMap> = Api::namespaced(s.client().await.unwrap(), &s.namespace);
    let pp = PatchParams::apply("sluice-test");
    let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"a": "1", "b": "2"}});
    let first = api.patch("ssa", &pp, &Patch::Apply(&body)).await.unwrap();
    assert_eq!(first.data.as_ref().unwrap().len(), 2);
    let again = api.patch("ssa", &pp, &Patch::Apply(&body)).await.unwrap();
    assert_eq!(
        again.metadata.resource_version, first.metadata.resource_version,
        "re-applying the same config is a no-op"
    );
    let smaller = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"a": "3"}});
    let second = api
        .patch("ssa", &pp, &Patch::Apply(&smaller))
        .await
        .unwrap();
    assert_eq!(
        second.data.unwrap(),
        [("a".to_string(), "3".to_string())].into()
    );
    // Another manager changing an owned field conflicts unless it forces.
    let other = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"a": "4"}});
    assert_eq!(
        code(
            api.patch(
                "ssa",
                &PatchParams::apply("intruder"),
                &Patch::Apply(&other)
            )
            .await
            .unwrap_err()
        ),
        409
    );
    api.patch(
        "ssa",
        &PatchParams::apply("intruder").force(),
        &Patch::Apply(&other),
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_sees_each_change_once_and_old_versions_expire() {
    let s = Scenario::start().unwrap();
    let client = s.client().await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &s.namespace);
    api.create(&PostParams::default(), &cm("w", "0"))
        .await
        .unwrap();
    let only_w = watcher::Config::default().fields("metadata.name=w");
    let stream = watcher(api.clone(), only_w).applied_objects();
    let mut stream = Box::pin(stream);
    let first = stream.try_next().await.unwrap().unwrap();
    assert_eq!(first.data.unwrap()["v"], "0");
    for v in 1..=3 {
        api.patch(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"v": v.to_string()}})),
        )
        .await
        .unwrap();
    }
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let obj = tokio::time::timeout(Duration::from_secs(5), stream.try_next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seen.push(obj.data.unwrap()["v"].clone());
    }
    assert_eq!(seen, ["1", "2", "3"]);
    assert!(
        tokio::time::timeout(Duration::from_millis(500), stream.try_next())
            .await
            .is_err(),
        "no replayed events"
    );

    // After compaction, watching from an old version reports 410 Expired.
    let Some(cluster) = s.local() else { return };
    cluster.compact();
    let old = kube::api::WatchParams::default();
    let mut events = api.watch(&old, "1").await.unwrap().boxed();
    match events.try_next().await {
        Ok(Some(kube::api::WatchEvent::Error(e))) => assert_eq!(e.code, 410),
        Err(kube::Error::Api(e)) => assert_eq!(e.code, 410),
        other => panic!("expected 410, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_reconciles_once_per_spec_change() {
    let s = Scenario::start().unwrap();
    common::install_crd(&s);
    let client = s.client().await.unwrap();
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.com", "v1", "Widget"),
        "widgets",
    );
    let api: Api<DynamicObject> = Api::namespaced_with(client, &s.namespace, &ar);
    let count = Arc::new(AtomicUsize::new(0));
    let ctx = Arc::new((api.clone(), count.clone()));
    let reconcile = |obj: Arc<DynamicObject>, ctx: Arc<(Api<DynamicObject>, Arc<AtomicUsize>)>| async move {
        ctx.1.fetch_add(1, Ordering::SeqCst);
        let generation = obj.metadata.generation.unwrap_or_default();
        if obj.data["status"]["observedGeneration"].as_i64() != Some(generation) {
            let status = json!({"status": {"observedGeneration": generation, "phase": "Ready"}});
            ctx.0
                .patch_status(
                    &obj.metadata.name.clone().unwrap(),
                    &PatchParams::default(),
                    &Patch::Merge(status),
                )
                .await?;
        }
        Ok::<_, kube::Error>(Action::await_change())
    };
    let controller = Controller::new_with(api.clone(), watcher::Config::default(), ar.clone())
        .run(
            reconcile,
            |_, _, _| Action::requeue(Duration::from_secs(60)),
            ctx,
        )
        .for_each(|_| async {});
    let handle = tokio::spawn(controller);

    s.apply(&common::widget("c1", 1)).unwrap();
    let settle = async |want_gen: i64| {
        Scenario::eventually(Duration::from_secs(10), async || {
            let w = api.get("c1").await.ok()?;
            (w.data["status"]["observedGeneration"].as_i64() == Some(want_gen)).then_some(())
        })
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(800)).await;
        count.load(Ordering::SeqCst)
    };
    let after_create = settle(1).await;
    assert!(
        (1..=3).contains(&after_create),
        "reconciled {after_create} times for one object"
    );
    s.apply(&common::widget("c1", 2)).unwrap();
    let after_update = settle(2).await;
    assert!(
        (1..=3).contains(&(after_update - after_create)),
        "reconciled {} times for one spec change",
        after_update - after_create
    );
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(
        count.load(Ordering::SeqCst),
        after_update,
        "the controller must settle, not hot-loop"
    );
    handle.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_references_are_garbage_collected() {
    let s = Scenario::start().unwrap();
    let api: Api<ConfigMap> = Api::namespaced(s.client().await.unwrap(), &s.namespace);
    for policy in ["background", "foreground"] {
        let owner = api
            .create(&PostParams::default(), &cm(&format!("owner-{policy}"), "x"))
            .await
            .unwrap();
        let mut child = cm(&format!("child-{policy}"), "y");
        child.metadata.owner_references = Some(vec![
            k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                name: owner.metadata.name.clone().unwrap(),
                uid: owner.metadata.uid.clone().unwrap(),
                block_owner_deletion: Some(true),
                ..Default::default()
            },
        ]);
        api.create(&PostParams::default(), &child).await.unwrap();
        let dp = if policy == "background" {
            DeleteParams::background()
        } else {
            DeleteParams::foreground()
        };
        api.delete(&format!("owner-{policy}"), &dp).await.unwrap();
        let child_name = format!("child-{policy}");
        Scenario::eventually(Duration::from_secs(5), async || {
            api.get(&child_name).await.is_err().then_some(())
        })
        .await
        .unwrap();
        let owner_name = format!("owner-{policy}");
        Scenario::eventually(Duration::from_secs(5), async || {
            api.get(&owner_name).await.is_err().then_some(())
        })
        .await
        .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_tokens_get_401_and_users_are_recorded() {
    let s = Scenario::start().unwrap();
    let Some(cluster) = s.local() else { return };
    let mut config = kube::Config::new(cluster.url().parse().unwrap());
    config.root_cert = Some(vec![rustls_pem_to_der(cluster.ca_pem())]);
    config.auth_info.token = Some("wrong".to_string().into());
    let api: Api<ConfigMap> = Api::namespaced(kube::Client::try_from(config).unwrap(), "default");
    assert_eq!(code(api.list(&Default::default()).await.unwrap_err()), 401);
    let bob: Api<ConfigMap> = Api::namespaced(cluster.client("bob").await.unwrap(), "default");
    bob.list(&Default::default()).await.unwrap();
    assert!(
        cluster
            .requests()
            .iter()
            .any(|r| r.user == "bob" && r.verb == "GET" && r.code == 200)
    );
}

fn rustls_pem_to_der(pem: &str) -> Vec<u8> {
    use base64::Engine;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_job_and_its_pods_are_deleted_after_the_ttl() {
    let s = Scenario::start().unwrap();
    let client = s.client().await.unwrap();
    let jobs: Api<Job> = Api::namespaced(client.clone(), &s.namespace);
    let pods: Api<Pod> = Api::namespaced(client, &s.namespace);
    let job: Job = serde_json::from_value(json!({
        "metadata": {"name": "tidy"},
        "spec": {
            "ttlSecondsAfterFinished": 1,
            "template": {"spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "main", "image": "busybox", "command": ["sh", "-c", "echo done"]}],
            }},
        },
    }))
    .unwrap();
    // Watch from before creation, so neither the completion nor the deletion can be missed.
    let config = watcher::Config::default().fields("metadata.name=tidy");
    let mut events = watcher(jobs.clone(), config).boxed();
    let mut created = false;
    let mut completed_at = None;
    loop {
        let event = tokio::time::timeout(Duration::from_secs(20), events.try_next())
            .await
            .expect("the job was not completed and deleted in time")
            .unwrap()
            .unwrap();
        match event {
            watcher::Event::InitDone if !created => {
                jobs.create(&PostParams::default(), &job).await.unwrap();
                created = true;
            }
            watcher::Event::Apply(j) | watcher::Event::InitApply(j) => {
                let complete = j.status.and_then(|s| s.conditions).is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c.type_ == "Complete" && c.status == "True")
                });
                if complete && completed_at.is_none() {
                    let owned = pods
                        .list(&ListParams::default().labels("job-name=tidy"))
                        .await
                        .unwrap();
                    assert_eq!(
                        owned.items.len(),
                        1,
                        "the pod exists until the job is deleted"
                    );
                    completed_at = Some(tokio::time::Instant::now());
                }
            }
            watcher::Event::Delete(_) => break,
            _ => {}
        }
    }
    let completed_at = completed_at.expect("the job is deleted only after it completes");
    assert!(
        completed_at.elapsed() < Duration::from_secs(5),
        "deleted {:?} after completion, with a 1s TTL",
        completed_at.elapsed()
    );
    Scenario::eventually(Duration::from_secs(10), async || {
        let left = pods
            .list(&ListParams::default().labels("job-name=tidy"))
            .await
            .ok()?;
        left.items.is_empty().then_some(())
    })
    .await
    .unwrap();
}
