//! Plan tests: the categorization rules end to end, versions, and backfill ranges.

use std::collections::HashMap;

use super::*;
use crate::graph::tests::{model, project};
use crate::intervals::{format_boundary, parse_time};
use crate::model::Model;

const DAY: i64 = 86_400_000;

fn t(s: &str) -> i64 {
    parse_time(s, 0).unwrap().0
}

fn options(env: &str) -> PlanOptions {
    PlanOptions {
        environment: env.into(),
        execution_time: t("2024-01-04 12:00"),
        ..Default::default()
    }
}

/// A test harness: plans against a fake prod whose snapshots come from a previous plan.
struct World {
    prod: Vec<Snapshot>,
    intervals: HashMap<(String, String), Vec<Interval>>,
}

impl World {
    fn new() -> World {
        World {
            prod: Vec::new(),
            intervals: HashMap::new(),
        }
    }

    fn plan_with(&self, models: Vec<Model>, opts: &PlanOptions) -> Plan {
        let dag = Dag::build(&project(models)).unwrap();
        self.try_plan(&dag, opts).unwrap()
    }

    fn try_plan(&self, dag: &Dag, opts: &PlanOptions) -> Result<Plan, PlanError> {
        let audits = BTreeMap::new();
        let env = EnvironmentRecord {
            name: "prod".into(),
            snapshots: self.prod.iter().map(Snapshot::reference).collect(),
            plan_id: "p".into(),
            revision: 1,
            release_id: None,
            expires_at: None,
            updated_at: 0,
        };
        let inputs = PlanInputs {
            dag,
            audits: &audits,
            base: Some(&env),
            base_snapshots: &self.prod,
            intervals: &self.intervals,
            prod_tables: &Default::default(),
        };
        build(&inputs, opts)
    }

    fn plan(&self, models: Vec<Model>) -> Plan {
        self.plan_with(models, &options("dev"))
    }

    /// Applies a plan as prod: its snapshots become prod and its batches are done.
    fn apply(&mut self, plan: &Plan) {
        self.prod = plan.snapshots.clone();
        for b in &plan.backfill {
            self.intervals
                .entry((b.model.clone(), b.version.clone()))
                .or_default()
                .extend(b.batches.iter().copied());
        }
    }

    fn prod_version(&self, name: &str) -> String {
        self.prod
            .iter()
            .find(|s| s.model.name == name)
            .unwrap()
            .version
            .clone()
    }
}

fn summary(plan: &Plan) -> Vec<String> {
    plan.basis
        .changes
        .iter()
        .map(|c| {
            format!(
                "{} {:?} {}",
                c.model,
                c.change,
                c.category.map(|c| c.as_str()).unwrap_or("-")
            )
        })
        .collect()
}

/// a -> b -> c, d -> c.
fn base_models() -> Vec<Model> {
    vec![
        model("s.a", "SELECT 1 AS id, 2 AS x"),
        model("s.b", "SELECT id, x FROM s.a"),
        model(
            "s.c",
            "SELECT b.id, d.y FROM s.b b JOIN s.d d ON b.id = d.id",
        ),
        model("s.d", "SELECT 1 AS id, 3 AS y"),
    ]
}

fn with(models: Vec<Model>, name: &str, query: &str) -> Vec<Model> {
    models
        .into_iter()
        .map(|m| {
            if m.name == name {
                model(name, query)
            } else {
                m
            }
        })
        .collect()
}

fn built_world() -> World {
    let mut w = World::new();
    let first = w.plan_with(base_models(), &options("prod"));
    w.apply(&first);
    w
}

#[test]
fn a_new_project_adds_every_model_as_breaking_with_a_backfill() {
    let plan = World::new().plan_with(base_models(), &options("prod"));
    assert_eq!(
        summary(&plan),
        [
            "s.a Added breaking",
            "s.b Added breaking",
            "s.c Added breaking",
            "s.d Added breaking"
        ]
    );
    let a = &plan.basis.changes[0];
    assert_eq!(
        a.backfill,
        vec![Interval::new(t("2024-01-01"), t("2024-01-04"))]
    );
    assert_eq!(a.table, format!("sluice__s.s__a__{}", a.version));
}

#[test]
fn an_unchanged_project_has_no_changes_and_no_work() {
    let w = built_world();
    let plan = w.plan(base_models());
    assert!(!plan.has_changes());
    assert!(!plan.has_work(), "{:?}", plan.backfill);
}

#[test]
fn non_breaking_change_rebuilds_only_that_model() {
    let w = built_world();
    let plan = w.plan(with(
        base_models(),
        "s.a",
        "SELECT 1 AS id, 5 AS extra, 2 AS x",
    ));
    assert_eq!(
        summary(&plan),
        [
            "s.a DirectlyModified non_breaking",
            "s.b IndirectlyModified indirect_non_breaking",
            "s.c IndirectlyModified indirect_non_breaking"
        ]
    );
    let backfilled: Vec<&str> = plan.backfill.iter().map(|b| b.model.as_str()).collect();
    assert_eq!(backfilled, ["s.a"]);
    assert_eq!(plan.basis.changes[1].version, w.prod_version("s.b"));
    assert_ne!(plan.basis.changes[0].version, w.prod_version("s.a"));
}

#[test]
fn breaking_change_rebuilds_everything_downstream() {
    let w = built_world();
    let plan = w.plan(with(base_models(), "s.a", "SELECT 1 AS id, 3 AS x"));
    assert_eq!(
        summary(&plan),
        [
            "s.a DirectlyModified breaking",
            "s.b IndirectlyModified indirect_breaking",
            "s.c IndirectlyModified indirect_breaking"
        ]
    );
    let backfilled: Vec<&str> = plan.backfill.iter().map(|b| b.model.as_str()).collect();
    assert_eq!(backfilled, ["s.a", "s.b", "s.c"]);
}

#[test]
fn two_direct_changes_meeting_downstream() {
    let w = built_world();
    let models = with(base_models(), "s.a", "SELECT 1 AS id, 3 AS x");
    let models = with(models, "s.d", "SELECT 1 AS id, 3 AS y, 4 AS z");
    let plan = w.plan(models);
    assert_eq!(
        summary(&plan),
        [
            "s.a DirectlyModified breaking",
            "s.d DirectlyModified non_breaking",
            "s.b IndirectlyModified indirect_breaking",
            "s.c IndirectlyModified indirect_breaking"
        ]
    );
}

#[test]
fn a_non_breaking_edit_below_a_breaking_one_stops_it_like_sqlmesh() {
    let w = built_world();
    let models = with(base_models(), "s.a", "SELECT 1 AS id, 3 AS x");
    let models = with(models, "s.b", "SELECT id, x, 7 AS w FROM s.a");
    let plan = w.plan(models);
    assert_eq!(
        summary(&plan),
        [
            "s.a DirectlyModified breaking",
            "s.b DirectlyModified non_breaking",
            "s.c IndirectlyModified indirect_non_breaking"
        ]
    );
    assert_eq!(plan.basis.changes[2].version, w.prod_version("s.c"));
}

#[test]
fn metadata_changes_reuse_the_table() {
    let w = built_world();
    let mut models = base_models();
    models[0].owner = Some("analytics".into());
    let plan = w.plan(models);
    assert_eq!(summary(&plan), ["s.a MetadataUpdated metadata"]);
    assert_eq!(plan.basis.changes[0].version, w.prod_version("s.a"));
    assert!(!plan.has_work());
}

#[test]
fn formatting_only_edits_change_nothing() {
    let w = built_world();
    let plan = w.plan(with(
        base_models(),
        "s.b",
        "select ID, x -- same\n FROM S.A",
    ));
    assert!(!plan.has_changes(), "{:?}", summary(&plan));
}

#[test]
fn added_and_removed_models() {
    let w = built_world();
    let mut models: Vec<Model> = base_models()
        .into_iter()
        .filter(|m| m.name != "s.c")
        .collect();
    models.push(model("s.e", "SELECT id FROM s.a"));
    let plan = w.plan(models);
    assert_eq!(summary(&plan), ["s.e Added breaking", "s.c Removed -"]);
    assert!(plan.snapshots.iter().all(|s| s.model.name != "s.c"));
}

#[test]
fn forward_only_changes_keep_prod_tables_but_write_dev_tables_outside_prod() {
    let w = built_world();
    let changed = with(base_models(), "s.a", "SELECT 1 AS id, 3 AS x");
    let mut opts = options("dev");
    opts.forward_only = true;
    let dev = w.plan_with(changed.clone(), &opts);
    assert_eq!(
        summary(&dev),
        [
            "s.a DirectlyModified forward_only",
            "s.b IndirectlyModified forward_only",
            "s.c IndirectlyModified forward_only"
        ]
    );
    for (snapshot, change) in dev.snapshots.iter().zip(&dev.basis.changes) {
        // The version promotion to prod will use is prod's own table ...
        assert_eq!(snapshot.version, w.prod_version(&snapshot.model.name));
        // ... but dev computes the new query into a dev table of its own.
        assert!(change.version.ends_with(DEV_SUFFIX), "{change:?}");
        assert!(change.table.ends_with(DEV_SUFFIX), "{change:?}");
    }
    assert!(dev.backfill.iter().all(|b| b.version.ends_with(DEV_SUFFIX)));
    assert!(dev.has_work(), "the dev tables preview the change");

    opts.environment = "prod".into();
    let prod = w.plan_with(changed, &opts);
    assert_eq!(prod.basis.changes[0].version, w.prod_version("s.a"));
    assert!(prod.dev_tables.is_empty());
    assert!(!prod.has_work(), "prod keeps its tables and history");
}

#[test]
fn reverting_a_change_reuses_the_original_table() {
    let w = built_world();
    let changed = w.plan(with(base_models(), "s.a", "SELECT 1 AS id, 3 AS x"));
    let mut w2 = World {
        prod: w.prod.clone(),
        intervals: w.intervals.clone(),
    };
    w2.apply(&changed);
    let reverted = w2.plan(base_models());
    let a = reverted
        .snapshots
        .iter()
        .find(|s| s.model.name == "s.a")
        .unwrap();
    assert_eq!(a.version, w.prod_version("s.a"));
    assert!(
        !reverted.has_work(),
        "the original tables still have their intervals"
    );
}

fn incremental(name: &str, batch_size: Option<u32>, lookback: u32) -> Model {
    let mut m = model(
        name,
        "SELECT d FROM raw.events WHERE d BETWEEN @start_ds AND @end_ds",
    );
    m.kind = ModelKind::IncrementalByTimeRange {
        time_column: "d".into(),
        time_format: None,
        batch_size,
        lookback,
        forward_only: false,
    };
    m
}

#[test]
fn incremental_backfill_is_batched_and_only_missing_days() {
    let mut w = World::new();
    let first = w.plan_with(vec![incremental("s.inc", Some(2), 0)], &options("prod"));
    let shown: Vec<String> = first.backfill[0]
        .batches
        .iter()
        .map(|i| i.to_string())
        .collect();
    assert_eq!(
        shown,
        ["2024-01-01 - 2024-01-02", "2024-01-03 - 2024-01-03"]
    );
    w.apply(&first);
    let mut later = options("prod");
    later.execution_time += 2 * DAY;
    let next = w.plan_with(vec![incremental("s.inc", Some(2), 0)], &later);
    let shown: Vec<String> = next.backfill[0]
        .batches
        .iter()
        .map(|i| i.to_string())
        .collect();
    assert_eq!(shown, ["2024-01-04 - 2024-01-05"]);
}

#[test]
fn lookback_reprocesses_recent_days() {
    let mut w = World::new();
    let first = w.plan_with(vec![incremental("s.inc", None, 2)], &options("prod"));
    w.apply(&first);
    let mut later = options("prod");
    later.execution_time += DAY;
    let next = w.plan_with(vec![incremental("s.inc", None, 2)], &later);
    let b = &next.backfill[0].batches;
    assert_eq!(
        (format_boundary(b[0].start), format_boundary(b[0].end)),
        ("2024-01-02".into(), "2024-01-05".into())
    );
}

#[test]
fn restatement_recomputes_the_range_downstream_too() {
    let mut w = World::new();
    let models = || {
        let mut child = model("s.child", "SELECT * FROM s.inc");
        child.kind = ModelKind::Full;
        vec![incremental("s.inc", None, 0), child]
    };
    let first = w.plan_with(models(), &options("prod"));
    w.apply(&first);
    let mut restate = options("prod");
    restate.restate = vec!["s.inc".into()];
    restate.start = Some(t("2024-01-02"));
    let plan = w.plan_with(models(), &restate);
    let work: Vec<String> = plan
        .backfill
        .iter()
        .map(|b| format!("{} {}", b.model, b.batches[0]))
        .collect();
    assert_eq!(
        work,
        [
            "s.inc 2024-01-02 - 2024-01-03",
            "s.child 2024-01-02 - 2024-01-03"
        ]
    );
    assert_eq!(plan.restatements.len(), 2);
    let unrestated = World::new().plan_with(models(), &options("prod"));
    assert!(
        unrestated.restatements.is_empty(),
        "no --restate, nothing to forget"
    );
}

#[test]
fn hourly_models_backfill_complete_hours_only() {
    let mut m = incremental("s.hourly", None, 0);
    m.cron = "@hourly".into();
    m.start = Some("2024-01-04".into());
    let plan = World::new().plan_with(vec![m], &options("prod"));
    let b = plan.backfill[0].batches[0];
    assert_eq!(
        (format_boundary(b.start), format_boundary(b.end)),
        ("2024-01-04".into(), "2024-01-04 12:00:00".into())
    );
}

#[test]
fn prod_refuses_a_partial_range_unless_restating() {
    let w = built_world();
    let mut opts = options("prod");
    opts.start = Some(t("2024-01-02"));
    let dag = Dag::build(&project(base_models())).unwrap();
    let error = w.try_plan(&dag, &opts).unwrap_err();
    assert!(matches!(error, PlanError::RangeInProd), "{error}");
    opts.restate = vec!["s.a".into()];
    assert!(w.try_plan(&dag, &opts).is_ok());
    // A development environment may backfill part of history.
    let mut dev = options("dev");
    dev.start = Some(t("2024-01-02"));
    assert!(w.try_plan(&dag, &dev).is_ok());
}

#[test]
fn an_empty_or_future_range_is_refused() {
    let w = built_world();
    let dag = Dag::build(&project(base_models())).unwrap();
    let mut opts = options("dev");
    opts.start = Some(t("2024-01-03"));
    opts.end = Some(t("2024-01-02"));
    let error = w.try_plan(&dag, &opts).unwrap_err();
    assert!(matches!(error, PlanError::EmptyRange { .. }), "{error}");
    opts.start = None;
    opts.end = Some(t("2024-01-09"));
    let error = w.try_plan(&dag, &opts).unwrap_err();
    assert!(matches!(error, PlanError::EndInFuture { .. }), "{error}");
    // A date end means "through that day": today is fine.
    opts.end = Some(t("2024-01-05"));
    assert!(w.try_plan(&dag, &opts).is_ok());
}

#[test]
fn removing_a_model_another_one_reads_is_refused_with_both_names() {
    let w = built_world();
    let models: Vec<Model> = base_models()
        .into_iter()
        .filter(|m| m.name != "s.b")
        .collect();
    let dag = Dag::build(&project(models)).unwrap();
    let error = w.try_plan(&dag, &options("dev")).unwrap_err().to_string();
    assert!(error.contains("s.b") && error.contains("s.c"), "{error}");
}

#[test]
fn the_digest_names_what_would_be_promoted_and_nothing_else() {
    let w = built_world();
    let changed = with(base_models(), "s.a", "SELECT 1 AS id, 3 AS x");
    let a = w.plan(changed.clone());
    let mut later = options("dev");
    later.execution_time += DAY;
    let b = w.plan_with(changed.clone(), &later);
    assert_ne!(a.basis.id, b.basis.id, "the backfill differs");
    assert_eq!(
        a.basis.digest, b.basis.digest,
        "what would be promoted does not"
    );
    let other = w.plan(with(base_models(), "s.a", "SELECT 1 AS id, 4 AS x"));
    assert_ne!(a.basis.digest, other.basis.digest);
    let mut restated = options("dev");
    restated.restate = vec!["s.a".into()];
    assert_ne!(a.basis.digest, w.plan_with(changed, &restated).basis.digest);
}

#[test]
fn plans_and_options_round_trip_through_json() {
    let w = built_world();
    let mut opts = options("dev");
    opts.forward_only = true;
    opts.restate = vec!["s.a".into()];
    let plan = w.plan_with(with(base_models(), "s.a", "SELECT 1 AS id, 3 AS x"), &opts);
    let json = serde_json::to_string(&plan).unwrap();
    let back: Plan = serde_json::from_str(&json).unwrap();
    assert_eq!(serde_json::to_string(&back).unwrap(), json);
    let options_back: PlanOptions =
        serde_json::from_str(&serde_json::to_string(&opts).unwrap()).unwrap();
    assert_eq!(options_back, opts);
}
