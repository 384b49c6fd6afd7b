//! Apache Spark adapter, over Spark Connect (`sc://host:port`), the protocol Spark servers on
//! Kubernetes and Databricks both speak.
//!
//! Spark has no multi-statement transactions: `begin`/`commit`/`rollback` do nothing here, and
//! every statement takes effect on its own. That is why a Spark warehouse keeps Sluice's state
//! on a PostgreSQL connection of its own ([`super::connect_with_state`] refuses it otherwise),
//! and why its flip is recorded before it starts (see `promote::pending`).
//!
//! Each session is set up so that the SQL Sluice writes means the same as on the other
//! warehouses: double quotes are identifiers (ANSI), timestamps are UTC, and `INSERT OVERWRITE`
//! replaces only the partitions its rows fall in (a batch rewrites its own days, nothing else).
//!
//! Several `;`-separated statements are sent as one SQL script (`BEGIN ...; ...; END`): one
//! round trip, as the flip needs to keep its window short, but not one transaction.
//!
//! The client is blocking (it runs its own runtime): async callers use `spawn_blocking`.

use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use arrow::array::Array;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use sluice_engine::model::Dialect;
use spark_connect::{SparkError, SparkSession};

use super::{Result, Row, Warehouse, WarehouseError};

/// How long reaching the server may take before connecting fails (the client itself retries
/// for minutes).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Settings every session starts with (see the module documentation).
const SESSION_SETTINGS: &[&str] = &[
    "SET spark.sql.ansi.enabled=true",
    "SET spark.sql.ansi.doubleQuotedIdentifiers=true",
    "SET spark.sql.session.timeZone=UTC",
    "SET spark.sql.sources.partitionOverwriteMode=dynamic",
];

/// A Spark Connect session.
pub struct SparkWarehouse {
    session: SparkSession,
    url: String,
}

impl SparkWarehouse {
    /// Connects to `sc://host:port[/;token=...;use_ssl=true]` and sets the session up.
    pub fn connect(url: &str) -> Result<SparkWarehouse> {
        let shown = redact_token(url);
        let (host, port) = host_port(url).map_err(|message| WarehouseError::Url {
            url: shown.clone(),
            message,
        })?;
        let connect_error = |message: String| WarehouseError::Connect {
            url: shown.clone(),
            message,
        };
        reachable(&host, port).map_err(connect_error)?;
        let session = SparkSession::builder()
            .remote(url)
            .get_or_create()
            .map_err(|e| connect_error(describe(&e)))?;
        let mut warehouse = SparkWarehouse {
            session,
            url: shown.clone(),
        };
        for setting in SESSION_SETTINGS {
            warehouse.run(setting).map_err(|e| match e {
                WarehouseError::Sql { message, .. } | WarehouseError::Lost { message, .. } => {
                    connect_error(message)
                }
                other => other,
            })?;
        }
        Ok(warehouse)
    }

    /// The URL, without its token.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs one statement (or script) and fetches its rows.
    fn run(&mut self, sql: &str) -> Result<Vec<Row>> {
        let frame = self.session.sql(sql).map_err(|e| sql_error(sql, &e))?;
        let batches = frame
            .collect_record_batches()
            .map_err(|e| sql_error(sql, &e))?;
        let options = FormatOptions::default()
            .with_timestamp_format(Some("%Y-%m-%d %H:%M:%S%.f"))
            .with_timestamp_tz_format(Some("%Y-%m-%d %H:%M:%S%.f"));
        let mut rows = Vec::new();
        for batch in &batches {
            let formatters = batch
                .columns()
                .iter()
                .map(|column| ArrayFormatter::try_new(column.as_ref(), &options))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| WarehouseError::Sql {
                    sql: sql.to_string(),
                    message: format!("cannot read the result: {e}"),
                })?;
            for i in 0..batch.num_rows() {
                rows.push(
                    batch
                        .columns()
                        .iter()
                        .zip(&formatters)
                        .map(|(column, format)| {
                            (!column.is_null(i)).then(|| format.value(i).to_string())
                        })
                        .collect(),
                );
            }
        }
        Ok(rows)
    }
}

impl Warehouse for SparkWarehouse {
    fn dialect(&self) -> Dialect {
        Dialect::Spark
    }

    fn execute(&mut self, sql: &str) -> Result<()> {
        let statements = split_statements(sql);
        match statements.as_slice() {
            [] => Ok(()),
            [one] => self.run(one).map(drop),
            many => self
                .run(&format!("BEGIN\n{};\nEND", many.join(";\n")))
                .map(drop),
        }
    }

    fn query(&mut self, sql: &str) -> Result<Vec<Row>> {
        self.run(sql.trim().trim_end_matches(';'))
    }

    /// No transactions: each statement stands on its own.
    fn begin(&mut self) -> Result<()> {
        Ok(())
    }

    fn commit(&mut self) -> Result<()> {
        Ok(())
    }

    fn rollback(&mut self) -> Result<()> {
        Ok(())
    }

    fn atomic_flip(&self) -> bool {
        false
    }
}

/// `sc://host:port/...` → (host, port); Spark Connect's default port is 15002.
fn host_port(url: &str) -> std::result::Result<(String, u16), String> {
    let rest = url
        .trim()
        .strip_prefix("sc://")
        .ok_or("expected sc://HOST:PORT")?;
    let authority = rest.split(['/', ';']).next().unwrap_or_default();
    if authority.is_empty() {
        return Err("no host given (sc://HOST:PORT)".into());
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => port
            .parse()
            .map(|port| (host.to_string(), port))
            .map_err(|_| format!("port {port:?} is not a number")),
        None => Ok((authority.to_string(), 15002)),
    }
}

/// Fails fast when nothing listens at the address.
fn reachable(host: &str, port: u16) -> std::result::Result<(), String> {
    let addresses = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?;
    let mut last = format!("{host} has no address");
    for address in addresses {
        match TcpStream::connect_timeout(&address, CONNECT_TIMEOUT) {
            Ok(_) => return Ok(()),
            Err(e) => last = format!("{address}: {e}"),
        }
    }
    Err(last)
}

/// The URL with its token (`;token=...`) replaced by `***`.
pub fn redact_token(url: &str) -> String {
    url.split(';')
        .map(|part| match part.split_once('=') {
            Some((key, _)) if key.eq_ignore_ascii_case("token") => format!("{key}=***"),
            _ => part.to_string(),
        })
        .collect::<Vec<_>>()
        .join(";")
}

fn sql_error(sql: &str, error: &SparkError) -> WarehouseError {
    let (sql, message) = (sql.to_string(), describe(error));
    // gRPC's UNAVAILABLE: the server went away or is restarting, not the statement's fault.
    if error.grpc_code() == Some(14) {
        WarehouseError::Lost { sql, message }
    } else {
        WarehouseError::Sql { sql, message }
    }
}

/// The server's message, without the JVM stack trace.
fn describe(error: &SparkError) -> String {
    let message = error.message();
    let message = if message.trim().is_empty() {
        error.to_string()
    } else {
        message
    };
    message.trim().to_string()
}

/// Splits `sql` at the `;`s that end statements (not those in quotes or comments).
fn split_statements(sql: &str) -> Vec<String> {
    let mut statements = Vec::new();
    let mut current = String::new();
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' | '`' => {
                current.push(c);
                while let Some(inner) = chars.next() {
                    current.push(inner);
                    // Spark's strings take backslash escapes (`'it\'s'`); names (in double
                    // quotes or backticks) do not.
                    if inner == '\\' && c == '\'' {
                        current.extend(chars.next());
                    } else if inner == c {
                        break;
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                current.push(c);
                for inner in chars.by_ref() {
                    current.push(inner);
                    if inner == '\n' {
                        break;
                    }
                }
            }
            ';' => statements.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    statements.push(current);
    statements
        .into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_split_outside_quotes_and_comments() {
        assert_eq!(
            split_statements("SELECT ';' AS \"a;b\"; -- x; y\nSELECT 2;\n"),
            vec!["SELECT ';' AS \"a;b\"", "-- x; y\nSELECT 2"]
        );
        assert!(split_statements(" ; ").is_empty());
        assert_eq!(
            split_statements("SELECT 'it\\'s; fine'; SELECT 2"),
            vec!["SELECT 'it\\'s; fine'", "SELECT 2"]
        );
    }

    #[test]
    fn urls_name_host_and_port_and_hide_the_token() {
        assert_eq!(
            host_port("sc://spark.data:15003/;token=abc").unwrap(),
            ("spark.data".to_string(), 15003)
        );
        assert_eq!(host_port("sc://spark").unwrap().1, 15002);
        assert!(host_port("sc://:x").is_err());
        assert_eq!(
            redact_token("sc://h:1/;use_ssl=true;token=abc"),
            "sc://h:1/;use_ssl=true;token=***"
        );
    }
}
