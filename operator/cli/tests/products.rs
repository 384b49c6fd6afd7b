//! Data products end to end on a real warehouse: a plan's impact on each product, the gates a
//! promotion passes (freshness, quality, rollback readiness; approvals recorded as not enforced
//! locally), the evidence document checked against `docs/evidence.schema.json`, the current
//! release view written in the flip's transaction, and OpenLineage events checked against the
//! official 2-0-2 schema. Every test runs on DuckDB and on PostgreSQL.

mod fixture;
mod support;

use std::path::Path;

use fixture::{Backend, Fixture, model, t, tester};
use sluice_engine::evidence::GateState;
use sluice_engine::plan::ChangeType;
use sluice_engine::snapshot::{Approval, Category};
use sluice_warehouse::apply::prepare;
use sluice_warehouse::executor::{plan_work, run_work};
use sluice_warehouse::promote::{PromoteError, PromoteMeta, promote_plan};
use sluice_warehouse::state::StateStore;

const ORDERS: &str = "id,d,customer,amount
1,2024-01-01,7,10
2,2024-01-01,8,5
3,2024-01-02,7,7
4,2024-01-03,9,1
5,2024-01-05,8,4
6,2024-01-06,7,3
";

const DAILY: &str = "SELECT d, SUM(amount) AS revenue, COUNT(*) AS orders FROM raw.orders WHERE d BETWEEN @start_ds AND @end_ds GROUP BY d";

pub const PRODUCTS: &str = "products:
  - name: revenue
    description: Revenue per day.
    owners: {users: [fiona], groups: [finance-data]}
    models: [mart.daily]
    consumers:
      - {name: Finance dashboard, kind: dashboard, owner: fiona, url: 'https://bi.example.com/d/1'}
    promises:
      freshness: 26h
      quality: [unique_values]
  - name: customers
    owners: {users: [gus]}
    models: ['stg.cust*']
    consumers:
      - {name: support-assistant, kind: agent_tool, contact: growth@example.com}
    classification: [pii]
";

fn project(backend: Backend) -> Fixture {
    Fixture::new(
        backend,
        &[
            ("seeds/orders.csv", ORDERS),
            (
                "models/raw/orders.sql",
                &model(
                    "raw.orders",
                    "kind SEED (path '../../seeds/orders.csv'),\n  columns (id INT, d DATE, customer INT, amount INT)",
                    "",
                ),
            ),
            (
                "models/stg/customers.sql",
                &model(
                    "stg.customers",
                    "kind VIEW,\n  tags [pii]",
                    "SELECT DISTINCT customer AS customer_id FROM raw.orders",
                ),
            ),
            (
                "models/mart/daily.sql",
                &model(
                    "mart.daily",
                    "kind INCREMENTAL_BY_TIME_RANGE (time_column d, batch_size 1),\n  audits (unique_values(columns := [d]))",
                    DAILY,
                ),
            ),
            ("products.yaml", PRODUCTS),
        ],
    )
}

/// A breaking edit of `mart.daily`: `orders` is dropped, a filter added.
fn break_daily(f: &Fixture) {
    f.write(
        "models/mart/daily.sql",
        &model(
            "mart.daily",
            "kind INCREMENTAL_BY_TIME_RANGE (time_column d, batch_size 1),\n  audits (unique_values(columns := [d]))",
            "SELECT d, SUM(amount) AS revenue FROM raw.orders WHERE amount > 1 AND d BETWEEN @start_ds AND @end_ds GROUP BY d",
        ),
    );
}

fn plan_impact_names_products_models_columns_consumers_and_costs(backend: Backend) {
    let f = project(backend);
    f.apply("prod", "2024-01-04");

    // Non-breaking: a column added; no meaning change, and the backfill is estimated from the
    // batches prod ran.
    f.write(
        "models/mart/daily.sql",
        &model(
            "mart.daily",
            "kind INCREMENTAL_BY_TIME_RANGE (time_column d, batch_size 1),\n  audits (unique_values(columns := [d]))",
            "SELECT d, SUM(amount) AS revenue, COUNT(*) AS orders, MAX(amount) AS biggest FROM raw.orders WHERE d BETWEEN @start_ds AND @end_ds GROUP BY d",
        ),
    );
    let plan = f.plan("prod", "2024-01-04");
    let revenue = &plan.basis.impact.products[0];
    assert_eq!(revenue.product, "revenue");
    assert!(!revenue.meaning_change, "{revenue:?}");
    assert_eq!(revenue.models[0].category, Some(Category::NonBreaking));
    let columns = revenue.models[0].columns.as_ref().unwrap();
    assert_eq!(columns.added, ["biggest"]);
    assert_eq!(revenue.consumers[0].name, "Finance dashboard");
    assert_eq!(revenue.backfill.intervals, 3);
    assert_eq!(revenue.backfill.estimated_rows, Some(3), "{revenue:?}");
    assert!(revenue.backfill.estimated_seconds.is_some());
    assert_eq!(revenue.rollback_target.as_deref(), Some("prod-r1"));
    assert_eq!(
        plan.basis.impact.products.len(),
        1,
        "customers is untouched"
    );

    // Breaking: a meaning change, with the lost column named; the owners must approve.
    break_daily(&f);
    let plan = f.plan("prod", "2024-01-04");
    let revenue = &plan.basis.impact.products[0];
    assert!(revenue.meaning_change);
    assert_eq!(
        revenue.models[0].columns.as_ref().unwrap().removed,
        ["orders"]
    );
    assert!(
        revenue.reasons[0].contains("mart.daily: breaking change"),
        "{:?}",
        revenue.reasons
    );
    let gates = sluice_engine::evidence::gates::local_approval_gates(
        &plan.basis.impact,
        &plan.basis.products,
    );
    assert_eq!(gates[0].name, "owner-approval/revenue");
    assert_eq!(gates[0].state, GateState::Skipped);
    assert!(
        gates[0]
            .message
            .contains("users fiona; groups finance-data")
    );

    // A change to a pii model touches the classification.
    f.write(
        "models/stg/customers.sql",
        &model(
            "stg.customers",
            "kind VIEW,\n  tags [pii]",
            "SELECT DISTINCT customer AS customer_id FROM raw.orders WHERE customer > 7",
        ),
    );
    let plan = f.plan("prod", "2024-01-04");
    assert_eq!(plan.basis.impact.classifications["pii"], ["stg.customers"]);
    let customers = plan
        .basis
        .impact
        .products
        .iter()
        .find(|p| p.product == "customers")
        .unwrap();
    assert_eq!(customers.models[0].change, ChangeType::DirectlyModified);
}

fn a_promotion_that_would_leave_a_product_stale_waits_for_the_backfill(backend: Backend) {
    let f = project(backend);
    f.apply("prod", "2024-01-04");
    break_daily(&f);
    // The plan was computed (and backfilled) on the 4th; promoting it on the 7th would show
    // three-day-old revenue.
    let plan = f.plan("prod", "2024-01-04");
    let mut ws = f.workspace();
    prepare(ws.warehouse.as_mut(), &plan, &Default::default(), 100).unwrap();
    for unit in plan_work(&plan, &ws.project.audits) {
        run_work(ws.warehouse.as_mut(), &unit, &mut |_| {}).unwrap();
    }
    let on_the_7th = || PromoteMeta {
        at_ms: Some(t("2024-01-07 06:00:00")),
        ..tester(t("2024-01-07 06:00:00") / 1000)
    };
    let err = promote_plan(ws.warehouse.as_mut(), &plan.basis.id, on_the_7th()).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, PromoteError::Gates { .. }), "{message}");
    assert!(
        message.contains("product revenue: mart.daily is 3d 6h behind (promise: 26h)"),
        "{message}"
    );
    assert_eq!(
        f.rows("SELECT COUNT(*) FROM mart.daily WHERE orders IS NOT NULL"),
        ["3"],
        "prod is untouched"
    );

    // The same models applied to dev on the 7th fill the shared table up to then: the prod
    // promotion now passes.
    f.apply("dev", "2024-01-07");
    let release = promote_plan(ws.warehouse.as_mut(), &plan.basis.id, on_the_7th()).unwrap();
    let mut state = StateStore::new(ws.warehouse.as_mut());
    let evidence =
        sluice_engine::evidence::decode(&state.evidence(&release.id).unwrap().unwrap()).unwrap();
    let freshness = evidence
        .gates
        .iter()
        .find(|g| g.name == "freshness")
        .unwrap();
    assert_eq!(freshness.state, GateState::Passed);
    assert!(
        freshness.message.contains("mart.daily is 6h behind"),
        "{}",
        freshness.message
    );
}

/// The evidence schema and a validator for it.
fn validator(schema: &Path) -> jsonschema::Validator {
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(schema).unwrap()).unwrap();
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap()
}

fn docs() -> std::path::PathBuf {
    std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"))
        .join("../../docs")
}

fn the_evidence_is_a_documented_complete_record(backend: Backend) {
    let f = project(backend);
    f.apply("prod", "2024-01-04");
    break_daily(&f);
    let plan = f.plan("prod", "2024-01-04");
    let mut ws = f.workspace();
    let meta = PromoteMeta {
        approvals: vec![Approval {
            user: "fiona".into(),
            at: 1_704_340_000,
            digest: plan.basis.digest.clone(),
            groups: vec!["finance-data".into()],
            comment: None,
        }],
        ..tester(t("2024-01-04 08:00:00") / 1000)
    };
    let audits = ws.project.audits.clone();
    let release = sluice_warehouse::apply::apply(
        ws.warehouse.as_mut(),
        &plan,
        &audits,
        &Default::default(),
        meta,
        &mut |_| {},
    )
    .unwrap();
    let mut state = StateStore::new(ws.warehouse.as_mut());
    let text = state.evidence(&release.id).unwrap().unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let errors: Vec<String> = validator(&docs().join("evidence.schema.json"))
        .iter_errors(&json)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{json:#}");
    assert_eq!(json["release"], "prod-r2");
    assert_eq!(json["environment"], "prod");
    assert_eq!(json["before"]["release"], "prod-r1");
    assert_eq!(json["after"]["snapshots"].as_array().unwrap().len(), 3);
    assert_eq!(json["plan"]["digest"], plan.basis.digest);
    assert_eq!(json["changes"][0]["model"], "mart.daily");
    assert_eq!(json["changes"][0]["category"], "breaking");
    let audit = &json["audits"][0];
    assert_eq!(audit["audit"], "unique_values");
    assert_eq!(audit["result"], "passed");
    assert_eq!(audit["violating_rows"], 0);
    assert!(audit["interval"]["start"].is_string());
    let gates: Vec<&str> = json["gates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(gates, ["freshness", "quality", "rollback-readiness"]);
    assert_eq!(json["approvals"][0]["user"], "fiona");
    assert_eq!(json["approvals"][0]["digest"], plan.basis.digest);
    let revenue = &json["products"][0];
    assert_eq!(revenue["name"], "revenue");
    assert_eq!(revenue["meaning_change"], true);
    assert_eq!(revenue["consumers"][0]["kind"], "dashboard");
    let checks: Vec<(&str, &str)> = revenue["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["promise"].as_str().unwrap(), c["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        checks,
        [
            ("freshness", "kept"),
            ("schema", "broken"),
            ("quality", "kept")
        ]
    );
    assert_eq!(json["products"][1]["affected"], false);
    assert_eq!(json["backfill"]["models"], 1);
    assert_eq!(json["backfill"]["intervals"], 3);
    // The filter leaves 2024-01-03 without rows.
    assert_eq!(json["backfill"]["rows"], 2);
    assert_eq!(json["rollback"]["target"], "prod-r1");
    assert_eq!(json["rollback"]["ready"], true);
    assert_eq!(json["rollback"]["freshness"][0]["model"], "mart.daily");
    // The human rendering says the same.
    let text = sluice_engine::evidence::render(&sluice_engine::evidence::decode(&text).unwrap());
    assert!(text.contains("revenue — MEANING CHANGE"), "{text}");
    assert!(text.contains("returns to prod-r1"), "{text}");
}

fn the_release_view_moves_in_the_flip_transaction(backend: Backend) {
    let f = project(backend);
    f.apply("prod", "2024-01-04");
    let current =
        || f.state_rows("SELECT environment, release_id, plan_id FROM sluice.current_release");
    let first = current();
    assert_eq!(first.len(), 1);
    assert!(first[0].starts_with("prod|prod-r1|"), "{first:?}");

    // A promotion that fails inside its transaction leaves view and release together.
    break_daily(&f);
    f.write(
        "config.yaml",
        "model_defaults:\n  start: '2024-01-01'\n  cron: '@daily'\nafter_all:\n  - SELECT * FROM no_such_table\n",
    );
    let plan = f.plan("prod", "2024-01-04");
    let err = f.try_apply_plan(&plan).unwrap_err();
    assert!(err.to_string().contains("after_all"), "{err}");
    assert_eq!(current(), first);
    f.write(
        "config.yaml",
        "model_defaults:\n  start: '2024-01-01'\n  cron: '@daily'\n",
    );
    let release = f.apply("prod", "2024-01-04");
    assert_eq!(release.id, "prod-r2");
    let now = current();
    assert!(
        now[0].starts_with(&format!("prod|prod-r2|{}", release.plan_id)),
        "{now:?}"
    );
    // Each view says which release it belongs to.
    let comment = match backend {
        Backend::Duckdb | Backend::DuckdbStateApart => f.rows(
            "SELECT comment FROM duckdb_views() WHERE schema_name = 'mart' AND view_name = 'daily'",
        ),
        Backend::Postgres => f.rows("SELECT obj_description('mart.daily'::regclass, 'pg_class')"),
    };
    assert!(comment[0].contains("sluice release prod-r2"), "{comment:?}");
}

/// The official OpenLineage 2-0-2 schema, vendored unchanged.
fn openlineage_validator() -> jsonschema::Validator {
    let read = |p: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(docs().join(p)).unwrap()).unwrap()
    };
    jsonschema::options()
        .should_validate_formats(true)
        .build(&read("openlineage/OpenLineage.json"))
        .unwrap()
}

/// Every dataset's schema facet, checked against the SchemaDatasetFacet schema as well.
fn check_openlineage(event: &serde_json::Value) {
    let validator = openlineage_validator();
    let errors: Vec<String> = validator
        .iter_errors(event)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{event:#}");
    let facet_schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(docs().join("openlineage/facets/SchemaDatasetFacet.json"))
            .unwrap(),
    )
    .unwrap();
    let core: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(docs().join("openlineage/OpenLineage.json")).unwrap(),
    )
    .unwrap();
    let registry = jsonschema::Registry::new()
        .add("https://openlineage.io/spec/2-0-2/OpenLineage.json", core)
        .unwrap()
        .prepare()
        .unwrap();
    let facet_validator = jsonschema::options()
        .should_validate_formats(true)
        .with_registry(&registry)
        .build(&facet_schema)
        .unwrap();
    for dataset in event["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .chain(event["outputs"].as_array().unwrap())
    {
        let facets = serde_json::json!({"schema": dataset["facets"]["schema"]});
        assert!(
            facet_validator.is_valid(&facets),
            "{}",
            dataset["facets"]["schema"]
        );
    }
}

/// A one-shot HTTP receiver on loopback: answers each request with the next status in
/// `statuses` and hands back the bodies it got.
fn receiver(statuses: Vec<u16>) -> (String, std::thread::JoinHandle<Vec<String>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let mut bodies = Vec::new();
        for status in statuses {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream);
            let mut length = 0;
            let mut line = String::new();
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            loop {
                line.clear();
                reader.read_line(&mut line).unwrap();
                if line.trim().is_empty() {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            assert!(
                request_line.starts_with("POST /api/v1/lineage "),
                "{request_line}"
            );
            bodies.push(String::from_utf8(body).unwrap());
            let mut stream = reader.into_inner();
            write!(stream, "HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n").unwrap();
        }
        bodies
    });
    (url, handle)
}

fn lineage_events_follow_openlineage_and_survive_a_flaky_endpoint(backend: Backend) {
    let f = project(backend);
    f.apply("prod", "2024-01-04");
    break_daily(&f);
    let release = f.apply("prod", "2024-01-04");
    let mut wh = f.warehouse();
    let text = StateStore::new(wh.as_mut())
        .evidence(&release.id)
        .unwrap()
        .unwrap();
    let evidence = sluice_engine::evidence::decode(&text).unwrap();
    let columns = sluice_warehouse::lineage::view_columns(wh.as_mut(), &evidence).unwrap();
    let event = sluice_warehouse::lineage::event(&evidence, &f.url, &columns);
    assert_eq!(event["job"]["name"], "sluice.promote.prod");
    let daily = event["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"].as_str().unwrap().ends_with("mart.daily"))
        .unwrap();
    let fields: Vec<&str> = daily["facets"]["schema"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["d", "revenue"]);
    assert_eq!(daily["facets"]["sluice_change"]["category"], "breaking");

    // Sent to an endpoint that fails once: retried, received, still valid.
    let (url, received) = receiver(vec![503, 200]);
    sluice_warehouse::lineage::post_with_retries(&url, &event, 3).unwrap();
    let bodies = received.join().unwrap();
    assert_eq!(bodies.len(), 2, "one failed try, one retry");
    let got: serde_json::Value = serde_json::from_str(&bodies[1]).unwrap();
    check_openlineage(&got);
    assert_eq!(got, event);

    // Nobody listening: every try fails, and the caller is told (it never unpromotes).
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let err = sluice_warehouse::lineage::post_with_retries(&dead, &event, 2).unwrap_err();
    assert!(err.contains("after 2 attempt(s)"), "{err}");
}

on_both_warehouses!(
    plan_impact_names_products_models_columns_consumers_and_costs,
    a_promotion_that_would_leave_a_product_stale_waits_for_the_backfill,
    the_evidence_is_a_documented_complete_record,
    the_release_view_moves_in_the_flip_transaction,
    lineage_events_follow_openlineage_and_survive_a_flaky_endpoint,
);
