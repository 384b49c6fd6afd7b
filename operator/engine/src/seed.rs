//! Seed CSV files: parsing into typed columns and rendering portable `INSERT` statements.
//!
//! Types are either the model's declared `columns` or inferred from the data, and are chosen
//! from the few names DuckDB and PostgreSQL both understand, so one seed loads identically into
//! either warehouse.

use chrono::{NaiveDate, NaiveDateTime};

use crate::model::Dialect;

/// A parsed seed: column names with SQL types, and rows (`None` is NULL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedTable {
    pub columns: Vec<(String, String)>,
    pub rows: Vec<Vec<Option<String>>>,
}

/// Rows per `INSERT` statement: large enough to load quickly, small enough to stay well below
/// statement-size and parameter limits.
pub const INSERT_CHUNK_ROWS: usize = 500;

/// Fields a seed reads as NULL: an empty one and the spellings pandas (and so SQLMesh) takes
/// for a missing value — `None`, `NULL`, `NA`, `NaN`, `N/A`, ... — so that a seed loads with
/// the rows SQLMesh gives it.
const NULL_SPELLINGS: &[&str] = &[
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
];

/// Parses CSV `content` (header row required; see [`NULL_SPELLINGS`] for NULL). With `declared`
/// columns, every CSV column must be declared and takes the declared type; otherwise each
/// column's type is inferred from its values.
pub fn parse_seed(content: &str, declared: &[(String, String)]) -> Result<SeedTable, String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(content.as_bytes());
    let names: Vec<String> = reader
        .headers()
        .map_err(|e| format!("invalid seed header: {e}"))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    if names.is_empty() || names.iter().all(String::is_empty) {
        return Err("seed has no header row".to_string());
    }
    if let Some(empty) = names.iter().position(String::is_empty) {
        return Err(format!(
            "seed header has an empty column name (column {})",
            empty + 1
        ));
    }

    let mut rows: Vec<Vec<Option<String>>> = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| format!("invalid seed row: {e}"))?;
        rows.push(
            record
                .iter()
                .map(|field| (!NULL_SPELLINGS.contains(&field)).then(|| field.to_string()))
                .collect(),
        );
    }

    let columns = if declared.is_empty() {
        names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                (
                    name.clone(),
                    infer_type(rows.iter().map(|r| r[i].as_deref())),
                )
            })
            .collect()
    } else {
        declared_types(&names, declared)?
    };
    Ok(SeedTable { columns, rows })
}

fn declared_types(
    names: &[String],
    declared: &[(String, String)],
) -> Result<Vec<(String, String)>, String> {
    let lookup = |name: &str| {
        declared
            .iter()
            .find(|(d, _)| d.eq_ignore_ascii_case(name))
            .map(|(_, ty)| ty.clone())
    };
    let columns = names
        .iter()
        .map(|name| {
            lookup(name).map(|ty| (name.clone(), ty)).ok_or_else(|| {
                format!("seed column '{name}' is not among the model's declared columns")
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if let Some((missing, _)) = declared
        .iter()
        .find(|(d, _)| !names.iter().any(|n| n.eq_ignore_ascii_case(d)))
    {
        return Err(format!(
            "declared column '{missing}' is not in the seed file"
        ));
    }
    Ok(columns)
}

/// The narrowest type every non-NULL value fits; TEXT when nothing narrower does (or when
/// the column is entirely NULL).
fn infer_type<'a>(values: impl Iterator<Item = Option<&'a str>>) -> String {
    #[derive(Clone, Copy, PartialEq)]
    enum Kind {
        BigInt,
        Double,
        Date,
        Timestamp,
        Boolean,
        Text,
    }
    let classify = |v: &str| {
        if v.parse::<i64>().is_ok() {
            Kind::BigInt
        } else if is_plain_float(v) {
            Kind::Double
        } else if is_date(v) {
            Kind::Date
        } else if is_timestamp(v) {
            Kind::Timestamp
        } else if v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false") {
            Kind::Boolean
        } else {
            Kind::Text
        }
    };
    let mut kind: Option<Kind> = None;
    for value in values.flatten() {
        let next = classify(value);
        kind = Some(match kind {
            None => next,
            Some(k) if k == next => k,
            // Integers widen to doubles and dates to timestamps; any other mix is text.
            Some(Kind::BigInt | Kind::Double) if matches!(next, Kind::BigInt | Kind::Double) => {
                Kind::Double
            }
            Some(Kind::Date | Kind::Timestamp) if matches!(next, Kind::Date | Kind::Timestamp) => {
                Kind::Timestamp
            }
            Some(_) => Kind::Text,
        });
    }
    match kind.unwrap_or(Kind::Text) {
        Kind::BigInt => "BIGINT",
        Kind::Double => "DOUBLE PRECISION",
        Kind::Date => "DATE",
        Kind::Timestamp => "TIMESTAMP",
        Kind::Boolean => "BOOLEAN",
        Kind::Text => "TEXT",
    }
    .to_string()
}

/// Decimal or scientific notation only: `inf`, `NaN` and the like stay text.
fn is_plain_float(v: &str) -> bool {
    v.chars().any(|c| c.is_ascii_digit())
        && v.chars().all(|c| c.is_ascii_digit() || "+-.eE".contains(c))
        && v.parse::<f64>().is_ok_and(f64::is_finite)
}

fn is_date(v: &str) -> bool {
    v.len() == 10 && NaiveDate::parse_from_str(v, "%Y-%m-%d").is_ok()
}

fn is_timestamp(v: &str) -> bool {
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .any(|f| NaiveDateTime::parse_from_str(v, f).is_ok())
}

/// `CREATE TABLE` for the seed's columns.
pub fn create_table_sql(table: &str, seed: &SeedTable) -> String {
    let columns: Vec<String> = seed
        .columns
        .iter()
        .map(|(name, ty)| format!("{} {ty}", quote_identifier(name)))
        .collect();
    format!("CREATE TABLE {table} ({})", columns.join(", "))
}

/// Multi-row `INSERT` statements loading the seed into `table`, [`INSERT_CHUNK_ROWS`] rows
/// each. Empty for a seed without rows.
pub fn insert_sql(table: &str, seed: &SeedTable, dialect: Dialect) -> Vec<String> {
    let columns: Vec<String> = seed
        .columns
        .iter()
        .map(|(n, _)| quote_identifier(n))
        .collect();
    let prefix = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
    seed.rows
        .chunks(INSERT_CHUNK_ROWS)
        .map(|chunk| {
            let tuples: Vec<String> = chunk
                .iter()
                .map(|row| {
                    let values: Vec<String> = seed
                        .columns
                        .iter()
                        .zip(row)
                        .map(|((_, ty), value)| literal(value.as_deref(), ty, dialect))
                        .collect();
                    format!("({})", values.join(", "))
                })
                .collect();
            format!("{prefix}{}", tuples.join(", "))
        })
        .collect()
}

/// A SQL literal of `value` for a column of type `ty`. Numbers we inferred are written bare;
/// everything else is a quoted string, cast when the column is not text, so that any value
/// (declared types included) is quoted safely and converted by the warehouse.
fn literal(value: Option<&str>, ty: &str, dialect: Dialect) -> String {
    let Some(value) = value else {
        return "NULL".to_string();
    };
    let quoted = match dialect {
        // Spark reads backslash escapes in strings, and takes `'a''b'` for two literals
        // joined ("ab"): the quote is escaped with a backslash there.
        Dialect::Spark => format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'")),
        Dialect::Duckdb | Dialect::Postgres => format!("'{}'", value.replace('\'', "''")),
    };
    match ty.to_ascii_uppercase().as_str() {
        "TEXT" => quoted,
        "BIGINT" if value.parse::<i64>().is_ok() => value.to_string(),
        "DOUBLE PRECISION" if is_plain_float(value) => value.to_string(),
        _ => format!("CAST({quoted} AS {ty})"),
    }
}

fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn types(seed: &SeedTable) -> Vec<&str> {
        seed.columns.iter().map(|(_, t)| t.as_str()).collect()
    }

    #[test]
    fn infers_portable_types_per_column() {
        let seed = parse_seed(
            "id,price,day,at,flag,name,empty\n\
             1,1.5,2024-01-01,2024-01-01 10:00:00,true,x,\n\
             2,2,2024-02-29,2024-01-02T11:30:00.5,FALSE,007abc,\n",
            &[],
        )
        .unwrap();
        assert_eq!(
            types(&seed),
            [
                "BIGINT",
                "DOUBLE PRECISION",
                "DATE",
                "TIMESTAMP",
                "BOOLEAN",
                "TEXT",
                "TEXT"
            ]
        );
        assert_eq!(seed.rows[0][6], None);
        assert_eq!(seed.rows[1][5].as_deref(), Some("007abc"));
    }

    #[test]
    fn widening_and_mixed_columns() {
        let seed = parse_seed(
            "a,b,c,d\n1,2024-01-01,1,n1\n2.5,2024-01-01 00:00:01,x,1\n",
            &[],
        )
        .unwrap();
        assert_eq!(
            types(&seed),
            ["DOUBLE PRECISION", "TIMESTAMP", "TEXT", "TEXT"]
        );
        let seed = parse_seed("d\n2024-13-01\n", &[]).unwrap();
        assert_eq!(types(&seed), ["TEXT"]);
    }

    #[test]
    fn declared_types_win_and_must_match_the_file() {
        let declared = vec![
            ("ID".to_string(), "INT".to_string()),
            ("amount".to_string(), "DECIMAL(10,2)".to_string()),
        ];
        let seed = parse_seed("id,amount\n1,2.50\n", &declared).unwrap();
        assert_eq!(types(&seed), ["INT", "DECIMAL(10,2)"]);
        let err = parse_seed("id,other\n1,2\n", &declared).unwrap_err();
        assert!(err.contains("'other'"), "{err}");
        let err = parse_seed("id\n1\n", &declared).unwrap_err();
        assert!(err.contains("'amount'"), "{err}");
    }

    #[test]
    fn missing_values_read_as_sqlmesh_reads_them() {
        let seed = parse_seed("id,code\n1,None\n2,NA\n3,null\n4,\n5,Nonesuch\n", &[]).unwrap();
        let codes: Vec<Option<&str>> = seed.rows.iter().map(|r| r[1].as_deref()).collect();
        assert_eq!(codes, [None, None, None, None, Some("Nonesuch")]);
    }

    #[test]
    fn header_is_required_and_rows_must_be_rectangular() {
        assert!(parse_seed("", &[]).unwrap_err().contains("header"));
        assert!(
            parse_seed("a,b\n1\n", &[])
                .unwrap_err()
                .contains("invalid seed row")
        );
        let seed = parse_seed("a,b\n", &[]).unwrap();
        assert!(seed.rows.is_empty());
        assert!(insert_sql("t", &seed, Dialect::Duckdb).is_empty());
    }

    #[test]
    fn insert_quotes_and_casts_each_type() {
        let seed = parse_seed(
            "id,name,day,ok,x\n1,O'Brien,2024-01-01,true,1e3\n2,,2024-01-02,false,\n",
            &[],
        )
        .unwrap();
        assert_eq!(
            insert_sql("s.t", &seed, Dialect::Duckdb),
            vec![
                "INSERT INTO s.t (\"id\", \"name\", \"day\", \"ok\", \"x\") VALUES \
                 (1, 'O''Brien', CAST('2024-01-01' AS DATE), CAST('true' AS BOOLEAN), 1e3), \
                 (2, NULL, CAST('2024-01-02' AS DATE), CAST('false' AS BOOLEAN), NULL)"
            ]
        );
        assert_eq!(
            create_table_sql("s.t", &seed),
            "CREATE TABLE s.t (\"id\" BIGINT, \"name\" TEXT, \"day\" DATE, \"ok\" BOOLEAN, \
             \"x\" DOUBLE PRECISION)"
        );
    }

    #[test]
    fn declared_values_are_never_spliced_bare() {
        let declared = vec![("n".to_string(), "INT".to_string())];
        let seed = parse_seed("n\n1); DROP TABLE x; --\n", &declared).unwrap();
        assert_eq!(
            insert_sql("t", &seed, Dialect::Duckdb),
            vec!["INSERT INTO t (\"n\") VALUES (CAST('1); DROP TABLE x; --' AS INT))"]
        );
    }

    #[test]
    fn inserts_are_chunked() {
        let content: String = std::iter::once("n\n".to_string())
            .chain((0..1201).map(|i| format!("{i}\n")))
            .collect();
        let seed = parse_seed(&content, &[]).unwrap();
        let statements = insert_sql("t", &seed, Dialect::Duckdb);
        assert_eq!(statements.len(), 3);
        assert_eq!(statements[2].matches('(').count(), 1 + 201);
    }
}
