//! Objects as the operator writes them, for the views' golden tests. Golden files live in
//! `src/plugin/testdata/`; `SLUICE_UPDATE_GOLDEN=1 cargo test -p sluice plugin::` rewrites them.

use k8s_openapi::api::batch::v1::Job;
use serde_json::{Value, json};
use sluice_api::{Environment, Plan, Promotion};

/// "Now" in every golden test: 2024-03-01T12:00:00Z.
pub const NOW: i64 = 1_709_294_400;

pub const DIGEST: &str = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const OLD: &str = "sha256:0000111122223333444455556666777788889999aaaabbbbccccddddeeeeffff";

/// Compares `actual` with the golden file `name`, or rewrites it with `SLUICE_UPDATE_GOLDEN`.
pub fn golden(name: &str, actual: &str) {
    let path =
        std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"))
            .join("src/testdata")
            .join(name);
    if std::env::var_os("SLUICE_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (SLUICE_UPDATE_GOLDEN=1 writes it)", path.display()));
    assert_eq!(
        actual, expected,
        "output differs from {} (SLUICE_UPDATE_GOLDEN=1 rewrites it)",
        name
    );
}

fn object<T: serde::de::DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).expect("a valid fixture")
}

fn meta(name: &str, created: &str) -> Value {
    json!({"name": name, "namespace": "shop", "uid": format!("uid-{name}"), "creationTimestamp": created, "generation": 1})
}

fn ready(reason: &str, message: &str) -> Value {
    json!([{"type": "Ready", "status": "True", "reason": reason, "message": message,
            "lastTransitionTime": "2024-03-01T11:00:00Z"}])
}

pub fn prod() -> Environment {
    object(json!({
        "apiVersion": "sluice.dev/v1alpha1", "kind": "Environment",
        "metadata": meta("prod", "2024-02-01T09:00:00Z"),
        "spec": {
            "warehouse": {"secretRef": {"name": "warehouse", "key": "url"}},
            "promotion": {"requiredApprovals": 2, "approvers": {"users": ["alice", "bob"], "groups": ["data-owners"]}}
        },
        "status": {
            "observedGeneration": 1, "conditions": ready("Ready", "release prod-r4 is live"),
            "warehouseName": "prod", "models": 3,
            "release": {
                "id": "prod-r4", "promotion": "orders-v1-prod", "promotedAt": "2024-02-28T16:30:00Z",
                "approvedBy": ["alice", "bob"], "digest": OLD,
                "models": [
                    {"name": "mart.daily_revenue", "kind": "INCREMENTAL_BY_TIME_RANGE", "version": "4f1c9a7d2e"},
                    {"name": "stg.orders", "kind": "VIEW", "version": "9c51a72ffa"}
                ]
            }
        }
    }))
}

pub fn plan_ready() -> Plan {
    plan(
        "Ready",
        json!({"total": 2, "succeeded": 2, "failed": 0, "running": 0, "pending": 0, "progress": "2/2"}),
        None,
    )
}

pub fn plan_backfilling() -> Plan {
    plan(
        "Backfilling",
        json!({"total": 2, "succeeded": 1, "failed": 0, "running": 1, "pending": 0, "progress": "1/2"}),
        None,
    )
}

pub fn plan_failed() -> Plan {
    plan(
        "Failed",
        json!({"total": 2, "succeeded": 1, "failed": 1, "running": 0, "pending": 0, "progress": "1/2"}),
        Some(json!({
            "model": "mart.daily_revenue", "job": "orders-v2-3f9a1c-5d1e0b7c2a41",
            "reason": "blocking audit failed: accepted_range(revenue): 2 row(s): BackoffLimitExceeded",
            "logTail": "batch 2024-01-03 - 2024-01-04\nerror: blocking audit failed: accepted_range(revenue): 2 row(s)"
        })),
    )
}

fn plan(phase: &str, backfill: Value, failure: Option<Value>) -> Plan {
    let mut status = json!({
        "observedGeneration": 1, "phase": phase, "digest": DIGEST, "planId": "3f9a1c0d",
        "basedOn": {"release": "prod-r4", "revision": 4, "environment": "prod"},
        "source": {"digest": "sha256:5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"},
        "summary": {"changes": 3, "models": 3, "added": 0, "removed": 0, "breaking": 0, "nonBreaking": 1,
                    "indirectBreaking": 0, "indirectNonBreaking": 1, "metadata": 1, "forwardOnly": 0, "intervals": 4},
        "changes": [
            {"model": "stg.orders", "change": "directly_modified", "category": "non_breaking", "kind": "VIEW",
             "table": "sluice__stg.stg__orders__7d2e4f1c9a", "batches": 0},
            {"model": "mart.daily_revenue", "change": "indirectly_modified", "category": "indirect_non_breaking",
             "kind": "INCREMENTAL_BY_TIME_RANGE", "table": "sluice__mart.mart__daily_revenue__4f1c9a7d2e",
             "backfill": "2024-01-01 - 2024-01-07", "batches": 4},
            {"model": "mart.customer_orders", "change": "metadata_updated", "category": "metadata",
             "kind": "INCREMENTAL_BY_UNIQUE_KEY", "table": "sluice__mart.mart__customer_orders__1b2c3d4e5f", "batches": 0}
        ],
        "impact": {"products": [
            {"name": "revenue", "meaningChange": false, "models": ["mart.daily_revenue: indirect_non_breaking"],
             "consumers": ["finance-dashboard"], "owners": "users alice; groups data-owners", "intervals": 4,
             "rollbackTarget": "prod-r4"}
        ]},
        "backfill": backfill,
        "plannedAt": "2024-03-01T11:40:00Z",
        "conditions": ready("Ready", "ready to promote")
    });
    if let Some(failure) = failure {
        status["failure"] = failure;
        status["conditions"] = json!([
            {"type": "Ready", "status": "False", "reason": "AuditFailed", "message": "audit failed", "lastTransitionTime": "2024-03-01T11:50:00Z"},
            {"type": "Stalled", "status": "True", "reason": "AuditFailed", "message": "audit failed", "lastTransitionTime": "2024-03-01T11:50:00Z"}
        ]);
    }
    object(json!({
        "apiVersion": "sluice.dev/v1alpha1", "kind": "Plan",
        "metadata": meta("orders-v2", "2024-03-01T11:39:00Z"),
        "spec": {"environment": "prod", "source": {"configMap": {"name": "orders-v2-source"}}, "author": "carol@example.com"},
        "status": status
    }))
}

/// Two Jobs of `plan_backfilling`: stg.orders done, mart.daily_revenue running.
pub fn jobs() -> Vec<Job> {
    let job = |name: &str, model: &str, created: &str, condition: Option<&str>| {
        object::<Job>(json!({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": "shop", "creationTimestamp": created,
                         "annotations": {"sluice.dev/model": model}},
            "status": {"conditions": condition.map_or(json!([]), |c| json!([{"type": c, "status": "True"}]))}
        }))
    };
    vec![
        job(
            "orders-v2-3f9a1c-0a6f3e2b9d17",
            "stg.orders",
            "2024-03-01T11:41:00Z",
            Some("Complete"),
        ),
        job(
            "orders-v2-3f9a1c-5d1e0b7c2a41",
            "mart.daily_revenue",
            "2024-03-01T11:43:00Z",
            None,
        ),
    ]
}

pub fn promotion_awaiting() -> Promotion {
    object(json!({
        "apiVersion": "sluice.dev/v1alpha1", "kind": "Promotion",
        "metadata": {
            "name": "orders-v2-prod", "namespace": "shop", "creationTimestamp": "2024-03-01T11:45:00Z", "generation": 1,
            "annotations": {
                "sluice.dev/created-by": "carol@example.com",
                "approve.sluice.dev/alice": format!("alice@{DIGEST}; checked the backfill"),
                "approve.sluice.dev/dan": format!("dan@{OLD}"),
            }
        },
        "spec": {"plan": "orders-v2"},
        "status": {
            "observedGeneration": 1, "phase": "AwaitingApproval", "environment": "prod", "digest": DIGEST,
            "gates": [
                {"name": "plan-ready", "state": "Passed", "message": "plan orders-v2 is Ready"},
                {"name": "up-to-date", "state": "Passed", "message": "computed against prod-r4"},
                {"name": "audits", "state": "Passed", "message": "every blocking audit passed"},
                {"name": "no-gaps", "state": "Passed", "message": "every interval the plan needs is built"},
                {"name": "approvals", "state": "Pending", "message": "1 of 2 required approval(s): `kubectl sluice approve` as an approver"}
            ],
            "approvals": [
                {"user": "alice", "key": "approve.sluice.dev/alice", "digest": DIGEST, "at": "2024-03-01T11:55:00Z",
                 "counted": true, "reason": "counted", "comment": "checked the backfill"},
                {"user": "dan", "key": "approve.sluice.dev/dan", "digest": OLD, "groups": ["data-owners"], "at": "2024-03-01T11:50:00Z",
                 "counted": false, "reason": "approves plan digest sha256:00001111222233…, but the plan is now sha256:9f86d081884c7d…: it was re-planned after this approval"}
            ],
            "approvalCount": "1/2",
            "conditions": []
        }
    }))
}

pub fn promotion_rejected() -> Promotion {
    object(json!({
        "apiVersion": "sluice.dev/v1alpha1", "kind": "Promotion",
        "metadata": {
            "name": "orders-v1-hotfix", "namespace": "shop", "creationTimestamp": "2024-03-01T10:00:00Z", "generation": 1,
            "annotations": {
                "reject.sluice.dev/bob": "bob: revenue doubles on 2024-01-03",
                "reject.sluice.dev/mallory": "mallory: no",
            }
        },
        "spec": {"plan": "orders-v1-hotfix"},
        "status": {
            "observedGeneration": 1, "phase": "Rejected", "environment": "prod", "digest": OLD,
            "approvalCount": "0/2", "rejectedBy": "bob",
            "message": "rejected by bob: revenue doubles on 2024-01-03",
            "conditions": [{"type": "Stalled", "status": "True", "reason": "Rejected",
                            "message": "rejected by bob: revenue doubles on 2024-01-03", "lastTransitionTime": "2024-03-01T10:10:00Z"}]
        }
    }))
}
