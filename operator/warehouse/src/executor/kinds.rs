//! What "create" and "backfill" mean for each model kind. Every write of a batch happens in
//! one transaction, so an interrupted batch leaves the table as it was; rerunning it is safe.
//!
//! Rows are inserted by column name, so a reused table keeps working when the query gains a
//! column upstream (a `SELECT *` child of a non-breaking change). A forward-only change that
//! adds columns migrates its table (`ALTER TABLE ... ADD COLUMN`), as SQLMesh does; one that
//! drops columns is refused (SQLMesh's default for destructive forward-only changes).

use sluice_engine::graph::model_key;
use sluice_engine::intervals::Interval;
use sluice_engine::model::{Dialect, ModelKind};
use sluice_engine::seed::{SeedTable, create_table_sql, insert_sql, parse_seed};
use sluice_engine::snapshot::{Category, PhysicalTable, quote_ident};

use super::render::{render_model, render_statements};
use super::{Target, TaskError, within_batch};
use crate::warehouse::{Warehouse, table_columns};

fn sql_error(task: &str) -> impl Fn(crate::warehouse::WarehouseError) -> TaskError + '_ {
    move |error| TaskError::Warehouse {
        task: task.to_string(),
        error,
    }
}

fn seed_table(target: &Target, task: &str) -> Result<SeedTable, TaskError> {
    let model = &target.snapshot.model;
    let content = model.seed_content.as_deref().unwrap_or("");
    parse_seed(content, &model.columns).map_err(|message| TaskError::Invalid {
        task: task.to_string(),
        message: format!("seed of {}: {message}", model.path.display()),
    })
}

/// `CREATE SCHEMA IF NOT EXISTS` can race between two concurrent jobs on PostgreSQL; the
/// loser sees a unique violation although the schema now exists, so one retry settles it.
fn ensure_schema(warehouse: &mut dyn Warehouse, schema: &str, task: &str) -> Result<(), TaskError> {
    let sql = format!("CREATE SCHEMA IF NOT EXISTS {}", quote_ident(schema));
    if warehouse.execute(&sql).is_err() {
        warehouse.execute(&sql).map_err(sql_error(task))?;
    }
    Ok(())
}

/// What Spark cannot do for a model kind, or `None`. Spark's parquet tables have no
/// `DELETE`/`MERGE`, so a batch can only replace whole partitions: a unique key has no way to
/// replace single rows.
pub fn refused_on(dialect: Dialect, kind: &ModelKind) -> Option<&'static str> {
    match (dialect, kind) {
        (Dialect::Spark, ModelKind::IncrementalByUniqueKey { .. }) => Some(
            "INCREMENTAL_BY_UNIQUE_KEY is not supported on Spark: its parquet tables cannot \
             replace single rows (no DELETE or MERGE); use INCREMENTAL_BY_TIME_RANGE or FULL",
        ),
        _ => None,
    }
}

/// What follows a `CREATE TABLE`'s columns on Spark: parquet, partitioned by the time column
/// of a model built in time batches so that a batch replaces exactly its partitions.
fn spark_table_options(kind: &ModelKind) -> String {
    match kind {
        ModelKind::IncrementalByTimeRange { time_column, .. } => {
            format!(
                " USING parquet PARTITIONED BY ({})",
                quote_ident(time_column)
            )
        }
        _ => " USING parquet".to_string(),
    }
}

/// A column type as the warehouse spells it: Spark has no `TEXT`, no bare `VARCHAR` and no
/// `DOUBLE PRECISION`.
fn column_type(dialect: Dialect, ty: &str) -> String {
    if dialect != Dialect::Spark {
        return ty.to_string();
    }
    match ty.trim().to_ascii_uppercase().as_str() {
        "TEXT" | "VARCHAR" | "CHARACTER VARYING" => "STRING".to_string(),
        "DOUBLE PRECISION" | "FLOAT8" => "DOUBLE".to_string(),
        _ => ty.to_string(),
    }
}

/// Creates the snapshot's table (or view) if missing.
pub fn create(
    warehouse: &mut dyn Warehouse,
    target: &Target,
    range: Interval,
) -> Result<(), TaskError> {
    let task = format!("create {}", target.snapshot.table());
    let table = target.table_sql();
    let model = &target.snapshot.model;
    let dialect = warehouse.dialect();
    if let Some(reason) = refused_on(dialect, &model.kind) {
        return Err(TaskError::Invalid {
            task,
            message: format!("{}: {reason}", model.name),
        });
    }
    ensure_schema(warehouse, &target.snapshot.table().schema, &task)?;
    let options = if dialect == Dialect::Spark {
        spark_table_options(&model.kind)
    } else {
        String::new()
    };
    let sql = match &model.kind {
        ModelKind::View => view_sql(target, range)?,
        ModelKind::Seed { .. } => {
            let mut seed = seed_table(target, &task)?;
            for (_, ty) in &mut seed.columns {
                *ty = column_type(dialect, ty);
            }
            let sql = create_table_sql(&table, &seed).replacen(
                "CREATE TABLE",
                "CREATE TABLE IF NOT EXISTS",
                1,
            );
            format!("{sql}{options}")
        }
        ModelKind::Embedded | ModelKind::External => return Ok(()),
        _ if !model.columns.is_empty() => {
            let columns: Vec<String> = model
                .columns
                .iter()
                .map(|(name, ty)| format!("{} {}", quote_ident(name), column_type(dialect, ty)))
                .collect();
            format!(
                "CREATE TABLE IF NOT EXISTS {table} ({}){options}",
                columns.join(", ")
            )
        }
        _ => {
            let reads_itself = model.query.as_deref().is_some_and(|sql| {
                sluice_engine::sql::parse_query(sql, model.dialect, model.query_line)
                    .is_ok_and(|q| q.tables.contains(&model_key(&model.name)))
            });
            if reads_itself {
                return Err(TaskError::Invalid {
                    task,
                    message: format!(
                        "{} reads its own table, which must exist before its first batch: \
                         declare its columns in the MODEL header (columns (name TYPE, ...)), \
                         as SQLMesh requires of a model reading itself",
                        model.name
                    ),
                });
            }
            let query = render_model(model, &target.inputs, range, target.execution_time, &table)?;
            format!(
                "CREATE TABLE IF NOT EXISTS {table}{options} AS SELECT * FROM ({query}) AS __sluice_shape LIMIT 0"
            )
        }
    };
    warehouse.execute(&sql).map_err(sql_error(&task))?;
    if model.kind.is_materialized_by_query()
        && target.snapshot.category == Some(Category::ForwardOnly)
    {
        migrate_forward_only(warehouse, target, range, &task)?;
    }
    Ok(())
}

/// Adds to a forward-only model's reused table the columns its new query has, refusing a
/// change that would drop columns.
fn migrate_forward_only(
    warehouse: &mut dyn Warehouse,
    target: &Target,
    range: Interval,
    task: &str,
) -> Result<(), TaskError> {
    let table = target.snapshot.table();
    let probe = PhysicalTable {
        schema: table.schema.clone(),
        table: format!("{}__shape", table.table),
    };
    let query = render_model(
        &target.snapshot.model,
        &target.inputs,
        range,
        target.execution_time,
        &table.quoted(),
    )?;
    let probe_sql = probe.quoted();
    warehouse
        .execute(&format!(
            "DROP TABLE IF EXISTS {probe_sql}; \
             CREATE TABLE {probe_sql} AS SELECT * FROM ({query}) AS __sluice_shape LIMIT 0"
        ))
        .map_err(sql_error(task))?;
    let wanted = table_columns(warehouse, &probe).map_err(sql_error(task));
    let _ = warehouse.execute(&format!("DROP TABLE IF EXISTS {probe_sql}"));
    let wanted = wanted?;
    let existing = table_columns(warehouse, &table).map_err(sql_error(task))?;
    let dropped: Vec<&str> = existing
        .iter()
        .filter(|(name, _)| !wanted.iter().any(|(w, _)| w == name))
        .map(|(name, _)| name.as_str())
        .collect();
    if !dropped.is_empty() {
        return Err(TaskError::Invalid {
            task: task.to_string(),
            message: format!(
                "this forward-only change of {} drops column(s) {} from its table, which \
                 would lose data: make it a breaking change instead (plan without \
                 --forward-only)",
                target.model_name(),
                dropped.join(", ")
            ),
        });
    }
    let statements: Vec<String> = wanted
        .iter()
        .filter(|(name, _)| !existing.iter().any(|(e, _)| e == name))
        .map(|(name, ty)| {
            format!(
                "ALTER TABLE {} ADD COLUMN {} {ty}",
                table.quoted(),
                quote_ident(name)
            )
        })
        .collect();
    in_transaction(warehouse, &statements).map_err(sql_error(task))
}

/// How rows reach the table: added to it, or (Spark) replacing the partitions they fall in —
/// the whole table when it has no partitions.
#[derive(Clone, Copy, PartialEq)]
enum Write {
    Insert,
    Overwrite,
}

/// `INSERT INTO table (a, b) SELECT a, b FROM (query)`: by name, so extra columns a reused
/// table does not have are left out.
fn insert_by_name(
    warehouse: &mut dyn Warehouse,
    target: &Target,
    query: &str,
    filter: Option<String>,
    task: &str,
) -> Result<String, TaskError> {
    write_by_name(warehouse, target, query, filter, task, Write::Insert)
}

fn write_by_name(
    warehouse: &mut dyn Warehouse,
    target: &Target,
    query: &str,
    filter: Option<String>,
    task: &str,
    write: Write,
) -> Result<String, TaskError> {
    let columns = table_columns(warehouse, &target.snapshot.table()).map_err(sql_error(task))?;
    if columns.is_empty() {
        return Err(TaskError::Invalid {
            task: task.to_string(),
            message: format!("table {} does not exist", target.snapshot.table()),
        });
    }
    let list: Vec<String> = columns.iter().map(|(c, _)| quote_ident(c)).collect();
    let selected: Vec<String> = columns
        .iter()
        .map(|(c, _)| format!("__q.{}", quote_ident(c)))
        .collect();
    let verb = match write {
        Write::Insert => "INSERT INTO",
        Write::Overwrite => "INSERT OVERWRITE TABLE",
    };
    Ok(format!(
        "{verb} {} ({}) SELECT {} FROM ({query}) AS __q{}",
        target.table_sql(),
        list.join(", "),
        selected.join(", "),
        filter.map(|f| format!(" WHERE {f}")).unwrap_or_default()
    ))
}

fn view_sql(target: &Target, range: Interval) -> Result<String, TaskError> {
    let table = target.table_sql();
    let query = render_model(
        &target.snapshot.model,
        &target.inputs,
        range,
        target.execution_time,
        &table,
    )?;
    Ok(format!("CREATE OR REPLACE VIEW {table} AS {query}"))
}

/// Computes one batch into the table, in one transaction.
pub fn backfill(
    warehouse: &mut dyn Warehouse,
    target: &Target,
    interval: Interval,
) -> Result<(), TaskError> {
    let task = format!("backfill {} {interval}", target.model_name());
    let table = target.table_sql();
    let model = &target.snapshot.model;
    let render = || {
        render_model(
            model,
            &target.inputs,
            interval,
            target.execution_time,
            &table,
        )
    };
    let spark = warehouse.dialect() == Dialect::Spark;
    let statements: Vec<String> = match &model.kind {
        ModelKind::View => vec![view_sql(target, interval)?],
        // No DELETE on Spark's tables: a batch overwrites (the whole table, or the
        // partitions of its time range); each overwrite is atomic on its own.
        ModelKind::Full if spark => vec![write_by_name(
            warehouse,
            target,
            &render()?,
            None,
            &task,
            Write::Overwrite,
        )?],
        ModelKind::Seed { .. } if spark => {
            let seed = seed_table(target, &task)?;
            std::iter::once(format!("TRUNCATE TABLE {table}"))
                .chain(insert_sql(&table, &seed, warehouse.dialect()))
                .collect()
        }
        ModelKind::IncrementalByTimeRange {
            time_column,
            time_format,
            ..
        } if spark => vec![write_by_name(
            warehouse,
            target,
            &render()?,
            Some(within_batch(
                &format!("__q.{time_column}"),
                time_format.as_deref(),
                interval,
            )),
            &task,
            Write::Overwrite,
        )?],
        ModelKind::Full => vec![
            format!("DELETE FROM {table}"),
            insert_by_name(warehouse, target, &render()?, None, &task)?,
        ],
        ModelKind::Seed { .. } => {
            let seed = seed_table(target, &task)?;
            std::iter::once(format!("DELETE FROM {table}"))
                .chain(insert_sql(&table, &seed, warehouse.dialect()))
                .collect()
        }
        ModelKind::IncrementalByTimeRange {
            time_column,
            time_format,
            ..
        } => {
            let within = |column: &str| within_batch(column, time_format.as_deref(), interval);
            vec![
                format!("DELETE FROM {table} WHERE {}", within(time_column)),
                // Rows outside the batch are dropped so a sloppy filter cannot leak into
                // intervals that are not being recomputed.
                insert_by_name(
                    warehouse,
                    target,
                    &render()?,
                    Some(within(&format!("__q.{time_column}"))),
                    &task,
                )?,
            ]
        }
        ModelKind::IncrementalByUniqueKey { unique_key, .. } => {
            let stage = quote_ident("__sluice_stage");
            let matches: Vec<String> = unique_key
                .iter()
                .map(|k| format!("__s.{k} = {table}.{k}"))
                .collect();
            vec![
                format!("DROP TABLE IF EXISTS {stage}"),
                format!(
                    "CREATE TEMPORARY TABLE {stage} AS SELECT * FROM ({}) AS __q",
                    render()?
                ),
                format!(
                    "DELETE FROM {table} WHERE EXISTS (SELECT 1 FROM {stage} AS __s WHERE {})",
                    matches.join(" AND ")
                ),
                insert_by_name(
                    warehouse,
                    target,
                    &format!("SELECT * FROM {stage}"),
                    None,
                    &task,
                )?,
                format!("DROP TABLE {stage}"),
            ]
        }
        ModelKind::Embedded | ModelKind::External => return Ok(()),
    };
    // The model's own pre/post statements run around the batch, in its transaction.
    let (pre, post) = render_statements(model, interval, target.execution_time, &table);
    let statements: Vec<String> = pre.into_iter().chain(statements).chain(post).collect();
    in_transaction(warehouse, &statements).map_err(sql_error(&task))
}

/// Runs statements in one transaction, rolling back on the first error.
fn in_transaction(
    warehouse: &mut dyn Warehouse,
    statements: &[String],
) -> crate::warehouse::Result<()> {
    warehouse.begin()?;
    for (i, sql) in statements.iter().enumerate() {
        if let Err(e) = warehouse.execute(sql) {
            let _ = warehouse.rollback();
            return Err(e);
        }
        if i == 0 {
            crate::promote::failpoint("backfill-midway");
        }
    }
    warehouse.commit()
}
