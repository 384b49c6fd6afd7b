use std::path::Path;

use super::*;
use crate::model::{AuditArg, Dialect, ModelKind};

fn write(root: &Path, rel: &str, content: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

pub(super) fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (rel, content) in files {
        write(dir.path(), rel, content);
    }
    dir
}

pub(super) fn load_err(files: &[(&str, &str)]) -> Vec<String> {
    let dir = project(files);
    let err = load(dir.path()).unwrap_err();
    err.to_string().lines().map(String::from).collect()
}

const CONFIG: &str = "model_defaults:\n  dialect: duckdb\n  start: 2024-01-01\n  cron: '@hourly'\n";

#[test]
fn loads_every_kind_with_defaults_and_header_properties() {
    let dir = project(&[
        ("config.yaml", CONFIG),
        (
            "models/stg/orders.sql",
            "-- orders, one row per order\nMODEL (\n  Name stg.Orders,\n  \
             kind INCREMENTAL_BY_TIME_RANGE (\n    time_column (order_date, '%Y-%m-%d'),\n    \
             batch_size 7, lookback 2, forward_only true\n  ),\n  cron '@daily',\n  \
             start '2023-06-01', end 2024-12-31,\n  owner 'data-team', description 'It''s orders',\n  \
             grains (id, order_date), tags [core, 'finance'],\n  /* audits */\n  audits (\n    \
             not_null(columns := [id, name]), unique_values(columns := (id)),\n    \
             accepted_values(column := status, is_in := ('a', 'b')),\n    \
             forall(criteria := (x > 0, y < 10)), number_of_rows(threshold := 10),\n    \
             assert_positive\n  ),\n  depends_on [raw.Events],\n  \
             columns (id INT, name TEXT, amount DECIMAL(10,2)),\n  partitioned_by order_date,\n  \
             dialect postgres\n);\n\nSELECT id, name\nFROM raw.orders\nWHERE order_date BETWEEN @start_ds AND @end_ds;\n",
        ),
        (
            "models/dim/customers.sql",
            "MODEL (name dim.customers, kind INCREMENTAL_BY_UNIQUE_KEY (unique_key (a, b), batch_size 3));\nSELECT 1 AS a, 2 AS b",
        ),
        (
            "models/dim/simple.sql",
            "MODEL (name dim.simple, kind INCREMENTAL_BY_UNIQUE_KEY (unique_key id)); SELECT 1 AS id",
        ),
        (
            "models/full.sql",
            "MODEL (name m.full_model, kind FULL, grain id); SELECT 1 AS id",
        ),
        ("models/view.sql", "MODEL (name m.view_model); SELECT 1"),
        (
            "models/embedded.sql",
            "MODEL (name m.emb, kind EMBEDDED); SELECT 1",
        ),
        (
            "models/external.sql",
            "MODEL (name raw.events, kind EXTERNAL, columns (id INT));",
        ),
        (
            "models/seed.sql",
            "MODEL (name m.seeded, kind SEED (path '../seeds/s.csv'));",
        ),
        (
            "models/root_seed.sql",
            "MODEL (name m.rooted, kind SEED (path '$root/seeds/s.csv', batch_size 10));",
        ),
        ("seeds/s.csv", "id,name\n1,a\n"),
        (
            "audits/positive.sql",
            "AUDIT (name assert_positive, blocking false, defaults (threshold := 0, cols = [a, b]));\nSELECT * FROM @this_model WHERE @column < @threshold;\n\n-- second\nAUDIT (name other);\nSELECT 1 FROM @this_model",
        ),
    ]);
    let project = load(dir.path()).unwrap();
    let names: Vec<&str> = project.models.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "dim.customers",
            "dim.simple",
            "m.emb",
            "raw.events",
            "m.full_model",
            "m.rooted",
            "m.seeded",
            "stg.orders",
            "m.view_model"
        ]
    );
    let get = |name: &str| project.models.iter().find(|m| m.name == name).unwrap();

    let orders = get("stg.orders");
    assert_eq!(orders.path, Path::new("models/stg/orders.sql"));
    assert_eq!(
        orders.kind,
        ModelKind::IncrementalByTimeRange {
            time_column: "order_date".into(),
            time_format: Some("%Y-%m-%d".into()),
            batch_size: Some(7),
            lookback: 2,
            forward_only: true
        }
    );
    assert_eq!(orders.dialect, Dialect::Postgres);
    assert_eq!(orders.cron, "@daily");
    assert_eq!(orders.start.as_deref(), Some("2023-06-01"));
    assert_eq!(orders.end.as_deref(), Some("2024-12-31"));
    assert_eq!(orders.owner.as_deref(), Some("data-team"));
    assert_eq!(orders.description.as_deref(), Some("It's orders"));
    assert_eq!(orders.grains, ["id", "order_date"]);
    assert_eq!(orders.tags, ["core", "finance"]);
    assert_eq!(orders.depends_on, ["raw.events"]);
    assert_eq!(
        orders.columns,
        [
            ("id".to_string(), "INT".to_string()),
            ("name".into(), "TEXT".into()),
            ("amount".into(), "DECIMAL(10,2)".into())
        ]
    );
    let audit_names: Vec<&str> = orders.audits.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(
        audit_names,
        [
            "not_null",
            "unique_values",
            "accepted_values",
            "forall",
            "number_of_rows",
            "assert_positive"
        ]
    );
    let arg = |i: usize, key: &str| orders.audits[i].args[key].clone();
    assert_eq!(
        arg(0, "columns"),
        AuditArg::List(vec!["id".into(), "name".into()])
    );
    assert_eq!(arg(1, "columns"), AuditArg::List(vec!["id".into()]));
    assert_eq!(arg(2, "column"), AuditArg::Scalar("status".into()));
    assert_eq!(
        arg(2, "is_in"),
        AuditArg::List(vec!["'a'".into(), "'b'".into()])
    );
    assert_eq!(
        arg(3, "criteria"),
        AuditArg::List(vec!["x > 0".into(), "y < 10".into()])
    );
    assert_eq!(arg(4, "threshold"), AuditArg::Scalar("10".into()));
    assert!(orders.audits[5].args.is_empty());
    assert_eq!(
        orders.query.as_deref(),
        Some("SELECT id, name\nFROM raw.orders\nWHERE order_date BETWEEN @start_ds AND @end_ds")
    );
    assert_eq!(orders.query_line, 25);

    assert_eq!(
        get("dim.customers").kind,
        ModelKind::IncrementalByUniqueKey {
            unique_key: vec!["a".into(), "b".into()],
            batch_size: Some(3),
            forward_only: false
        }
    );
    assert!(
        matches!(&get("dim.simple").kind, ModelKind::IncrementalByUniqueKey { unique_key, .. } if unique_key == &["id"])
    );
    let full = get("m.full_model");
    assert_eq!(full.kind, ModelKind::Full);
    assert_eq!(
        (full.cron.as_str(), full.start.as_deref(), full.dialect),
        ("@hourly", Some("2024-01-01"), Dialect::Duckdb)
    );
    assert_eq!(
        (full.query.as_deref(), full.query_line),
        (Some("SELECT 1 AS id"), 1)
    );
    assert_eq!(
        get("m.view_model").kind,
        ModelKind::View,
        "SQLMesh's default kind is VIEW"
    );
    assert_eq!(get("m.emb").kind, ModelKind::Embedded);
    let external = get("raw.events");
    assert_eq!(
        (&external.kind, &external.query),
        (&ModelKind::External, &None)
    );
    let seeded = get("m.seeded");
    assert_eq!(
        seeded.kind,
        ModelKind::Seed {
            path: "../seeds/s.csv".into()
        }
    );
    assert_eq!(
        (seeded.query.as_deref(), seeded.seed_content.as_deref()),
        (None, Some("id,name\n1,a\n"))
    );
    assert_eq!(
        get("m.rooted").seed_content.as_deref(),
        Some("id,name\n1,a\n")
    );

    let positive = &project.audits["assert_positive"];
    assert!(!positive.blocking);
    assert_eq!(
        positive.query,
        "SELECT * FROM @this_model WHERE @column < @threshold"
    );
    assert_eq!(positive.defaults["threshold"], AuditArg::Scalar("0".into()));
    assert_eq!(
        positive.defaults["cols"],
        AuditArg::List(vec!["a".into(), "b".into()])
    );
    assert_eq!(positive.path, Path::new("audits/positive.sql"));
    let other = &project.audits["other"];
    assert!(other.blocking);
    assert_eq!(other.query, "SELECT 1 FROM @this_model");
}

#[test]
fn errors_name_file_and_line_and_are_all_collected() {
    let errors = load_err(&[
        ("models/a_no_header.sql", "-- comment\n\nSELECT 1"),
        ("models/b_no_name.sql", "MODEL (\n  kind FULL\n);\nSELECT 1"),
        (
            "models/c_bad_name.sql",
            "MODEL (\n  name just_a_table\n);\nSELECT 1",
        ),
        (
            "models/d_unknown_prop.sql",
            "MODEL (\n  name a.d,\n  colour 'blue'\n);\nSELECT 1",
        ),
        (
            "models/e_unknown_kind.sql",
            "MODEL (name a.e,\n kind INCREMENTAL_BY_MAGIC\n); SELECT 1",
        ),
        (
            "models/f_no_time_column.sql",
            "MODEL (name a.f,\n\n kind INCREMENTAL_BY_TIME_RANGE (batch_size 2)); SELECT 1",
        ),
        (
            "models/g_bad_batch.sql",
            "MODEL (name a.g, kind INCREMENTAL_BY_TIME_RANGE (\n  time_column ts,\n  batch_size 'x'\n)); SELECT 1",
        ),
        (
            "models/h_unterminated.sql",
            "MODEL (\n  name a.h,\n  owner 'oops\n);\nSELECT 1",
        ),
        (
            "models/i_unclosed.sql",
            "MODEL (\n  name a.i,\n  audits (not_null(columns := [id])\n",
        ),
        (
            "models/j_missing_seed.sql",
            "MODEL (name a.j,\n  kind SEED (path 'nope.csv'));",
        ),
        ("models/k_dup.sql", "MODEL (name a.dup); SELECT 1"),
        (
            "models/l_dup.sql",
            "-- copy\nMODEL (\n  name A.Dup\n); SELECT 2",
        ),
        (
            "models/m_no_query.sql",
            "MODEL (name a.m, kind FULL);\n  \n",
        ),
        (
            "models/n_no_unique_key.sql",
            "MODEL (name a.n, kind INCREMENTAL_BY_UNIQUE_KEY); SELECT 1",
        ),
        (
            "models/o_forward_only.sql",
            "MODEL (name a.o,\n forward_only true); SELECT 1",
        ),
        (
            "audits/x.sql",
            "AUDIT (name dup); SELECT 1;\nAUDIT (name dup); SELECT 2",
        ),
    ]);
    let expected = [
        "models/a_no_header.sql:3:1: missing MODEL (...) header at the start of the file",
        "models/b_no_name.sql:1:1: MODEL header has no 'name'",
        "models/c_bad_name.sql:2:3: model name 'just_a_table' must have the form schema.table",
        "models/d_unknown_prop.sql:3:3: unknown MODEL property 'colour'",
        "models/e_unknown_kind.sql:2:2: unknown model kind 'INCREMENTAL_BY_MAGIC'",
        "models/f_no_time_column.sql:3:2: kind INCREMENTAL_BY_TIME_RANGE requires 'time_column'",
        "models/g_bad_batch.sql:3:3: 'batch_size' expects a whole number, found ''x''",
        "models/h_unterminated.sql:3:9: unterminated string",
        "models/i_unclosed.sql:3:10: unterminated '(': no matching ')'",
        "models/m_no_query.sql:1:29: FULL model 'a.m' has no query after the MODEL header",
        "models/n_no_unique_key.sql:1:18: kind INCREMENTAL_BY_UNIQUE_KEY requires 'unique_key'",
    ];
    for line in expected {
        assert!(
            errors.iter().any(|e| e == line),
            "missing {line:?} in\n{}",
            errors.join("\n")
        );
    }
    let starts = [
        "models/j_missing_seed.sql:2:3: cannot read seed file 'nope.csv' (resolved to models/nope.csv)",
        "models/l_dup.sql:3: duplicate model name 'a.dup' (also defined in models/k_dup.sql:1)",
        "models/o_forward_only.sql:2:2: 'forward_only' belongs inside the kind",
        "audits/x.sql:2: duplicate audit name 'dup' (also defined in audits/x.sql:1)",
    ];
    for start in starts {
        assert!(
            errors.iter().any(|e| e.starts_with(start)),
            "missing {start:?} in\n{}",
            errors.join("\n")
        );
    }
    assert_eq!(
        errors.len(),
        expected.len() + starts.len(),
        "{}",
        errors.join("\n")
    );
}

#[test]
fn header_values_are_type_checked() {
    let errors = load_err(&[
        (
            "models/a.sql",
            "MODEL (name a.a, kind FULL (time_column x)); SELECT 1",
        ),
        ("models/b.sql", "MODEL (name a.b, start [1, 2]); SELECT 1"),
        (
            "models/c.sql",
            "MODEL (name a.c, audits (not_null(id))); SELECT 1",
        ),
        (
            "models/d.sql",
            "MODEL (name a.d, cron '@daily', cron '@hourly'); SELECT 1",
        ),
        ("models/e.sql", "MODEL (name a.e, dialect duckbd); SELECT 1"),
        (
            "models/f.sql",
            "MODEL (name a.f, kind SEED (path '../s.csv')); SELECT 1",
        ),
        ("s.csv", "a\n1\n"),
    ]);
    let expected = [
        "models/a.sql:1:29: unknown field 'time_column' for kind FULL",
        "models/b.sql:1:18: 'start' expects a date such as '2024-01-01', found '[1, 2]'",
        "models/c.sql:1:35: expected 'name := value', found 'id'",
        "models/d.sql:1:33: property 'cron' is set twice (first on line 1)",
        "models/e.sql:1:18: unsupported dialect 'duckbd' (expected duckdb, postgres or spark)",
        "models/f.sql:1:48: SEED models take no query after the MODEL header",
    ];
    assert_eq!(errors, expected);
}

#[test]
fn config_errors_are_reported_with_model_errors() {
    let errors = load_err(&[
        ("config.yaml", "model_defaults:\n  cron: [1]\n"),
        ("models/a.sql", "MODEL (name a); SELECT 1"),
    ]);
    assert_eq!(
        errors,
        [
            "config.yaml:2: model_defaults.cron: expected a string, found a list",
            "models/a.sql:1:8: model name 'a' must have the form schema.table"
        ]
    );
}

#[test]
fn parse_audit_call_accepts_header_syntax() {
    let call = parse_audit_call("Accepted_Values(Column = status, is_in := ['a'])").unwrap();
    assert_eq!(call.name, "accepted_values");
    assert_eq!(call.args["column"], AuditArg::Scalar("status".into()));
    assert_eq!(call.args["is_in"], AuditArg::List(vec!["'a'".into()]));
    assert!(parse_audit_call("not_null(columns := [id]), extra").is_err());
}

#[test]
fn a_missing_or_empty_project_directory_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let err = load(&missing).unwrap_err().to_string();
    assert!(
        err.contains("nope") && err.contains("does not exist"),
        "{err}"
    );
    let err = load(dir.path()).unwrap_err().to_string();
    assert!(err.contains("no config.yaml and no models/"), "{err}");
}

#[test]
fn a_directory_of_repos_loads_as_one_project() {
    let repo = |name: &str, dialect: &str, before: &str| {
        format!(
            "project: {name}\nmodel_defaults:\n  dialect: {dialect}\nbefore_all:\n  - {before}\n"
        )
    };
    let dir = project(&[
        (
            "repo_1/config.yaml",
            &repo(
                "repo_1",
                "duckdb",
                "CREATE TABLE IF NOT EXISTS b1 AS SELECT 1",
            ),
        ),
        (
            "repo_1/models/a.sql",
            "MODEL (name bronze.a, kind FULL);\nSELECT 1 AS x",
        ),
        (
            "repo_1/macros/m.py",
            "from sqlmesh import macro\n\n@macro()\ndef two(evaluator):\n    return 2\n",
        ),
        (
            "repo_2/config.yaml",
            &repo(
                "repo_2",
                "postgres",
                "CREATE TABLE IF NOT EXISTS b2 AS SELECT 2",
            ),
        ),
        (
            "repo_2/models/c.sql",
            "MODEL (name silver.c, kind FULL);\nSELECT x FROM bronze.a",
        ),
        (
            "repo_2/macros/m.py",
            "from sqlmesh import macro\n\n@macro()\ndef two(evaluator):\n    return 2\n",
        ),
        (
            "repo_2/models/d.sql",
            "MODEL (name silver.d, kind FULL);\nSELECT @two() AS y",
        ),
        ("notes/readme.txt", "not a repo"),
    ]);
    let p = load(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let models: Vec<(&str, &Path, Dialect)> = p
        .models
        .iter()
        .map(|m| (m.name.as_str(), m.path.as_path(), m.dialect))
        .collect();
    assert_eq!(
        models,
        [
            (
                "bronze.a",
                Path::new("repo_1/models/a.sql"),
                Dialect::Duckdb
            ),
            (
                "silver.c",
                Path::new("repo_2/models/c.sql"),
                Dialect::Postgres
            ),
        ]
    );
    assert_eq!(
        p.config.statements.before_all,
        [
            "CREATE TABLE IF NOT EXISTS b1 AS SELECT 1",
            "CREATE TABLE IF NOT EXISTS b2 AS SELECT 2"
        ]
    );
    let python: Vec<String> = p
        .needs_python
        .iter()
        .map(|n| n.path.display().to_string())
        .collect();
    assert_eq!(python, ["repo_2/models/d.sql"]);
    assert_eq!(load_config(dir.path()).unwrap().dialect, Dialect::Duckdb);
    let graph = crate::graph::Dag::build(&p).unwrap();
    assert_eq!(graph.get("silver.c").unwrap().parents, ["bronze.a"]);

    // A name defined in two repos; then problems in both repos, reported together and named
    // by their path from the top.
    write(
        dir.path(),
        "repo_2/models/dup.sql",
        "MODEL (name bronze.a, kind FULL);\nSELECT 2 AS x",
    );
    let errors = load(dir.path()).unwrap_err().to_string();
    assert_eq!(
        errors,
        "repo_2/models/dup.sql: duplicate model name 'bronze.a' (also defined in repo_1/models/a.sql)"
    );
    write(
        dir.path(),
        "repo_1/models/bad.sql",
        "MODEL (name bronze.bad, kind NOPE);\nSELECT 1",
    );
    write(
        dir.path(),
        "repo_2/models/dup.sql",
        "MODEL (name silver.bad, kind FULL, start x);\nSELECT 1",
    );
    let errors = load(dir.path()).unwrap_err().to_string();
    assert!(errors.contains("repo_1/models/bad.sql:1:"), "{errors}");
    assert!(errors.contains("repo_2/models/dup.sql:1:"), "{errors}");
}

#[test]
fn an_environment_statement_calling_a_python_macro_is_left_out_by_name() {
    let dir = project(&[
        (
            "config.yaml",
            "model_defaults:\n  dialect: duckdb\nbefore_all:\n  - CREATE TABLE t1 AS SELECT @one()\n  - CREATE TABLE t2 AS SELECT 2\n",
        ),
        (
            "macros/m.py",
            "from sqlmesh import macro\n\n@macro()\ndef one(evaluator):\n    return 1\n",
        ),
        (
            "models/a.sql",
            "MODEL (name s.a, kind FULL);\nSELECT 1 AS x",
        ),
    ]);
    let p = load(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        p.config.statements.before_all,
        ["CREATE TABLE t2 AS SELECT 2"]
    );
    let refused: Vec<String> = p
        .needs_python
        .iter()
        .map(|n| format!("{}: {}", n.path.display(), n.reason))
        .collect();
    assert_eq!(
        refused,
        [
            "config.yaml: before_all statement 1 calls the Python macro(s) @one: not run, Sluice does not run Python"
        ]
    );
}

#[test]
fn older_sqlmesh_spellings_load() {
    let dir = project(&[
        ("config.yaml", CONFIG),
        (
            "models/a.sql",
            "MODEL (\n  name s.a,\n  kind FULL,\n  grain ARRAY[id, day],\n  \
             audits ARRAY[assert_positive(column = id), NOT_NULL(columns = ARRAY[id, day])]\n);\n\
             SELECT 1 AS id, 2 AS day",
        ),
        (
            "models/off.sql",
            "MODEL (name s.off, kind FULL, enabled false);\nSELECT this is not read",
        ),
        (
            "audits/positive.sql",
            "AUDIT (\n  name assert_positive,\n  description 'no negative @column'\n);\n\
             SELECT * FROM @this_model WHERE @column < 0",
        ),
    ]);
    let p = load(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = p.models.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        ["s.a"],
        "a disabled model is not part of the project"
    );
    let a = &p.models[0];
    assert_eq!(a.grains, ["id", "day"]);
    let audits: Vec<(String, Vec<(&String, &AuditArg)>)> = a
        .audits
        .iter()
        .map(|c| (c.name.clone(), c.args.iter().collect()))
        .collect();
    assert_eq!(
        audits,
        [
            (
                "assert_positive".to_string(),
                vec![(&"column".to_string(), &AuditArg::Scalar("id".into()))]
            ),
            (
                "not_null".to_string(),
                vec![(
                    &"columns".to_string(),
                    &AuditArg::List(vec!["id".into(), "day".into()])
                )]
            ),
        ]
    );
}

#[test]
fn a_python_configuration_is_named_not_silently_ignored() {
    let dir = project(&[
        (
            "config.py",
            "from sqlmesh.core.config import Config\nconfig = Config()\n",
        ),
        (
            "models/a.sql",
            "MODEL (name s.a, kind FULL);\nSELECT 1 AS x",
        ),
    ]);
    let p = load(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let graph = crate::graph::Dag::build(&p).unwrap();
    assert_eq!(graph.nodes.len(), 1);
    assert_eq!(graph.refused.len(), 1);
    assert_eq!(graph.refused[0].0, "config.py");
    assert!(
        graph.refused[0]
            .1
            .starts_with("a Python configuration: not read")
    );
}

/// What the project leaves out, as `name: reason`.
fn left_out(p: &Project) -> Vec<String> {
    p.needs_python
        .iter()
        .map(|n| format!("{}: {}", n.name.as_deref().unwrap_or("?"), n.reason))
        .collect()
}

#[test]
fn models_whose_header_or_body_needs_python_are_left_out_by_name() {
    let dir = project(&[
        ("config.yaml", CONFIG),
        (
            "macros/m.py",
            "from sqlmesh import macro\n\n@macro()\ndef check(evaluator):\n    return 1\n",
        ),
        (
            "models/custom.sql",
            "MODEL (name s.custom, kind CUSTOM (materialization 'my_mat'));\nSELECT 1 AS x",
        ),
        (
            "models/signalled.sql",
            "MODEL (name s.signalled, kind FULL, signals (ready()));\nSELECT 1 AS x",
        ),
        (
            "models/scd.sql",
            "MODEL (name s.scd, kind SCD_TYPE_2 (unique_key id));\nSELECT 1 AS id;\n@check()",
        ),
        (
            "models/plain.sql",
            "MODEL (name s.plain, kind FULL);\nSELECT 1 AS x",
        ),
    ]);
    let p = load(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = p.models.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["s.plain"]);
    let refused = left_out(&p);
    assert_eq!(
        refused,
        [
            "s.custom: its CUSTOM kind's materialization is a Python class: Sluice does not run Python",
            "s.scd: calls the Python macro(s) @check: Sluice does not run Python",
            "s.signalled: its signals are Python functions: Sluice does not run Python",
        ]
    );
}

#[test]
fn blueprints_make_several_models_and_other_dialects_are_left_out_by_name() {
    let dir = project(&[
        ("config.yaml", CONFIG),
        (
            "models/counts.sql",
            "MODEL (\n  name @name,\n  kind FULL,\n  blueprints (\n    \
             (name := s.count_on, wanted := 'on'),\n    (name := s.count_off, wanted := 'off')\n  \
             )\n);\nSELECT COUNT(*) AS n FROM s.plain WHERE status = @wanted",
        ),
        (
            "models/plain.sql",
            "MODEL (name s.plain, kind FULL);\nSELECT 'on' AS status",
        ),
        (
            "models/hive.sql",
            "MODEL (name s.hive, kind FULL, dialect hive);\nSELECT `status` FROM s.plain",
        ),
    ]);
    let p = load(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = p.models.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["s.count_on", "s.count_off", "s.plain"]);
    let off = p.models.iter().find(|m| m.name == "s.count_off").unwrap();
    assert!(off.query.as_deref().unwrap().contains("status = 'off'"));
    let refused = left_out(&p);
    assert_eq!(
        refused,
        [
            "s.hive: written in the 'hive' dialect, which Sluice does not transpile (it runs \
          duckdb, postgres and spark SQL)"
        ]
    );
}

#[test]
fn audits_needing_python_and_standalone_audits_are_left_out_by_name() {
    let dir = project(&[
        ("config.yaml", CONFIG),
        (
            "macros/m.py",
            "from sqlmesh import macro\n\n@macro()\ndef limit_py(evaluator):\n    return 9\n",
        ),
        (
            "audits/checks.sql",
            "AUDIT (name below);\nSELECT * FROM @this_model WHERE @column >= @limit;\n\n\
             AUDIT (name py_query);\nSELECT * FROM @this_model WHERE id > @limit_py();\n\n\
             AUDIT (name alone, standalone true);\nSELECT * FROM s.plain WHERE x < 0;\n",
        ),
        (
            "models/plain.sql",
            "MODEL (name s.plain, kind FULL, audits (below(column := x, limit := \
             @limit_py()), py_query, not_null(columns := [x])));\nSELECT 1 AS x",
        ),
    ]);
    let p = load(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let plain = &p.models[0];
    let calls: Vec<&str> = plain.audits.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(calls, ["not_null"], "the model runs with the audits it can");
    let refused = left_out(&p);
    assert_eq!(
        refused,
        [
            "audit alone: a standalone audit (reads s.plain): Sluice does not run standalone \
             audits yet",
            "audit py_query: calls the Python macro(s) @limit_py: Sluice does not run Python, \
             so the models calling it (s.plain) run without it",
            "audit below of s.plain: its arguments call the Python macro(s) @limit_py: Sluice \
             does not run Python, so s.plain runs without this audit",
        ]
    );
}

#[test]
fn audits_defined_in_a_model_file_follow_its_query() {
    let dir = project(&[
        ("config.yaml", CONFIG),
        ("seeds/names.csv", "id,name\n1,ann\n"),
        (
            "models/names.sql",
            "MODEL (name s.names, kind SEED (path '../seeds/names.csv'), audits (positive_id));\n\n\
             AUDIT (name positive_id);\nSELECT * FROM @this_model WHERE id < 0;\n\n\
             AUDIT (\n  name named,\n);\nSELECT * FROM @this_model WHERE LENGTH(name) < 1;\n",
        ),
        (
            "models/calls.sql",
            "MODEL (name s.calls, kind FULL, audits (named));\n\
             SELECT audit (x) AS audited, name FROM s.names;\n\
             AUDIT (name calls_ok);\nSELECT 1 WHERE FALSE",
        ),
    ]);
    let p = load(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let audits: Vec<(&str, &str)> = p
        .audits
        .values()
        .map(|a| (a.name.as_str(), a.path.to_str().unwrap()))
        .collect();
    assert_eq!(
        audits,
        [
            ("calls_ok", "models/calls.sql"),
            ("named", "models/names.sql"),
            ("positive_id", "models/names.sql")
        ]
    );
    let calls = p.models.iter().find(|m| m.name == "s.calls").unwrap();
    assert_eq!(
        calls.query.as_deref(),
        Some("SELECT audit (x) AS audited, name FROM s.names"),
        "a function called audit inside the query is not an AUDIT block"
    );

    write(
        dir.path(),
        "audits/again.sql",
        "AUDIT (name named);\nSELECT 1 WHERE FALSE",
    );
    let errors = load(dir.path()).unwrap_err().to_string();
    assert!(
        errors.contains("duplicate audit name 'named' (also defined in audits/again.sql:1)"),
        "{errors}"
    );
}
