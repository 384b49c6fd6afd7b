//! What physical relations exist under Sluice's `sluice__*` schemas, read from the warehouse's
//! catalog: `information_schema` on DuckDB and PostgreSQL, `SHOW` commands on Spark (which has
//! no `information_schema`).

use std::collections::{BTreeMap, BTreeSet};

use sluice_engine::model::Dialect;
use sluice_engine::snapshot::{PhysicalTable, quote_ident, quote_literal};

use super::{Result, Warehouse, WarehouseError};

/// Sluice's physical relations: tables map to `None`, views (VIEW-kind models) to their
/// definition. Reading every view's definition costs one catalog lookup per view: the
/// janitor needs them, checks that tables exist use [`existing_physical_tables`].
pub fn physical_relations(
    warehouse: &mut dyn Warehouse,
) -> Result<BTreeMap<PhysicalTable, Option<String>>> {
    if warehouse.dialect() == Dialect::Spark {
        return spark_relations(warehouse, true);
    }
    let rows = warehouse.query(
        "SELECT t.table_schema, t.table_name, t.table_type, v.view_definition \
         FROM information_schema.tables t LEFT JOIN information_schema.views v \
           ON v.table_schema = t.table_schema AND v.table_name = t.table_name \
         WHERE t.table_schema LIKE 'sluice%'",
    )?;
    Ok(physical_rows(rows)
        .map(|(table, row)| {
            let is_view = row.get(2).cloned().flatten().as_deref() == Some("VIEW");
            let definition = row.get(3).cloned().flatten().unwrap_or_default();
            (table, is_view.then_some(definition))
        })
        .collect())
}

/// Physical tables (and VIEW-kind views) that exist in `sluice__*` schemas: names only, so
/// that the checks a flip makes stay one cheap catalog query.
pub fn existing_physical_tables(warehouse: &mut dyn Warehouse) -> Result<BTreeSet<PhysicalTable>> {
    if warehouse.dialect() == Dialect::Spark {
        return Ok(spark_relations(warehouse, false)?.into_keys().collect());
    }
    let rows = warehouse.query(
        "SELECT table_schema, table_name FROM information_schema.tables \
         WHERE table_schema LIKE 'sluice%'",
    )?;
    Ok(physical_rows(rows).map(|(table, _)| table).collect())
}

/// The rows of `sluice__*` schemas, keyed by their (schema, name) in the first two columns.
fn physical_rows(rows: Vec<super::Row>) -> impl Iterator<Item = (PhysicalTable, super::Row)> {
    rows.into_iter().filter_map(|r| {
        let schema = r.first().cloned().flatten()?;
        let table = r.get(1).cloned().flatten()?;
        schema
            .starts_with("sluice__")
            .then_some((PhysicalTable { schema, table }, r))
    })
}

/// One `SHOW TABLES` per schema and, `with_definitions`, one `SHOW CREATE TABLE` per view.
fn spark_relations(
    warehouse: &mut dyn Warehouse,
    with_definitions: bool,
) -> Result<BTreeMap<PhysicalTable, Option<String>>> {
    let text = |row: &Vec<Option<String>>, i: usize| row.get(i).cloned().flatten();
    let schemas: Vec<String> = warehouse
        .query("SHOW DATABASES LIKE 'sluice__*'")?
        .iter()
        .filter_map(|r| text(r, 0))
        .filter(|s| s.starts_with("sluice__"))
        .collect();
    let mut relations = BTreeMap::new();
    for schema in schemas {
        let views: BTreeSet<String> = if with_definitions {
            warehouse
                .query(&format!("SHOW VIEWS IN {}", quote_ident(&schema)))?
                .iter()
                .filter_map(|r| text(r, 1))
                .collect()
        } else {
            BTreeSet::new()
        };
        for row in warehouse.query(&format!("SHOW TABLES IN {}", quote_ident(&schema)))? {
            let Some(table) = text(&row, 1) else { continue };
            // Temporary views are listed in every schema.
            if text(&row, 2).as_deref() == Some("true") {
                continue;
            }
            let relation = PhysicalTable {
                schema: schema.clone(),
                table,
            };
            let definition = if views.contains(&relation.table) {
                let shown = warehouse.query(&format!("SHOW CREATE TABLE {}", relation.quoted()))?;
                Some(shown.first().and_then(|r| text(r, 0)).unwrap_or_default())
            } else {
                None
            };
            relations.insert(relation, definition);
        }
    }
    Ok(relations)
}

/// A table's columns and their types, in order (none when it does not exist).
pub fn table_columns(
    warehouse: &mut dyn Warehouse,
    table: &PhysicalTable,
) -> Result<Vec<(String, String)>> {
    let rows = match warehouse.dialect() {
        // DuckDB's information_schema lists every column of every table to find one table's:
        // with thousands of tables, that made a whole-project build quadratic.
        Dialect::Duckdb => match warehouse.query(&format!(
            "SELECT name, type FROM pragma_table_info({}) ORDER BY cid",
            quote_literal(&table.quoted())
        )) {
            Err(WarehouseError::Sql { message, .. }) if message.contains("does not exist") => {
                Vec::new()
            }
            other => other?,
        },
        Dialect::Postgres => warehouse.query(&format!(
            "SELECT column_name, data_type FROM information_schema.columns
             WHERE table_schema = {} AND table_name = {} ORDER BY ordinal_position",
            quote_literal(&table.schema),
            quote_literal(&table.table)
        ))?,
        // Partition columns come last, as `INSERT` expects them; the partition section that
        // follows the columns is not read.
        Dialect::Spark => match warehouse.query(&format!("DESCRIBE TABLE {}", table.quoted())) {
            Err(WarehouseError::Sql { message, .. })
                if message.contains("TABLE_OR_VIEW_NOT_FOUND") =>
            {
                Vec::new()
            }
            other => other?
                .into_iter()
                .take_while(|r| {
                    r.first()
                        .cloned()
                        .flatten()
                        .is_some_and(|name| !name.is_empty() && !name.starts_with('#'))
                })
                .collect(),
        },
    };
    Ok(rows
        .into_iter()
        .filter_map(|r| Some((r.first()?.clone()?, r.get(1)?.clone()?)))
        .collect())
}
