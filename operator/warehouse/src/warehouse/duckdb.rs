//! Embedded DuckDB adapter.
//!
//! Query results are rendered the way PostgreSQL's text output would render them (`t`/`f`
//! booleans, shortest round-trip floats with PostgreSQL's exponent thresholds, trimmed
//! fractional seconds, `+00` on timestamps with time zone, ...), so callers and tests can compare
//! results from either warehouse as plain strings.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Timelike};
use duckdb::Connection;
use duckdb::arrow::datatypes::DataType;
use duckdb::types::{TimeUnit, Value};
use sluice_engine::model::Dialect;

use super::{Result, Row, Warehouse, WarehouseError};

/// A connection to an embedded DuckDB database (a file, or private in-memory).
pub struct DuckdbWarehouse {
    connection: Connection,
    /// For error messages: `duckdb:PATH` or `duckdb::memory:`.
    url: String,
    /// Keeps the file's one in-process database open while any connection to it lives.
    _database: Option<Arc<OpenDatabase>>,
}

/// One open database file. DuckDB's file lock only keeps *other processes* out: two
/// independent opens of one file inside a process would each keep their own catalog and miss
/// the other's writes. So every open of a file in this process shares one database, and hands
/// out connections to it.
struct OpenDatabase {
    origin: Mutex<Connection>,
}

fn open_files() -> &'static Mutex<HashMap<PathBuf, Weak<OpenDatabase>>> {
    static OPEN: OnceLock<Mutex<HashMap<PathBuf, Weak<OpenDatabase>>>> = OnceLock::new();
    OPEN.get_or_init(Default::default)
}

impl DuckdbWarehouse {
    /// Opens (creating if needed) the database file at `path`, and its parent directories.
    ///
    /// DuckDB lets one process at a time open a file for writing; a second process gets a
    /// clear "in use" error rather than DuckDB's raw lock message.
    pub fn open(path: &Path) -> Result<DuckdbWarehouse> {
        let url = format!("duckdb:{}", path.display());
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| WarehouseError::Connect {
                url: url.clone(),
                message: format!("cannot create directory {}: {e}", parent.display()),
            })?;
        }
        let clone_error = |e: duckdb::Error| WarehouseError::Connect {
            url: url.clone(),
            message: e.to_string(),
        };
        let mut open = open_files().lock().unwrap_or_else(|p| p.into_inner());
        let key = absolute(path);
        if let Some(database) = open.get(&key).and_then(Weak::upgrade) {
            let connection = database
                .origin
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .try_clone();
            let connection = use_catalog(connection.map_err(clone_error)?, &url)?;
            return Ok(DuckdbWarehouse {
                connection,
                url,
                _database: Some(database),
            });
        }
        let origin = attach(path).map_err(|e| open_error(&url, path, &e))?;
        let connection = use_catalog(origin.try_clone().map_err(clone_error)?, &url)?;
        let database = Arc::new(OpenDatabase {
            origin: Mutex::new(origin),
        });
        open.retain(|_, db| db.strong_count() > 0);
        open.insert(key, Arc::downgrade(&database));
        Ok(DuckdbWarehouse {
            connection,
            url,
            _database: Some(database),
        })
    }

    /// A private database that lives as long as this connection and its clones.
    pub fn open_in_memory() -> Result<DuckdbWarehouse> {
        let url = "duckdb::memory:".to_string();
        let connection = Connection::open_in_memory().map_err(|e| WarehouseError::Connect {
            url: url.clone(),
            message: e.to_string(),
        })?;
        Ok(DuckdbWarehouse {
            connection,
            url,
            _database: None,
        })
    }

    /// A second connection to the same database, e.g. for a reader thread. Opening the file
    /// again would fail (or, within one process, bypass DuckDB's locking), so this is the way
    /// to get concurrent connections.
    pub fn try_clone(&self) -> Result<DuckdbWarehouse> {
        let connection = self
            .connection
            .try_clone()
            .map_err(|e| WarehouseError::Connect {
                url: self.url.clone(),
                message: e.to_string(),
            })?;
        let connection = if self._database.is_some() {
            use_catalog(connection, &self.url)?
        } else {
            connection
        };
        Ok(DuckdbWarehouse {
            connection,
            url: self.url.clone(),
            _database: self._database.clone(),
        })
    }
}

/// The name the database file is attached under. DuckDB otherwise names a file's catalog
/// after its stem, and a file called `sluice.duckdb` or `mart.duckdb` would then make
/// `sluice.x` or `mart.x` ambiguous between the catalog and a schema of the same name.
const CATALOG: &str = "sluice_warehouse";

/// Opens the file under the fixed catalog name [`CATALOG`].
///
/// Attaching reads the file's whole catalog (for 10,000 tables, most of a second). DuckDB
/// runs that on a worker thread while the calling thread polls for the result, which keeps
/// two cores busy for the work of one; with a single thread it runs on the caller. The
/// default thread count is restored afterwards, for the queries that follow.
///
/// DuckDB keeps every block it has read or written cached until it reaches its memory limit,
/// 80% of the machine's memory by default: building a project of 10,000 small tables held
/// gigabytes. Sluice caps it at [`DEFAULT_MEMORY_LIMIT`] (`SLUICE_DUCKDB_MEMORY_LIMIT` sets
/// another, in DuckDB's syntax: `4GB`); beyond it DuckDB evicts cached blocks and spills
/// large operations to disk.
fn attach(path: &Path) -> std::result::Result<Connection, duckdb::Error> {
    let connection = Connection::open_in_memory()?;
    let file = path.to_string_lossy().replace('\'', "''");
    let limit = std::env::var("SLUICE_DUCKDB_MEMORY_LIMIT")
        .unwrap_or_else(|_| DEFAULT_MEMORY_LIMIT.to_string())
        .replace('\'', "''");
    connection.execute_batch(&format!(
        "SET memory_limit = '{limit}'; SET threads = 1; \
         ATTACH '{file}' AS {CATALOG}; USE {CATALOG}; RESET threads;"
    ))?;
    Ok(connection)
}

/// DuckDB's memory limit for a warehouse file, unless `SLUICE_DUCKDB_MEMORY_LIMIT` says
/// otherwise.
pub const DEFAULT_MEMORY_LIMIT: &str = "256MB";

/// Makes the attached file the connection's default catalog (each connection has its own).
fn use_catalog(connection: Connection, url: &str) -> Result<Connection> {
    connection
        .execute_batch(&format!("USE {CATALOG}"))
        .map_err(|e| WarehouseError::Connect {
            url: url.to_string(),
            message: e.to_string(),
        })?;
    Ok(connection)
}

fn open_error(url: &str, path: &Path, error: &duckdb::Error) -> WarehouseError {
    let raw = error.to_string();
    let message = if raw.contains("Could not set lock") || raw.contains("Conflicting lock") {
        format!(
            "warehouse file {} is in use by another process (is another sluice apply running?)\n  \
             DuckDB: {raw}",
            absolute(path).display()
        )
    } else {
        raw
    };
    WarehouseError::Connect {
        url: url.to_string(),
        message,
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

impl Warehouse for DuckdbWarehouse {
    fn dialect(&self) -> Dialect {
        Dialect::Duckdb
    }

    fn execute(&mut self, sql: &str) -> Result<()> {
        self.connection
            .execute_batch(sql)
            .map_err(|e| sql_error(sql, &e))
    }

    fn query(&mut self, sql: &str) -> Result<Vec<Row>> {
        let mut statement = self
            .connection
            .prepare(sql)
            .map_err(|e| sql_error(sql, &e))?;
        let mut rows = statement.query([]).map_err(|e| sql_error(sql, &e))?;
        // Known only once the statement has run.
        let with_time_zone: Vec<bool> = match rows.as_ref() {
            Some(statement) => (0..statement.column_count())
                .map(|i| matches!(statement.column_type(i), DataType::Timestamp(_, Some(_))))
                .collect(),
            None => Vec::new(),
        };
        let mut result = Vec::new();
        while let Some(row) = rows.next().map_err(|e| sql_error(sql, &e))? {
            let values = with_time_zone
                .iter()
                .enumerate()
                .map(|(i, &tz)| {
                    let value: Value = row.get(i).map_err(|e| sql_error(sql, &e))?;
                    Ok(render(&value, tz))
                })
                .collect::<Result<Row>>()?;
            result.push(values);
        }
        Ok(result)
    }
}

fn sql_error(sql: &str, error: &duckdb::Error) -> WarehouseError {
    WarehouseError::Sql {
        sql: sql.to_string(),
        message: error.to_string(),
    }
}

/// Renders a value as PostgreSQL's text output would; `None` for NULL. `with_time_zone` marks
/// a TIMESTAMPTZ column (DuckDB without the ICU extension keeps those in UTC).
fn render(value: &Value, with_time_zone: bool) -> Option<String> {
    Some(match value {
        Value::Null => return None,
        Value::Boolean(b) => (if *b { "t" } else { "f" }).to_string(),
        Value::TinyInt(v) => v.to_string(),
        Value::SmallInt(v) => v.to_string(),
        Value::Int(v) => v.to_string(),
        Value::BigInt(v) => v.to_string(),
        Value::HugeInt(v) => v.to_string(),
        Value::UTinyInt(v) => v.to_string(),
        Value::USmallInt(v) => v.to_string(),
        Value::UInt(v) => v.to_string(),
        Value::UBigInt(v) => v.to_string(),
        Value::UHugeInt(v) => v.to_string(),
        Value::Float(v) => float_text(f64::from(*v), format!("{v:e}"), FLOAT4_FIXED_DIGITS),
        Value::Double(v) => float_text(*v, format!("{v:e}"), FLOAT8_FIXED_DIGITS),
        Value::Decimal(d) => d.to_string(),
        Value::Timestamp(unit, v) => timestamp_text(*unit, *v, with_time_zone),
        Value::Date32(days) => date_text(*days),
        Value::Time64(unit, v) => clock_text(micros(*unit, *v).unwrap_or(0).unsigned_abs()),
        Value::Interval {
            months,
            days,
            nanos,
        } => interval_text(*months, *days, *nanos),
        Value::Text(s) | Value::Enum(s) => s.clone(),
        Value::Blob(bytes) | Value::Geometry(bytes) => {
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            format!("\\x{hex}")
        }
        Value::List(items) | Value::Array(items) => array_text(items),
        Value::Struct(fields) => {
            let fields: Vec<String> = fields
                .iter()
                .map(|(_, v)| composite_field(render(v, false)))
                .collect();
            format!("({})", fields.join(","))
        }
        // PostgreSQL has no map type; DuckDB's own rendering is the clearest stand-in.
        Value::Map(entries) => {
            let entries: Vec<String> = entries
                .iter()
                .map(|(k, v)| {
                    let text = |value| render(value, false).unwrap_or_else(|| "NULL".into());
                    format!("{}={}", text(k), text(v))
                })
                .collect();
            format!("{{{}}}", entries.join(", "))
        }
        Value::Union(inner) => return render(inner, with_time_zone),
        // `Value` is non-exhaustive; anything newer is shown as DuckDB describes it.
        other => format!("{other:?}"),
    })
}

/// PostgreSQL prints floats in fixed notation when the decimal exponent is in
/// `-4..FIXED_DIGITS` (printf `%g` style, with FLT_DIG / DBL_DIG as the precision).
const FLOAT4_FIXED_DIGITS: i32 = 6;
const FLOAT8_FIXED_DIGITS: i32 = 15;

/// Formats a float from its shortest round-trip scientific form (`1.5e20`), as PostgreSQL 12+
/// does: `1.5e+20`, `0.0001`, `1e-05`, `Infinity`, `NaN`.
fn float_text(value: f64, scientific: String, fixed_digits: i32) -> String {
    if value.is_nan() {
        return "NaN".to_string();
    }
    if value.is_infinite() {
        return if value > 0.0 { "Infinity" } else { "-Infinity" }.to_string();
    }
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if !(-4..fixed_digits).contains(&exponent) {
        let exponent_sign = if exponent < 0 { '-' } else { '+' };
        return format!(
            "{sign}{mantissa}e{exponent_sign}{:02}",
            exponent.unsigned_abs()
        );
    }
    if exponent < 0 {
        let zeros = "0".repeat((-exponent - 1) as usize);
        return format!("{sign}0.{zeros}{digits}");
    }
    let integer_len = exponent as usize + 1;
    if digits.len() <= integer_len {
        format!("{sign}{digits}{}", "0".repeat(integer_len - digits.len()))
    } else {
        format!(
            "{sign}{}.{}",
            &digits[..integer_len],
            &digits[integer_len..]
        )
    }
}

/// A count of `unit` as microseconds (PostgreSQL's precision); `None` on overflow.
fn micros(unit: TimeUnit, value: i64) -> Option<i64> {
    match unit {
        TimeUnit::Second => value.checked_mul(1_000_000),
        TimeUnit::Millisecond => value.checked_mul(1_000),
        TimeUnit::Microsecond => Some(value),
        TimeUnit::Nanosecond => Some(value.div_euclid(1_000)),
    }
}

fn timestamp_text(unit: TimeUnit, value: i64, with_time_zone: bool) -> String {
    // DuckDB encodes `infinity` / `-infinity` as the extreme values.
    if value == i64::MAX {
        return "infinity".to_string();
    }
    if value == -i64::MAX {
        return "-infinity".to_string();
    }
    let Some(datetime) = micros(unit, value).and_then(DateTime::from_timestamp_micros) else {
        return value.to_string();
    };
    let datetime: NaiveDateTime = datetime.naive_utc();
    let (year, era) = pg_year(datetime.year());
    let zone = if with_time_zone { "+00" } else { "" };
    format!(
        "{year:04}-{:02}-{:02} {}{zone}{era}",
        datetime.month(),
        datetime.day(),
        clock_text(
            u64::from(datetime.num_seconds_from_midnight()) * 1_000_000
                + u64::from(datetime.nanosecond() / 1_000)
        ),
    )
}

fn date_text(days: i32) -> String {
    if days == i32::MAX {
        return "infinity".to_string();
    }
    if days == -i32::MAX {
        return "-infinity".to_string();
    }
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
    let Some(date) = epoch.checked_add_signed(chrono::Duration::days(i64::from(days))) else {
        return days.to_string();
    };
    let (year, era) = pg_year(date.year());
    format!("{year:04}-{:02}-{:02}{era}", date.month(), date.day())
}

/// PostgreSQL has no year 0: proleptic year 0 is `1 BC`, -1 is `2 BC`.
fn pg_year(year: i32) -> (i32, &'static str) {
    if year <= 0 {
        (1 - year, " BC")
    } else {
        (year, "")
    }
}

/// `HH:MM:SS[.ffffff]` with trailing fractional zeros dropped; hours may exceed 24 (intervals).
fn clock_text(micros: u64) -> String {
    let seconds = micros / 1_000_000;
    let fraction = micros % 1_000_000;
    let mut text = format!(
        "{:02}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    );
    if fraction != 0 {
        text.push_str(format!(".{fraction:06}").trim_end_matches('0'));
    }
    text
}

/// PostgreSQL's default (`IntervalStyle = postgres`) interval output, e.g.
/// `1 year 2 mons -3 days +04:05:06.5`.
fn interval_text(months: i32, days: i32, nanos: i64) -> String {
    let mut parts = Vec::new();
    let mut previous_negative = false;
    for (value, unit) in [(months / 12, "year"), (months % 12, "mon"), (days, "day")] {
        if value != 0 {
            let sign = if previous_negative && value > 0 {
                "+"
            } else {
                ""
            };
            let plural = if value == 1 { "" } else { "s" };
            parts.push(format!("{sign}{value} {unit}{plural}"));
            previous_negative = value < 0;
        }
    }
    let micros = nanos / 1_000;
    if micros != 0 || parts.is_empty() {
        let sign = if micros < 0 {
            "-"
        } else if previous_negative {
            "+"
        } else {
            ""
        };
        parts.push(format!("{sign}{}", clock_text(micros.unsigned_abs())));
    }
    parts.join(" ")
}

/// PostgreSQL array literal: `{1,2,NULL,"a b"}`; nested lists become nested braces.
fn array_text(items: &[Value]) -> String {
    let elements: Vec<String> = items
        .iter()
        .map(|item| match (item, render(item, false)) {
            (_, None) => "NULL".to_string(),
            (Value::List(_) | Value::Array(_), Some(text)) => text,
            (_, Some(text)) => {
                let needs_quotes = text.is_empty()
                    || text.eq_ignore_ascii_case("NULL")
                    || text
                        .chars()
                        .any(|c| "{},\"\\".contains(c) || c.is_whitespace());
                if needs_quotes {
                    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
                } else {
                    text
                }
            }
        })
        .collect();
    format!("{{{}}}", elements.join(","))
}

/// One field of a PostgreSQL composite literal: `(1,"a b",)`; NULL is empty.
fn composite_field(text: Option<String>) -> String {
    match text {
        None => String::new(),
        Some(text)
            if text.is_empty()
                || text
                    .chars()
                    .any(|c| "()\",\\".contains(c) || c.is_whitespace()) =>
        {
            format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\"\""))
        }
        Some(text) => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn double(v: f64) -> String {
        float_text(v, format!("{v:e}"), FLOAT8_FIXED_DIGITS)
    }

    fn float(v: f32) -> String {
        float_text(f64::from(v), format!("{v:e}"), FLOAT4_FIXED_DIGITS)
    }

    #[test]
    fn floats_render_like_postgres() {
        assert_eq!(double(0.0), "0");
        assert_eq!(double(-0.0), "-0");
        assert_eq!(double(1.5), "1.5");
        assert_eq!(double(100.0), "100");
        assert_eq!(double(0.1), "0.1");
        assert_eq!(double(0.0001), "0.0001");
        assert_eq!(double(0.00001), "1e-05");
        assert_eq!(double(-123.456), "-123.456");
        assert_eq!(double(123456789012345.6), "123456789012345.6");
        assert_eq!(double(1e15), "1e+15");
        assert_eq!(double(1.5e300), "1.5e+300");
        assert_eq!(double(f64::NAN), "NaN");
        assert_eq!(double(f64::NEG_INFINITY), "-Infinity");
        assert_eq!(float(123456.0), "123456");
        assert_eq!(float(1_000_000.0), "1e+06");
        assert_eq!(float(0.1), "0.1");
    }

    #[test]
    fn times_render_like_postgres() {
        assert_eq!(date_text(0), "1970-01-01");
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        let year_zero = NaiveDate::from_ymd_opt(0, 12, 31).unwrap();
        let days = (year_zero - epoch).num_days() as i32;
        assert_eq!(date_text(days), "0001-12-31 BC");
        assert_eq!(
            timestamp_text(TimeUnit::Microsecond, 1_500_000, false),
            "1970-01-01 00:00:01.5"
        );
        assert_eq!(
            timestamp_text(TimeUnit::Second, 86_400, true),
            "1970-01-02 00:00:00+00"
        );
        assert_eq!(
            timestamp_text(TimeUnit::Microsecond, i64::MAX, false),
            "infinity"
        );
        assert_eq!(
            interval_text(14, 3, 3_600_000_000_000),
            "1 year 2 mons 3 days 01:00:00"
        );
        assert_eq!(interval_text(0, -1, 1_000), "-1 days +00:00:00.000001");
        assert_eq!(interval_text(0, 0, 0), "00:00:00");
        assert_eq!(
            interval_text(-12, 0, -36 * 3_600_000_000_000),
            "-1 years -36:00:00"
        );
    }

    #[test]
    fn arrays_render_like_postgres() {
        let items = vec![
            Value::Int(1),
            Value::Null,
            Value::Text("a b".into()),
            Value::Text("".into()),
            Value::List(vec![Value::Boolean(true)]),
        ];
        assert_eq!(array_text(&items), r#"{1,NULL,"a b","",{t}}"#);
    }
}
