//! Computing a Plan object's plan: fetch the source, load the project, plan it in-process
//! against the Environment's warehouse, prepare it (snapshots, units of work, registration),
//! and describe it in status and in a ConfigMap the Plan owns.

use std::collections::BTreeMap;
use std::io::Write;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::{Resource, ResourceExt};
use sluice_api::plan::{
    BasedOn, ChangeStatus, MAX_UNIT_TEST_FAILURES, Plan as PlanObject, PlanOptionsSpec,
    PlanSummary, SourceStatus, UnitTestFailure, UnitTestsStatus,
};
use sluice_api::{MANAGED_BY, PLAN_LABEL};
use sluice_engine::graph::Dag;
use sluice_engine::intervals::{Interval, parse_end, parse_time};
use sluice_engine::plan::{ChangeType, Plan, PlanError, PlanOptions};
use sluice_engine::project::Project;
use sluice_engine::snapshot::Category;
use sluice_warehouse::apply::prepare;
use sluice_warehouse::state::StateStore;
use sluice_warehouse::workspace::plan_project;

use super::context::{Context, WarehouseTarget};
use super::error::{Error, Result};
use super::source;

/// Changes listed in status; the rest are in the plan ConfigMap.
pub const MAX_CHANGES_IN_STATUS: usize = 100;
/// The plan ConfigMap holds at most this much gzipped JSON: base64 in the API object makes it
/// 4/3 larger, so the object stays under 512 KiB (ConfigMaps stop at 1 MiB; etcd and every
/// watcher prefer small objects).
const MAX_PLAN_BYTES: usize = 380 * 1024;

/// What the environment looks like in the warehouse: what a plan is based on.
pub fn based_on(
    warehouse: &mut dyn sluice_warehouse::warehouse::Warehouse,
    environment: &str,
) -> anyhow::Result<(BasedOn, Option<String>)> {
    let mut state = StateStore::new(warehouse);
    state.init()?;
    let own = state.environment(environment)?;
    let current_plan = own.as_ref().map(|e| e.plan_id.clone());
    let base = match own {
        Some(env) => BasedOn {
            release: env.release_id,
            revision: Some(env.revision),
            environment: Some(environment.to_string()),
        },
        None => {
            let prod = state.environment("prod")?;
            BasedOn {
                release: prod.and_then(|p| p.release_id),
                revision: None,
                environment: Some("prod".into()),
            }
        }
    };
    Ok((base, current_plan))
}

/// The result of computing a plan.
pub struct Computed {
    pub plan: Plan,
    pub unit_tests: UnitTestsStatus,
    pub based_on: BasedOn,
    pub source: SourceStatus,
}

/// Fetches, loads, plans and prepares. Invalid input (project, options, the plan's own rules)
/// is a Stalled error naming the culprit; an unreachable warehouse is retried.
pub async fn compute(
    ctx: &Context,
    object: &PlanObject,
    environment: &str,
    url: &WarehouseTarget,
) -> Result<Computed> {
    let namespace = object.namespace().unwrap_or_default();
    let fetched = source::fetch(
        &ctx.client,
        &namespace,
        &object.spec.source,
        &ctx.settings.git,
    )
    .await?;
    let options = plan_options(&object.spec.options, environment)?;
    let root = fetched.root.clone();
    let (project, dag) = tokio::task::spawn_blocking(move || load(&root)).await??;
    let env = environment.to_string();
    let planned = ctx
        .with_warehouse(url, move |wh| {
            let _keep = &fetched.dir;
            let (based_on, _) = based_on(wh, &env)?;
            let mut plan = match plan_project(wh, &project, &dag, &options) {
                Ok((plan, _)) => plan,
                Err(e) => match e.downcast::<PlanError>() {
                    Ok(invalid) => return Ok(Err(invalid.to_string())),
                    Err(e) => return Err(e),
                },
            };
            plan.basis.source = Some(sluice_engine::plan::SourceInfo {
                digest: fetched.digest.clone(),
                revision: fetched.revision.clone(),
            });
            let now = chrono::Utc::now().timestamp();
            prepare(wh, &plan, &project.config.statements, now)?;
            let tests = unit_tests(wh, &project, &dag, plan.basis.execution_time);
            Ok(Ok((
                plan,
                tests,
                based_on,
                fetched.digest.clone(),
                fetched.revision.clone(),
            )))
        })
        .await?;
    let (plan, unit_tests, based_on, digest, revision) =
        planned.map_err(|message| Error::stalled("InvalidPlan", message))?;
    Ok(Computed {
        plan,
        unit_tests,
        based_on,
        source: SourceStatus { digest, revision },
    })
}

/// Runs the project's unit tests (each in a rolled-back transaction); a test file that cannot
/// be read counts as a failed test naming the file.
fn unit_tests(
    wh: &mut dyn sluice_warehouse::warehouse::Warehouse,
    project: &Project,
    dag: &Dag,
    now: i64,
) -> UnitTestsStatus {
    let outcomes = match sluice_engine::unit_test::load_tests(&project.root) {
        Ok(tests) => sluice_warehouse::unit_tests::run_unit_tests(wh, dag, &tests, now),
        Err(problems) => problems
            .iter()
            .map(|p| sluice_warehouse::unit_tests::TestOutcome {
                name: "(unreadable)".into(),
                file: p.path.clone(),
                model: String::new(),
                failure: Some(p.to_string()),
                skipped: None,
            })
            .collect(),
    };
    let failures: Vec<UnitTestFailure> = outcomes
        .iter()
        .filter_map(|o| {
            Some(UnitTestFailure {
                name: o.name.clone(),
                file: o.file.display().to_string(),
                model: o.model.clone(),
                message: o.failure.clone()?.chars().take(2000).collect(),
            })
        })
        .collect();
    UnitTestsStatus {
        passed: (outcomes.len() - failures.len()) as u32,
        failed: failures.len() as u32,
        failures: failures.into_iter().take(MAX_UNIT_TEST_FAILURES).collect(),
    }
}

fn load(root: &std::path::Path) -> Result<(Project, Dag)> {
    let project = sluice_engine::project::load(root)
        .map_err(|e| Error::stalled("InvalidProject", e.to_string()))?;
    let dag = Dag::build(&project).map_err(|e| Error::stalled("InvalidProject", e.to_string()))?;
    Ok((project, dag))
}

/// `spec.options` as the engine's options.
pub fn plan_options(spec: &PlanOptionsSpec, environment: &str) -> Result<PlanOptions> {
    let invalid = |field: &str, e: String| {
        Error::stalled("InvalidOptions", format!("spec.options.{field}: {e}"))
    };
    let wall = chrono::Utc::now().timestamp_millis();
    let now = match &spec.execution_time {
        Some(t) => parse_time(t, wall)
            .map(|t| t.0)
            .map_err(|e| invalid("executionTime", e))?,
        None => wall,
    };
    let start = spec
        .start
        .as_deref()
        .map(|s| parse_time(s, now).map(|t| t.0))
        .transpose()
        .map_err(|e| invalid("start", e))?;
    let end = spec
        .end
        .as_deref()
        .map(|s| parse_end(s, now))
        .transpose()
        .map_err(|e| invalid("end", e))?;
    Ok(PlanOptions {
        environment: environment.to_string(),
        start,
        end,
        execution_time: now,
        forward_only: spec.forward_only,
        restate: spec.restate.clone(),
    })
}

/// Counts by category and change type.
pub fn summary(plan: &Plan) -> PlanSummary {
    let mut s = PlanSummary {
        changes: plan.basis.changes.len() as u32,
        models: plan.snapshots.len() as u32,
        intervals: plan.backfill.iter().map(|b| b.batches.len() as u32).sum(),
        ..Default::default()
    };
    for change in &plan.basis.changes {
        match change.change {
            ChangeType::Added => s.added += 1,
            ChangeType::Removed => s.removed += 1,
            _ => {}
        }
        match change.category {
            _ if change.change == ChangeType::Added => {}
            Some(Category::Breaking) => s.breaking += 1,
            Some(Category::NonBreaking) => s.non_breaking += 1,
            Some(Category::IndirectBreaking) => s.indirect_breaking += 1,
            Some(Category::IndirectNonBreaking) => s.indirect_non_breaking += 1,
            Some(Category::Metadata) => s.metadata += 1,
            Some(Category::ForwardOnly) => s.forward_only += 1,
            None => {}
        }
    }
    s
}

/// The first changes, as status shows them.
pub fn changes(plan: &Plan) -> Vec<ChangeStatus> {
    plan.basis
        .changes
        .iter()
        .take(MAX_CHANGES_IN_STATUS)
        .map(|c| {
            let range = match (c.backfill.first(), c.backfill.last()) {
                (Some(first), Some(last)) => Some(Interval::new(first.start, last.end).to_string()),
                _ => None,
            };
            ChangeStatus {
                model: c.model.clone(),
                change: serde_json::to_value(c.change)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                category: c.category.map(|k| k.as_str().to_string()),
                kind: c.kind.clone(),
                table: c.table.clone(),
                backfill: range,
                batches: c.backfill.len() as u32,
            }
        })
        .collect()
}

/// The plan ConfigMap's name.
pub fn config_map_name(plan: &PlanObject) -> String {
    format!("{}-plan", plan.name_any())
}

/// Writes the full plan, gzipped JSON under `binaryData["plan.json.gz"]`, into a ConfigMap the
/// Plan owns. A plan too large for a ConfigMap keeps its changes and backfill, not the models.
pub async fn write_config_map(ctx: &Context, object: &PlanObject, plan: &Plan) -> Result<String> {
    let name = config_map_name(object);
    let mut json = serde_json::to_vec(plan)?;
    let mut data = gzip(&json);
    let mut truncated = false;
    if data.len() > MAX_PLAN_BYTES {
        let slim = serde_json::json!({
            "id": plan.basis.id, "digest": plan.basis.digest, "environment": plan.basis.environment,
            "changes": plan.basis.changes, "backfill": plan.backfill, "warnings": plan.warnings,
            "truncated": "the models are left out: the plan is larger than a ConfigMap holds",
        });
        json = serde_json::to_vec(&slim)?;
        data = gzip(&json);
        truncated = true;
    }
    let owner = object
        .controller_owner_ref(&())
        .ok_or(Error::Malformed("a Plan without a uid"))?;
    let mut labels = BTreeMap::new();
    labels.insert(
        PLAN_LABEL.to_string(),
        sluice_api::labels::label_value(&object.name_any()),
    );
    labels.insert(MANAGED_BY.0.to_string(), MANAGED_BY.1.to_string());
    let mut annotations = BTreeMap::new();
    annotations.insert("sluice.dev/plan-id".to_string(), plan.basis.id.clone());
    annotations.insert("sluice.dev/digest".to_string(), plan.basis.digest.clone());
    if truncated {
        annotations.insert("sluice.dev/truncated".to_string(), "true".to_string());
    }
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: object.namespace(),
            labels: Some(labels),
            annotations: Some(annotations),
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        binary_data: Some(BTreeMap::from([(
            "plan.json.gz".to_string(),
            ByteString(data),
        )])),
        ..Default::default()
    };
    super::context::apply_config_map(&ctx.client, &cm).await
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = gz.write_all(data);
    gz.finish().unwrap_or_default()
}
